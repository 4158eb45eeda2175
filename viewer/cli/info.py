"""``main.py info PATH [--json]``: list every series found under PATH and every skipped file."""
from __future__ import annotations

import argparse

from gan.cli.common import error

DESCRIPTION = """\
Scan PATH (a DICOM folder, scanned recursively; a DICOM file; a .nii/.nii.gz volume; a picture
or a folder of PNG/JPG/BMP/TIFF slices) and report, without reading pixels, every series found:
patient, study and series description, modality, slice count, matrix, spacing (z, y, x) in mm,
whether values are HU, and warnings (missing slices, non-uniform spacing, split series...).
Every file that was skipped is listed with its reason. Exit status 1 with a one-line message
when nothing loadable is found or PATH does not exist."""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "info",
        help="list the CT series and skipped files under a path",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("path", metavar="PATH", help="DICOM folder or file, NIfTI file, picture or "
                                                "picture folder")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.set_defaults(func=handler)


def values_label(s) -> str:
    """What the voxel values are: HU, 8-bit grey, or grey levels of a CT without a usable
    rescale (see the series warnings)."""
    if s.is_hu:
        return "HU"
    if s.source_kind == "dicom" and (s.modality or "").upper() == "CT":
        return "grey levels (not HU: no usable rescale)"
    return "8-bit grey (not HU)"


def _round(v):
    """``v`` rounded to 6 decimals; None when not finite (never an OverflowError)."""
    v = float(v)
    return round(v, 6) if v == v and abs(v) != float("inf") else None


def series_dict(s) -> dict:
    """JSON-ready summary of a SeriesInfo (spacing (z, y, x) mm, origin LPS mm)."""
    return {
        "key": s.key,
        "source_kind": s.source_kind,
        "patient_name": s.patient_name,
        "patient_id": s.patient_id,
        "study_uid": s.study_uid,
        "series_uid": s.series_uid,
        "study_description": s.study_description,
        "series_description": s.series_description,
        "modality": s.modality,
        "series_number": s.series_number,
        "n_slices": s.n_slices,
        "rows": s.rows,
        "cols": s.cols,
        "spacing_mm": [_round(v) for v in s.spacing],
        "slice_spacing_mm": _round(s.spacing[0]),
        "is_hu": s.is_hu,
        "values": values_label(s),
        "origin_lps_mm": [_round(v) for v in s.origin],
        "direction": [_round(v) for v in s.direction],
        "first_file": s.refs[0].path,
        "warnings": list(s.warnings),
    }


def _text_report(path: str, result) -> str:
    lines = [f"{path}: {len(result.series)} series, {len(result.skipped)} skipped"]
    for n, s in enumerate(result.series, 1):
        z, y, x = s.spacing
        patient = " / ".join(v for v in (s.patient_name, s.patient_id) if v) or "-"
        lines += [
            f"[{n}] {s.modality or '-'} {s.source_kind}: {s.series_description or '-'}",
            f"    patient: {patient}   study: {s.study_description or '-'}",
            f"    slices: {s.n_slices}   matrix: {s.cols} x {s.rows}   "
            f"spacing (z, y, x): {z:g} x {y:g} x {x:g} mm   values: "
            f"{values_label(s)}",
            f"    key: {s.key}",
        ]
        lines += [f"    warning: {w}" for w in s.warnings]
    if result.skipped:
        lines.append("skipped:")
        lines += [f"  {f.path}: {f.reason}" for f in result.skipped]
    return "\n".join(lines)


def handler(args) -> int:
    from viewer.io import scan_path
    import os

    path = args.path
    if not os.path.lexists(path):
        error(f"{path}: no such file or folder")
        return 1
    result = scan_path(path)
    if args.json:
        from viewer.core.json_safe import dumps

        print(dumps({
            "path": path,
            "series": [series_dict(s) for s in result.series],
            "skipped": [{"path": f.path, "reason": f.reason} for f in result.skipped],
        }, indent=2))
    else:
        print(_text_report(path, result))
    if not result.series:
        why = ""
        if result.skipped:
            first = result.skipped[0]
            why = f" ({len(result.skipped)} skipped; first: {first.path}: {first.reason})"
        error(f"{path}: no loadable CT series or pictures found{why}")
        return 1
    return 0
