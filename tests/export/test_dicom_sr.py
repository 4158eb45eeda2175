"""DICOM SR (TID 1500) of the lesion measurements, read back with highdicom: the numbers equal
the summary totals, the report references the SEG segment, the source series and (evidence)
every source instance; bad inputs give a one-line ValueError."""
from __future__ import annotations

import highdicom as hd
import numpy as np
import pydicom
import pytest
from synthetic_ct import write_ct_series

from viewer.export.dicom_sr import export_measurement_sr
from viewer.export.series_export import ExportRequest, export_formats
from viewer.export.summary import SummaryBuilder
from viewer.io import load_series, scan_path

HASH = "ab" * 32


def _volume(tmp_path):
    series = write_ct_series(tmp_path / "ct", n=4, rows=32, cols=40)
    (info,) = scan_path(series.folder).series
    return series, load_series(info)


def _arrays(vol):
    maps = np.clip((vol.voxels + 1000.0) / 1000.0, 0, 1).astype(np.float32)
    lungs = np.zeros(vol.voxels.shape, bool)
    lungs[:, 4:28, 5:35] = True
    return maps, maps >= 0.5, lungs


def _by_name(group):
    return {m.name.meaning: (m.value, m.unit.value) for m in group.get_measurements()}


def _texts(item) -> dict:
    """Concept meaning -> TextValue of every TEXT item under `item` (recursive)."""
    out = {}
    children = item.ContentSequence if hasattr(item, "ContentSequence") else \
        (item if not hasattr(item, "ValueType") else [])
    for child in children:
        if child.ValueType == "TEXT":
            out[child.ConceptNameCodeSequence[0].CodeMeaning] = child.TextValue
        out.update(_texts(child))
    return out


def read_report(path):
    sr = hd.sr.srread(path)
    (lesion,) = sr.content.get_volumetric_roi_measurement_groups()
    (lung,) = sr.content.get_image_measurement_groups()
    return sr, lesion, lung


def test_sr_numbers_and_references(tmp_path):
    series, vol = _volume(tmp_path)
    maps, masks, lungs = _arrays(vol)
    req = ExportRequest(tmp_path / "out", ["seg", "sr"], model_name="gan-test",
                        weights_hash=HASH, threshold=0.5)
    report = export_formats(req, vol, maps, masks, lungs=lungs)
    assert report.errors == []
    totals = SummaryBuilder(0.5, True).add_series("s", vol, masks, lungs, vol.voxels).totals
    assert totals["lesion_pct"] > 0 and totals["category"]
    sr, lesion, lung = read_report(tmp_path / "out" / "sr.dcm")
    assert isinstance(sr, hd.sr.Comprehensive3DSR)
    values = _by_name(lesion)
    assert values["Volume"][0] == pytest.approx(totals["lesion_ml"]) and values["Volume"][1] == "ml"
    assert values["Lesion share of lung volume"][0] == pytest.approx(totals["lesion_pct"])
    assert values["Ground-glass share of lesion volume"][0] == pytest.approx(totals["ggo_share"])
    assert values["Consolidation share of lesion volume"][0] == pytest.approx(
        totals["consolidation_share"])
    (ev,) = lesion.get_qualitative_evaluations()
    assert ev.value.value == totals["category"].upper()
    assert _by_name(lung)["Volume"][0] == pytest.approx(totals["lung_ml"])
    texts = _texts(lesion)
    assert texts["Algorithm Name"] == "gan-test" and texts["Algorithm Version"] == HASH
    # the SEG segment and the source series
    seg = pydicom.dcmread(tmp_path / "out" / "seg_mask.dcm")
    ref = lesion.referenced_segment
    assert ref.referenced_sop_instance_uid == seg.SOPInstanceUID
    (item,) = ref[0].ReferencedSOPSequence
    assert item.ReferencedSegmentNumber == 1
    assert ref[1].UID == series.series_uid  # Source Series for Segmentation
    evidence = {item.ReferencedSOPInstanceUID
                for study in sr.CurrentRequestedProcedureEvidenceSequence
                for s in study.ReferencedSeriesSequence for item in s.ReferencedSOPSequence}
    assert evidence == {r.sop_instance_uid for r in series.refs} | {seg.SOPInstanceUID}
    assert sr.StudyInstanceUID == series.study_uid and sr.PatientID == "SYN001"


