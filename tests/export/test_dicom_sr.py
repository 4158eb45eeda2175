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
