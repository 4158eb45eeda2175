"""`main.py localize` end to end on synthetic DICOM and picture input, with a fake localizer
(the GAN itself is tested in tests/gan); bad inputs give one `error:` line and exit non-zero."""
from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import sys
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from PIL import Image

from viewer.cli import localize

# the synthetic DICOM writer lives beside the export tests; load it by path
_spec = importlib.util.spec_from_file_location(
    "export_synthetic_ct", Path(__file__).resolve().parents[1] / "export" / "synthetic_ct.py")
synthetic_ct = sys.modules.setdefault("export_synthetic_ct", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(synthetic_ct)


class FakeLocalizer:
    """Implements the gan.inference.Localizer surface the CLI uses; map = f(intensity)."""

    threshold = 0.5
    weights_hash = "feedface" * 8
    model_name = "fake-gan"
    device = "cpu"

    def apply(self, slices, is_hu, progress=None):
        arr = np.asarray(slices, dtype=np.float32)
        unit = (arr + 1000.0) / 1000.0 if is_hu else arr / 255.0
        maps = np.clip(unit, 0.0, 1.0).astype(np.float32)
        if progress is not None:
            progress(len(arr), len(arr))
        return maps


@pytest.fixture()
def fake(monkeypatch, tmp_path):
    monkeypatch.setattr(localize, "make_localizer", lambda weights, device: FakeLocalizer())
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"x")
    return weights


def run(argv, capsys):
    parser = argparse.ArgumentParser()
    localize.register(parser.add_subparsers())
    args = parser.parse_args(["localize", *map(str, argv)])
    code = args.func(args)
    err = capsys.readouterr().err
    return code, [line for line in err.splitlines() if line.startswith("error:")]


def test_dicom_series_all_formats(tmp_path, fake, capsys):
    series = synthetic_ct.write_ct_series(tmp_path / "ct", n=4, rows=40, cols=48, tilt_deg=8,
                                          spacing=(5.0, 6.0, 6.0))
    out = tmp_path / "out"
    code, errors = run([series.folder, "--out", out, "--weights", fake,
                        "--format", "png,npy,nifti,seg,medseg", "--seg-compression", "rle"],
                       capsys)
    assert code == 0 and errors == []
    (folder,) = [p for p in out.iterdir() if p.is_dir() and p.name != "medseg"]
    assert len(list((folder / "png").glob("mask_*.png"))) == 4
    with np.load(folder / "localization.npz") as z:
        # maps are stored at the viewer cache's float16 precision (identical masks in both)
        expected = FakeLocalizer().apply(series.hu, True).astype(np.float16).astype(np.float32)
        np.testing.assert_array_equal(z["map"], expected)
        np.testing.assert_array_equal(z["mask"], expected >= 0.5)
    img = sitk.ReadImage(str(folder / "mask.nii.gz"))
    for zi, ref in enumerate(series.refs):
        np.testing.assert_allclose(img.TransformIndexToPhysicalPoint((0, 0, zi)), ref.position,
                                   atol=1e-4)
    seg = hd.seg.segread(folder / "seg_mask.dcm")
    assert seg.SegmentationType == "BINARY" and seg.NumberOfFrames == 4
    algo = seg.SegmentSequence[0].SegmentationAlgorithmIdentificationSequence[0]
    assert algo.AlgorithmName == "fake-gan" and algo.AlgorithmVersion == FakeLocalizer.weights_hash
    seg_map = pydicom.dcmread(folder / "seg_map.dcm")
    assert seg_map.SegmentationType == "FRACTIONAL"
    assert seg_map.file_meta.TransferSyntaxUID == pydicom.uid.RLELossless
    assert len(list((out / "medseg" / "images").glob("*.png"))) == 4

    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert [r["level"] for r in rows] == ["slice"] * 4 + ["series"]
    summary = json.loads((out / "summary.json").read_text())
    (s,) = summary["series"]
    assert summary["threshold"] == 0.5 and s["n_slices"] == 4 and s["is_hu"]
    assert s["lung_ml"] > 0 and s["lesion_ml"] > 0  # the phantom has lungs and lesions
    lesion_share = s["ggo_share"] + s["consolidation_share"]
    assert 0 < lesion_share <= 100 + 1e-9
    assert s["category"] in ("mild", "common", "severe", "critical")
    voxel_ml = 5.0 * 6.0 * 6.0 / 1000
    assert s["lung_ml"] == pytest.approx(sum(float(r["lung_ml"]) for r in rows[:4]), abs=1e-3)
    assert s["lung_ml"] / voxel_ml == pytest.approx(round(s["lung_ml"] / voxel_ml))