def test_sr_without_seg_and_bad_input(tmp_path):
    series, vol = _volume(tmp_path)
    maps, masks, lungs = _arrays(vol)
    report = export_formats(ExportRequest(tmp_path / "o", ["sr"], model_name="m",
                                          weights_hash=HASH), vol, maps, masks, lungs=lungs)
    assert report.errors == []
    sr = hd.sr.srread(tmp_path / "o" / "sr.dcm")
    assert len(sr.content.get_image_measurement_groups()) == 2
    # the current slice only: refused with one line, the other formats still written
    report = export_formats(ExportRequest(tmp_path / "p", ["npy", "sr"], indices=[1],
                                          model_name="m", weights_hash=HASH),
                            vol, maps, masks, lungs=lungs)
    assert report.errors == ["sr: DICOM SR: the measurement report covers the whole series; "
                             "export the whole series"]
    assert (tmp_path / "p" / "map_z0001.npy").exists()
    with pytest.raises(ValueError, match="totals lack lung_ml"):
        export_measurement_sr(tmp_path / "x.dcm", vol, {}, "m", HASH)
    with pytest.raises(ValueError, match="not a DICOM SEG"):
        export_measurement_sr(tmp_path / "x.dcm", vol, {"lung_ml": 1.0, "lesion_ml": 0.0},
                              "m", HASH, seg=series.refs[0].path)


def _reader_measurements():
    return [
        {"kind": "freehand", "index": 2, "points": [[5.5, 5.5], [20.5, 6.5], [12.5, 20.5]], "text": ""},
        {"kind": "ruler", "index": 0, "points": [[2.5, 3.5], [30.5, 20.5]], "text": "24.3 mm"},
        {"kind": "ellipse", "index": 1, "text": "",
         "ellipse": {"cx": 20.0, "cy": 16.0, "a": 4.0, "b": 9.0, "angle": 30.0}},
    ]


def test_sr_reports_the_readers_rulers_and_rois_on_their_images(tmp_path):
    """The reader's measurements go into sr.dcm as TID 1410 planar ROI groups: the region on
    its source image, the length or area recomputed from the geometry, mean ± SD HU in the ROI."""
    from viewer.core import measure
    from viewer.export.sr_reader_measurements import ellipse_axes

    series, vol = _volume(tmp_path)
    maps, masks, lungs = _arrays(vol)
    req = ExportRequest(tmp_path / "out", ["sr"], model_name="m", weights_hash=HASH,
                        measurements=_reader_measurements())
    report = export_formats(req, vol, maps, masks, lungs=lungs)
    assert report.errors == []
    sr = hd.sr.srread(tmp_path / "out" / "sr.dcm")
    groups = sr.content.get_planar_roi_measurement_groups()
    assert [g.tracking_identifier for g in groups] == [
        "Reader ruler 1 (slice 1)", "Reader ellipse 2 (slice 2)", "Reader freehand 3 (slice 3)"]
    assert len(sr.content.get_image_measurement_groups()) == 2      # the model's groups stay
    sy, sx = vol.spacing[1], vol.spacing[2]
    ruler, ellipse, freehand = groups
    for g, z, gtype in ((ruler, 0, "POLYLINE"), (ellipse, 1, "ELLIPSE"), (freehand, 2, "POLYLINE")):
        assert g.roi.graphic_type.value == gtype
        (img,) = g.roi.ContentSequence
        assert img.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == series.refs[z].sop_instance_uid
    np.testing.assert_allclose(ruler.roi.value, [[2.5, 3.5], [30.5, 20.5]], atol=1e-4)
    assert _by_name(ruler)["Length"] == (pytest.approx(np.hypot(28 * sx, 17 * sy), rel=1e-5), "mm")
    e = _reader_measurements()[2]["ellipse"]
    np.testing.assert_allclose(ellipse.roi.value, ellipse_axes(e), atol=1e-4)
    # the major axis (b = 9 px, along the ellipse's own y) comes first
    assert np.hypot(*(ellipse.roi.value[1] - ellipse.roi.value[0])) == pytest.approx(18, abs=1e-3)
    mask = measure.ellipse_mask(vol.voxels.shape[1:], e["cx"], e["cy"], e["a"], e["b"], e["angle"])
    stats = measure.roi_stats(vol.voxels[1], mask, (sy, sx))
    vals = {(m.name.meaning, m.derivation.meaning if m.derivation else None): m.value
            for m in ellipse.get_measurements()}
    assert vals[("Area", None)] == pytest.approx(np.pi * 36 * sx * sy, rel=1e-5)
    assert vals[("Attenuation Coefficient", "Mean")] == pytest.approx(stats.mean, abs=1e-3)
    assert vals[("Attenuation Coefficient", "Standard Deviation")] == pytest.approx(stats.sd, abs=1e-3)
    closed = freehand.roi.value
    assert len(closed) == 4 and np.allclose(closed[0], closed[-1])
    assert _by_name(freehand)["Area"][0] == pytest.approx(
        measure.polygon_area([[5.5, 5.5], [20.5, 6.5], [12.5, 20.5]], (sy, sx))[0], rel=1e-5)


