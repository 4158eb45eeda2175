"""NIfTI input through SimpleITK: geometry (LPS), (z, y, x) order, HU vs 8-bit, bad files."""
from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from viewer.io import load_series, scan_path


def _write(path, arr, spacing=(0.7, 0.8, 2.0), origin=(10.0, -20.0, 30.0), direction=None):
    img = sitk.GetImageFromArray(arr)  # arr is (z, y, x)
    img.SetSpacing(spacing)
    img.SetOrigin(origin)
    if direction is not None:
        img.SetDirection(direction)
    sitk.WriteImage(img, str(path))
    return img


@pytest.mark.parametrize("name", ["vol.nii", "vol.nii.gz"])
def test_nifti_round_trip_keeps_voxels_and_geometry(tmp_path, name):
    rng = np.random.default_rng(0)
    arr = rng.integers(-1024, 400, size=(5, 7, 9)).astype(np.int16)
    c, s = np.cos(0.3), np.sin(0.3)
    direction = (c, -s, 0.0, s, c, 0.0, 0.0, 0.0, 1.0)
    img = _write(tmp_path / name, arr, direction=direction)
    (info,) = scan_path(tmp_path / name).series
    assert info.source_kind == "nifti" and info.is_hu
    assert info.shape == (5, 7, 9)
    assert info.spacing == pytest.approx((2.0, 0.8, 0.7))
    assert info.origin == pytest.approx(img.GetOrigin())
    assert info.direction == pytest.approx(img.GetDirection())
    vol = load_series(info)
    assert vol.voxels.dtype == np.float32
    np.testing.assert_array_equal(vol.voxels, arr.astype(np.float32))
    # slice positions follow the z axis of the direction matrix
    z_axis = np.array(direction).reshape(3, 3)[:, 2]
    np.testing.assert_allclose(info.refs[2].position, np.array(img.GetOrigin()) + 2 * 2.0 * z_axis)


def test_nifti_found_in_a_folder_scan(tmp_path):
    _write(tmp_path / "a.nii.gz", np.zeros((3, 4, 4), np.float32))
    (info,) = scan_path(tmp_path).series
    assert info.n_slices == 3


def test_uint8_nifti_is_not_hu(tmp_path):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    _write(tmp_path / "pic.nii", arr)
    (info,) = scan_path(tmp_path / "pic.nii").series
    assert not info.is_hu
    vol = load_series(info)
    assert vol.voxels.dtype == np.uint8
    np.testing.assert_array_equal(vol.voxels, arr)


def test_2d_nifti_is_one_slice(tmp_path):
    arr = np.ones((6, 5), np.int16)
    _write(tmp_path / "flat.nii", arr, spacing=(0.5, 0.6), origin=(1.0, 2.0))
    (info,) = scan_path(tmp_path / "flat.nii").series
    assert info.shape == (1, 6, 5)
    assert load_series(info).voxels.shape == (1, 6, 5)


def test_corrupt_and_empty_nifti_are_skipped_with_reason(tmp_path):
    (tmp_path / "bad.nii").write_bytes(b"not a nifti header" * 30)
    (tmp_path / "empty.nii.gz").write_bytes(b"")
    result = scan_path(tmp_path)
    assert result.series == []
    why = {s.path.split("/")[-1]: s.reason for s in result.skipped}
    assert why["bad.nii"].startswith("not a readable NIfTI file")
    assert why["empty.nii.gz"] == "empty file (0 bytes)"


def test_4d_nifti_is_skipped(tmp_path):
    img = sitk.JoinSeries([sitk.Image(4, 4, 3, sitk.sitkInt16)] * 2)
    sitk.WriteImage(img, str(tmp_path / "t.nii"))
    result = scan_path(tmp_path / "t.nii")
    assert result.series == [] and "4-D image" in result.skipped[0].reason



def test_zero_spacing_in_header_still_gives_a_usable_series(tmp_path):
    import struct

    path = tmp_path / "flat.nii"
    _write(path, np.zeros((2, 3, 4), np.int16))
    data = bytearray(path.read_bytes())
    data[80:84] = struct.pack("<f", 0.0)  # NIfTI-1 pixdim[1] (x spacing)
    path.write_bytes(bytes(data))
    (info,) = scan_path(path).series
    assert min(info.spacing) > 0
    assert load_series(info).voxels.shape == (2, 3, 4)
