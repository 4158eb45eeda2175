"""The reader's measurements of a series (rulers, ellipse and freehand ROIs, as kept by
``viewer.core.measurement_store``) as ``measurements.csv`` in an export folder. Qt-free.

Columns: ``n`` (1-based), ``slice`` (1-based, as on screen), ``z`` (0-based slice index),
``kind``, ``value`` (what the viewer showed beside it: length in mm, or area and mean ± SD HU;
px and grey values for pictures; lines joined with "; "), ``geometry_px`` (JSON: the ruler's ends
or the outline's vertices as ``[[x, y], ...]``, or the ellipse's centre, semi-axes and angle, in
image pixels, x = column, y = row).
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path

from viewer.core import measurement_store
from viewer.io.atomic import atomic_path

FILENAME = "measurements.csv"
COLUMNS = ("n", "slice", "z", "kind", "value", "geometry_px")


def write_measurements_csv(out_dir: str | Path, measurements: Sequence[dict],
                           indices: Sequence[int] | None = None) -> Path | None:
    """Write the measurements on ``indices`` (None: every slice), sorted by slice, to
    ``out_dir/measurements.csv`` (atomically). Returns the path, or None when there are none
    (nothing is written). ``measurements``: checked dicts of ``measurement_store``."""
    keep = None if indices is None else {int(i) for i in indices}
    rows = sorted((m for m in measurements if keep is None or m["index"] in keep),
                  key=lambda m: m["index"])
    if not rows:
        return None
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    for n, m in enumerate(rows, 1):
        geometry = m["ellipse"] if m["kind"] == "ellipse" else m["points"]
        writer.writerow([n, m["index"] + 1, m["index"], m["kind"],
                         "; ".join(line.strip() for line in str(m.get("text", "")).splitlines()),
                         json.dumps(geometry, separators=(",", ":"))])
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    final = out / FILENAME
    with atomic_path(final) as tmp:
        Path(tmp).write_text(buf.getvalue(), encoding="utf-8")
    return final


def series_measurements(info, directory=None) -> tuple[list[dict], list[str]]:
    """(measurements, problems): the series' saved measurements (``viewer.core.measurement_store``,
    in ``directory``: default the per-user folder; ``info``: its ``key`` and ``n_slices``) and one
    "measurements: ..." line per problem (an unreadable file, a skipped measurement)."""
    try:
        folder = measurement_store.user_measurements_dir() if directory is None else directory
        path = measurement_store.measurements_path(folder, info.key)
        records, messages = measurement_store.load_measurements(path, info.n_slices)
    except (OSError, ValueError) as exc:
        return [], [f"measurements: {exc}"]
    return records, [f"measurements: {m}" for m in messages]


def add_measurements(report, request, info, directory=None, loaded=None) -> None:
    """The series' saved measurements on the exported slices (``request.indices``) as
    ``measurements.csv`` in ``request.out_dir``: added to ``report.written``, or one
    "measurements: ..." line per problem to ``report.errors`` (the export itself stands).
    ``loaded``: what ``series_measurements`` returned, when the caller has read them already."""
    records, problems = series_measurements(info, directory) if loaded is None else loaded
    report.errors.extend(problems)
    try:
        written = write_measurements_csv(request.out_dir, records, request.indices)
    except (OSError, ValueError) as exc:
        report.errors.append(f"measurements: {exc}")
        return
    if written is not None:
        report.written.append(written)
