"""The measurements of a series (rulers, ellipse and freehand ROIs), kept on disk, Qt-free.

One JSON file per series, ``<directory>/<safe series key>-<hash>.measurements.json``
(``measurements_path``); the viewer uses ``user_measurements_dir()`` (the per-user data folder;
the study folder is never written to). The file is rewritten whole on every change through
``viewer.io.atomic.atomic_path`` (a hidden temporary file, fsynced, then renamed over the old
one), so a crash leaves either the old or the new set, never a torn one.

A measurement is a dict:

- ``kind``: "ruler", "ellipse" or "freehand";
- ``index``: the slice it was drawn on (0-based, the series' slice order);
- ``points``: ``[[x, y], ...]`` in image coordinates (x = column, y = row, pixel centres at
  +0.5, as ``viewer.core.measure``): the ruler's two ends or the freehand outline's vertices
  (at least 3);
- ``ellipse``: ``{"cx", "cy", "a", "b", "angle"}`` (centre, semi-axes in px, rotation in degrees)
  for an ellipse;
- ``text``: the value shown beside it when it was saved (e.g. "42.1 mm"), for reports.

Reading never raises on bad content: an unreadable file is moved aside (``.unreadable-N``, so
nothing is lost) and each unusable measurement is skipped; both are reported in the returned
messages.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

from viewer.core.edit_journal import series_file, user_data_subdir
from viewer.io.atomic import atomic_path

SUFFIX = ".measurements.json"
VERSION = 1
KINDS = ("ruler", "ellipse", "freehand")


def user_measurements_dir() -> Path:
    """``<platformdirs user data dir>/measurements``."""
    return user_data_subdir("measurements")


def measurements_path(directory: str | os.PathLike, series_key: str) -> Path:
    """``<directory>/<key>-<hash>.measurements.json`` (``edit_journal.series_file``)."""
    return series_file(directory, series_key, SUFFIX, "measurements")


def _finite(values) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values)


def check_measurement(m, n_slices: int | None = None) -> dict:
    """The measurement as a clean dict, or ValueError saying what is wrong with it."""
    if not isinstance(m, dict):
        raise ValueError("not an object")
    kind = m.get("kind")
    if kind not in KINDS:
        raise ValueError(f"kind {kind!r} is not one of {', '.join(KINDS)}")
    index = m.get("index")
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        raise ValueError(f"slice index {index!r} is not a whole number >= 0")
    if n_slices is not None and index >= n_slices:
        raise ValueError(f"slice {index + 1} is beyond the series' {n_slices} slices")
    out = {"kind": kind, "index": index, "text": str(m.get("text", ""))}
    if kind == "ellipse":
        e = m.get("ellipse")
        names = ("cx", "cy", "a", "b", "angle")
        if not isinstance(e, dict) or not _finite([e.get(k) for k in names]):
            raise ValueError("ellipse needs finite cx, cy, a, b and angle")
        if e["a"] <= 0 or e["b"] <= 0:
            raise ValueError("ellipse semi-axes must be > 0")
        out["ellipse"] = {k: float(e[k]) for k in names}
        return out
    pts = m.get("points")
    need = 2 if kind == "ruler" else 3
    if (not isinstance(pts, list) or not all(isinstance(p, (list, tuple)) and len(p) == 2 and _finite(p)
                                             for p in pts)):
        raise ValueError("points must be a list of finite [x, y] pairs")
    if (kind == "ruler" and len(pts) != 2) or len(pts) < need:
        raise ValueError(f"a {kind} needs {'exactly 2' if kind == 'ruler' else 'at least 3'} points")
    out["points"] = [[float(p[0]), float(p[1])] for p in pts]
    return out


def load_measurements(path: str | os.PathLike, n_slices: int | None = None) -> tuple[list[dict], list[str]]:
    """(measurements, messages). A missing file: no measurements, no message. An unreadable file
    (not JSON, not this format) is renamed ``<name>.unreadable-N`` and reported; measurements
    that do not check (``check_measurement``, with ``n_slices`` when given) are skipped and
    reported."""
    p = Path(path)
    if not p.exists():
        return [], []
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("measurements"), list):
            raise ValueError("not a measurements file")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        aside = _aside(p)
        why = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        try:
            p.rename(aside)
            kept = f"kept as {aside.name}"
        except OSError as err:
            kept = f"could not move it aside ({err.strerror or err})"
        return [], [f"measurements file {p.name}: unreadable ({why}); {kept}, starting empty"]
    out, messages = [], []
    for k, m in enumerate(data["measurements"]):
        try:
            out.append(check_measurement(m, n_slices))
        except ValueError as exc:
            messages.append(f"measurements file {p.name}: measurement {k + 1} skipped: {exc}")
    return out, messages


def _aside(p: Path) -> Path:
    n = 1
    while p.with_name(f"{p.name}.unreadable-{n}").exists():
        n += 1
    return p.with_name(f"{p.name}.unreadable-{n}")


def save_measurements(path: str | os.PathLike, series_key: str, measurements: list[dict]) -> Path:
    """Write the series' measurements (each checked first: ValueError names the bad one, and
    nothing is written). Atomic (``viewer.io.atomic.atomic_path``). Returns the path."""
    clean = []
    for k, m in enumerate(measurements):
        try:
            clean.append(check_measurement(m))
        except ValueError as exc:
            raise ValueError(f"measurement {k + 1}: {exc}") from None
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    payload = {"version": VERSION, "series_key": str(series_key), "measurements": clean}
    with atomic_path(p) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        json.dump(payload, fh, indent=1)
    return p
