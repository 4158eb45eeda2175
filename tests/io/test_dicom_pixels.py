"""Pixel decoding: compressed transfer syntaxes, pydicom's and pydicom-data's test files."""
from __future__ import annotations

import numpy as np
import pydicom
import pytest
from dicom_series_writer import write_series
from pydicom.data import get_testdata_file
from pydicom.uid import JPEG2000Lossless, JPEGLSLossless, RLELossless

from viewer.io import load_series, scan_path
from viewer.io.dicom_header import read_dicom_header
from viewer.io.dicom_pixels import read_stored
from viewer.io.series import SliceRef


@pytest.mark.parametrize("syntax", [RLELossless, JPEGLSLossless, JPEG2000Lossless],
                         ids=["rle", "jpeg-ls", "jpeg2000"])
def test_compressed_copy_of_a_series_loads_identically(tmp_path, syntax):
    plain, expected = write_series(tmp_path / "plain", n=4, seed=5, rows=40, cols=36)
    packed, _ = write_series(tmp_path / "packed", n=4, seed=5, rows=40, cols=36,
                             transfer_syntax=syntax)
    assert pydicom.dcmread(packed[0]).file_meta.TransferSyntaxUID == syntax
    (info,) = scan_path(tmp_path / "packed").series
    assert all(r.decode.offset is None for r in info.refs)  # not the native fast path
    vol = load_series(info)
    np.testing.assert_allclose(vol.voxels, expected)
    (ref_info,) = scan_path(tmp_path / "plain").series
    np.testing.assert_array_equal(vol.voxels, load_series(ref_info).voxels)



def _ref_for(path: str, frame=None):
    got = read_dicom_header(path)
    assert isinstance(got, list), got
    cand = [c for c in got if c.frame_index == frame][0]
    return SliceRef(path=path, frame_index=frame, decode=cand.decode), cand


def test_native_fast_path_matches_pydicom_on_ct_small():
    path = get_testdata_file("CT_small.dcm")
    ref, cand = _ref_for(path)
    assert ref.decode.offset is not None
    ds = pydicom.dcmread(path)
    np.testing.assert_array_equal(read_stored(ref, cand.rows, cand.cols), ds.pixel_array)
    (info,) = scan_path(path).series
    hu = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    np.testing.assert_allclose(load_series(info).voxels[0], hu)


@pytest.mark.parametrize("compressed, plain", [
    ("693_J2KR.dcm", "693_UNCR.dcm"),            # CT, JPEG 2000 lossless, 14-bit stored
    ("MR_small_jpeg_ls_lossless.dcm", "MR_small.dcm"),
    ("MR_small_RLE.dcm", "MR_small.dcm"),
    ("MR_small_jp2klossless.dcm", "MR_small.dcm"),
])
def test_compressed_test_files_decode_like_their_uncompressed_twins(compressed, plain):
    path = get_testdata_file(compressed)
    ds = pydicom.dcmread(path)
    got = read_stored(SliceRef(path=path), ds.Rows, ds.Columns)
    np.testing.assert_array_equal(got, pydicom.dcmread(get_testdata_file(plain)).pixel_array)


def test_jpeg_lossless_process14_decodes():
    path = get_testdata_file("JPEG-LL.dcm")  # pydicom-data
    ref = SliceRef(path=path)
    ds = pydicom.dcmread(path)
    arr = read_stored(ref, ds.Rows, ds.Columns)
    assert arr.shape == (ds.Rows, ds.Columns) and arr.std() > 0
    np.testing.assert_array_equal(arr, ds.pixel_array)


def test_multiframe_jpeg_ls_frames_decode_like_uncompressed():
    packed = get_testdata_file("emri_small_jpeg_ls_lossless.dcm")
    plain = get_testdata_file("emri_small.dcm")
    for frame in (0, 7):
        a = read_stored(SliceRef(path=packed, frame_index=frame), 64, 64)
        b = read_stored(SliceRef(path=plain, frame_index=frame), 64, 64)
        np.testing.assert_array_equal(a, b)


def test_ct_jpeg2000_file_scans_as_hu():
    (info,) = scan_path(get_testdata_file("693_J2KR.dcm")).series
    (plain,) = scan_path(get_testdata_file("693_UNCR.dcm")).series
    assert info.is_hu
    np.testing.assert_array_equal(load_series(info).voxels, load_series(plain).voxels)


def test_every_pydicom_test_file_is_loaded_or_skipped_with_a_reason():
    """pydicom's whole bundled test folder (odd, broken and colour files included) never crashes."""
    from pathlib import Path

    folder = Path(get_testdata_file("CT_small.dcm")).parent
    result = scan_path(folder)
    n_files = sum(1 for p in folder.rglob("*") if p.is_file())
    placed = {r.path for s in result.series for r in s.refs}
    skipped = {s.path.split(" (frame")[0] for s in result.skipped}
    assert len(placed | skipped) == n_files
    assert all(s.reason for s in result.skipped)
    for info in result.series:
        vol = load_series(info)
        assert vol.voxels.shape == info.shape
        assert not any("could not decode" in w for w in info.warnings), info.warnings


def test_deflated_transfer_syntax_decodes():
    (info,) = scan_path(get_testdata_file("image_dfl.dcm")).series
    vol = load_series(info)
    assert vol.voxels.std() > 0 and not any("could not decode" in w for w in info.warnings)
