"""Reformat geometry: planes, spacing and aspect, the linked cursor, plane layers."""
from __future__ import annotations

import numpy as np
import pytest

from viewer.core.reformat import (PlaneLayers, can_reformat, plane_aspect, plane_count,
                                  plane_image, plane_spacing, plane_to_voxel, voxel_to_plane)


def _volume():
    z, y, x = np.mgrid[0:5, 0:7, 0:9]
    return (100 * z + 10 * y + x).astype(np.float32)  # value encodes the voxel


def test_planes_pick_the_right_voxels():
    v = _volume()
    assert plane_image(v, "axial", 2).shape == (7, 9)
    assert plane_image(v, "coronal", 3).shape == (5, 9)
    assert plane_image(v, "sagittal", 4).shape == (5, 7)
    assert plane_image(v, "coronal", 3)[1, 2] == 100 * 1 + 10 * 3 + 2
    assert plane_image(v, "sagittal", 4)[2, 6] == 100 * 2 + 10 * 6 + 4
    assert [plane_count(v.shape, p) for p in ("axial", "coronal", "sagittal")] == [5, 7, 9]
    with pytest.raises(ValueError, match="oblique"):
        plane_image(v, "oblique", 0)
    with pytest.raises(ValueError, match="outside"):
        plane_image(v, "sagittal", 9)


def test_spacing_and_aspect_from_slice_vs_pixel_spacing():
    sp = (2.5, 0.7, 0.6)  # z, y, x mm
    assert plane_spacing(sp, "axial") == (0.7, 0.6)
    assert plane_spacing(sp, "coronal") == (2.5, 0.6)
    assert plane_spacing(sp, "sagittal") == (2.5, 0.7)
    assert plane_aspect(sp, "coronal") == pytest.approx(2.5 / 0.6)
    assert plane_aspect(sp, "sagittal") == pytest.approx(2.5 / 0.7)
    assert plane_aspect((1, 1, 1), "axial") == 1.0


def test_linked_cursor_round_trips_between_planes():
    v = _volume()
    vox = (3, 5, 8)
    for plane in ("axial", "coronal", "sagittal"):
        i, r, c = voxel_to_plane(plane, vox)
        assert plane_to_voxel(plane, i, r + 0.7, c + 0.2) == vox
        assert plane_image(v, plane, i)[r, c] == v[vox]


def test_can_reformat_says_why_not():
    assert can_reformat((40, 64, 64), (2.5, 1, 1)) == (True, "")
    ok, why = can_reformat((1, 64, 64), None, "pictures")
    assert not ok and "pictures" in why
    ok, why = can_reformat((1, 64, 64), (1, 1, 1), "dicom")
    assert not ok and "3 slices" in why


def test_plane_layers_fetch_each_slice_once_and_skip_missing():
    calls = []
    maps = {z: np.full((7, 9), z / 10, np.float32) for z in (0, 1, 3)}

    def layers(z):
        calls.append(z)
        if z not in maps:
            return None, None
        return maps[z], maps[z] >= 0.1

    pl = PlaneLayers((5, 7, 9), layers)
    m, k = pl.plane("coronal", 2)
    assert m.shape == (5, 9) and k.shape == (5, 9)
    assert m[3, 0] == pytest.approx(0.3, abs=1 / 255) and k[3].all() and not k[0].any() and not k[2].any()
    n = len(calls)
    pl.plane("sagittal", 1)
    assert sorted(set(calls[n:])) == [2, 4]  # cached slices are not fetched again
    # the stored 8-bit levels give the overlay the slice's own levels back
    lv = np.empty(1, np.uint8)
    np.multiply(m[3, :1], 255.0, out=lv, casting="unsafe")
    assert lv[0] == int(np.float32(0.3) * 255)
    pl.invalidate()
    pl.plane("axial", 1)
    assert calls[-1] == 1
