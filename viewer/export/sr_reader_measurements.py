"""The reader's own measurements (rulers, ellipse and freehand ROIs kept by
``viewer.core.measurement_store``) as DICOM SR content: one TID 1410 "Planar ROI Measurements"
group each, for the measurement report of ``viewer.export.dicom_sr``. Qt-free.

Each group holds:

- the region on its source image (SCOORD, image coordinates: column, row, with the top-left
  corner of the first pixel at 0, 0, so a pixel centre is at +0.5, as ``viewer.core.measure``):
  a ruler as a POLYLINE of its two ends, an ellipse as an ELLIPSE (the major axis' two ends,
  then the minor axis'), a freehand outline as a closed POLYLINE (its last point the first:
  SR's polygon);
- a tracking identifier "Reader ruler 1 (slice 12)" (its number in slice order, as
  ``measurements.csv``) and the measurement method "Manual";
- the values, recomputed from the geometry and the source (not parsed from the text shown):
  the ruler's length in mm; the ROI's area in mm², and for HU series the mean and standard
  deviation of the attenuation in HU inside it (a pixel is inside when its centre is).

Array contract: ``voxels`` is the series (z, y, x) in HU (or the source's values), or None; then
the ROIs carry their area only. ``src.spacing`` is (z, y, x) mm.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from viewer.core import measure
from viewer.export.dicom_seg import _read_header
from viewer.export.source import ExportSource

ATTENUATION = ("112031", "DCM", "Attenuation Coefficient")
HU_UNIT = ("[hnsf'U]", "UCUM", "Hounsfield unit")
MM_UNIT = ("mm", "UCUM", "millimeter")
MM2_UNIT = ("mm2", "UCUM", "square millimeter")


def _concept(triple):
    import highdicom as hd

    return hd.sr.CodedConcept(*triple)


def ellipse_axes(e: dict) -> np.ndarray:
    """(4, 2) float: the ends of the major axis, then of the minor axis, as (column, row), of
    an ellipse ``{"cx", "cy", "a", "b", "angle"}`` (semi-axes in px along the ellipse's own x and
    y, rotation in degrees): the ELLIPSE graphic data of DICOM SR."""
    t = math.radians(e["angle"])
    u = np.array([math.cos(t), math.sin(t)])    # the ellipse's own x axis in image coordinates
    v = np.array([-math.sin(t), math.cos(t)])
    c = np.array([e["cx"], e["cy"]])
    (ra, da), (rb, db) = sorted(((e["a"], u), (e["b"], v)), key=lambda p: -p[0])
    return np.array([c - ra * da, c + ra * da, c - rb * db, c + rb * db])


def _inside(points: np.ndarray, shape_yx) -> bool:
    return bool(np.all(points >= 0) and np.all(points[:, 0] <= shape_yx[1])
                and np.all(points[:, 1] <= shape_yx[0]))


def planar_groups(measurements: Sequence[dict], src: ExportSource,
                  voxels: np.ndarray | None = None) -> tuple[list, list[str]]:
    """(TID 1410 groups, messages): one group per measurement (checked dicts of
    ``measurement_store``), in slice order; a measurement that cannot be reported (slice beyond
    the series, no source instance, outside the image) is left out with a one-line message."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    sy, sx = src.spacing[1], src.spacing[2]
    shape_yx = src.shape[1:]
    hu = voxels is not None and src.is_hu
    if voxels is not None and tuple(np.shape(voxels)) != tuple(src.shape):
        raise ValueError(f"DICOM SR: voxels {np.shape(voxels)} do not match the series "
                         f"{src.shape}")
    groups, messages = [], []
    for n, m in enumerate(sorted(measurements, key=lambda r: r["index"]), 1):
        z, kind = int(m["index"]), m["kind"]
        name = f"Reader {kind} {n} (slice {z + 1})"
        if z >= src.shape[0]:
            messages.append(f"{name}: slice {z + 1} is beyond the series' {src.shape[0]} slices; "
                            "left out")
            continue
        ref = src.refs[z] if src.refs else None
        uid = getattr(ref, "sop_instance_uid", None)
        cls = getattr(ref, "sop_class_uid", None)
        if uid and not cls and getattr(ref, "path", None):
            try:
                cls = str(_read_header(ref.path).SOPClassUID)
            except (OSError, ValueError, AttributeError):
                cls = None
        if not uid or not cls:
            messages.append(f"{name}: slice {z + 1} has no DICOM instance to point at; left out")
            continue
        if kind == "ruler":
            gtype, data = "POLYLINE", np.asarray(m["points"], np.float64)
        elif kind == "ellipse":
            gtype, data = "ELLIPSE", ellipse_axes(m["ellipse"])
        else:
            pts = np.asarray(m["points"], np.float64)
            gtype, data = "POLYLINE", np.vstack([pts, pts[:1]])   # closed: last = first
        if not _inside(data, shape_yx):
            messages.append(f"{name}: reaches outside the {shape_yx[1]} x {shape_yx[0]} image; "
                            "left out")
            continue
        values = []
        if kind == "ruler":
            length, _ = measure.line_length(data[0], data[1], (sy, sx))
            values.append(hd.sr.Measurement(name=codes.SCT.Length, value=length,
                                            unit=_concept(MM_UNIT)))
        else:
            if kind == "ellipse":
                e = m["ellipse"]
                area, _ = measure.ellipse_area(e["a"], e["b"], (sy, sx))
                mask = measure.ellipse_mask(shape_yx, e["cx"], e["cy"], e["a"], e["b"], e["angle"])
            else:
                area, _ = measure.polygon_area(m["points"], (sy, sx))
                mask = measure.polygon_mask(shape_yx, m["points"])
            values.append(hd.sr.Measurement(name=codes.SCT.Area, value=float(area),
                                            unit=_concept(MM2_UNIT)))
            if hu:
                stats = measure.roi_stats(np.asarray(voxels[z]), mask, (sy, sx), is_hu=True)
                if stats.n_pixels:
                    for value, derivation in ((stats.mean, codes.SCT.Mean),
                                              (stats.sd, codes.SCT.StandardDeviation)):
                        values.append(hd.sr.Measurement(
                            name=_concept(ATTENUATION), value=float(value),
                            unit=_concept(HU_UNIT), derivation=derivation))
        frames = None if getattr(ref, "frame_index", None) is None else [int(ref.frame_index) + 1]
        region = hd.sr.ImageRegion(
            graphic_type=hd.sr.GraphicTypeValues[gtype], graphic_data=data,
            source_image=hd.sr.SourceImageForRegion(str(cls), str(uid),
                                                    referenced_frame_numbers=frames))
        groups.append(hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier=name),
            referenced_region=region, method=codes.SCT.Manual, measurements=values))
    return groups, messages
