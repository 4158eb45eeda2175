"""Refining the binary lesion mask: brush, eraser, undo/redo, edits saved as they are made.

The mask an annotator sees for slice ``i`` is derived, never stored::

    base  = map[i] >= threshold                       (bool (y, x))
    mask  = (base | painted[i]) & ~erased[i]          (the edits, ``MaskEdits.apply``)
    mask &= lungs[i]                                  (when restricted to the lungs)

so moving the threshold keeps every brush and eraser stroke. The edits are one ``int8 (y, x)``
layer per edited slice: +1 painted (lesion), -1 erased (background), 0 follow the map.

Geometry: slices are ``(y, x)`` arrays of the series ``shape`` ``(z, y, x)``; points are in pixel
units with pixel ``(row, col)`` centred at ``(y=row, x=col)``; a brush of radius ``r`` px covers the
pixels whose centre lies within ``r`` of the stroke's polyline (disks at the points, joined by
straight segments, so fast mouse moves leave no gaps).

History: each finished stroke is one undo step, kept as a delta (changed flat indices with their
old and new values, not a copy of the slice). The history is bounded by ``max_history`` steps and
``max_history_bytes``; the oldest steps are forgotten first (their edits stay).

Persistence: with ``journal_dir`` and ``series_key``, every stroke, undo, redo and setting is
appended to ``edit_journal.journal_path(journal_dir, series_key)`` and fsynced before the call
returns; opening the same series again replays the journal (same state, same undo history).
Corrupt or out-of-range journal lines are skipped and reported in ``messages``; a journal written
for another shape is moved aside (never overwritten) and reported. A journal that cannot be
written leaves the edits in memory and says so in ``messages`` (``persistent`` turns False).
"""
from __future__ import annotations

import logging
import math
import os
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from viewer.core import edit_journal

log = logging.getLogger(__name__)

PAINT = 1
ERASE = -1
DEFAULT_MAX_HISTORY = 200
DEFAULT_MAX_HISTORY_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Delta:
    """One undo step: on slice ``index``, flat pixels ``idx`` went from ``old`` to ``new``."""

    index: int
    idx: np.ndarray  # int32 flat indices into the (y, x) slice, ascending
    old: np.ndarray  # int8
    new: np.ndarray  # int8

    @property
    def nbytes(self) -> int:
        return int(self.idx.nbytes + self.old.nbytes + self.new.nbytes)


