"""The refine tools' controller: brush and eraser strokes from the slice view's paint signals
into the session's ``MaskEdits`` (journal saved in the user data folder), undo / redo, and the
tools' threshold and lung-restriction controls as views of the session.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

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
        view.paintFinished.connect(session.end_stroke)
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

    def _show_lungs_only(self, on: bool) -> None:
        if self.tools.restrict.isChecked() != on:
            self.tools.restrict.blockSignals(True)
            self.tools.restrict.setChecked(on)
            self.tools.restrict.blockSignals(False)

    def _on_tool(self, name: str) -> None:
        self.view.paint_mode = name in ("brush", "eraser")
        if self.view.paint_mode:
            self.show_status(f"{name}: left-drag on the slice; Esc for pan", 5000)

    def paint_start(self, x: float, y: float) -> None:
        if not self.session.begin_stroke(self.view.index):
            self.show_status("refine: this slice has no lesion map yet", 5000)
            return
        self.paint_move(x, y)

    def paint_move(self, x: float, y: float) -> None:
        value = self.tools.tool() == "brush"
        # the view's pixel (row, col) spans [col, col+1) x [row, row+1); MaskEdits centres it
        if self.session.paint(self.view.index, y - 0.5, x - 0.5, self.tools.radius.value(),
                              value):
            self.redraw()

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