def test_threshold_and_lung_only(tmp_path, fake, capsys):
    series = synthetic_ct.write_ct_series(tmp_path / "ct", n=6, rows=64, cols=64,
                                          spacing=(5.0, 5.0, 5.0))
    out = tmp_path / "out"
    code, _ = run([series.folder, "--out", out, "--weights", fake, "--format", "npy",
                   "--threshold", "0.1", "--lung-only"], capsys)
    assert code == 0
    (folder,) = [p for p in out.iterdir() if p.is_dir()]
    from viewer.core.lung_mask import segment_lungs
    lungs = segment_lungs(series.hu, True, spacing=series.spacing)
    assert lungs.any()
    with np.load(folder / "localization.npz") as z:
        np.testing.assert_array_equal(z["mask"], (z["map"] >= 0.1) & lungs)
    assert json.loads((out / "summary.json").read_text())["lung_only"] is True


def test_seg_for_pictures_reports_and_writes_the_rest(tmp_path, fake, capsys):
    pics = tmp_path / "pics"
    pics.mkdir()
    rng = np.random.default_rng(0)
    for k, shape in enumerate([(40, 48), (40, 48), (36, 44)]):  # two sizes: two series
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(pics / f"{k}.png")
    out = tmp_path / "out"
    code, errors = run([pics, "--out", out, "--weights", fake, "--format", "seg,png",
                        "--no-progress"], capsys)
    assert code == 1
    assert len(errors) == 2  # the reason once, then the count
    assert ": seg: " in errors[0] and "8-bit picture input" in errors[0]
    assert "seg: not written for 2 series without a DICOM source" in errors[1]
    assert len(list(out.rglob("map_*.png"))) == 3 and not list(out.rglob("*.dcm"))
    assert (out / "summary.csv").exists() and (out / "summary.json").exists()


@pytest.mark.parametrize("argv, message", [
    (["{missing}"], "no such file or folder"),
    (["{junk}"], "nothing loadable"),
    (["{ct}", "--format", "png,tiff"], "--format tiff: unknown format"),
    (["{ct}", "--format", ","], "no format given"),
    (["{ct}", "--threshold", "1.5"], "--threshold 1.5: must lie between 0 and 1"),
    (["{ct}", "--threshold", "abc"], "--threshold abc: not a number"),
    (["{ct}", "--weights", "{missing}"], "file not found"),
    (["{ct}", "--out", "{file}"], "exists and is not a folder"),
])
def test_bad_input(tmp_path, fake, capsys, argv, message):
    ct = synthetic_ct.write_ct_series(tmp_path / "ct", n=2).folder
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "notes.txt").write_text("not a CT")
    subs = {"{missing}": tmp_path / "nope", "{junk}": junk, "{ct}": ct,
            "{file}": junk / "notes.txt"}
    argv = [subs.get(a, a) for a in argv]
    if "--weights" not in argv:
        argv += ["--weights", fake]
    if "--out" not in argv:
        argv += ["--out", tmp_path / "out"]
    code, errors = run([*argv, "--no-progress"], capsys)
    assert code == 2
    assert len(errors) == 1 and message in errors[0]


def test_unreadable_weights_are_one_line(tmp_path, capsys):
    ct = synthetic_ct.write_ct_series(tmp_path / "ct", n=2).folder
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not safetensors")
    code, errors = run([ct, "--out", tmp_path / "out", "--weights", bad, "--no-progress"],
                       capsys)
    assert code == 2 and len(errors) == 1 and "bad.safetensors" in errors[0]


def test_with_a_real_localizer_file(tmp_path, capsys):
    """The real gan.inference.Localizer behind the command: a tiny random generator saved with
    gan.weights (no trained weights needed); the SEG names its model and the file's sha256."""
    import hashlib

    import torch

    from gan.networks import Generator
    from gan.weights import save_weights

    torch.manual_seed(0)
    weights = save_weights(Generator(width=0.125), tmp_path / "tiny.safetensors",
                           {"width": 0.125, "image_size": 64, "threshold": 0.3,
                            "model_name": "tiny-test-gan"})
    series = synthetic_ct.write_ct_series(tmp_path / "ct", n=3, rows=64, cols=64,
                                          spacing=(5.0, 5.0, 5.0))
    out = tmp_path / "out"
    code, errors = run([series.folder, "--out", out, "--weights", weights, "--device", "cpu",
                        "--format", "seg,npy", "--no-progress"], capsys)
    assert code == 0 and errors == []
    (folder,) = [p for p in out.iterdir() if p.is_dir()]
    with np.load(folder / "localization.npz") as z:
        assert z["map"].shape == series.shape and 0 <= z["map"].min() <= z["map"].max() <= 1
        np.testing.assert_array_equal(z["mask"], z["map"] >= 0.3)
    algo = hd.seg.segread(folder / "seg_mask.dcm").SegmentSequence[0] \
        .SegmentationAlgorithmIdentificationSequence[0]
    assert algo.AlgorithmName == "tiny-test-gan"
    assert algo.AlgorithmVersion == hashlib.sha256(weights.read_bytes()).hexdigest()


