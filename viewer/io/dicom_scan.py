"""Scan DICOM files (headers only) and assemble sorted series with geometry and warnings.

Rules, in order:

1. every file's header is read (``dicom_header.read_dicom_header``); DICOMDIR, non-DICOM,
   non-image, localizer/scout, colour and truncated files are skipped with a reason;
2. slices are grouped by SeriesInstanceUID; a UID whose slices differ in matrix size,
   orientation or pixel spacing is split into one series per kind (with a warning);
3. within a series, slices without ImagePositionPatient are skipped (when others have it);
   slices are ordered by projecting ImagePositionPatient on the slice normal
   (row cosines x column cosines), never by file name or InstanceNumber;
4. slices at the same position are dropped (kept: the first by InstanceNumber, then path);
5. the z spacing is the median step; missing slices (a step > 1.5x the median) and
   non-uniform spacing are reported as warnings that give the gap in mm.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Iterable, Optional

import numpy as np

from viewer.io.dicom_header import Candidate, read_dicom_header
from viewer.io.series import Progress, ScanResult, SeriesInfo, SkippedFile, SliceRef, report

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
DUPLICATE_TOL_MM = 0.01
GAP_FACTOR = 1.5
MAX_STEP_MM = 1000.0  # a median slice step above 1 m is not a CT series


def scan_dicom_files(paths: list[str], progress: Progress = None, done0: int = 0,
                     total: Optional[int] = None) -> ScanResult:
    """Read the headers of ``paths`` and assemble series.

    ``progress(done0 + k, total)`` is called after each file (total defaults to len(paths)).
    """
    total = len(paths) if total is None else total
    result = ScanResult()
    candidates: list[Candidate] = []
    for k, path in enumerate(paths):
        try:
            got = read_dicom_header(path)
        except Exception as exc:  # noqa: BLE001 - read_dicom_header should not raise; if it
            got = SkippedFile(path, f"unreadable DICOM file ({type(exc).__name__}: {exc})")
        if isinstance(got, SkippedFile):
            result.skipped.append(got)
        else:
            candidates.extend(got)
        report(progress, done0 + k + 1, total)
    series, skipped = build_series(candidates)
    result.series.extend(series)
    result.skipped.extend(skipped)
    return result


def _split_key(c: Candidate) -> tuple:
    ori = None if c.orientation is None else tuple(round(v, 3) for v in c.orientation)
    ps = None if c.pixel_spacing is None else tuple(round(v, 4) for v in c.pixel_spacing)
    return (c.rows, c.cols, ori, ps, c.is_hu)


def _describe(key: tuple) -> str:
    rows, cols, ori, ps, _ = key
    text = f"{cols}x{rows}"
    if ori is not None:
        text += " orientation " + "/".join(f"{v:g}" for v in ori)
    if ps is not None:
        text += f" pixel {ps[0]:g}x{ps[1]:g} mm"
    return text


def build_series(candidates: Iterable[Candidate]) -> tuple[list[SeriesInfo], list[SkippedFile]]:
    """Group candidates into SeriesInfo objects; return (series, skipped slices)."""
    by_uid: dict[str, list[Candidate]] = defaultdict(list)
    for c in candidates:
        by_uid[c.series_uid or f"no-series-uid:{c.study_uid or c.path}"].append(c)
    series: list[SeriesInfo] = []
    skipped: list[SkippedFile] = []
    for uid, group in by_uid.items():
        parts: dict[tuple, list[Candidate]] = defaultdict(list)
        for c in group:
            parts[_split_key(c)].append(c)
        ordered = sorted(parts.items(), key=lambda kv: -len(kv[1]))
        for n, (key, members) in enumerate(ordered):
            series_key = uid if n == 0 else f"{uid}#{n + 1}"
            warnings = []
            if len(ordered) > 1:
                kinds = ", ".join(f"{len(m)} x {_describe(k)}" for k, m in ordered)
                warnings.append(f"series UID {uid} mixes images of different size, orientation "
                                f"or pixel spacing ({kinds}); split into {len(ordered)} series; "
                                f"this one: {_describe(key)}")
            try:
                info = _assemble(series_key, members, warnings, skipped)
            except (ValueError, ArithmeticError) as exc:  # geometry the model refuses
                skipped.extend(SkippedFile(c.label, f"series {series_key} unusable: {exc}")
                               for c in members)
                continue
            series.append(info)
    series.sort(key=lambda s: (s.patient_id, s.study_uid,
                               s.series_number if s.series_number is not None else 1 << 40, s.key))
    return series, skipped


def _assemble(key: str, members: list[Candidate], warnings: list[str],
              skipped: list[SkippedFile]) -> SeriesInfo:
    with_pos = [c for c in members if c.position is not None]
    if with_pos and len(with_pos) < len(members):
        for c in members:
            if c.position is None:
                skipped.append(SkippedFile(c.label, f"no ImagePositionPatient: cannot place this "
                                                    f"slice in series {key}"))
        members = with_pos
    first = members[0]
    orientation = first.orientation
    if orientation is None:
        orientation = AXIAL
        warnings.append("no ImageOrientationPatient: axial orientation assumed")
    row = np.array(orientation[:3], dtype=float)
    col = np.array(orientation[3:], dtype=float)
    normal = np.cross(row, col)
    norm = np.linalg.norm(normal)
    if norm < 1e-6:
        warnings.append("ImageOrientationPatient is degenerate: axial orientation assumed")
        row, col, normal = np.eye(3)
    else:
        normal = normal / norm

    if with_pos:
        members = sorted(members, key=lambda c: (float(np.dot(c.position, normal)),
                                                 c.instance_number if c.instance_number is not None
                                                 else 1 << 40, c.path, c.frame_index or 0))
        members = _drop_duplicates(key, members, normal, warnings, skipped)
        proj = np.array([float(np.dot(c.position, normal)) for c in members])
        dz = _z_spacing(proj, first, warnings)
        _check_shear(members, normal, warnings)
        origin = tuple(float(v) for v in members[0].position)
    else:
        members = sorted(members, key=lambda c: (c.instance_number if c.instance_number is not None
                                                 else 1 << 40, c.path, c.frame_index or 0))
        dz = first.spacing_between_slices or first.slice_thickness
        if len(members) > 1:
            warnings.append("no ImagePositionPatient in any slice: ordered by InstanceNumber, "
                            + (f"z spacing {dz:g} mm taken from the header" if dz else
                               "z spacing unknown (1 mm assumed)"))
        else:
            warnings.append("no ImagePositionPatient: slice position unknown (origin set to 0)")
        dz = dz if dz and dz > 0 else 1.0
        origin = (0.0, 0.0, 0.0)

    if first.pixel_spacing is not None and min(first.pixel_spacing) > 0:
        sy, sx = first.pixel_spacing
    else:
        sy = sx = 1.0
        warnings.append("no PixelSpacing: 1 mm pixels assumed")
    direction = tuple(float(v) for v in np.column_stack([row, col, normal]).reshape(-1))
    if not all(np.isfinite(v) for v in (dz, sy, sx, *origin, *direction)):
        raise ValueError("non-finite geometry (spacing, origin or direction)")
    warnings.extend(_file_notes(members))
    refs = [SliceRef(path=c.path, sop_instance_uid=c.sop_instance_uid or None,
                     sop_class_uid=c.sop_class_uid or None, frame_index=c.frame_index,
                     position=c.position, instance_number=c.instance_number, decode=c.decode)
            for c in members]
    return SeriesInfo(
        key=key, source_kind="dicom", n_slices=len(refs), rows=first.rows, cols=first.cols,
        spacing=(float(dz), float(sy), float(sx)), origin=origin, direction=direction,
        is_hu=first.is_hu, refs=refs, patient_name=first.patient_name,
        patient_id=first.patient_id, study_uid=first.study_uid, series_uid=first.series_uid,
        study_description=first.study_description, series_description=first.series_description,
        modality=first.modality, frame_of_reference_uid=first.frame_of_reference_uid,
        series_number=first.series_number, warnings=warnings,
    )


def _file_notes(members: list[Candidate]) -> list[str]:
    """Per-file notes (sanity rules, pydicom warnings) as series warnings: one line per kind of
    note, naming the first file and how many others have it."""
    by_note: dict[str, list[Candidate]] = defaultdict(list)
    for c in members:
        for note in c.notes:
            by_note[note].append(c)
    out = []
    for note, cs in by_note.items():
        more = f" (and {len(cs) - 1} other slice(s))" if len(cs) > 1 else ""
        out.append(f"{cs[0].label}: {note}{more}")
    return out


def _drop_duplicates(key, members, normal, warnings, skipped):
    kept: list[Candidate] = []
    dropped = 0
    for c in members:
        if kept and abs(float(np.dot(np.subtract(c.position, kept[-1].position), normal))) \
                < DUPLICATE_TOL_MM:
            z = float(np.dot(c.position, normal))
            skipped.append(SkippedFile(c.label, f"duplicate slice position ({z:.2f} mm along the "
                                                f"normal) in series {key}; kept {kept[-1].label}"))
            dropped += 1
            continue
        kept.append(c)
    if dropped:
        warnings.append(f"{dropped} slice(s) at an already-used position dropped")
    return kept


def _z_spacing(proj: np.ndarray, first: Candidate, warnings: list[str]) -> float:
    """Median slice step in mm; warns about gaps and non-uniform steps."""
    if len(proj) < 2:
        dz = first.spacing_between_slices or first.slice_thickness
        return dz if dz and dz > 0 else 1.0
    steps = np.diff(proj)
    dz = float(np.median(steps))
    if not np.isfinite(dz) or dz <= 0:
        raise ValueError(f"slice step {dz} mm is not usable")
    if dz > MAX_STEP_MM:
        raise ValueError(f"median slice step {dz:g} mm is not plausible (> {MAX_STEP_MM:g} mm)")
    gaps = np.flatnonzero(steps > GAP_FACTOR * dz)
    if len(gaps):
        missing = int(sum(round(steps[i] / dz) - 1 for i in gaps))
        where = "; ".join(
            f"{steps[i]:.2f} mm between slices {i + 1} and {i + 2} "
            f"(at {proj[i]:.2f} and {proj[i + 1]:.2f} mm)" for i in gaps[:3])
        more = f"; and {len(gaps) - 3} more" if len(gaps) > 3 else ""
        warnings.append(f"missing slices: about {missing} missing, gap of {where}{more}; "
                        f"expected step {dz:.2f} mm")
    regular = np.delete(steps, gaps)
    if len(regular):
        lo, hi = float(regular.min()), float(regular.max())
        if hi - lo > max(0.01, 0.02 * dz):
            warnings.append(f"non-uniform slice spacing: steps from {lo:.3f} to {hi:.3f} mm "
                            f"(median {dz:.3f} mm used)")
    return dz


def _check_shear(members: list[Candidate], normal: np.ndarray, warnings: list[str]) -> None:
    if len(members) < 2:
        return
    d = np.subtract(members[-1].position, members[0].position)
    along = float(np.dot(d, normal))
    lateral = float(np.linalg.norm(d - along * normal))
    if along > 0 and lateral / along > 0.01:
        angle = float(np.degrees(np.arctan2(lateral, along)))
        warnings.append(f"slices are sheared by {angle:.1f} degrees (gantry tilt): shown "
                        "without correction")
