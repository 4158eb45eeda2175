"""Geometry on a real series (LIDC-IDRI-0001, 133 slices, from ../shared; skipped when absent):
the exported NIfTI matches SimpleITK's own reading of the DICOM series voxel for voxel in space,
and every DICOM SEG frame sits at its source slice's ImagePositionPatient."""
from __future__ import annotations

import highdicom as hd
import numpy as np
import pydicom
import SimpleITK as sitk

from viewer.export.dicom_seg import export_dicom_seg
from viewer.export.nifti_export import export_nifti
from viewer.export.source import ExportSource


def test_lidc_nifti_and_seg_line_up(shared_subdir, tmp_path):
    from viewer.io import scan_path

    folder = shared_subdir("lidc-idri-0001")
    (info,) = scan_path(folder).series
    src = ExportSource.of(info)
    assert src.shape == (133, 512, 512)
    mask = np.zeros(src.shape, bool)
    mask[:, 200:260, 100:180] = True
    mask[::7, 300:310, 300:420] = True

    reader = sitk.ImageSeriesReader()
    files = reader.GetGDCMSeriesFileNames(str(next(folder.rglob("*.dcm")).parent))
    reader.SetFileNames(files)
    itk_src = reader.Execute()  # what ITK-SNAP / Slicer's ITK path builds from the DICOM
    nii = sitk.ReadImage(str(export_nifti(tmp_path / "mask.nii.gz", src, mask)))
    assert nii.GetSize() == itk_src.GetSize()
    np.testing.assert_allclose(nii.GetSpacing(), itk_src.GetSpacing(), atol=1e-4)
    np.testing.assert_allclose(nii.GetDirection(), itk_src.GetDirection(), atol=1e-6)
    for idx in [(0, 0, 0), (511, 0, 0), (0, 511, 66), (511, 511, 132), (255, 128, 100)]:
        np.testing.assert_allclose(nii.TransformIndexToPhysicalPoint(idx),
                                   itk_src.TransformIndexToPhysicalPoint(idx), atol=1e-3)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(nii), mask.astype(np.uint8))
    for z in (0, 50, 132):  # same slice content order as ITK's reading
        ds = pydicom.dcmread(info.refs[z].path, stop_before_pixels=True)
        np.testing.assert_allclose(nii.TransformIndexToPhysicalPoint((0, 0, z)),
                                   [float(v) for v in ds.ImagePositionPatient], atol=1e-3)

    seg = hd.seg.segread(export_dicom_seg(tmp_path / "seg.dcm", src, mask, model_name="probe",
                                          weights_hash="0" * 64))
    assert seg.NumberOfFrames == 133
    by_uid = {r.sop_instance_uid: (z, r) for z, r in enumerate(info.refs)}
    pixels = seg.pixel_array
    for i, fg in enumerate(seg.PerFrameFunctionalGroupsSequence):
        uid = fg.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        z, ref = by_uid[uid]
        np.testing.assert_allclose([float(v) for v in fg.PlanePositionSequence[0]
                                    .ImagePositionPatient], ref.position, atol=1e-6)
        np.testing.assert_array_equal(pixels[i], mask[z])
