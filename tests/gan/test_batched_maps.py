"""The batched map path (one crop / resize per batch) equals a plain per-slice reference.

The reference below is the per-slice code the product used before the batching: canonical
grey scale, crop, antialiased resize and resize back one slice at a time.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gan.canonical import fallback_frame, lung_frame, to_canonical
from gan.inference import (Localizer, absolute_scale, generator_maps, raw_map, smooth,
                           smooth_and_normalise)
from gan.networks import Generator
from gan.preprocess import Crop
from gan.weights import save_weights

TOL = 1e-3


@torch.no_grad()
def reference_maps(gen, units, image_size, crops, tta=1, map_scale=None, batch=8):
    """Per-slice reference: each slice cropped and resized on its own; (y, x) maps."""
    out = []
    for start in range(0, len(units), batch):
        chunk = units[start:start + batch]
        boxes = crops[start:start + batch] if crops else [Crop(0, u.shape[0], 0, u.shape[1])
                                                         for u in chunk]
        xs = []
        for u, c in zip(chunk, boxes):
            t = torch.from_numpy(np.ascontiguousarray(u[c.y0:c.y1, c.x0:c.x1],
                                                      dtype=np.float64).astype(np.float32))
            xs.append(F.interpolate(t[None, None], size=(image_size, image_size), mode="bilinear",
                                    align_corners=False, antialias=True))
        raw = raw_map(gen, torch.cat(xs), tta)
        maps = smooth_and_normalise(raw) if map_scale is None else absolute_scale(smooth(raw),
                                                                                 map_scale)
        for m, u, c in zip(maps, chunk, boxes):
            full = np.zeros(u.shape, np.float32)
            full[c.y0:c.y1, c.x0:c.x1] = F.interpolate(m[None], size=c.shape, mode="bilinear",
                                                       align_corners=False)[0, 0].numpy()
            out.append(np.clip(full, 0.0, 1.0))
    return out


def chest_series(n=11, size=96, seed=0):
    """Synthetic HU series (z, y, x) with two lungs and a dense blob, and its lung masks."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] / size
    vol = np.full((n, size, size), -1000.0, np.float32)
    body = ((yy - 0.5) / 0.4) ** 2 + ((xx - 0.5) / 0.45) ** 2 < 1
    lungs = np.zeros((n, size, size), bool)
    for k in range(n):
        vol[k][body] = 40.0
        for cx in (0.33, 0.67):
            lg = ((yy - 0.5) / (0.25 + 0.01 * k)) ** 2 + ((xx - cx) / 0.12) ** 2 < 1
            vol[k][lg] = -860.0
            lungs[k] |= lg
        vol[k][((yy - 0.45) / 0.05) ** 2 + ((xx - 0.3) / 0.04) ** 2 < 1] = -100.0
    return vol + rng.normal(0, 25, vol.shape).astype(np.float32), lungs


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w") / "g.safetensors"
    return save_weights(Generator(0.125), path, {"kind": "generator", "width": 0.125,
                                                  "image_size": 64, "threshold": 0.3,
                                                  "map_scale": "0.05"})


@pytest.mark.parametrize("tta", [1, 2])
def test_localizer_hu_series_matches_per_slice_reference(weights, tta):
    loc = Localizer(weights, device="cpu", tta=tta)
    vol, lungs = chest_series()
    plan = loc.plan(vol, True, lungs)
    assert plan.frame == lung_frame(lungs)
    got = loc.apply(vol, True, plan=plan)
    units = [to_canonical(s, True) for s in vol]
    ref = reference_maps(loc.generator, units, loc.image_size, [plan.frame] * len(units), tta,
                         loc.scale_for(True))
    assert got.dtype == np.float32 and got.shape == vol.shape
    assert np.abs(got - np.stack(ref)).max() <= TOL
    mm = loc.apply(vol, True, plan=plan, normalise="minmax")
    ref_mm = reference_maps(loc.generator, units, loc.image_size, [plan.frame] * len(units), tta)
    assert np.abs(mm - np.stack(ref_mm)).max() <= TOL


def test_localizer_pictures_match_per_slice_reference(weights):
    loc = Localizer(weights, device="cpu")
    vol, lungs = chest_series(n=9, seed=1)
    pics = np.clip((vol + 1350.0) / 1500.0 * 255.0, 0, 255).astype(np.uint8)  # a display window
    plan = loc.plan(pics, False, lungs)
    got = loc.apply(pics, False, plan=plan)
    units = [to_canonical(s, False, plan.window) for s in pics]
    ref = reference_maps(loc.generator, units, loc.image_size, [plan.frame] * len(units), 1,
                         loc.scale_for(False))
    assert np.abs(got - np.stack(ref)).max() <= TOL


def test_per_slice_body_boxes_and_mixed_shapes_match_reference(weights):
    """No lungs: each slice has its own body box (runs of equal crops); a list of slices of
    different sizes (evaluate's folders) goes through generator_maps."""
    loc = Localizer(weights, device="cpu")
    vol, _ = chest_series(n=5, seed=2)
    vol[2:, :10] = 40.0  # later slices get a taller body box
    got = loc.apply(vol, True, lungs=np.zeros(vol.shape, bool))
    units = [to_canonical(s, True) for s in vol]
    crops = [fallback_frame(u, True) for u in units]
    assert len(set(crops)) > 1
    ref = reference_maps(loc.generator, units, loc.image_size, crops, 1, loc.scale_for(True))
    assert np.abs(got - np.stack(ref)).max() <= TOL
    a, _ = chest_series(n=3, size=80, seed=3)
    b, _ = chest_series(n=3, size=96, seed=4)
    mixed = [to_canonical(s, True) for s in (a[0], a[1], b[0], b[1], a[2])]
    boxes = [Crop(4, u.shape[0] - 4, 6, u.shape[1] - 2) for u in mixed]
    for crops_arg in (boxes, None):
        new = generator_maps(loc.generator, mixed, loc.image_size, loc.device, crops_arg,
                             batch_size=3, map_scale=0.05)
        old = reference_maps(loc.generator, mixed, loc.image_size, crops_arg, 1, 0.05, batch=3)
        assert [m.shape for m in new] == [m.shape for m in old]
        assert max(np.abs(x - y).max() for x, y in zip(new, old)) <= TOL


def test_cancel_keeps_computed_maps_and_zeros_the_rest(weights):
    loc = Localizer(weights, device="cpu", batch_size=4)
    vol, lungs = chest_series(n=10)
    plan = loc.plan(vol, True, lungs)
    full = loc.apply(vol, True, plan=plan)
    part = loc.apply(vol, True, plan=plan, progress=lambda done, total: done < 4)
    assert np.array_equal(part[:4], full[:4]) and not part[4:].any()
