"""DICOM SEG export read back with highdicom and pydicom: type, references, frame positions,
pixels, algorithm identification; a clear error for sources that are not DICOM."""
from __future__ import annotations

import highdicom as hd
import numpy as np
import pydicom
import pytest

from viewer.export.dicom_seg import export_dicom_seg

HASH = "0123456789abcdef" * 4


def _source_headers(series):
    return {r.sop_instance_uid: (z, pydicom.dcmread(r.path, stop_before_pixels=True))
            for z, r in enumerate(series.refs)}


def _check_frames(seg, series, expected):
    """Every frame references a source slice, sits at its position and holds its pixels."""
    headers = _source_headers(series)
    pixels = seg.pixel_array.reshape(seg.NumberOfFrames, seg.Rows, seg.Columns)
    seen = []
    for i, fg in enumerate(seg.PerFrameFunctionalGroupsSequence):
        uid = fg.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        z, ds = headers[uid]
        seen.append(z)
        assert fg.PlanePositionSequence[0].ImagePositionPatient == ds.ImagePositionPatient
        np.testing.assert_array_equal(pixels[i], expected[z])
    return seen


@pytest.mark.parametrize("kind", ["binary", "fractional"])
def test_seg_read_back(tmp_path, ct_series, maps_and_masks, kind):
    maps, masks = maps_and_masks
    array = masks if kind == "binary" else maps
    path = export_dicom_seg(tmp_path / f"{kind}.dcm", ct_series, array, model_name="GAN localizer",
                            weights_hash=HASH, threshold=0.5)
    seg = hd.seg.segread(path)
    assert seg.SegmentationType == kind.upper()
    assert seg.NumberOfFrames == ct_series.n_slices
    expected = masks.astype(np.uint8) if kind == "binary" else np.round(maps * 255).astype(np.uint8)
    assert sorted(_check_frames(seg, ct_series, expected)) == list(range(ct_series.n_slices))
    if kind == "fractional":
        assert seg.SegmentationFractionalType == "PROBABILITY" and seg.MaximumFractionalValue == 255

    ref_series = seg.ReferencedSeriesSequence[0]
    assert ref_series.SeriesInstanceUID == ct_series.series_uid
    assert {r.ReferencedSOPInstanceUID for r in ref_series.ReferencedInstanceSequence} == \
        {r.sop_instance_uid for r in ct_series.refs}
    first = pydicom.dcmread(ct_series.refs[0].path, stop_before_pixels=True)
    assert seg.StudyInstanceUID == ct_series.study_uid
    assert seg.FrameOfReferenceUID == ct_series.frame_of_reference_uid
    shared = seg.SharedFunctionalGroupsSequence[0]
    assert shared.PlaneOrientationSequence[0].ImageOrientationPatient == \
        first.ImageOrientationPatient
    assert shared.PixelMeasuresSequence[0].PixelSpacing == first.PixelSpacing

    segment = seg.SegmentSequence[0]
    assert segment.SegmentAlgorithmType == "AUTOMATIC"
    algo = segment.SegmentationAlgorithmIdentificationSequence[0]
    assert algo.AlgorithmName == "GAN localizer" and algo.AlgorithmVersion == HASH
    assert algo.AlgorithmFamilyCodeSequence[0].CodeMeaning == "Artificial Intelligence"


def test_seg_current_slice(tmp_path, ct_series, maps_and_masks):
    _, masks = maps_and_masks
    path = export_dicom_seg(tmp_path / "one.dcm", ct_series, masks, model_name="m",
                            weights_hash=HASH, indices=[2])
    seg = hd.seg.segread(path)
    assert seg.NumberOfFrames == 1
    assert _check_frames(seg, ct_series, masks.astype(np.uint8)) == [2]


def test_seg_for_pictures_is_a_clear_error(tmp_path, picture_source):
    masks = np.zeros(picture_source.shape, bool)
    with pytest.raises(ValueError, match="8-bit picture input.*not a DICOM series"):
        export_dicom_seg(tmp_path / "x.dcm", picture_source, masks, model_name="m",
                         weights_hash=HASH)
    assert not (tmp_path / "x.dcm").exists()


