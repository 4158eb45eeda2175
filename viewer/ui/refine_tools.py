"""Refine tools: brush and eraser on the binary lesion mask, restrict to lungs, undo / redo.

This widget only holds the controls; the edits themselves live in the Qt-free model
(``viewer.core.mask_edits``) driven by the main window. Its threshold slider mirrors the one in
the overlay controls (one threshold builds the mask that is drawn, measured and edited).
"""
from __future__ import annotations

from PyQt6 import QtCore, QtWidgets

from viewer.ui.overlay_controls import STEPS

TOOLS = ("none", "brush", "eraser")


class RefineTools(QtWidgets.QWidget):
    """Emits ``toolChanged(name)`` (one of TOOLS), ``radiusChanged(float)`` (mm for a CT
    series, px for pictures: ``radius_unit``),
    ``restrictChanged(bool)``, ``undoRequested()``, ``redoRequested()``."""

    toolChanged = QtCore.pyqtSignal(str)
    radiusChanged = QtCore.pyqtSignal(float)
    restrictChanged = QtCore.pyqtSignal(bool)
    undoRequested = QtCore.pyqtSignal()
    redoRequested = QtCore.pyqtSignal()
    thresholdChanged = QtCore.pyqtSignal(float)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.buttons: dict[str, QtWidgets.QToolButton] = {}
        group = QtWidgets.QButtonGroup(self)
        group.setExclusive(True)
        row = QtWidgets.QHBoxLayout()
        for name, label, tip in (("none", "Pan", "No tool: left-drag pans (Esc)"),
                                 ("brush", "Brush", "Add to the lesion mask (B)"),
                                 ("eraser", "Eraser", "Remove from the lesion mask (E)")):
            b = QtWidgets.QToolButton()
            b.setText(label)
            b.setToolTip(tip)
            b.setCheckable(True)
            group.addButton(b)
            row.addWidget(b)
            self.buttons[name] = b
            b.toggled.connect(lambda on, n=name: on and self.toolChanged.emit(n))
        self.buttons["none"].setChecked(True)
        self.radius = QtWidgets.QDoubleSpinBox()
        self.radius.setDecimals(1)
        self.radius.setSingleStep(0.5)
        self.radius.setRange(0.5, 50.0)
        self.radius.setToolTip("Brush / eraser radius: mm for a CT series (converted with its "
                               "pixel spacing), px for pictures")
        self.radius_unit = "px"
        self.set_radius_unit("mm")
        self.radius.valueChanged.connect(self.radiusChanged)
        self.threshold = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.threshold.setRange(0, STEPS)
        self.threshold.setValue(STEPS // 2)
        self.threshold.setToolTip("Mask = map >= threshold, then the brush and eraser edits "
                                  "(the same threshold as in the Overlay panel)")
        self.threshold_label = QtWidgets.QLabel("0.500")
        self.threshold.valueChanged.connect(self._threshold_moved)
        self.restrict = QtWidgets.QCheckBox("Restrict to lungs")
        self.restrict.setChecked(True)
        self.restrict.setToolTip("Keep the map and the mask inside the segmented lungs")
        self.restrict.toggled.connect(self.restrictChanged)
        self.undo_button = QtWidgets.QPushButton("Undo")
        self.redo_button = QtWidgets.QPushButton("Redo")
        self.undo_button.setToolTip("Ctrl+Z")
        self.redo_button.setToolTip("Ctrl+Shift+Z")
        self.undo_button.clicked.connect(self.undoRequested)
        self.redo_button.clicked.connect(self.redoRequested)
        self.status = QtWidgets.QLabel("no edits")
        self.status.setWordWrap(True)
        form = QtWidgets.QFormLayout(self)
        form.addRow(row)
        trow = QtWidgets.QHBoxLayout()
        trow.addWidget(self.threshold, 1)
        trow.addWidget(self.threshold_label)
        form.addRow("Threshold", trow)
        form.addRow("Brush radius", self.radius)
        form.addRow(self.restrict)
        urow = QtWidgets.QHBoxLayout()
        urow.addWidget(self.undo_button)
        urow.addWidget(self.redo_button)
        form.addRow(urow)
        form.addRow(self.status)
        self.set_history(False, False)

    def set_radius_unit(self, unit: str) -> None:
        """"mm" (a series with pixel spacing) or "px" (pictures); resets to that unit's default."""
        if unit not in ("mm", "px"):
            raise ValueError(f"brush radius unit {unit!r}: must be mm or px")
        if unit != self.radius_unit:
            self.radius_unit = unit
            self.radius.setSuffix(f" {unit}")
            self.radius.setValue(4.0 if unit == "mm" else 6.0)

    def _threshold_moved(self, v: int) -> None:
        self.threshold_label.setText(f"{v / STEPS:.3f}")
        self.thresholdChanged.emit(v / STEPS)

    def set_threshold(self, t: float) -> None:
        """Show ``t`` (in [0, 1]) without emitting ``thresholdChanged``."""
        self.threshold.blockSignals(True)
        self.threshold.setValue(int(round(float(t) * STEPS)))
        self.threshold.blockSignals(False)
        self.threshold_label.setText(f"{float(t):.3f}")

    def tool(self) -> str:
        return next(n for n, b in self.buttons.items() if b.isChecked())

    def set_tool(self, name: str) -> None:
        if name not in TOOLS:
            raise ValueError(f"refine tool {name!r}: unknown, choose one of {', '.join(TOOLS)}")
        self.buttons[name].setChecked(True)

    def set_history(self, can_undo: bool, can_redo: bool, text: str | None = None) -> None:
        self.undo_button.setEnabled(bool(can_undo))
        self.redo_button.setEnabled(bool(can_redo))
        if text is not None:
            self.status.setText(text)
