"""DICOM Structured Report of the lesion measurements (highdicom, TID 1500 Measurement Report in
a Comprehensive 3D SR).

Content (numbers from `viewer.export.summary` / `viewer.core.severity`, the same as summary.csv):

- observation context: the model as the observing device (name = model name, serial = the
  weights' sha256 prefix);
- measurement group "COVID-19 lesions" (TID 1411 Volumetric ROI when the mask SEG is given: it
  references segment 1 of that SEG and the source series; TID 1501 otherwise): finding type
  Lesion in Lung, algorithm = model name / weights sha256 (+ threshold), measurements lesion
  volume (ml), lesion share of the lung volume (%), ground-glass and consolidation shares of the
  lesion (%, HU input only), and the severity category as a qualitative evaluation;
- measurement group "Lungs" (TID 1501): lung volume (ml);
- the reader's rulers and ROIs, when given: one TID 1410 Planar ROI group each (length in mm, or
  area in mm² and mean ± SD HU), on its source image (`viewer.export.sr_reader_measurements`).

The evidence (Current Requested Procedure Evidence) lists every source instance and the SEG.
Concepts without a standard code use the private scheme ``99COVIDCT``.
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pydicom
from pydicom.uid import SegmentationStorage

from viewer.export.dicom_seg import MANUFACTURER, SOFTWARE_VERSION, _read_header, \
    require_dicom_source
from viewer.io.atomic import atomic_path
from viewer.export.source import ExportSource, ensure_dir

SCHEME = "99COVIDCT"
SCHEME_NAME = "COVID-19 CT reading room"


def _codes():
    import highdicom as hd
    from pydicom.sr.codedict import codes

    c = hd.sr.CodedConcept
    return {
        "volume": codes.SCT.Volume,
        "ml": c("ml", "UCUM", "milliliter"),
        "pct": codes.UCUM.Percent,
        "lesion_share": c("LESIONPCT", SCHEME, "Lesion share of lung volume"),
        "ggo_share": c("GGOPCT", SCHEME, "Ground-glass share of lesion volume"),
        "cons_share": c("CONSPCT", SCHEME, "Consolidation share of lesion volume"),
        "severity": codes.SCT.Severity,
        "category": {
            "mild": c("MILD", SCHEME, "Mild (lesion < 10 % of lung)"),
            "common": c("COMMON", SCHEME, "Common (lesion 10-30 % of lung)"),
            "severe": c("SEVERE", SCHEME, "Severe (lesion 30-50 % of lung)"),
            "critical": c("CRITICAL", SCHEME, "Critical (lesion > 50 % of lung)"),
        },
        "lesion": codes.SCT.Lesion,
        "lung": codes.SCT.Lung,
        "procedure": c("24627-2", "LN", "CT Chest"),
    }


#: category name -> code value, for readers of the SR
CATEGORY_CODES = {"mild": "MILD", "common": "COMMON", "severe": "SEVERE", "critical": "CRITICAL"}


def _series_uid(src: ExportSource) -> str:
    return str(_read_header(src.refs[0].path).SeriesInstanceUID)


def _source_series_uid(seg_ds: pydicom.Dataset) -> str:
    try:
        return str(seg_ds.ReferencedSeriesSequence[0].SeriesInstanceUID)
    except (AttributeError, IndexError):
        return ""


def check_source(src: ExportSource) -> None:
    """ValueError unless the source is a DICOM series (its instances are the evidence)."""
    try:
        require_dicom_source(src)
    except ValueError as exc:
        raise ValueError(str(exc).replace("DICOM SEG", "DICOM SR")) from None


def _evidence(src: ExportSource) -> list[pydicom.Dataset]:
    seen, out = set(), []
    for r in src.refs:
        key = str(r.path)
        if key in seen:
            continue
        seen.add(key)
        out.append(_read_header(r.path))
    return out


def export_measurement_sr(
    path: str | Path,
    source: ExportSource | object,
    totals: dict,
    model_name: str,
    weights_hash: str,
    seg: str | Path | pydicom.Dataset | None = None,
    threshold: float | None = None,
    series_number: int = 901,
    reader_measurements: Sequence[dict] = (),
    voxels: np.ndarray | None = None,
    messages: list[str] | None = None,
) -> Path:
    """Write the measurement report of one series to `path` and return it.

    totals: the series totals of `SummaryBuilder.add_series` (lung_ml, lesion_ml, lesion_pct,
    ggo_share, consolidation_share, category). seg: the BINARY mask SEG of the same series
    (path or dataset) to reference, or None. reader_measurements: the reader's rulers and ROIs
    (checked dicts of `viewer.core.measurement_store`), added as TID 1410 groups
    (`viewer.export.sr_reader_measurements`; their HU statistics from `voxels`, (z, y, x) HU, when
    given); one line per measurement left out goes to `messages`.
    """
    import highdicom as hd
    from pydicom.sr.codedict import codes

    src = ExportSource.of(source)
    check_source(src)
    if not model_name or not weights_hash:
        raise ValueError("DICOM SR: model name and weights hash are required")
    for key in ("lung_ml", "lesion_ml"):
        if not isinstance(totals.get(key), (int, float)) or not np.isfinite(totals[key]):
            raise ValueError(f"DICOM SR for {src.key}: totals lack {key}")
    k = _codes()
    seg_ds = None
    if seg is not None:
        try:
            seg_ds = seg if isinstance(seg, pydicom.Dataset) else pydicom.dcmread(str(seg))
        except (OSError, pydicom.errors.InvalidDicomError) as exc:
            raise ValueError(f"DICOM SR: SEG {seg}: cannot read ({exc})") from None
    params = [f"weights_sha256={weights_hash}"]
    if threshold is not None:
        params.append(f"threshold={float(threshold):.6g}")
    algo = hd.sr.AlgorithmIdentification(name=str(model_name)[:64],
                                         version=str(weights_hash)[:64], parameters=params)
    measurements = [
        hd.sr.Measurement(name=k["volume"], value=float(totals["lesion_ml"]), unit=k["ml"],
                          algorithm_id=algo),
    ]
    for key, name in (("lesion_pct", "lesion_share"), ("ggo_share", "ggo_share"),
                      ("consolidation_share", "cons_share")):
        value = totals.get(key)
        if value is not None and np.isfinite(value):
            measurements.append(hd.sr.Measurement(name=k[name], value=float(value),
                                                  unit=k["pct"], algorithm_id=algo))
    evaluations = []
    if totals.get("category") in k["category"]:
        evaluations.append(hd.sr.QualitativeEvaluation(k["severity"],
                                                       k["category"][totals["category"]]))
    site = [hd.sr.FindingSite(k["lung"])]
    lesion_id = hd.sr.TrackingIdentifier(uid=hd.UID(), identifier="COVID-19 lesions")
    if seg_ds is not None:
        if str(seg_ds.get("SOPClassUID", "")) != SegmentationStorage:
            raise ValueError(f"DICOM SR: {seg}: not a DICOM SEG")
        source_series = _source_series_uid(seg_ds)
        if source_series != _series_uid(src):
            raise ValueError(f"DICOM SR: {seg}: a segmentation of series {source_series}, not "
                             f"of {_series_uid(src)}")
        # segment 1 of the SEG, on the source series (TID 1411 "Referenced Segment")
        ref = hd.sr.ReferencedSegment(
            sop_class_uid=str(seg_ds.SOPClassUID), sop_instance_uid=str(seg_ds.SOPInstanceUID),
            segment_number=1,
            source_series=hd.sr.SourceSeriesForSegmentation(source_series))
        lesion_group = hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
            tracking_identifier=lesion_id, referenced_segment=ref, finding_type=k["lesion"],
            algorithm_id=algo, finding_sites=site, measurements=measurements,
            qualitative_evaluations=evaluations or None)
    else:
        lesion_group = hd.sr.MeasurementsAndQualitativeEvaluations(
            tracking_identifier=lesion_id, finding_type=k["lesion"], algorithm_id=algo,
            finding_sites=site, measurements=measurements,
            qualitative_evaluations=evaluations or None)
    lung_group = hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier="Lungs"),
        finding_type=k["lung"], algorithm_id=algo, finding_sites=site,
        measurements=[hd.sr.Measurement(name=k["volume"], value=float(totals["lung_ml"]),
                                        unit=k["ml"], algorithm_id=algo)])
    reader_groups, left_out = [], []
    if reader_measurements:
        from viewer.export.sr_reader_measurements import planar_groups

        reader_groups, left_out = planar_groups(reader_measurements, src, voxels)
    if messages is not None:
        messages.extend(left_out)
    device = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=hd.UID(), name=str(model_name)[:64], manufacturer_name=MANUFACTURER,
            model_name=str(model_name)[:64], serial_number=str(weights_hash)[:16]))
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=device),
        procedure_reported=k["procedure"], imaging_measurements=[lesion_group, lung_group, *reader_groups])
    evidence = _evidence(src) + ([seg_ds] if seg_ds is not None else [])
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*intended person name",
                                    category=UserWarning)
            sr = hd.sr.Comprehensive3DSR(
                evidence=evidence, content=report[0], series_instance_uid=hd.UID(),
                series_number=int(series_number), sop_instance_uid=hd.UID(), instance_number=1,
                manufacturer=MANUFACTURER, is_complete=True, is_final=False,
                series_description=f"Lesion measurements ({model_name})"[:64],
                software_versions=SOFTWARE_VERSION)
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        raise ValueError(f"DICOM SR for {src.key}: the source headers do not allow a report "
                         f"({exc})") from exc
    path = Path(path)
    ensure_dir(path.parent)
    with atomic_path(path) as tmp:  # the final name only once the file is complete
        sr.save_as(str(tmp))
    return path