def test_sr_leaves_out_measurements_it_cannot_place_and_says_so(tmp_path):
    series, vol = _volume(tmp_path)
    maps, masks, lungs = _arrays(vol)
    bad = [{"kind": "ruler", "index": 9, "points": [[1.5, 1.5], [3.5, 3.5]], "text": ""},
           {"kind": "ruler", "index": 1, "points": [[1.5, 1.5], [80.5, 3.5]], "text": ""}]
    req = ExportRequest(tmp_path / "out", ["sr"], model_name="m", weights_hash=HASH,
                        measurements=_reader_measurements()[:1] + bad)
    report = export_formats(req, vol, maps, masks, lungs=lungs)
    assert report.errors == [
        "sr: Reader ruler 1 (slice 2): reaches outside the 40 x 32 image; left out",
        "sr: Reader ruler 3 (slice 10): slice 10 is beyond the series' 4 slices; left out"]
    sr = hd.sr.srread(tmp_path / "out" / "sr.dcm")
    (kept,) = sr.content.get_planar_roi_measurement_groups()
    assert kept.tracking_identifier == "Reader freehand 2 (slice 3)"   # numbered in slice order


def test_sr_reader_measurement_on_a_multiframe_source_names_its_frame(tmp_path):
    """Enhanced CT (frames stored out of z order): a measurement on slice z points at the one
    multi-frame instance and at the frame that holds slice z."""
    from test_dicom_seg import _io_writer

    from viewer.export.source import ExportSource
    from viewer.export.sr_reader_measurements import planar_groups

    folder = tmp_path / "enh"
    folder.mkdir()
    _io_writer().write_enhanced_ct(folder / "e.dcm", n=5, rows=8, cols=9)
    vol = load_series(scan_path(folder).series[0])
    src = ExportSource.of(vol)
    groups, messages = planar_groups(
        [{"kind": "ruler", "index": 3, "points": [[0.5, 0.5], [6.5, 4.5]], "text": ""}], src, vol.voxels)
    assert messages == [] and len(groups) == 1
    region = groups[0].roi
    (image,) = region.ContentSequence
    ref = image.ReferencedSOPSequence[0]
    assert ref.ReferencedSOPInstanceUID == vol.refs[3].sop_instance_uid
    assert int(ref.ReferencedFrameNumber) == vol.refs[3].frame_index + 1


def test_sr_roi_of_a_source_without_hu_carries_its_area_only(tmp_path):
    """No HU (a DICOM source whose values are not Hounsfield units): the ROI's area goes in, no
    attenuation statistics."""
    import dataclasses

    from viewer.export.source import ExportSource
    from viewer.export.sr_reader_measurements import planar_groups

    series, vol = _volume(tmp_path)
    src = dataclasses.replace(ExportSource.of(vol), is_hu=False)
    groups, messages = planar_groups(_reader_measurements()[2:], src, vol.voxels)
    assert messages == []
    assert [m.name.meaning for m in groups[0].get_measurements()] == ["Area"]
    with pytest.raises(ValueError, match="do not match the series"):
        planar_groups(_reader_measurements(), src, vol.voxels[:2])
