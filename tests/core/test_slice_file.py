"""SliceFile: slices of a .npy file read and written in place, out of resident memory."""
from __future__ import annotations

import numpy as np
import pytest

from viewer.core.slice_file import SliceFile


def test_slices_round_trip_and_the_file_is_a_plain_npy(tmp_path):
    path = tmp_path / "maps.npy"
    f = SliceFile(path, (3, 4, 5), np.float16, create=True)
    a = np.random.default_rng(0).random((4, 5)).astype(np.float16)
    f[1] = a
    f.flush()
    assert np.array_equal(f[1], a) and not f[0].any() and not f[2].any()
    f.close()
    whole = np.load(path)
    assert whole.shape == (3, 4, 5) and whole.dtype == np.float16
    assert np.array_equal(whole[1], a)


def test_an_existing_npy_reopens_and_mismatches_are_named(tmp_path):
    path = tmp_path / "maps.npy"
    data = np.arange(2 * 3 * 4, dtype=np.float16).reshape(2, 3, 4)
    np.save(path, data)
    f = SliceFile(path, (2, 3, 4), np.float16, create=False)
    assert np.array_equal(f[1], data[1])
    f[0] = np.ones((3, 4))
    f.close()
    assert np.load(path)[0].sum() == 12
    with pytest.raises(ValueError, match=r"maps.npy: holds float16 \(2, 3, 4\), expected float16 \(5, 3, 4\)"):
        SliceFile(path, (5, 3, 4), np.float16, create=False)
    with pytest.raises(ValueError, match="expected float32"):
        SliceFile(path, (2, 3, 4), np.float32, create=False)
    with open(path, "r+b") as fh:
        fh.truncate(path.stat().st_size - 8)
    with pytest.raises(ValueError, match="truncated"):
        SliceFile(path, (2, 3, 4), np.float16, create=False)


def test_bad_index_and_shape_are_refused(tmp_path):
    f = SliceFile(tmp_path / "m.npy", (2, 3, 4), np.uint8, create=True)
    with pytest.raises(IndexError, match="slice 2 outside 0..1"):
        f[2]
    with pytest.raises(ValueError, match=r"slice of shape \(4, 3\)"):
        f[0] = np.zeros((4, 3))
