"""export_formats: the whole series or the current slice in every format, failures collected."""
from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image

from viewer.export.series_export import ExportRequest, export_formats
from viewer.export.source import ExportCancelled


@pytest.fixture()
def volume(ct_series):
    from viewer.io import load_series, scan_path

    return load_series(scan_path(ct_series.folder).series[0])


def test_current_slice_in_every_format(tmp_path, volume, maps_and_masks):
    maps, masks = maps_and_masks
    calls = []
    report = export_formats(ExportRequest(tmp_path, ["png", "npy", "nifti", "seg", "medseg"],
                                          indices=[2], weights_hash="ab" * 32),
                            volume, maps, masks, progress=lambda d, t: calls.append((d, t)))
    assert report.errors == []
    names = {p.name for p in report.written}
    assert {"map_0002.png", "mask_0002.png", "map_z0002.npy", "mask_z0002.npy",
            "localization_z0002.npz", "map_z0002.nii.gz", "mask_z0002.nii.gz",
            "seg_mask_z0002.dcm", "seg_map_z0002.dcm", "medseg"} <= names
    assert calls[-1] == (500, 500)
    np.testing.assert_array_equal(np.load(tmp_path / "mask_z0002.npy"), masks[[2]])
    nii = sitk.ReadImage(str(tmp_path / "map_z0002.nii.gz"))
    np.testing.assert_allclose(nii.GetOrigin(), volume.refs[2].position, atol=1e-4)
    assert report.next_medseg == 2
    with Image.open(tmp_path / "medseg" / "masks" / "1.png") as im:
        np.testing.assert_array_equal(np.asarray(im) == 255, masks[2])


def test_mask_only_whole_series(tmp_path, volume, maps_and_masks):
    maps, masks = maps_and_masks
    report = export_formats(ExportRequest(tmp_path, ["nifti", "npy"], include_map=False),
                            volume, maps, masks)
    assert sorted(p.name for p in report.written) == ["localization.npz", "mask.nii.gz",
                                                     "mask.npy"]


def test_failed_format_does_not_stop_the_others(tmp_path, picture_source):
    maps = np.zeros(picture_source.shape, np.float32)
    report = export_formats(ExportRequest(tmp_path, ["seg", "png", "medseg"]), picture_source,
                            maps, maps > 0)
    assert len(report.errors) == 2
    assert report.errors[0].startswith("seg: ") and "8-bit picture input" in report.errors[0]
    assert report.errors[1].startswith("medseg: ") and "source slices" in report.errors[1]
    assert len(list((tmp_path / "png").glob("*.png"))) == 6


def test_bad_requests_and_cancel(tmp_path, volume, maps_and_masks):
    with pytest.raises(ValueError, match="format tif"):
        ExportRequest(tmp_path, ["tif"])
    with pytest.raises(ValueError, match="map, the mask or both"):
        ExportRequest(tmp_path, ["png"], include_map=False, include_mask=False)
    with pytest.raises(ExportCancelled):
        export_formats(ExportRequest(tmp_path, ["png"]), volume, *maps_and_masks,
                       progress=lambda d, t: False)
