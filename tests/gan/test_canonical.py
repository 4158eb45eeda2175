"""Canonical input (grey scale and framing) and the absolute map scale."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from gan.canonical import (FRAME_MARGIN, TRAIN_AIR, TRAIN_TISSUE, WindowEstimate,
                           estimate_picture_window, hu_to_canonical, lung_frame, to_canonical)
from gan.inference import Localizer, absolute_scale, plan_input, smooth
from gan.networks import Generator
from gan.weights import save_weights


def chest(h=128, w=144, lung_hu=-860.0):
    """HU phantom: air, a body of soft tissue, two lungs; returns (hu, lungs)."""
    hu = np.full((h, w), -1000.0, np.float32)
    yy, xx = np.mgrid[0:h, 0:w]
    body = ((yy - h / 2) / (0.42 * h)) ** 2 + ((xx - w / 2) / (0.45 * w)) ** 2 <= 1
    hu[body] = 40.0
    lungs = np.zeros((h, w), bool)
    for cx in (w * 0.32, w * 0.68):
        lungs |= ((yy - h / 2) / (0.28 * h)) ** 2 + ((xx - cx) / (0.13 * w)) ** 2 <= 1
    hu[lungs] = lung_hu
    return hu, lungs


def test_hu_window_is_fixed_and_ignores_the_lungs():
    hu, _ = chest()
    a = hu_to_canonical(hu)
    b = to_canonical(hu, True)
    assert a.dtype == np.float32 and np.array_equal(a, b)
    # W1500/L-600: -1350 -> 0, 150 -> 1; diseased lungs do not move the mapping of the rest
    assert hu_to_canonical(np.array([-1350.0, -600.0, 150.0])) == pytest.approx([0.0, 0.5, 1.0])
    sick, _ = chest(lung_hu=-300.0)
    body_only = (hu == 40.0)
    assert np.array_equal(hu_to_canonical(sick)[body_only], a[body_only])


def test_lung_frame_is_the_lung_box_with_margin_over_the_series():
    _, lungs = chest()
    f = lung_frame(lungs)
    rows = np.flatnonzero(lungs.any(1))
    cols = np.flatnonzero(lungs.any(0))
    my = round(FRAME_MARGIN * (rows[-1] - rows[0] + 1))
    mx = round(FRAME_MARGIN * (cols[-1] - cols[0] + 1))
    assert (f.y0, f.y1, f.x0, f.x1) == (rows[0] - my, rows[-1] + 1 + my, cols[0] - mx, cols[-1] + 1 + mx)
    # a series: the in-plane union, so a small apical slice shares the frame of the whole series
    small = np.zeros_like(lungs)
    small[60:66, 40:46] = True
    assert lung_frame(np.stack([small, lungs])) == f
    assert lung_frame(np.zeros_like(lungs)) is None
    with pytest.raises(ValueError, match="lung mask"):
        lung_frame(np.zeros(5, bool))


def test_picture_window_estimate_maps_references_to_the_training_levels():
    hu, lungs = chest()
    hu = hu.copy()
    hu[lungs] = np.linspace(-1000, -800, lungs.sum())  # some air-like lung pixels
    # a picture shown through another window (W1000/L-500): air darker than the training's
    pic = np.clip((hu + 1000.0) / 1000.0, 0, 1)
    est = estimate_picture_window([pic] * 5, [lungs] * 5)  # pooled over a series of 5
    assert est.ok and "differs" in est.note
    assert est.air == pytest.approx(np.percentile(pic[lungs], 2), abs=1e-6)
    out = est.apply(pic)
    assert np.percentile(out[lungs], 2) == pytest.approx(TRAIN_AIR, abs=0.01)
    assert np.median(out[hu == 40.0]) == pytest.approx(TRAIN_TISSUE, abs=0.02)
    # one picture is too little: used as it is, and the note says its air level is off
    one = estimate_picture_window([pic], [lungs])
    assert not one.ok and "far from" in one.note and np.array_equal(one.apply(pic), pic.astype(np.float32))
    assert estimate_picture_window([pic], [lungs], min_slices=1).ok
    # no lungs: used as it is, with a reason
    none = estimate_picture_window([pic], [np.zeros_like(lungs)])
    assert not none.ok and "could not be estimated" in none.note
    assert np.array_equal(none.apply(pic), pic.astype(np.float32))
    with pytest.raises(ValueError, match="lung masks"):
        estimate_picture_window([pic], [])
    ident = WindowEstimate(TRAIN_AIR, TRAIN_TISSUE, True)
    assert np.allclose(ident.apply(pic), pic, atol=1e-6)


def test_absolute_scale_is_fixed_not_per_slice():
    raw = torch.zeros(2, 1, 32, 32)
    raw[0, 0, 10:20, 10:20] = 0.05   # a weak residual
    raw[1, 0, 10:20, 10:20] = 0.5    # a strong one
    m = absolute_scale(smooth(raw, grid=64), 0.1)
    assert float(m[0].max()) < 0.5 < float(m[1].max()) <= 1.0  # not both stretched to 1
    assert float(absolute_scale(torch.zeros(1, 1, 8, 8), 0.1).max()) == 0.0
    with pytest.raises(ValueError, match="map scale"):
        absolute_scale(raw, 0.0)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w") / "g.safetensors"
    return save_weights(Generator(0.125), path, {"kind": "generator", "width": 0.125, "image_size": 64,
                                                  "threshold": 0.3, "map_scale": "0.05"})


def test_localizer_uses_the_plan_frame_and_the_stored_scale(weights):
    loc = Localizer(weights, device="cpu")
    assert loc.map_scale == pytest.approx(0.05)
    hu, lungs = chest()
    plan = loc.plan(hu, True, lungs)
    assert plan.frame == lung_frame(lungs) and plan.notes == []
    m = loc.apply(hu, True, plan=plan)
    f = plan.frame
    outside = np.ones_like(m, bool)
    outside[f.y0:f.y1, f.x0:f.x1] = False
    assert np.all(m[outside] == 0) and m.max() <= 1.0
    # the same slice in a stack, chunked or not, gives the same map with the same plan
    vol = np.stack([hu, hu + 5])
    vplan = loc.plan(vol, True, np.stack([lungs, lungs]))
    both = loc.apply(vol, True, plan=vplan)
    assert np.allclose(both[1], loc.apply(vol[1], True, plan=vplan), atol=1e-5)
    # minmax (the paper's) stretches every slice to 1; absolute does not have to
    mm = loc.apply(hu, True, plan=plan, normalise="minmax")
    assert mm.max() == pytest.approx(1.0, abs=2e-3)  # resampled back to the frame
    with pytest.raises(ValueError, match="normalise"):
        loc.apply(hu, True, normalise="zscore")
    with pytest.raises(ValueError, match="input plan"):
        loc.apply((hu > 0).astype(np.uint8) * 255, False, plan=plan)


def test_plan_without_lungs_says_so(weights):
    flat = np.full((64, 64), 40.0, np.float32)
    plan = plan_input(flat, True, np.zeros((64, 64), bool))
    assert plan.frame is None and any("no lungs" in n for n in plan.notes)
    pic = np.full((64, 64), 200, np.uint8)
    pplan = plan_input(pic, False, np.zeros((64, 64), bool))
    assert any("could not be estimated" in n for n in pplan.notes)
    with pytest.raises(ValueError, match="lung mask shape"):
        plan_input(flat, True, np.zeros((3, 3), bool))


def test_bad_map_scale_in_weights(tmp_path):
    p = save_weights(Generator(0.125), tmp_path / "bad.safetensors",
                     {"kind": "generator", "width": 0.125, "image_size": 64, "map_scale": "-1"})
    with pytest.raises(ValueError, match="map_scale"):
        Localizer(p, device="cpu")


def test_hu_references_off_make_a_note():
    from gan.canonical import hu_reference_notes

    hu, lungs = chest()
    hu = hu.copy()
    hu[lungs] = np.linspace(-1000, -800, lungs.sum())
    assert hu_reference_notes(hu, lungs) == []
    shifted = hu + 1024.0  # a missing rescale intercept: air at +24 HU
    notes = hu_reference_notes(shifted, lungs)
    assert any("darkest 2 %" in n and "rescale" in n for n in notes)
    assert any(n.startswith("soft tissue peaks") for n in hu_reference_notes(hu + 200.0, lungs))
    assert hu_reference_notes(np.stack([hu, hu]), np.stack([lungs, lungs])) == []
