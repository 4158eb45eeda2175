"""NumPy export: .npy and .npz read back with numpy; pixels and geometry compared exactly."""
from __future__ import annotations

import numpy as np
import pydicom
import pytest

from viewer.export.numpy_export import export_npy, export_npz


def test_npy_round_trip(tmp_path, maps_and_masks):
    maps, masks = maps_and_masks
    np.testing.assert_array_equal(np.load(export_npy(tmp_path / "map.npy", maps)), maps)
    back = np.load(export_npy(tmp_path / "mask.npy", masks))
    assert back.dtype == np.bool_
    np.testing.assert_array_equal(back, masks)


def test_npz_arrays_and_geometry(tmp_path, ct_series, maps_and_masks):
    maps, masks = maps_and_masks
    path = export_npz(tmp_path / "loc.npz", ct_series, maps, masks)
    with np.load(path, allow_pickle=False) as z:
        assert z["map"].dtype == np.float32
        np.testing.assert_array_equal(z["map"], maps)
        np.testing.assert_array_equal(z["mask"], masks)
        np.testing.assert_array_equal(z["spacing"], ct_series.spacing)
        np.testing.assert_array_equal(z["origin"], ct_series.origin)
        np.testing.assert_array_equal(z["direction"], ct_series.direction)
        np.testing.assert_array_equal(z["slice_indices"], np.arange(ct_series.n_slices))
        assert bool(z["is_hu"])
        for k, ref in enumerate(ct_series.refs):  # positions and UIDs as in the source files
            ds = pydicom.dcmread(ref.path, stop_before_pixels=True)
            assert z["sop_instance_uids"][k] == ds.SOPInstanceUID
            np.testing.assert_array_equal(z["slice_positions"][k],
                                          [float(v) for v in ds.ImagePositionPatient])


def test_npz_subset(tmp_path, ct_series, maps_and_masks):
    maps, masks = maps_and_masks
    path = export_npz(tmp_path / "one.npz", ct_series, masks=masks, indices=[4, 1],
                      compress=False)
    with np.load(path, allow_pickle=False) as z:
        assert "map" not in z
        np.testing.assert_array_equal(z["mask"], masks[[4, 1]])
        np.testing.assert_array_equal(z["slice_indices"], [4, 1])
        assert list(z["sop_instance_uids"]) == [ct_series.refs[4].sop_instance_uid,
                                                ct_series.refs[1].sop_instance_uid]


def test_npz_picture_source_has_no_uids(tmp_path, picture_source):
    masks = np.zeros(picture_source.shape, bool)
    with np.load(export_npz(tmp_path / "p.npz", picture_source, masks=masks)) as z:
        assert "sop_instance_uids" not in z and not bool(z["is_hu"])
        np.testing.assert_array_equal(z["slice_positions"][:, 2], [0.0, 1.0, 2.0])


def test_bad_names(tmp_path, ct_series, maps_and_masks):
    with pytest.raises(ValueError, match=r"\.npz"):
        export_npz(tmp_path / "x.npy", ct_series, maps_and_masks[0])
    with pytest.raises(ValueError, match=r"\.npy"):
        export_npy(tmp_path / "x.npz", maps_and_masks[0])
