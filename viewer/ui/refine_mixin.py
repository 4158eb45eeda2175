"""Refine-tool behaviour of the main window: the series' ``MaskEdits`` (brush, eraser, undo /
redo, journal saved in the user data folder) driven by the slice view's paint signals.

A mixin of ``MainWindow``: it uses the window's ``view``, ``refine``, ``overlay_controls``,
``store``, ``edits``, ``opened_path`` and status bar.
"""
from __future__ import annotations

from pathlib import Path


class RefineMixin:
    def _edits_dir(self) -> Path:
        """Where edit journals go: the per-user data folder (platformdirs), one journal per
        series key (the series UID), never beside the study (which may be read-only or shared)."""
        from viewer.core import edit_journal

        return edit_journal.user_edits_dir()

    def _make_edits(self, info, shape):
        """The series' mask edits, replayed from its journal (saved as they are made)."""
        from viewer.core.mask_edits import MaskEdits

        if self.edits is not None:
            self.edits.close()
        try:
            from viewer.core.edit_journal import adopt_legacy_journal

            adopt_legacy_journal(self.opened_path, self._edits_dir(), info.key)
            edits = MaskEdits(shape, journal_dir=self._edits_dir(), series_key=info.key)
        except (OSError, ValueError) as exc:
            self.show_error(f"mask edits of {info.key}: {exc}; edits kept in memory only")
            edits = MaskEdits(shape)
        for msg in edits.messages:
            self.statusBar().showMessage(msg, 15000)
        self.refine.set_history(edits.can_undo, edits.can_redo,
                                f"{edits.n_edits} edit(s)" + ("" if edits.persistent
                                                              else " (not saved)"))
        return edits

    def _restore_settings(self) -> None:
        """Threshold and lung restriction as the annotator left them for this series."""
        saved = self.edits.settings if self.edits is not None else {}
        self._restoring = True
        try:
            if "restrict_to_lungs" in saved:
                self.refine.restrict.setChecked(bool(saved["restrict_to_lungs"]))
            if "threshold" in saved:
                self.overlay_controls.set_threshold(float(saved["threshold"]))
        finally:
            self._restoring = False

    def _on_tool(self, name: str) -> None:
        self.view.paint_mode = name in ("brush", "eraser")
        if self.view.paint_mode:
            self.statusBar().showMessage(f"{name}: left-drag on the slice; Esc for pan", 5000)

    def _paint_start(self, x: float, y: float) -> None:
        if self.edits is None or self.store is None or not self.store.has(self.view.index):
            self.statusBar().showMessage("refine: this slice has no lesion map yet", 5000)
            return
        self.edits.begin_stroke(self.view.index)
        self._paint_move(x, y)

    def _paint_move(self, x: float, y: float) -> None:
        if self.edits is None or not self.edits.in_stroke:
            return
        value = self.refine.tool() == "brush"
        # the view's pixel (row, col) spans [col, col+1) x [row, row+1); MaskEdits centres it
        self.edits.paint(self.view.index, y - 0.5, x - 0.5, self.refine.radius.value(), value)
        self.refresh_overlay()

    def _paint_end(self) -> None:
        if self.edits is None or not self.edits.in_stroke:
            return
        self.edits.end_stroke()
        self._after_edit(self.view.index)

    def undo_edit(self) -> None:
        if self.edits is not None and self.edits.can_undo:
            self._after_edit(self.edits.undo())

    def redo_edit(self) -> None:
        if self.edits is not None and self.edits.can_redo:
            self._after_edit(self.edits.redo())

    def _after_edit(self, i) -> None:
        if i is not None and i != self.view.index:
            self.view.set_index(int(i))
        if i is not None:
            self._count_slice(int(i))
        self.refresh_overlay()
        self._curve_timer.start()
        e = self.edits
        self.refine.set_history(e.can_undo, e.can_redo, f"{e.n_edits} edit(s)" + (
            ", saved" if e.persistent else " (not saved: see status bar)"))
        for msg in e.messages[-1:]:
            self.statusBar().showMessage(msg, 15000)
