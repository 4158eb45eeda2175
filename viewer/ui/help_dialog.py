"""Help dialog: every keyboard shortcut and mouse binding of the reading room.

Sized to fit a 1280×720 screen with no cut column: the action column wraps, rows grow to their
text, and the reader-study keys come first so they are visible without scrolling.
"""
from __future__ import annotations

from PyQt6 import QtCore, QtWidgets

READER_KEYS = "1–5 / N (Reader study tab in front)"

from viewer.ui.reading_tools import SHORTCUTS as READING_TOOL_SHORTCUTS

#: (keys, action) in the order shown; the main window binds exactly these keys.
SHORTCUTS: tuple[tuple[str, str], ...] = (
    (READER_KEYS,
     "visual score 1–5 / next unscored item, only while the Reader study tab is in front (not "
     "behind the Series tab), a reader is set, its \"keys\" box is ticked and a reading-list "
     "item is on screen (N: a list is open). Otherwise 1–3 are the window presets and N the "
     "next series. An item already scored asks first: press the new score again to change it. "
     "\"Saved: 4\" shows on the image after every saved score. Not while typing in a text field"),
    ("Mouse wheel / ← → / ↑ ↓", "previous / next slice"),
    ("PgUp / PgDn", "10 slices back / forward"),
    ("Home / End", "first / last slice"),
    ("Ctrl + wheel, + / −", "zoom in / out"),
    ("Left drag", "pan (paints with brush or eraser when a refine tool is on)"),
    ("Right drag", "window (horizontal) and level (vertical)"),
    ("Double-click, F", "fit the slice to the view"),
    ("1 / 2 / 3", "window preset: lung W1500/L−600, mediastinum W350/L50, bone W2000/L500 "
                  "(also in the View menu; fixed while a reading list sets the window)"),
    ("H", "show / hide the lesion overlay"),
    ("B / E / Esc", "brush / eraser / no refine tool"),
    ("Ctrl+Z / Ctrl+Shift+Z", "undo / redo a mask edit"),
    ("N / P", "next / previous series in the browser"),
    ("Ctrl+O / Ctrl+Shift+O", "open file / open folder"),
    ("Ctrl+E", "export map and mask (current slice or series)"),
    ("Esc (while working)", "cancel loading or localization"),
    ("F1", "this help"),
) + READING_TOOL_SHORTCUTS


class HelpDialog(QtWidgets.QDialog):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        table = QtWidgets.QTableWidget(len(SHORTCUTS), 2, self)
        table.setHorizontalHeaderLabels(["Keys", "Action"])
        for r, (keys, action) in enumerate(SHORTCUTS):
            table.setItem(r, 0, QtWidgets.QTableWidgetItem(keys))
            table.setItem(r, 1, QtWidgets.QTableWidgetItem(action))
        table.setWordWrap(True)
        table.resizeColumnToContents(0)
        table.horizontalHeader().setStretchLastSection(True)
        table.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # the wrapped actions take the rows they need at the column's actual width
        table.horizontalHeader().sectionResized.connect(
            lambda *_: table.resizeRowsToContents())
        self.table = table
        table.verticalHeader().setVisible(False)
        table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        note = QtWidgets.QLabel("The lesion map is restricted to the lungs (automatic lung "
                                "segmentation). Research tool: not for clinical use.")
        note.setWordWrap(True)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addWidget(table)
        lay.addWidget(note)
        lay.addWidget(buttons)
        screen = self.screen().availableGeometry().size() if self.screen() else None
        w = min(1060, screen.width() - 40) if screen else 1060
        h = min(640, screen.height() - 60) if screen else 640
        self.resize(w, h)

    # rows are sized for the action column's final width: the header's sectionResized can fire
    # while the column is still narrow (before the layout settles or a scroll bar goes away)
    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.table.resizeRowsToContents()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.table.resizeRowsToContents()