class MaskEdits:
    """Brush / eraser edits of a series' binary lesion mask with bounded undo/redo.

    ``shape``: the series ``(z, y, x)``. ``journal_dir``/``series_key``: where to save the edits
    (both or neither). ``max_history``: undo steps kept (>= 1); ``max_history_bytes``: their
    total size bound.
    """

    def __init__(
        self,
        shape: tuple[int, int, int],
        *,
        journal_dir: str | os.PathLike | None = None,
        series_key: str | None = None,
        max_history: int = DEFAULT_MAX_HISTORY,
        max_history_bytes: int = DEFAULT_MAX_HISTORY_BYTES,
    ):
        shp = tuple(int(s) for s in shape)
        if len(shp) != 3 or min(shp) <= 0:
            raise ValueError(f"mask edits: shape must be (z, y, x) > 0, got {tuple(shape)}")
        if int(max_history) < 1 or int(max_history_bytes) < 1:
            raise ValueError("mask edits: max_history and max_history_bytes must be >= 1")
        if (journal_dir is None) != (series_key is None):
            raise ValueError("mask edits: give both journal_dir and series_key, or neither")
        self.shape = shp
        self.max_history = int(max_history)
        self.max_history_bytes = int(max_history_bytes)
        self.messages: list[str] = []
        self.settings: dict = {}
        self.n_edits = 0
        self._layers: dict[int, np.ndarray] = {}
        self._undo: deque[Delta] = deque()
        self._redo: list[Delta] = []
        self._history_bytes = 0
        self._stroke: dict | None = None
        self._writer: edit_journal.JournalWriter | None = None
        self._journal_ok = False       # a journal is wanted and writing has not failed
        self._needs_header = False     # the journal file does not exist yet
        self._series_key = str(series_key)
        self.journal_path: Path | None = None
        if journal_dir is not None:
            self.journal_path = edit_journal.journal_path(journal_dir, str(series_key))
            self._open_journal(str(series_key))

    # ------------------------------------------------------------------ reading the mask

    @property
    def persistent(self) -> bool:
        """True while edits are saved to the journal (created on the first edit)."""
        return self._journal_ok

    def apply(self, index: int, mask: np.ndarray) -> np.ndarray:
        """``mask`` (bool (y, x), e.g. ``map >= threshold``) with slice ``index``'s edits; a new
        array (the input is not changed)."""
        i = self._check_index(index)
        m = np.asarray(mask, dtype=bool)
        if m.shape != self.shape[1:]:
            raise ValueError(f"mask edits: slice mask shape {m.shape} != {self.shape[1:]}")
        layer = self._layers.get(i)
        if layer is None:
            return m.copy()
        return (m | (layer == PAINT)) & (layer != ERASE)

    def slice_mask(self, index: int, lesion_map: np.ndarray, threshold: float,
                   lungs: np.ndarray | None = None) -> np.ndarray:
        """Refined mask of slice ``index``: ``lesion_map`` (float (y, x) in [0, 1]) ``>=
        threshold``, the edits, then ``& lungs`` when a lung mask (bool (y, x)) is given (the
        rule of ``viewer.core.lesion_layers.layer_slice``, which the application uses)."""
        from viewer.core.lesion_layers import layer_slice

        t = float(threshold)
        if not math.isfinite(t) or not 0.0 <= t <= 1.0:
            raise ValueError(f"mask edits: threshold must lie in [0, 1], got {threshold!r}")
        i = self._check_index(index)
        m = np.asarray(lesion_map)
        if m.shape != self.shape[1:]:
            raise ValueError(f"mask edits: slice mask shape {m.shape} != {self.shape[1:]}")
        return layer_slice(i, m, t, lungs, self)[1]

    def volume_mask(self, maps: np.ndarray, threshold: float,
                    lungs: np.ndarray | None = None) -> np.ndarray:
        """Refined mask of the whole series, bool ``(z, y, x)`` (see ``slice_mask``)."""
        maps = np.asarray(maps)
        if maps.shape != self.shape:
            raise ValueError(f"mask edits: maps shape {maps.shape} != series shape {self.shape}")
        if lungs is not None and np.shape(lungs) != self.shape:
            raise ValueError(f"mask edits: lungs shape {np.shape(lungs)} != {self.shape}")
        return np.stack([
            self.slice_mask(k, maps[k], threshold, None if lungs is None else lungs[k])
            for k in range(self.shape[0])
        ])

    def edited_slices(self) -> list[int]:
        """Indices of slices with at least one painted or erased pixel."""
        return sorted(k for k, a in self._layers.items() if a.any())

    # ------------------------------------------------------------------ strokes

    @property
    def in_stroke(self) -> bool:
        return self._stroke is not None

    def begin_stroke(self, index: int) -> None:
        """Start a stroke on slice ``index`` (ends an unfinished one first)."""
        i = self._check_index(index)
        if self._stroke is not None:
            self.end_stroke()
        layer = self._layers.get(i)
        before = layer.copy() if layer is not None else None
        self._stroke = {"index": i, "before": before, "value": None, "last": None}

    def paint(self, index: int, y: float, x: float, radius: float, value: bool) -> None:
        """Paint (``value`` True: brush) or erase (False) a disk of ``radius`` px at ``(y, x)``,
        joined to the stroke's previous point. Starts a stroke when none is open; a change of
        slice or of brush/eraser ends the open stroke and starts a new one."""
        i = self._check_index(index)
        r = float(radius)
        if not math.isfinite(r) or r <= 0:
            raise ValueError(f"mask edits: brush radius must be > 0 px, got {radius!r}")
        if not (math.isfinite(float(y)) and math.isfinite(float(x))):
            raise ValueError(f"mask edits: point must be finite, got ({y!r}, {x!r})")
        v = PAINT if value else ERASE
        s = self._stroke
        if s is None or s["index"] != i or (s["value"] is not None and s["value"] != v):
            self.begin_stroke(i)
            s = self._stroke
        s["value"] = v
        start = s["last"] if s["last"] is not None else (float(y), float(x))
        covered = capsule(self.shape[1:], start, (float(y), float(x)), r)
        if covered is not None:
            sl, sub = covered
            layer = self._layers.get(i)
            if layer is None:
                layer = self._layers[i] = np.zeros(self.shape[1:], dtype=np.int8)
            layer[sl][sub] = v
        s["last"] = (float(y), float(x))

    def paint_line(self, index: int, points, radius: float, value: bool) -> int | None:
        """A whole stroke through ``points`` (sequence of ``(y, x)``); returns the slice index
        when something changed (one undo step), else None."""
        self.begin_stroke(index)
        for y, x in points:
            self.paint(index, y, x, radius, value)
        return self.end_stroke()

    def end_stroke(self) -> int | None:
        """Finish the open stroke: one undo step and one journal record. Returns the slice index
        when pixels changed, else None."""
        s, self._stroke = self._stroke, None
        if s is None:
            return None
        i = s["index"]
        layer = self._layers.get(i)
        if layer is None:
            return None
        before = s["before"] if s["before"] is not None else np.zeros_like(layer)
        idx = np.flatnonzero(layer != before).astype(np.int32)
        if idx.size == 0:
            return None
        delta = Delta(i, idx, before.ravel()[idx], layer.ravel()[idx])
        self._push(delta)
        self._redo.clear()
        self.n_edits += 1
        self._journal({"kind": "stroke", "slice": i, "value": int(s["value"]),
                       "runs": _runs(idx)})
        return i

    # ------------------------------------------------------------------ undo / redo

    @property
    def can_undo(self) -> bool:
        return bool(self._undo) or self._stroke is not None

    @property
    def can_redo(self) -> bool:
        return bool(self._redo) and self._stroke is None

    @property
    def history_bytes(self) -> int:
        """Bytes held by the undo and redo steps."""
        return self._history_bytes + sum(d.nbytes for d in self._redo)

    @property
    def history_length(self) -> int:
        return len(self._undo)

    def undo(self) -> int | None:
        """Undo the last stroke (an open one is finished first); returns its slice index."""
        if self._stroke is not None:
            self.end_stroke()
        if not self._undo:
            return None
        d = self._undo.pop()
        self._history_bytes -= d.nbytes
        self._layers[d.index].ravel()[d.idx] = d.old
        self._redo.append(d)
        self.n_edits -= 1
        self._journal({"kind": "undo"})
        return d.index

    def redo(self) -> int | None:
        """Redo the last undone stroke; returns its slice index."""
        if self._stroke is not None or not self._redo:
            return None
        d = self._redo.pop()
        self._layers[d.index].ravel()[d.idx] = d.new
        self._push(d)
        self.n_edits += 1
        self._journal({"kind": "redo"})
        return d.index

    def _push(self, d: Delta) -> None:
        self._undo.append(d)
        self._history_bytes += d.nbytes
        while self._undo and (len(self._undo) > self.max_history
                              or (self._history_bytes > self.max_history_bytes
                                  and len(self._undo) > 1)):
            old = self._undo.popleft()
            self._history_bytes -= old.nbytes

    # ------------------------------------------------------------------ settings

    def set_setting(self, name: str, value) -> None:
        """Remember a JSON-able annotator setting (e.g. ``threshold``, ``restrict_to_lungs``)
        in the journal, so reopening restores it (``settings``). Not an undo step."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"mask edits: setting name must be a non-empty string, got {name!r}")
        if self.settings.get(name, object()) == value:
            return
        self.settings[name] = value
        self._journal({"kind": "setting", "name": name, "value": value})

    # ------------------------------------------------------------------ journal

    def close(self) -> None:
        """Finish an open stroke and close the journal."""
        if self._stroke is not None:
            self.end_stroke()
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def _note(self, msg: str) -> None:
        self.messages.append(msg)
        log.warning(msg)

    def _journal(self, record: dict) -> None:
        if not self._journal_ok:
            return
        try:
            if self._writer is None:  # first edit: only now is anything written
                self._writer = edit_journal.JournalWriter(self.journal_path)
                if self._needs_header:
                    self._writer.append(edit_journal.header_record(self._series_key, self.shape))
                    self._needs_header = False
            self._writer.append(record)
        except (OSError, TypeError, ValueError) as exc:
            reason = getattr(exc, "strerror", None) or exc
            self._note(f"edits journal {self.journal_path}: cannot write ({reason}); "
                       "edits are kept in memory only")
            if self._writer is not None:
                self._writer.close()
            self._writer = None
            self._journal_ok = False

    def _open_journal(self, series_key: str) -> None:
        path = self.journal_path
        records, msgs = edit_journal.read_journal(path)
        for m in msgs:
            self._note(m)
        header = next((r for r in records if r["kind"] == "header"), None)
        if records and header is not None and header.get("shape") != list(self.shape):
            aside = path.with_name(f"{path.name}.{time.strftime('%Y%m%d-%H%M%S')}.other-shape")
            try:
                path.rename(aside)
                self._note(f"edits journal {path}: written for shape {header.get('shape')}, "
                           f"not {list(self.shape)}; moved aside to {aside.name}")
            except OSError as exc:
                self._note(f"edits journal {path}: written for another shape and cannot be "
                           f"moved aside ({exc.strerror or exc}); edits are kept in memory only")
                return
            records = []
        elif records and header is None:
            self._note(f"edits journal {path}: no header line; replaying what fits this series")
        self._replay(records)
        # the journal file (and its folder) is created by the first edit, not by opening;
        # a place that cannot be written is said now, before the reader edits anything
        problem = edit_journal.unwritable_reason(path)
        if problem:
            self._note(f"edits journal {path}: cannot write ({problem}); edits are kept in "
                       "memory only")
            return
        self._needs_header = not records
        self._journal_ok = True

    def _replay(self, records: list[dict]) -> None:
        """Apply journal records (writer not open yet, so nothing is written back)."""
        n_pix = self.shape[1] * self.shape[2]
        for rec in records:
            kind = rec["kind"]
            where = f"edits journal {self.journal_path}: line {rec.get('_line')}"
            try:
                if kind == "stroke":
                    i = int(rec["slice"])
                    v = int(rec["value"])
                    idx = _unruns(rec["runs"])
                    if not 0 <= i < self.shape[0] or v not in (PAINT, ERASE):
                        raise ValueError("slice or value out of range")
                    if idx.size and (idx[0] < 0 or idx[-1] >= n_pix):
                        raise ValueError("pixels outside the slice")
                    self._replay_stroke(i, v, idx)
                elif kind == "undo":
                    self.undo()
                elif kind == "redo":
                    self.redo()
                elif kind == "setting":
                    self.settings[str(rec["name"])] = rec["value"]
                elif kind != "header":
                    raise ValueError(f"unknown record kind {kind!r}")
            except (KeyError, TypeError, ValueError) as exc:
                self._note(f"{where}: bad {kind} record ({exc}), skipped")

    def _replay_stroke(self, i: int, v: int, idx: np.ndarray) -> None:
        layer = self._layers.get(i)
        if layer is None:
            layer = self._layers[i] = np.zeros(self.shape[1:], dtype=np.int8)
        flat = layer.ravel()
        old = flat[idx].copy()
        changed = old != v
        idx, old = idx[changed], old[changed]
        if idx.size == 0:
            return
        flat[idx] = v
        self._push(Delta(i, idx.astype(np.int32), old, np.full(idx.size, v, dtype=np.int8)))
        self._redo.clear()
        self.n_edits += 1

    def _check_index(self, index) -> int:
        i = int(index)
        if not 0 <= i < self.shape[0]:
            raise ValueError(f"mask edits: slice {index} outside 0..{self.shape[0] - 1}")
        return i


def capsule(shape: tuple[int, int], p0: tuple[float, float], p1: tuple[float, float],
            radius: float):
    """Pixels of a ``(y, x)`` slice of ``shape`` whose centres lie within ``radius`` of the segment
    ``p0``-``p1`` (points ``(y, x)``). Returns ``(slices, bool sub-mask)`` of the bounding box, or
    None when the capsule misses the slice."""
    (y0, x0), (y1, x1) = p0, p1
    r = float(radius)
    top = max(int(math.floor(min(y0, y1) - r)), 0)
    bottom = min(int(math.ceil(max(y0, y1) + r)) + 1, shape[0])
    left = max(int(math.floor(min(x0, x1) - r)), 0)
    right = min(int(math.ceil(max(x0, x1) + r)) + 1, shape[1])
    if top >= bottom or left >= right:
        return None
    yy = np.arange(top, bottom, dtype=np.float64)[:, None]
    xx = np.arange(left, right, dtype=np.float64)[None, :]
    dy, dx = y1 - y0, x1 - x0
    seg2 = dy * dy + dx * dx
    if seg2 > 0:
        t = np.clip(((yy - y0) * dy + (xx - x0) * dx) / seg2, 0.0, 1.0)
    else:
        t = 0.0
    d2 = (yy - (y0 + t * dy)) ** 2 + (xx - (x0 + t * dx)) ** 2
    sub = d2 <= r * r + 1e-9
    if not sub.any():
        return None
    return (slice(top, bottom), slice(left, right)), sub


def _runs(idx: np.ndarray) -> list[list[int]]:
    """Ascending flat indices as ``[[start, length], ...]`` runs."""
    if idx.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(idx) != 1) + 1
    starts = np.concatenate([[0], breaks])
    ends = np.concatenate([breaks, [idx.size]])
    return [[int(idx[s]), int(e - s)] for s, e in zip(starts, ends)]


def _unruns(runs) -> np.ndarray:
    """Inverse of ``_runs``; ValueError on malformed runs (ascending, non-overlapping)."""
    if not isinstance(runs, list):
        raise ValueError("runs must be a list")
    parts = []
    prev_end = -1
    for run in runs:
        if not (isinstance(run, list) and len(run) == 2
                and all(isinstance(v, int) and not isinstance(v, bool) for v in run)):
            raise ValueError("each run must be [start, length] integers")
        start, length = run
        if length <= 0 or start <= prev_end:
            raise ValueError("runs must be ascending with positive lengths")
        parts.append(np.arange(start, start + length, dtype=np.int64))
        prev_end = start + length - 1
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
