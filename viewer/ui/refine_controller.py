"""The refine tools' controller: brush and eraser strokes from the slice view's paint signals
into the session's ``MaskEdits`` (journal saved in the user data folder), undo / redo, and the
tools' threshold and lung-restriction controls as views of the session.

The radius is typed in mm for a CT series (px for pictures) and converted with the series'
pixel spacing (``viewer.core.measure.radius_px``); a circle of that radius follows the mouse
while a tool is on. A brush stroke that "Restrict to lungs" clips (pixels outside the lungs,
which the mask never keeps) ends with a status note saying how much was clipped.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from viewer.core.mask_edits import capsule
from viewer.core.measure import clipped_pixels, radius_px
from viewer.core.reading_session import ReadingSession
from viewer.ui.refine_tools import RefineTools
from viewer.ui.slice_view import SliceView


class RefineController:
    """``show_status(text, ms)`` writes the status bar, ``show_error(text)`` reports a
    problem, ``redraw()`` recomputes the shown slice's overlay and ``numbers_changed()``
    schedules the severity curve's refresh."""

    def __init__(self, session: ReadingSession, tools: RefineTools, view: SliceView,
                 show_status: Callable[[str, int], None], show_error: Callable[[str], None],
                 redraw: Callable[[], None], numbers_changed: Callable[[], None]):
        self.session, self.tools, self.view = session, tools, view
        self.show_status, self.show_error = show_status, show_error
        self.redraw, self.numbers_changed = redraw, numbers_changed
        tools.thresholdChanged.connect(session.set_threshold)
        tools.restrictChanged.connect(session.set_lungs_only)
        tools.toolChanged.connect(self._on_tool)
        tools.undoRequested.connect(session.undo)
        tools.redoRequested.connect(session.redo)
        view.paintStarted.connect(self.paint_start)
        view.paintMoved.connect(self.paint_move)
        view.paintFinished.connect(self.paint_end)
        tools.radiusChanged.connect(lambda _r: self._update_cursor())
        self.pixel_spacing: tuple[float, float] | None = None
        self._stroke: np.ndarray | None = None  # pixels of the open brush stroke
        self._last: tuple[float, float] | None = None
        self.clip_note = ""
        session.events.connect("threshold", tools.set_threshold)
        session.events.connect("lungs_only", self._show_lungs_only)
        session.events.connect("edited", self._after_edit)

    def make_edits(self, info, shape: tuple[int, int, int], opened_path: Path | None):
        """The series' mask edits (``MaskEdits`` of ``shape`` (z, y, x)), replayed from its
        journal in the per-user data folder (one per series key, never beside the study)."""
        from viewer.core import edit_journal
        from viewer.core.mask_edits import MaskEdits

        if self.session.edits is not None:
            self.session.edits.close()
        try:
            folder = edit_journal.user_edits_dir()
            edit_journal.adopt_legacy_journal(opened_path, folder, info.key)
            edits = MaskEdits(shape, journal_dir=folder, series_key=info.key)
        except (OSError, ValueError) as exc:
            self.show_error(f"mask edits of {info.key}: {exc}; edits kept in memory only")
            edits = MaskEdits(shape)
        for msg in edits.messages:
            self.show_status(msg, 15000)
        self.tools.set_history(edits.can_undo, edits.can_redo,
                               f"{edits.n_edits} edit(s)" + ("" if edits.persistent
                                                             else " (not saved)"))
        return edits

    def set_series(self, info) -> None:
        """The radius unit of a new series: mm with pixel spacing, px for pictures."""
        pictures = info is None or info.source_kind == "pictures" or info.spacing is None
        self.pixel_spacing = None if pictures else (float(info.spacing[1]),
                                                    float(info.spacing[2]))
        self.tools.set_radius_unit("px" if pictures else "mm")
        self._update_cursor()

    def radius_pixels(self) -> float:
        """The brush radius in image pixels."""
        return radius_px(self.tools.radius.value(), self.pixel_spacing)

    def _update_cursor(self) -> None:
        self.view.set_brush_cursor(self.radius_pixels() if self.view.paint_mode else None)

    def _show_lungs_only(self, on: bool) -> None:
        if self.tools.restrict.isChecked() != on:
            self.tools.restrict.blockSignals(True)
            self.tools.restrict.setChecked(on)
            self.tools.restrict.blockSignals(False)

    def _on_tool(self, name: str) -> None:
        self.view.paint_mode = name in ("brush", "eraser")
        self._update_cursor()
        if self.view.paint_mode:
            self.show_status(f"{name}: left-drag on the slice; Esc for pan", 5000)

    def paint_start(self, x: float, y: float) -> None:
        if not self.session.begin_stroke(self.view.index):
            self.show_status("refine: this slice has no lesion map yet", 5000)
            return
        self._stroke, self._last = None, None
        self.paint_move(x, y)

    def paint_move(self, x: float, y: float) -> None:
        value = self.tools.tool() == "brush"
        r = self.radius_pixels()
        # the view's pixel (row, col) spans [col, col+1) x [row, row+1); MaskEdits centres it
        if self.session.paint(self.view.index, y - 0.5, x - 0.5, r, value):
            if value:
                self._track(y - 0.5, x - 0.5, r)
            self.redraw()

    def _track(self, row: float, col: float, r: float) -> None:
        """Remember the brush stroke's pixels (for the clipping note)."""
        vox = self.session.voxels
        if vox is None:
            return
        if self._stroke is None:
            self._stroke = np.zeros(vox.shape[1:], bool)
        covered = capsule(self._stroke.shape, self._last or (row, col), (row, col), r)
        if covered is not None:
            sl, sub = covered
            self._stroke[sl] |= sub
        self._last = (row, col)

    def paint_end(self) -> None:
        stroke, self._stroke, self._last = self._stroke, None, None
        self.clip_note = ""
        self.session.end_stroke()
        p = self.session.pipeline
        if stroke is not None and self.session.lungs_only and p is not None:
            n = clipped_pixels(stroke, p.lungs(self.view.index))
            if n:
                self.clip_note = (f"brush stroke clipped: {n} px outside the lungs not added "
                                  "(\"Restrict to lungs\" is on)")
                self.show_status(self.clip_note, 10000)
                self.tools.status.setText(self.clip_note)

    def _after_edit(self, i) -> None:
        if i is not None and i != self.view.index:
            self.view.set_index(int(i))
        self.redraw()
        self.numbers_changed()
        e = self.session.edits
        self.tools.set_history(e.can_undo, e.can_redo, f"{e.n_edits} edit(s)" + (
            ", saved" if e.persistent else " (not saved: see status bar)"))
        for msg in e.messages[-1:]:
            self.show_status(msg, 15000)
        if self.clip_note:
            self.tools.status.setText(self.clip_note)
