"""Speed work on the lung mask keeps its output bit-identical.

The digests were first recorded with the code before the speed-ups of issue #16 (commit
8f3f893), and re-recorded on purpose for issue #17 (item 5), which changed the algorithm: the
concavity fill now closes only bites whose hull chord lies against the chest wall (the straight
chords across the heart and mediastinum are gone) and fills such a bite beyond its chord up to
the chest wall's inner surface (``_fill_shallow_concavities``, ``wall_depth``), and the
chest-wall fill no longer takes the vertebral body for a rib (``SPINE_HALF_MM``) nor fills an
airway lumen ringed by the lungs (the trachea at the apices). Any change of a
single voxel of these masks fails here. LIDC-IDRI-0001 (../shared/data) is checked the same way
when present.
"""
from __future__ import annotations

import hashlib

import numpy as np
import pytest
from scipy import ndimage as ndi

from lung_phantom import axial_slice, chest_series, series, to_picture
from viewer.core import lung_outline
from viewer.core.lung_mask import segment_lungs


def digest(mask: np.ndarray) -> str:
    m = np.asarray(mask, bool)
    return hashlib.sha256(np.packbits(m).tobytes() + str(m.shape).encode()).hexdigest()[:16]


def test_phantom_masks_are_bit_identical_to_before():
    c, s, a = chest_series(), series(), axial_slice()
    assert digest(segment_lungs(c.hu, True, spacing=c.spacing)) == "171fee919447c588"
    # upside down: the other back direction of the chest-wall fill
    assert digest(segment_lungs(c.hu[:, ::-1], True, spacing=c.spacing)) == "eddfb5e091662610"
    assert digest(segment_lungs(s.hu, True, spacing=s.spacing)) == "128499f26ab30257"
    assert digest(segment_lungs(a.hu, True, spacing=a.spacing[1:])) == "a4356119c16c981c"
    assert digest(segment_lungs(to_picture(s.hu[:4]), False)) == "e25518be5a1b473a"


def _hull_full_frame(mask: np.ndarray, corners: bool = True) -> np.ndarray:
    """The convex hull scan-converted over the whole frame (the code before #16)."""
    from scipy.spatial import ConvexHull, QhullError

    edge = mask & ~ndi.binary_erosion(mask)
    ys, xs = np.nonzero(edge)
    if ys.size < 3:
        return mask.copy()
    offsets = (-0.5, 0.5) if corners else (0.0,)
    pts = np.concatenate([np.stack([ys + dy, xs + dx], axis=1) for dy in offsets
                          for dx in offsets]).astype(np.float64)
    try:
        hull = ConvexHull(pts)
    except QhullError:
        return mask.copy()
    verts = pts[hull.vertices]
    p0, p1 = verts, np.roll(verts, -1, axis=0)
    rows = np.arange(mask.shape[0], dtype=np.float64)[:, None]
    ylo = np.minimum(p0[:, 0], p1[:, 0])[None, :]
    yhi = np.maximum(p0[:, 0], p1[:, 0])[None, :]
    dy = p1[:, 0] - p0[:, 0]
    t = np.where(dy != 0, (rows - p0[:, 0]) / np.where(dy != 0, dy, 1.0), 0.0)
    x = p0[:, 1] + t * (p1[:, 1] - p0[:, 1])
    hit = (rows >= ylo - 1e-9) & (rows <= yhi + 1e-9)
    xs_lo = np.where(hit, np.where(dy != 0, x, np.minimum(p0[:, 1], p1[:, 1])), np.inf).min(1)
    xs_hi = np.where(hit, np.where(dy != 0, x, np.maximum(p0[:, 1], p1[:, 1])), -np.inf).max(1)
    cols = np.arange(mask.shape[1], dtype=np.float64)[None, :]
    return ((cols >= xs_lo[:, None] - 1e-9) & (cols <= xs_hi[:, None] + 1e-9)) | mask


@pytest.mark.parametrize("seed", range(12))
def test_convex_hull_in_its_box_equals_full_frame(seed):
    rng = np.random.default_rng(seed)
    h, w = rng.integers(8, 90, size=2)
    mask = ndi.binary_opening(rng.random((h, w)) < rng.uniform(0.05, 0.6))
    if seed % 3 == 0:  # touching the edges
        mask[0, :] = mask[:, -1] = True
    if seed == 1:
        mask[:] = False
        mask[3, 4:9] = True  # a line: degenerate hull
    for corners in (True, False):
        assert np.array_equal(lung_outline.convex_hull_mask(mask, corners),
                              _hull_full_frame(mask, corners))


@pytest.mark.slow
def test_lidc_mask_is_bit_identical_to_before(shared_subdir):
    from viewer.core.lesion_layers import physical_spacing, series_lungs
    from viewer.io import load_series, scan_path

    info = scan_path(shared_subdir("lidc-idri-0001")).series[0]
    vol = load_series(info)
    lungs = series_lungs(vol.voxels, vol.is_hu, physical_spacing(vol))
    assert digest(lungs) == "ed1441b7aa711411"
