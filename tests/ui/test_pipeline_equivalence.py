"""The viewer and `main.py localize` give the same masks and the same numbers for one series:
both go through viewer.core.lesion_layers (one lung mask per series, 3-D with the real spacing).

The same synthetic multi-slice HU DICOM series runs through the real MainWindow (offscreen,
driven through its own API and widgets) and through `localize` into a temp folder, with the
same fake localizer (map = f(intensity), fast)."""
from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from viewer.cli import localize

pytestmark = pytest.mark.gui

_spec = importlib.util.spec_from_file_location(
    "export_synthetic_ct", Path(__file__).resolve().parents[1] / "export" / "synthetic_ct.py")
synthetic_ct = sys.modules.setdefault("export_synthetic_ct", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(synthetic_ct)

NOTE = "display window could not be estimated"


class IntensityLocalizer:
    """The gan.inference.Localizer surface both paths use; map = clip((HU + 1000) / 1000)."""

    threshold = 0.5
    weights_hash = "0123456789abcdef" * 4
    model_name = "fake-intensity"
    device = "cpu"

    def __init__(self, notes=()):
        self.notes = list(notes)

    def apply(self, slices, is_hu=True, progress=None):
        arr = np.asarray(slices, dtype=np.float32)
        unit = (arr + 1000.0) / 1000.0 if is_hu else arr / 255.0
        if progress is not None:
            progress(1, 1)
        return np.clip(unit, 0.0, 1.0).astype(np.float32)


def _run_localize(folder, out, loc, monkeypatch, capsys, lung_only=True):
    monkeypatch.setattr(localize, "make_localizer", lambda weights, device: loc)
    weights = out.parent / f"{out.name}.safetensors"
    weights.write_bytes(b"x")
    parser = argparse.ArgumentParser()
    localize.register(parser.add_subparsers())
    argv = ["localize", str(folder), "--out", str(out), "--weights", str(weights), "--format",
            "npy", "--no-progress"] + (["--lung-only"] if lung_only else [])
    args = parser.parse_args(argv)
    assert args.func(args) == 0
    err = capsys.readouterr().err
    (series,) = json.loads((out / "summary.json").read_text())["series"]
    (npz,) = [p for p in out.rglob("localization.npz")]
    with np.load(npz) as z:
        mask = z["mask"].copy()
    return series, mask, err


def _open_in_viewer(qtbot, win, folder):
    with qtbot.waitSignal(win.seriesShown, timeout=30000):
        win.open_path(folder)
    _wait_counted(qtbot, win)


def _wait_counted(qtbot, win):
    qtbot.waitUntil(lambda: win.store is not None and win.store.is_complete()
                    and win.pipeline is not None, timeout=30000)
    # a settings change after the first counts (e.g. the localizer's threshold arriving)
    # schedules a debounced recount: wait until none is pending or running, not only running
    qtbot.waitUntil(lambda: np.isfinite(win.counts.lung).all() and win.severity_ctl.settled(),
                    timeout=30000)
    win._refresh_series_numbers()


def _viewer_export(qtbot, win, out):
    from viewer.export.series_export import ExportRequest

    with qtbot.waitSignal(win.exportFinished, timeout=60000) as sig:
        win.run_export(ExportRequest(out, ["npy"], threshold=win.threshold))
    assert not sig.args[0].errors
    with np.load(out / "localization.npz") as z:
        return z["mask"].copy()


def _series_with_an_apex_pocket() -> np.ndarray:
    """6 x 64 x 64 HU: two lungs on slices 0-4; slice 5 has no lungs but a small air pocket
    (3.5 ml in 3-D: dropped by the series segmentation, kept by a per-slice one), so lungs
    segmented slice by slice would give other numbers than the series mask."""
    hu = synthetic_ct.synthetic_hu(6, 64, 64)
    yy, xx = np.mgrid[0:64, 0:64]
    body = ((yy - 32) / (0.42 * 64)) ** 2 + ((xx - 32) / (0.46 * 64)) ** 2 <= 1
    top = hu[5]
    top[body] = 20.0
    top[(yy - 10) ** 2 + (xx - 32) ** 2 <= 9] = -850.0
    return hu


def test_viewer_and_localize_give_identical_masks_and_numbers(qtbot, make_window, tmp_path,
                                                              monkeypatch, capsys):
    from viewer.core.lung_mask import segment_lungs

    hu = _series_with_an_apex_pocket()
    ct = synthetic_ct.write_ct_series(tmp_path / "ct", hu=hu, spacing=(5.0, 5.0, 5.0))
    loc = IntensityLocalizer(notes=[NOTE])
    win = make_window(loc)
    _open_in_viewer(qtbot, win, ct.folder)
    assert win.restrict_to_lungs and win.threshold == pytest.approx(0.5)
    view_mask = _viewer_export(qtbot, win, tmp_path / "viewer")
    view = win.pipeline.severity(win.counts)

    cli, cli_mask, err = _run_localize(ct.folder, tmp_path / "cli", loc, monkeypatch, capsys)
    assert view_mask.shape == (6, 64, 64) and view_mask.any()
    np.testing.assert_array_equal(view_mask, cli_mask)
    lungs = win.store.lungs() != 0
    assert lungs.any() and not (view_mask & ~lungs).any()
    per_slice = np.stack([segment_lungs(h, True, spacing=(5.0, 5.0)) for h in win.voxels])
    assert not np.array_equal(lungs, per_slice)  # the old per-slice lungs would differ
    assert view["lesion_pct"] == pytest.approx(cli["lesion_pct"], rel=1e-12)
    assert view["lesion_ml"] == pytest.approx(cli["lesion_ml"], rel=1e-12)
    assert view["lung_ml"] == pytest.approx(cli["lung_ml"], rel=1e-12)
    assert view["category"] == cli["category"]
    assert view["ggo_share"] == pytest.approx(cli["ggo_share"])
    # what the panel shows is those numbers, and the localizer's note beside them
    assert f"{view['lesion_pct']:.1f} %" in win.severity.series_label.text()
    assert f"{view['lesion_ml']:.1f} ml" in win.severity.series_label.text()
    assert NOTE in win.severity.notes_label.text() and not win.severity.notes_label.isHidden()
    assert cli["notes"] == [NOTE] and f"warning: {cli['series']}: {NOTE}" in err

    # the whole slice (no lung restriction) agrees too
    win.refine.restrict.setChecked(False)
    _wait_counted(qtbot, win)
    view_mask = _viewer_export(qtbot, win, tmp_path / "viewer-all")
    cli, cli_mask, _ = _run_localize(ct.folder, tmp_path / "cli-all", loc, monkeypatch, capsys,
                                     lung_only=False)
    np.testing.assert_array_equal(view_mask, cli_mask)
    assert (view_mask & ~lungs).any()  # the body is marked outside the lungs
    view = win.pipeline.severity(win.counts)
    assert view["lesion_pct"] == pytest.approx(cli["lesion_pct"], rel=1e-12)
    assert view["lung_ml"] == pytest.approx(cli["lung_ml"], rel=1e-12)


def test_series_without_lungs_says_so_in_both(qtbot, make_window, tmp_path, monkeypatch,
                                              capsys):
    hu = synthetic_ct.synthetic_hu(4, 48, 48)
    hu[hu < -700] = 20.0  # lungs (and the air around the body) filled with soft tissue
    ct = synthetic_ct.write_ct_series(tmp_path / "ct", hu=hu, spacing=(5.0, 5.0, 5.0))
    loc = IntensityLocalizer()
    win = make_window(loc)
    _open_in_viewer(qtbot, win, ct.folder)
    assert not win.pipeline.lung_found and win.pipeline.severity(win.counts) is None
    assert "no lungs found in this series" in win.severity.notes_label.text()
    assert "no lungs found in this series" in win.severity.series_label.text()
    assert "%" not in win.severity.series_label.text()  # no 0 %
    cli, mask, err = _run_localize(ct.folder, tmp_path / "cli", loc, monkeypatch, capsys)
    assert cli["notes"] == ["no lungs found in this series"] and cli["lesion_pct"] is None
    assert "warning:" in err and "no lungs found in this series" in err
    assert not mask.any()


def test_real_localizer_gets_the_same_series_plan_in_both(qtbot, make_window, tmp_path,
                                                          monkeypatch, capsys):
    """The real gan.inference.Localizer (tiny random generator): the viewer (slice by slice)
    and `localize` (in chunks) give it the same input plan (one lung frame for the series), so
    the maps agree to float rounding, the masks and the numbers exactly."""
    import torch

    from gan.canonical import lung_frame
    from gan.inference import Localizer
    from gan.networks import Generator
    from gan.weights import save_weights

    torch.manual_seed(3)
    w = save_weights(Generator(0.125), tmp_path / "g.safetensors",
                     {"kind": "generator", "width": 0.125, "image_size": 64,
                      "threshold": "0.3", "map_scale": "0.02"})
    loc = Localizer(w, device="cpu")
    hu = _series_with_an_apex_pocket()
    ct = synthetic_ct.write_ct_series(tmp_path / "ct", hu=hu, spacing=(5.0, 5.0, 5.0))
    win = make_window(loc)
    _open_in_viewer(qtbot, win, ct.folder)
    view_maps = np.stack([win.store.get_map(i) for i in range(hu.shape[0])])
    view_mask = _viewer_export(qtbot, win, tmp_path / "viewer")
    view = win.pipeline.severity(win.counts)
    lungs = win.store.lungs() != 0
    frame = lung_frame(lungs)
    assert frame is not None
    outside = np.ones(hu.shape[1:], bool)
    outside[frame.y0:frame.y1, frame.x0:frame.x1] = False
    assert not view_maps[:, outside].any()  # every slice framed by the series' lungs

    cli, cli_mask, _ = _run_localize(ct.folder, tmp_path / "cli", loc, monkeypatch, capsys)
    with np.load(next((tmp_path / "cli").rglob("localization.npz"))) as z:
        cli_maps = z["map"].astype(np.float32)
    # batched vs one slice at a time differs by float rounding only, below the float16 step
    # both paths store the maps in; the masks and numbers are then identical
    np.testing.assert_allclose(view_maps, cli_maps, atol=1e-3)
    assert ((view_maps >= loc.threshold) & lungs).any()
    np.testing.assert_array_equal(view_mask, cli_mask)
    assert view["lesion_pct"] == pytest.approx(cli["lesion_pct"], rel=1e-12)
    assert view["lung_ml"] == pytest.approx(cli["lung_ml"], rel=1e-12)
    assert win.series_notes == cli["notes"] == []
