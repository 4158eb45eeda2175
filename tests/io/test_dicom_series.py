"""Synthetic DICOM series: ordering, scaling, geometry, grouping, gaps and warnings."""
from __future__ import annotations

import numpy as np
import pytest
from dicom_series_writer import write_enhanced_ct, write_secondary_capture_8bit, write_series
from pydicom.uid import generate_uid

from viewer.io import load_series, scan_path


def only_series(result):
    assert len(result.series) == 1, [s.key for s in result.series]
    return result.series[0]


def test_shuffled_names_are_ordered_by_position_and_scaled_to_hu(tmp_path):
    paths, expected = write_series(tmp_path, n=7, slope=0.5, intercept=-1000.0)
    result = scan_path(tmp_path)
    info = only_series(result)
    assert result.skipped == []
    assert info.source_kind == "dicom" and info.is_hu and info.modality == "CT"
    assert info.shape == (7, 12, 10)
    assert info.spacing == pytest.approx((2.5, 0.7, 0.8))
    assert info.origin == pytest.approx((-50.0, -60.0, -100.0))
    assert info.direction == pytest.approx((1, 0, 0, 0, 1, 0, 0, 0, 1))
    assert [r.path for r in info.refs] == [str(p) for p in paths]
    assert info.warnings == []
    assert info.patient_id == "SYN-001" and info.series_description == "synthetic axial"
    vol = load_series(info)
    assert vol.voxels.dtype == np.float32 and vol.is_hu
    np.testing.assert_allclose(vol.voxels, expected, atol=1e-3)


def test_oblique_series_sorted_along_normal_with_lps_direction(tmp_path):
    c, s = np.cos(np.radians(20)), np.sin(np.radians(20))
    orientation = (1.0, 0.0, 0.0, 0.0, c, -s)  # tilted about x
    paths, expected = write_series(tmp_path, n=5, orientation=orientation, spacing=(3.0, 1, 1))
    info = only_series(scan_path(tmp_path))
    assert [r.path for r in info.refs] == [str(p) for p in paths]
    normal = np.cross(orientation[:3], orientation[3:])
    d = np.array(info.direction).reshape(3, 3)
    np.testing.assert_allclose(d[:, 0], orientation[:3], atol=1e-9)
    np.testing.assert_allclose(d[:, 1], orientation[3:], atol=1e-9)
    np.testing.assert_allclose(d[:, 2], normal, atol=1e-9)
    assert info.spacing[0] == pytest.approx(3.0)
    np.testing.assert_allclose(load_series(info).voxels, expected)


def test_descending_positions_still_sorted_ascending_along_normal(tmp_path):
    paths, expected = write_series(tmp_path, n=4, z_steps=[-2.0, -2.0, -2.0])
    info = only_series(scan_path(tmp_path))
    # spatial order along +normal is the reverse of the writing order
    assert [r.path for r in info.refs] == [str(p) for p in reversed(paths)]
    assert info.spacing[0] == pytest.approx(2.0)
    np.testing.assert_allclose(load_series(info).voxels, expected[::-1])


def test_gap_is_reported_with_its_size(tmp_path):
    write_series(tmp_path, n=8, skip=[4, 5])
    info = only_series(scan_path(tmp_path))
    assert info.n_slices == 6
    assert info.spacing[0] == pytest.approx(2.5)
    gap = [w for w in info.warnings if w.startswith("missing slices")]
    assert len(gap) == 1 and "7.50 mm" in gap[0] and "about 2 missing" in gap[0]


def test_non_uniform_spacing_is_reported(tmp_path):
    write_series(tmp_path, n=5, z_steps=[2.0, 2.0, 2.3, 2.0])
    info = only_series(scan_path(tmp_path))
    assert any(w.startswith("non-uniform slice spacing") and "2.300" in w for w in info.warnings)


