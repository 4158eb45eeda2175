"""Real data from ../shared/data (skipped when absent): LIDC-IDRI-0001 and COVID-19-NY-SBU."""
from __future__ import annotations

import numpy as np
import pytest

from viewer.io import load_series, scan_path


def test_lidc_is_one_ct_series_of_133_slices_in_hu(shared_subdir):
    import SimpleITK as sitk

    folder = shared_subdir("lidc-idri-0001")
    result = scan_path(folder)
    (info,) = result.series
    assert info.modality == "CT" and info.is_hu
    assert info.shape == (133, 512, 512)
    assert info.spacing == pytest.approx((2.5, 0.703125, 0.703125))
    assert info.warnings == []
    assert {s.reason.split(" (")[0] for s in result.skipped} == {"not an image file"}
    vol = load_series(info)
    # same voxels and geometry as SimpleITK's GDCM-sorted series reader
    reader = sitk.ImageSeriesReader()
    import os

    reader.SetFileNames(reader.GetGDCMSeriesFileNames(os.path.dirname(info.refs[0].path)))
    img = reader.Execute()
    np.testing.assert_array_equal(vol.voxels, sitk.GetArrayFromImage(img).astype(np.float32))
    assert vol.origin == pytest.approx(img.GetOrigin())
    assert vol.direction == pytest.approx(img.GetDirection())
    lung = vol.voxels[66, 150:350, 100:200]  # right lung region on a mid slice
    assert np.median(lung) < -500  # air-filled lung in HU


def test_covid_ny_sbu_single_slices_load_as_hu(shared_subdir):
    folder = shared_subdir("covid19-ny-sbu-axial")
    result = scan_path(folder)
    assert len(result.series) == 20 and result.skipped == []
    for info in result.series[:4]:
        assert info.is_hu and info.n_slices == 1
        vol = load_series(info)
        v = vol.voxels
        assert np.mean(v < -900) > 0.05  # air (and -3024 padding outside the scan circle)
        assert np.mean((v > -100) & (v < 100)) > 0.05  # soft tissue near 0 HU
