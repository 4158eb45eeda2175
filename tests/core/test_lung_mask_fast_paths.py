"""The lung mask's fast paths (issue #16) give what the plain operations give.

Each HU slice is finished on its body's bounding box (``mask_ops.grid_box``); with the box
widened to the whole frame (the slow reference path) the masks are the same. The helpers that
replaced scipy / numpy calls (hole filling by labelling, strided block pooling, in-place ray
steps, the bit-packed body volume, 16-bit 3-D labels with their 32-bit fallback) are checked
against those calls.
"""
from __future__ import annotations

import numpy as np
import pytest
from lung_phantom import chest_series, series
from scipy import ndimage as ndi

from viewer.core import lung_components, lung_mask, mask_ops
from viewer.core.lung_mask import segment_lungs


def _whole_frame(mask, margin, grid):
    return slice(0, mask.shape[0]), slice(0, mask.shape[1])


@pytest.mark.parametrize("flip", [False, True])
def test_box_per_slice_equals_whole_frame_on_chest_phantom(monkeypatch, flip):
    c = chest_series()
    hu = c.hu[:, ::-1] if flip else c.hu
    # in a larger frame, off the pooling grids' alignment with the body
    hu = np.pad(hu, ((0, 0), (29, 41), (7, 52)), constant_values=-1000.0)
    fast = segment_lungs(hu, True, spacing=c.spacing)
    monkeypatch.setattr(lung_mask, "grid_box", _whole_frame)
    slow = segment_lungs(hu, True, spacing=c.spacing)
    assert fast.any()
    assert np.array_equal(fast, slow)


def test_box_per_slice_equals_whole_frame_on_series_phantom(monkeypatch):
    s = series()
    fast = segment_lungs(s.hu, True, spacing=(2.5, 0.7, 0.7))  # other pooling grids
    monkeypatch.setattr(lung_mask, "grid_box", _whole_frame)
    assert np.array_equal(fast, segment_lungs(s.hu, True, spacing=(2.5, 0.7, 0.7)))


@pytest.mark.slow
def test_box_per_slice_equals_whole_frame_on_lidc(monkeypatch, shared_subdir):
    from viewer.core.lesion_layers import physical_spacing
    from viewer.io import load_series, scan_path

    info = scan_path(shared_subdir("lidc-idri-0001")).series[0]
    vol = load_series(info)
    hu = vol.voxels[40:80]
    fast = segment_lungs(hu, True, physical_spacing(vol))
    monkeypatch.setattr(lung_mask, "grid_box", _whole_frame)
    assert np.array_equal(fast, segment_lungs(hu, True, physical_spacing(vol)))


@pytest.mark.parametrize("seed", range(8))
def test_fill_holes_equals_scipy(seed):
    rng = np.random.default_rng(seed)
    h, w = rng.integers(1, 70, size=2)
    mask = rng.random((h, w)) < rng.uniform(0.2, 0.9)
    if seed == 0:
        mask[:] = True
    if seed == 1:
        mask[:] = False
    assert np.array_equal(mask_ops.fill_holes(mask), ndi.binary_fill_holes(mask))


@pytest.mark.parametrize("f", [1, 2, 3, 4, 5])
def test_pool_any_equals_block_maximum(f):
    rng = np.random.default_rng(f)
    mask = rng.random((37, 52)) < 0.05
    h, w = -(-37 // f) * f, -(-52 // f) * f
    pad = np.zeros((h, w), dtype=bool)
    pad[:37, :52] = mask
    expected = pad.reshape(h // f, f, w // f, f).any(axis=(1, 3))
    assert np.array_equal(mask_ops.pool_any(mask, f), expected)


@pytest.mark.parametrize("step", [(0, 1), (1, 2), (-2, 1), (1, -1), (0, -3), (4, 0)])
def test_or_shifted_equals_shift(step):
    rng = np.random.default_rng(sum(step) + 10)
    mask = rng.random((30, 41)) < 0.1
    where = rng.random((30, 41)) < 0.7
    expected = mask | (mask_ops.shift(mask, *step) & where)
    got = mask.copy()
    mask_ops.or_shifted(got, *step, where)
    assert np.array_equal(got, expected)


def test_bits_round_trip():
    rng = np.random.default_rng(3)
    vol = rng.random((5, 9, 13)) < 0.5  # a width that is not a multiple of 8
    bits = mask_ops.Bits(vol.shape)
    for k in range(vol.shape[0]):
        bits[k] = vol[k]
    assert bits.packed.nbytes == 5 * 9 * 2
    assert np.array_equal(bits[2], vol[2]) and bits[2].dtype == bool
    assert np.array_equal(bits[1:4], vol[1:4])


def test_keep_lungs_3d_with_more_components_than_16_bits():
    # 3-D checkerboard: every voxel its own component (6-connected), > 65535 labels
    z, y, x = np.indices((40, 80, 90))
    cand = (z + y + x) % 2 == 0
    cand[5:35, 10:70, 20:60] = True  # one large component joins the specks it touches
    hu = np.full(cand.shape, -850.0, dtype=np.float32)
    labels, n = ndi.label(cand)
    assert n > 65535
    big = labels == labels[20, 40, 40]
    lung_components.keep_lungs_3d(cand, 1.0, hu)  # the floor, MIN_LUNG_ML, is 20,000 voxels here
    assert np.array_equal(cand, big)


def test_keep_lungs_3d_drops_gas_and_keeps_two_lungs():
    cand = np.zeros((20, 100, 90), dtype=bool)
    hu = np.full(cand.shape, -850.0, dtype=np.float32)
    cand[2:18, 5:55, 5:40] = True  # one lung
    cand[2:18, 5:55, 50:85] = True  # the other
    cand[0, 0, 0] = True  # a speck
    gas = np.zeros_like(cand)
    gas[:, 60:, :] = True  # larger than a lung, but pure air (bowel gas)
    cand |= gas
    hu[gas] = -1000.0
    expected = cand & ~gas
    expected[0, 0, 0] = False
    lung_components.keep_lungs_3d(cand, 1.0, hu)
    assert np.array_equal(cand, expected)


@pytest.mark.parametrize("seed", range(4))
def test_gas_test_in_slabs_takes_the_same_subsample(seed):
    # a component of 300,000+ voxels is subsampled: every (size // 100,000)-th voxel in raster
    # order of its bounding box, whichever slabs the count runs over
    rng = np.random.default_rng(seed)
    cand = rng.random((40, 90, 90)) < 0.97
    labels, n = ndi.label(cand)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    big = int(np.argmax(sizes[1:])) + 1
    assert sizes[big] > 200_000
    hu = rng.normal(lung_components.GAS_HU, 40.0, cand.shape).astype(np.float32)
    hu += np.float32(40.0 * rng.uniform(0.4, 0.6))  # about GAS_FRACTION of it below GAS_HU
    vals = hu[labels == big]
    vals = vals[:: vals.size // 100_000]
    share = np.count_nonzero(vals < lung_components.GAS_HU) / vals.size
    expected = share >= lung_components.GAS_FRACTION
    assert lung_components._gas_test(labels, hu, sizes)(big) == expected