def test_two_series_in_one_folder(tmp_path):
    study = generate_uid()
    a, _ = write_series(tmp_path, n=4, study_uid=study, prefix="a", seed=1)
    b, _ = write_series(tmp_path, n=6, study_uid=study, prefix="b", seed=2, rows=8, cols=8)
    result = scan_path(tmp_path)
    assert sorted(s.n_slices for s in result.series) == [4, 6]
    assert len({s.series_uid for s in result.series}) == 2
    assert all(s.warnings == [] for s in result.series)


def test_nested_folders_are_scanned_recursively(tmp_path):
    write_series(tmp_path / "patient" / "study" / "series", n=3)
    assert only_series(scan_path(tmp_path)).n_slices == 3


def test_duplicate_positions_are_dropped_with_reason(tmp_path):
    uid = generate_uid()
    write_series(tmp_path, n=4, series_uid=uid, prefix="a")
    dup, _ = write_series(tmp_path, n=1, series_uid=uid, prefix="dup")
    result = scan_path(tmp_path)
    info = only_series(result)
    assert info.n_slices == 4
    assert any("dropped" in w for w in info.warnings)
    (skip,) = result.skipped
    assert "duplicate slice position" in skip.reason


def test_localizer_and_non_image_objects_are_skipped(tmp_path):
    from pydicom.data import get_testdata_file
    import shutil

    write_series(tmp_path, n=3)
    write_series(tmp_path, n=1, prefix="scout", extra={"ImageType": ["ORIGINAL", "PRIMARY",
                                                                       "LOCALIZER"]})
    shutil.copy(get_testdata_file("test-SR.dcm"), tmp_path / "report.dcm")
    shutil.copy(get_testdata_file("rtplan.dcm"), tmp_path / "plan")
    (tmp_path / "DICOMDIR").write_bytes(b"\0" * 128 + b"DICM")
    result = scan_path(tmp_path)
    assert only_series(result).n_slices == 3
    reasons = {p.split("/")[-1]: r for p, r in ((s.path, s.reason) for s in result.skipped)}
    assert reasons["scout000.dcm"].startswith("localizer/scout image")
    assert reasons["report.dcm"].startswith("not an image")
    assert reasons["plan"].startswith("not an image")
    assert reasons["DICOMDIR"].startswith("DICOMDIR index")


def test_enhanced_multiframe_ct_frames_are_sorted_by_position(tmp_path):
    expected = write_enhanced_ct(tmp_path / "enhanced.dcm")
    info = only_series(scan_path(tmp_path))
    assert info.n_slices == 5 and info.is_hu
    assert info.spacing == pytest.approx((1.5, 0.6, 0.6))
    assert info.origin == pytest.approx((10.0, 20.0, -30.0))
    assert sorted(r.frame_index for r in info.refs) == list(range(5))
    np.testing.assert_allclose(load_series(info).voxels, expected)


def test_pydicom_enhanced_ct_test_file_loads():
    from pydicom.data import get_testdata_file

    info = only_series(scan_path(get_testdata_file("eCT_Supplemental.dcm")))
    assert info.n_slices == 2 and info.is_hu and (info.rows, info.cols) == (512, 512)
    vol = load_series(info)
    assert vol.voxels.shape == (2, 512, 512) and vol.voxels.std() > 0


def test_eight_bit_secondary_capture_is_a_grey_picture_series(tmp_path):
    pixels = np.arange(6 * 7, dtype=np.uint8).reshape(6, 7)
    write_secondary_capture_8bit(tmp_path / "sc.dcm", pixels)
    info = only_series(scan_path(tmp_path))
    assert not info.is_hu
    vol = load_series(info)
    assert vol.voxels.dtype == np.uint8
    np.testing.assert_array_equal(vol.voxels[0], pixels)


def test_single_dicom_file_path(tmp_path):
    paths, expected = write_series(tmp_path, n=3)
    info = only_series(scan_path(paths[1]))
    assert info.n_slices == 1
    np.testing.assert_allclose(load_series(info).voxels[0], expected[1])
