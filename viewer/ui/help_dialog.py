"""Help dialog: every keyboard shortcut and mouse binding of the reading room."""
from __future__ import annotations

from PyQt6 import QtWidgets

from viewer.ui.reading_tools import SHORTCUTS as READING_TOOL_SHORTCUTS

#: (keys, action) in the order shown; the main window binds exactly these keys.
SHORTCUTS: tuple[tuple[str, str], ...] = (
    ("Mouse wheel / ← → / ↑ ↓", "previous / next slice"),
    ("PgUp / PgDn", "10 slices back / forward"),
    ("Home / End", "first / last slice"),
    ("Ctrl + wheel, + / −", "zoom in / out"),
    ("Left drag", "pan (paints with brush or eraser when a refine tool is on)"),
    ("Right drag", "window (horizontal) and level (vertical)"),
    ("Double-click, F", "fit the slice to the view"),
    ("1 / 2 / 3", "window preset: lung W1500/L−600, mediastinum W350/L50, bone W2000/L500 "
                  "(also in the View menu)"),
    ("H", "show / hide the lesion overlay"),
    ("B / E / Esc", "brush / eraser / no refine tool"),
    ("Ctrl+Z / Ctrl+Shift+Z", "undo / redo a mask edit"),
    ("N / P", "next / previous series in the browser"),
    ("1–5 / N (Reader study tab raised)",
     "visual score 1–5 / next unscored item: while the Reader study panel is shown, a reader is "
     "set and its \"keys\" box is ticked, these keys score instead of the window presets and "
     "next series (not while typing in a text field)"),
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
        table.resizeColumnsToContents()
        table.horizontalHeader().setStretchLastSection(True)
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
        self.resize(640, 480)