def test_seg_missing_source_file(tmp_path, ct_series, maps_and_masks):
    ct_series.refs[1].path.unlink()
    with pytest.raises(ValueError, match="cannot read"):
        export_dicom_seg(tmp_path / "x.dcm", ct_series, maps_and_masks[1], model_name="m",
                         weights_hash=HASH)


def _io_writer():
    """tests/io's synthetic DICOM writer (Enhanced CT multi-frame), loaded by path."""
    import importlib.util
    import sys
    from pathlib import Path

    name = "io_dicom_series_writer"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, Path(__file__).resolve().parents[1] / "io" / "dicom_series_writer.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.mark.parametrize("kind", ["binary", "fractional"])
def test_seg_of_a_multiframe_source(tmp_path, kind):
    """Enhanced CT with frames stored out of z order: each SEG frame references the right
    source frame number, sits at that frame's position and holds that slice's pixels."""
    from viewer.io import load_series, scan_path

    folder = tmp_path / "enh"
    folder.mkdir()
    _io_writer().write_enhanced_ct(folder / "e.dcm", n=5, rows=8, cols=9)
    volume = load_series(scan_path(folder).series[0])
    mask = np.zeros(volume.voxels.shape, bool)
    for z in range(5):
        mask[z, z, : z + 1] = True
    array = mask if kind == "binary" else mask.astype(np.float32) * 0.6
    seg = hd.seg.segread(export_dicom_seg(tmp_path / "s.dcm", volume, array, model_name="m",
                                          weights_hash=HASH))
    source = pydicom.dcmread(folder / "e.dcm", stop_before_pixels=True)
    frame_to_z = {r.frame_index + 1: z for z, r in enumerate(volume.refs)}
    expected = mask.astype(np.uint8) if kind == "binary" else \
        np.round(array * 255).astype(np.uint8)
    pixels = seg.pixel_array
    seen = set()
    for i, fg in enumerate(seg.PerFrameFunctionalGroupsSequence):
        ref = fg.DerivationImageSequence[0].SourceImageSequence[0]
        assert ref.ReferencedSOPInstanceUID == source.SOPInstanceUID
        number = int(ref.ReferencedFrameNumber)
        src_pos = source.PerFrameFunctionalGroupsSequence[number - 1] \
            .PlanePositionSequence[0].ImagePositionPatient
        assert fg.PlanePositionSequence[0].ImagePositionPatient == src_pos
        np.testing.assert_array_equal(pixels[i], expected[frame_to_z[number]])
        seen.add(number)
    assert seen == set(range(1, 6))


def test_seg_source_missing_type2_attributes(tmp_path, ct_series, maps_and_masks):
    """Anonymised sources often lack PatientBirthDate, StudyID...: the SEG gets them empty."""
    for ref in ct_series.refs:
        ds = pydicom.dcmread(ref.path)
        for keyword in ("PatientBirthDate", "PatientSex", "StudyID", "AccessionNumber"):
            delattr(ds, keyword)
        ds.save_as(ref.path)
    seg = hd.seg.segread(export_dicom_seg(tmp_path / "s.dcm", ct_series, maps_and_masks[1],
                                          model_name="m", weights_hash=HASH))
    assert seg.PatientBirthDate == "" and seg.PatientID == "SYN001"


@pytest.mark.parametrize("compression", ["rle", "jpeg2000"])
def test_seg_compressed_pixels_read_back(tmp_path, ct_series, maps_and_masks, compression):
    maps, masks = maps_and_masks
    for array, expected in ((masks, masks.astype(np.uint8)),
                            (maps, np.round(maps * 255).astype(np.uint8))):
        path = export_dicom_seg(tmp_path / f"{compression}.dcm", ct_series, array,
                                model_name="m", weights_hash=HASH, compression=compression)
        seg = hd.seg.segread(path)
        # the map is compressed; a BINARY mask stays bit-packed uncompressed
        assert seg.file_meta.TransferSyntaxUID.is_compressed == (array is maps)
        _check_frames(seg, ct_series, expected)


def test_seg_unknown_compression(tmp_path, ct_series, maps_and_masks):
    with pytest.raises(ValueError, match="compression 'zip'"):
        export_dicom_seg(tmp_path / "x.dcm", ct_series, maps_and_masks[1], model_name="m",
                         weights_hash=HASH, compression="zip")
