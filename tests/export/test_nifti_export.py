"""NIfTI export read back with SimpleITK: pixels exact, geometry equal to the source DICOM.

Geometry is checked three ways: (1) spacing/origin/direction against the source geometry,
(2) every slice's first-voxel position against ImagePositionPatient read from the source files,
(3) against SimpleITK's own reading of the source DICOM series (what Slicer/ITK-SNAP see).
NIfTI stores geometry as float32, hence the 1e-4 mm tolerance on positions.
"""
from __future__ import annotations

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from viewer.export.nifti_export import export_nifti


def _dicom_series_image(folder) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return reader.Execute()


def test_map_and_mask_read_back(tmp_path, ct_series, maps_and_masks):
    maps, masks = maps_and_masks
    img = sitk.ReadImage(str(export_nifti(tmp_path / "map.nii.gz", ct_series, maps)))
    assert img.GetPixelID() == sitk.sitkFloat32
    np.testing.assert_array_equal(sitk.GetArrayFromImage(img), maps)
    mimg = sitk.ReadImage(str(export_nifti(tmp_path / "mask.nii.gz", ct_series, masks)))
    assert mimg.GetPixelID() == sitk.sitkUInt8
    np.testing.assert_array_equal(sitk.GetArrayFromImage(mimg), masks.astype(np.uint8))

    sz, sy, sx = ct_series.spacing
    np.testing.assert_allclose(img.GetSpacing(), (sx, sy, sz), atol=1e-5)
    np.testing.assert_allclose(img.GetOrigin(), ct_series.origin, atol=1e-4)
    np.testing.assert_allclose(np.reshape(img.GetDirection(), (3, 3)), ct_series.direction,
                               atol=1e-6)
    for z, ref in enumerate(ct_series.refs):  # each slice sits where its DICOM file says
        ds = pydicom.dcmread(ref.path, stop_before_pixels=True)
        ipp = [float(v) for v in ds.ImagePositionPatient]
        np.testing.assert_allclose(img.TransformIndexToPhysicalPoint((0, 0, z)), ipp, atol=1e-4)
        row, col = np.array(ds.ImageOrientationPatient[:3], float), \
            np.array(ds.ImageOrientationPatient[3:], float)
        dy, dx = (float(v) for v in ds.PixelSpacing)
        far = np.array(ipp) + row * dx * (ct_series.cols - 1) + col * dy * (ct_series.rows - 1)
        np.testing.assert_allclose(img.TransformIndexToPhysicalPoint(
            (ct_series.cols - 1, ct_series.rows - 1, z)), far, atol=1e-4)


def test_geometry_matches_itk_reading_of_the_source(tmp_path, ct_series, maps_and_masks):
    src = _dicom_series_image(ct_series.folder)
    img = sitk.ReadImage(str(export_nifti(tmp_path / "m.nii.gz", ct_series, maps_and_masks[1])))
    assert img.GetSize() == src.GetSize()
    np.testing.assert_allclose(img.GetSpacing(), src.GetSpacing(), atol=1e-5)
    np.testing.assert_allclose(img.GetOrigin(), src.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(img.GetDirection(), src.GetDirection(), atol=1e-5)
    # voxel by voxel: the same index maps to the same physical point in both images
    for idx in [(0, 0, 0), (39, 0, 0), (0, 31, 4), (39, 31, 4), (17, 9, 2)]:
        np.testing.assert_allclose(img.TransformIndexToPhysicalPoint(idx),
                                   src.TransformIndexToPhysicalPoint(idx), atol=1e-4)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(src), ct_series.hu)  # same (z, y, x)


def test_current_slice_keeps_its_place(tmp_path, ct_series, maps_and_masks):
    maps, _ = maps_and_masks
    img = sitk.ReadImage(str(export_nifti(tmp_path / "s.nii", ct_series, maps, indices=[3])))
    assert img.GetSize() == (ct_series.cols, ct_series.rows, 1)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(img)[0], maps[3])
    np.testing.assert_allclose(img.GetOrigin(), ct_series.refs[3].position, atol=1e-4)


def test_bad_input(tmp_path, ct_series, maps_and_masks):
    maps, masks = maps_and_masks
    with pytest.raises(ValueError, match="consecutive"):
        export_nifti(tmp_path / "a.nii.gz", ct_series, maps, indices=[0, 2])
    with pytest.raises(ValueError, match=r"\.nii"):
        export_nifti(tmp_path / "a.nrrd", ct_series, maps)
    with pytest.raises(ValueError, match="differs"):
        export_nifti(tmp_path / "a.nii.gz", ct_series, masks[:, :5])


def test_nifti_header_sform_is_the_source_affine_in_ras(tmp_path, ct_series, maps_and_masks):
    """Read the raw NIfTI-1 header (what Slicer/ITK-SNAP/nibabel use): sform = RAS affine of
    the source grid, i.e. diag(-1, -1, 1) · [direction · diag(spacing) | origin] from LPS."""
    import gzip
    import struct

    path = export_nifti(tmp_path / "m.nii.gz", ct_series, maps_and_masks[1])
    header = gzip.open(path).read(348)
    assert struct.unpack_from("<i", header, 0)[0] == 348
    dims = struct.unpack_from("<8h", header, 40)
    assert dims[:4] == (3, ct_series.cols, ct_series.rows, ct_series.n_slices)
    qform_code, sform_code = struct.unpack_from("<2h", header, 252)
    assert sform_code > 0 and qform_code > 0
    srow = np.array(struct.unpack_from("<12f", header, 280)).reshape(3, 4)
    sz, sy, sx = ct_series.spacing
    lps = np.hstack([ct_series.direction @ np.diag([sx, sy, sz]),
                     np.reshape(ct_series.origin, (3, 1))])
    np.testing.assert_allclose(srow, np.diag([-1.0, -1.0, 1.0]) @ lps, atol=1e-4)


def test_nifti_source_round_trip(tmp_path):
    """A NIfTI input (oblique, anisotropic) loaded by viewer.io and exported again: the export
    has the input's grid, index for index in physical space."""
    from viewer.export.dicom_seg import export_dicom_seg
    from viewer.io import load_series, scan_path

    hu = np.random.default_rng(3).integers(-1000, 400, size=(6, 20, 24)).astype(np.int16)
    src_img = sitk.GetImageFromArray(hu)
    src_img.SetSpacing((0.75, 0.9, 3.0))
    src_img.SetOrigin((12.5, -40.0, 80.0))
    angle = np.deg2rad(20)
    rot = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0],
                    [0, 0, 1]])
    src_img.SetDirection(tuple(rot.ravel()))
    sitk.WriteImage(src_img, str(tmp_path / "in.nii.gz"))
    volume = load_series(scan_path(tmp_path / "in.nii.gz").series[0])
    mask = volume.voxels > 0
    out = sitk.ReadImage(str(export_nifti(tmp_path / "out" / "mask.nii.gz", volume, mask)))
    back_in = sitk.ReadImage(str(tmp_path / "in.nii.gz"))
    assert out.GetSize() == back_in.GetSize()
    for idx in [(0, 0, 0), (23, 0, 0), (0, 19, 5), (23, 19, 5), (7, 11, 3)]:
        np.testing.assert_allclose(out.TransformIndexToPhysicalPoint(idx),
                                   back_in.TransformIndexToPhysicalPoint(idx), atol=1e-4)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(out), (hu > 0).astype(np.uint8))
    with pytest.raises(ValueError, match="NIfTI file, not a DICOM series"):
        export_dicom_seg(tmp_path / "x.dcm", volume, mask, model_name="m", weights_hash="h")
