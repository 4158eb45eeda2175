"""The faster, bounded-memory `localize` path gives the maps and files of the reference path.

Reference = what `localize` did before: ``Localizer.apply`` with the series' plan (NumPy
preprocessing), float32 maps with the frame rounded to float16, whole arrays handed to
``np.save`` / SimpleITK / highdicom. Fast path = ``Localizer.frame_maps`` (preprocessing in
torch on the device, CPU here), float16 maps kept inside the frame (``SeriesMaps``), exports
written chunk by chunk. A tiny random generator stands in for the trained one.
"""
from __future__ import annotations

import argparse
import gzip
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from viewer.cli import localize
from viewer.cli.localize_maps import SeriesMaps, localize_series

_spec = importlib.util.spec_from_file_location(
    "export_synthetic_ct", Path(__file__).resolve().parents[1] / "export" / "synthetic_ct.py")
synthetic_ct = sys.modules.setdefault("export_synthetic_ct", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(synthetic_ct)

SPACING = (5.0, 2.5, 2.5)  # (z, y, x) mm: a 128-pixel slice spans a chest


def chest(n: int, size: int = 128) -> np.ndarray:
    """HU (n, size, size): body, two lungs, a dense blob in one lung on a few slices."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size] / size
    vol = np.full((n, size, size), -1000.0, np.float32)
    vol[:, ((yy - 0.5) / 0.40) ** 2 + ((xx - 0.5) / 0.46) ** 2 < 1] = 40.0
    for cx in (0.32, 0.68):
        vol[:, ((yy - 0.5) / 0.28) ** 2 + ((xx - cx) / 0.13) ** 2 < 1] = -850.0
    vol[2:5, 50:60, 30:40] = -300.0
    return np.round(vol + rng.normal(0, 20, vol.shape)).astype(np.float32)


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    import torch

    from gan.networks import Generator
    from gan.weights import save_weights

    torch.manual_seed(0)
    return save_weights(Generator(width=0.125), tmp_path_factory.mktemp("w") / "tiny.safetensors",
                        {"width": 0.125, "image_size": 64, "threshold": 0.3,
                         "model_name": "tiny-test-gan"})


@pytest.fixture(scope="module")
def loc(tiny_weights):
    from gan.inference import Localizer

    return Localizer(tiny_weights, device="cpu")


class ApplyOnly:
    """The localizer without ``frame_maps``: `localize` takes the reference path."""

    def __init__(self, inner):
        self._inner = inner
        self.threshold, self.weights_hash = inner.threshold, inner.weights_hash
        self.model_name = inner.model_name

    def plan(self, *args, **kwargs):
        return self._inner.plan(*args, **kwargs)

    def apply(self, *args, **kwargs):
        return self._inner.apply(*args, **kwargs)


def _plan(loc, vol):
    from viewer.core.lesion_layers import localizer_plan, series_lungs

    lungs = series_lungs(vol, True, SPACING)
    plan = localizer_plan(loc, vol, True, lungs)
    assert plan.frame is not None
    return lungs, plan


def reference_maps(loc, vol, plan) -> np.ndarray:
    """The maps as `localize` computed them before (apply, frame rounded to float16)."""
    maps = np.asarray(loc.apply(vol, True, plan=plan), dtype=np.float32)
    f = plan.frame
    maps[:, f.y0:f.y1, f.x0:f.x1] = maps[:, f.y0:f.y1, f.x0:f.x1].astype(np.float16)
    return maps


def test_frame_maps_equal_apply(loc):
    vol = chest(9)
    _lungs, plan = _plan(loc, vol)
    ref = loc.apply(vol, True, plan=plan)
    f = plan.frame
    got = np.zeros_like(ref)
    for start, stop, part in loc.frame_maps(vol, True, plan, batch_size=4):
        assert part.shape == (stop - start, *f.shape) and part.dtype == np.float32
        got[start:stop, f.y0:f.y1, f.x0:f.x1] = part
    np.testing.assert_allclose(got, ref, atol=1e-3, rtol=0)
    assert ref[:, f.y0:f.y1, f.x0:f.x1].max() > 0  # not a trivially empty comparison


def test_batches_sized_to_the_device(loc, tiny_weights):
    import torch

    from gan.inference import GPU_MIN_BATCH, Localizer, cpu_batch_size

    assert loc.batch_size_for(torch.device("cpu")) == loc.batch_size
    assert Localizer(tiny_weights, device="cpu").batch_size == cpu_batch_size(loc.image_size)
    if torch.cuda.is_available():
        assert loc.batch_size <= loc.batch_size_for(torch.device("cuda")) <= 256
        # no cache to spill on a GPU: the default is not the CPU's small batch
        assert Localizer(tiny_weights, device="cuda").batch_size == GPU_MIN_BATCH


def test_frame_maps_on_cuda_equal_cpu(tiny_weights, loc):
    """The GPU path (preprocessing on the device, batches sized to it) = the CPU maps."""
    import torch

    from gan.inference import Localizer

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU (none on this machine)")
    gpu = Localizer(tiny_weights, device="cuda")
    vol = chest(9)
    _lungs, plan = _plan(loc, vol)
    cpu = np.concatenate([m for _a, _b, m in loc.frame_maps(vol, True, plan)])
    dev = np.concatenate([m for _a, _b, m in gpu.frame_maps(vol, True, plan)])
    np.testing.assert_allclose(dev, cpu, atol=1e-3, rtol=0)


def test_frame_maps_refuses_unframed_or_picture_input(loc):
    from gan.inference import InputPlan

    vol = chest(2)
    with pytest.raises(ValueError, match="framed plan"):
        next(loc.frame_maps(vol, True, InputPlan(True, None, None)))
    with pytest.raises(ValueError, match="framed plan"):
        next(loc.frame_maps(vol, False, InputPlan(False, None, None)))


def test_localize_series_fast_equals_reference_path(loc):
    vol = chest(9)
    _lungs, plan = _plan(loc, vol)
    done = []
    fast = localize_series(loc, vol, True, plan, lambda d, t: done.append((d, t)))
    slow = localize_series(ApplyOnly(loc), vol, True, plan, lambda d, t: None)
    assert fast.inner.dtype == np.float16 and fast.inner.shape == (9, *plan.frame.shape)
    assert done[-1] == (9, 9)
    np.testing.assert_allclose(np.asarray(fast), np.asarray(slow), atol=1e-3, rtol=0)
    np.testing.assert_allclose(np.asarray(fast), reference_maps(loc, vol, plan), atol=1e-3, rtol=0)
    for i in (0, 4, 8):
        np.testing.assert_array_equal(fast.get_map(i), np.asarray(fast)[i])
        np.testing.assert_array_equal(fast[i], np.asarray(fast)[i])


def test_series_maps_store():
    m = SeriesMaps((3, 6, 7), (1, 5, 2, 6))
    values = np.random.default_rng(0).random((3, 6, 7)).astype(np.float32)
    m.put(0, values, framed=False)
    want = np.zeros_like(values)
    want[:, 1:5, 2:6] = values[:, 1:5, 2:6].astype(np.float16)
    np.testing.assert_array_equal(np.asarray(m), want)
    np.testing.assert_array_equal(np.concatenate([c for _a, _b, c in m.chunks(2)]), want)
    with pytest.raises(ValueError):
        SeriesMaps((1, 4, 4), (0, 5, 0, 4))


@pytest.fixture()
def series_and_maps(tmp_path):
    """A 6-slice DICOM series (files shuffled, oblique) and its maps as a ``SeriesMaps``."""
    series = synthetic_ct.write_ct_series(tmp_path / "ct", n=6, rows=32, cols=40, tilt_deg=12.0)
    rng = np.random.default_rng(1)
    m = SeriesMaps(series.shape, (3, 29, 4, 37))
    m.put(0, (rng.integers(0, 256, size=series.shape) / 255.0).astype(np.float32), framed=False)
    return series, m


def test_streamed_npy_and_npz_equal_whole_array(tmp_path, series_and_maps):
    from viewer.export import numpy_export

    series, m = series_and_maps
    dense = np.asarray(m)
    masks = dense >= 0.5
    numpy_export.export_npy(tmp_path / "a.npy", m)
    np.save(tmp_path / "b.npy", dense)
    assert (tmp_path / "a.npy").read_bytes() == (tmp_path / "b.npy").read_bytes()
    numpy_export.export_npz(tmp_path / "a.npz", series, m, masks)
    numpy_export.export_npz(tmp_path / "b.npz", series, dense, masks)
    with np.load(tmp_path / "a.npz") as a, np.load(tmp_path / "b.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key])


def test_streamed_nifti_equals_simpleitk_write(tmp_path, series_and_maps):
    from viewer.export import nifti_export

    series, m = series_and_maps
    dense = np.asarray(m)
    for name, arr, pixels in (("map", m, dense), ("mask", dense >= 0.5,
                                                  (dense >= 0.5).astype(np.uint8))):
        for indices in (None, [2, 3, 4]):
            ours = nifti_export.export_nifti(tmp_path / f"{name}.nii.gz", series, arr,
                                             indices=indices)
            zs = list(range(series.shape[0])) if indices is None else indices
            image = nifti_export.to_sitk_image(pixels[zs[0]:zs[-1] + 1], series, zs[0])
            sitk.WriteImage(image, str(tmp_path / "ref.nii.gz"), useCompression=True)
            with gzip.open(ours) as a, gzip.open(tmp_path / "ref.nii.gz") as b:
                assert a.read() == b.read()  # header and voxels, byte for byte


def _same_seg(a: pydicom.Dataset, b: pydicom.Dataset) -> None:
    varying = {"SOPInstanceUID", "SeriesInstanceUID", "ContentDate", "ContentTime",
               "SeriesDate", "SeriesTime", "InstanceCreationDate", "InstanceCreationTime",
               "DimensionOrganizationSequence", "DimensionIndexSequence"}
    assert {e.keyword for e in a} == {e.keyword for e in b}
    for e in a:
        if e.keyword not in varying and e.VR != "SQ":
            assert e.value == b[e.keyword].value, e.keyword
    assert a.PerFrameFunctionalGroupsSequence == b.PerFrameFunctionalGroupsSequence
    assert a.PixelData == b.PixelData


def test_streamed_seg_equals_highdicom_float_path(tmp_path, series_and_maps, monkeypatch):
    from viewer.export import dicom_seg

    series, m = series_and_maps
    dense = np.asarray(m)
    ours = dicom_seg.export_dicom_seg(tmp_path / "a.dcm", series, m, "model", "ab" * 32)
    monkeypatch.setattr(dicom_seg, "_single_frame", lambda src: False)  # the float path
    ref = dicom_seg.export_dicom_seg(tmp_path / "b.dcm", series, dense, "model", "ab" * 32)
    _same_seg(pydicom.dcmread(ours), pydicom.dcmread(ref))


def test_localize_command_outputs_equal_reference(tmp_path, tiny_weights, loc, capsys):
    """npy, nifti and seg of the fast, bounded-memory command = the reference path's maps
    (within 1e-3; SEG within one of its 255 levels) and masks (equal)."""
    from viewer.core.lesion_layers import LesionLayers
    from viewer.io import load_series, scan_path

    vol = chest(8)
    series = synthetic_ct.write_ct_series(tmp_path / "ct", n=8, rows=128, cols=128,
                                          spacing=SPACING, hu=vol)
    out = tmp_path / "out"
    parser = argparse.ArgumentParser()
    localize.register(parser.add_subparsers())
    args = parser.parse_args(["localize", str(series.folder), "--out", str(out), "--weights",
                              str(tiny_weights), "--device", "cpu", "--format", "npy,nifti,seg",
                              "--lung-only", "--no-progress"])
    assert args.func(args) == 0
    (folder,) = [p for p in out.iterdir() if p.is_dir()]

    volume = load_series(scan_path(series.folder).series[0])
    lungs, plan = _plan(loc, volume.voxels)
    ref = reference_maps(loc, volume.voxels, plan)
    masks = LesionLayers.for_volume(volume, ref, threshold=loc.threshold, lungs_only=True,
                                    lungs=lungs).volume_mask()
    np.testing.assert_allclose(np.load(folder / "map.npy"), ref, atol=1e-3, rtol=0)
    np.testing.assert_array_equal(np.load(folder / "mask.npy"), masks)
    with np.load(folder / "localization.npz") as z:
        np.testing.assert_allclose(z["map"], ref, atol=1e-3, rtol=0)
        np.testing.assert_array_equal(z["mask"], masks)
    nii_map = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "map.nii.gz")))
    nii_mask = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "mask.nii.gz")))
    np.testing.assert_allclose(nii_map, ref, atol=1e-3, rtol=0)
    np.testing.assert_array_equal(nii_mask, masks.astype(np.uint8))
    seg = pydicom.dcmread(folder / "seg_map.dcm")
    z_of = {str(volume.refs[z].sop_instance_uid): z for z in range(8)}
    order = [z_of[str(g.DerivationImageSequence[0].SourceImageSequence[0]
                      .ReferencedSOPInstanceUID)] for g in seg.PerFrameFunctionalGroupsSequence]
    frames = seg.pixel_array.astype(np.float32) / 255.0
    np.testing.assert_allclose(frames, ref[order], atol=1 / 255 + 1e-6, rtol=0)
    seg_mask = pydicom.dcmread(folder / "seg_mask.dcm")
    np.testing.assert_array_equal(seg_mask.pixel_array.astype(bool), masks[order])