def test_cuda_without_gpu(tmp_path, fake, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    ct = synthetic_ct.write_ct_series(tmp_path / "ct", n=2).folder
    code, errors = run([ct, "--out", tmp_path / "out", "--weights", fake, "--device", "cuda",
                        "--no-progress"], capsys)
    assert code == 2 and errors == ["error: --device cuda: CUDA is not available on this machine"]


def test_sr_format_dicom_and_pictures(tmp_path, fake, capsys):
    series = synthetic_ct.write_ct_series(tmp_path / "ct", n=3, rows=40, cols=48)
    out = tmp_path / "out"
    code, errors = run([series.folder, "--out", out, "--weights", fake, "--format", "seg,sr"],
                       capsys)
    assert code == 0 and errors == []
    (folder,) = [p for p in out.iterdir() if p.is_dir()]
    sr = hd.sr.srread(folder / "sr.dcm")
    (group,) = sr.content.get_volumetric_roi_measurement_groups()
    summary = json.loads((out / "summary.json").read_text())["series"][0]
    volume = {m.name.meaning: m.value for m in group.get_measurements()}["Volume"]
    assert float(volume) == pytest.approx(summary["lesion_ml"])
    pics = tmp_path / "pics"
    pics.mkdir()
    Image.fromarray(np.full((20, 24), 90, np.uint8)).save(pics / "1.png")
    code, errors = run([pics, "--out", tmp_path / "o2", "--weights", fake, "--format",
                        "png,sr"], capsys)
    assert code == 1 and len(errors) == 1
    assert ": sr: DICOM SR for " in errors[0] and "8-bit picture input" in errors[0]


def test_one_corrupted_file_does_not_stop_the_folder(tmp_path, fake, capsys):
    """Issue #13: a corrupted VR byte in one header: localize skips that file and does the rest,
    and no file under a final name is left half written."""
    series = synthetic_ct.write_ct_series(tmp_path / "ct", n=4, rows=40, cols=48)
    victim = sorted(series.folder.iterdir())[0]
    data = victim.read_bytes()
    i = data.find(b"\x20\x00\x32\x00DS")  # ImagePositionPatient
    victim.write_bytes(data[:i + 4] + b"Q9" + data[i + 6:])
    out = tmp_path / "out"
    code, errors = run([series.folder, "--out", out, "--weights", fake, "--format", "npy,nifti"],
                       capsys)
    assert code == 0 and errors == []
    (folder,) = [p for p in out.iterdir() if p.is_dir()]
    with np.load(folder / "localization.npz") as z:
        assert z["map"].shape == (3, 40, 48)
    assert not [p for p in out.rglob(".part-*")]
    summary = json.loads((out / "summary.json").read_text())
    assert summary


def _save_ruler(folder: Path, index: int = 1) -> str:
    """A reader's ruler on slice `index` of the series in `folder`, saved where the viewer keeps
    it (the per-user measurements folder); returns the series key."""
    from viewer.core import measurement_store as ms
    from viewer.io import scan_path

    (info,) = scan_path(folder).series
    ms.save_measurements(ms.measurements_path(ms.user_measurements_dir(), info.key), info.key,
                         [{"kind": "ruler", "index": index, "points": [[2, 2], [5, 6]],
                           "text": "ruler"}])
    return info.key


def test_sr_carries_the_readers_measurements(tmp_path, fake, capsys):
    series = synthetic_ct.write_ct_series(tmp_path / "ct", n=3, rows=40, cols=48)
    _save_ruler(series.folder, index=1)
    out = tmp_path / "out"
    code, errors = run([series.folder, "--out", out, "--weights", fake, "--format", "npy,sr",
                        "--no-progress"], capsys)
    assert code == 0 and errors == []
    (folder,) = [p for p in out.iterdir() if p.is_dir()]
    (ruler,) = hd.sr.srread(folder / "sr.dcm").content.get_planar_roi_measurement_groups()
    assert ruler.tracking_identifier == "Reader ruler 1 (slice 2)"
    assert (folder / "measurements.csv").is_file()
    # without sr the reader's measurements are not looked at
    code, errors = run([series.folder, "--out", tmp_path / "o2", "--weights", fake, "--format",
                        "npy", "--no-progress"], capsys)
    assert code == 0 and errors == []
    assert not list((tmp_path / "o2").glob("*/measurements.csv"))


def test_unreadable_measurements_are_one_line_and_the_sr_is_written(tmp_path, fake, capsys):
    from viewer.core import measurement_store as ms

    series = synthetic_ct.write_ct_series(tmp_path / "ct", n=3, rows=40, cols=48)
    key = _save_ruler(series.folder)
    ms.measurements_path(ms.user_measurements_dir(), key).write_text("{not json", "utf-8")
    out = tmp_path / "out"
    code, errors = run([series.folder, "--out", out, "--weights", fake, "--format", "seg,sr",
                        "--no-progress"], capsys)
    assert code == 1 and len(errors) == 1 and "measurements" in errors[0], errors
    (folder,) = [p for p in out.iterdir() if p.is_dir()]
    sr = hd.sr.srread(folder / "sr.dcm")
    assert sr.content.get_planar_roi_measurement_groups() == []
    assert (folder / "seg_mask.dcm").is_file()
