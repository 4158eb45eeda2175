"""Overlay controls: show/hide, colormap, opacity, floor, and the lesion threshold.

The threshold turns the map into the binary lesion mask (its contour is drawn, severity is
measured on it, refine tools edit it). It starts at the localizer's operating threshold and can be
moved; "model" puts it back.
"""
from __future__ import annotations

from PyQt6 import QtCore, QtWidgets

from viewer.ui.overlay import COLORMAPS, OverlayStyle


STEPS = 1000  # slider resolution: 0.001 (a model's operating threshold can be small)


def _slider(value: float) -> QtWidgets.QSlider:
    s = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
    s.setRange(0, STEPS)
    s.setValue(int(round(value * STEPS)))
    return s


class OverlayControls(QtWidgets.QWidget):
    """Emits ``styleChanged(OverlayStyle)``, ``visibleChanged(bool)``, ``thresholdChanged(float)``."""

    styleChanged = QtCore.pyqtSignal(object)
    visibleChanged = QtCore.pyqtSignal(bool)
    thresholdChanged = QtCore.pyqtSignal(float)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.model_threshold = 0.5
        self.visible_box = QtWidgets.QCheckBox("Show overlay (H)")
        self.visible_box.setChecked(True)
        self.heat_box = QtWidgets.QCheckBox("heatmap")
        self.heat_box.setChecked(True)
        self.contour_box = QtWidgets.QCheckBox("mask contour")
        self.contour_box.setChecked(True)
        self.fill_box = QtWidgets.QCheckBox("filled mask")
        self.fill_box.setToolTip("Fill the binary mask with semi-transparent cyan (beside its "
                                 "1-px contour): edits show at a glance")
        self.lungs_box = QtWidgets.QCheckBox("lung outline")
        self.lungs_box.setToolTip("Outline of the automatic lung segmentation the map is "
                                  "restricted to")
        self.cmap = QtWidgets.QComboBox()
        self.cmap.addItems(COLORMAPS)
        d = OverlayStyle()
        self.opacity = _slider(d.opacity)
        self.floor = _slider(d.floor)
        self.threshold = _slider(0.5)
        self.threshold_label = QtWidgets.QLabel()
        self.reset_threshold = QtWidgets.QPushButton("model")
        self.reset_threshold.setToolTip("Back to the localizer's operating threshold")
        form = QtWidgets.QFormLayout(self)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.heat_box)
        row.addWidget(self.contour_box)
        row.addWidget(self.lungs_box)
        row.addWidget(self.fill_box)
        form.addRow(self.visible_box)
        form.addRow(row)
        form.addRow("Colormap", self.cmap)
        form.addRow("Opacity", self.opacity)
        form.addRow("Floor", self.floor)
        trow = QtWidgets.QHBoxLayout()
        trow.addWidget(self.threshold, 1)
        trow.addWidget(self.threshold_label)
        trow.addWidget(self.reset_threshold)
        form.addRow("Threshold", trow)
        self.fixed_label = QtWidgets.QLabel("")
        self.fixed_label.setWordWrap(True)
        self.fixed_label.setStyleSheet("color: #b06000;")
        self.fixed_label.hide()
        form.addRow(self.fixed_label)
        for w in (self.heat_box, self.contour_box, self.lungs_box, self.fill_box):
            w.toggled.connect(self._emit_style)
        self.cmap.currentIndexChanged.connect(self._emit_style)
        self.opacity.valueChanged.connect(self._emit_style)
        self.floor.valueChanged.connect(self._emit_style)
        self.visible_box.toggled.connect(self.visibleChanged)
        self.threshold.valueChanged.connect(self._emit_threshold)
        self.reset_threshold.clicked.connect(lambda: self.set_threshold(self.model_threshold))
        self._update_threshold_label()

    def style(self) -> OverlayStyle:
        return OverlayStyle(colormap=self.cmap.currentText(), opacity=self.opacity.value() / STEPS,
                            floor=self.floor.value() / STEPS, show_heatmap=self.heat_box.isChecked(),
                            show_contour=self.contour_box.isChecked(),
                            show_lungs=self.lungs_box.isChecked(),
                            fill_mask=self.fill_box.isChecked())

    def threshold_value(self) -> float:
        return self.threshold.value() / STEPS

    def set_model_threshold(self, t: float) -> None:
        """The localizer's operating threshold; also moves the slider there."""
        self.model_threshold = float(min(max(t, 0.0), 1.0))
        self.reset_threshold.setText(f"model {self.model_threshold:.3f}")
        self.set_threshold(self.model_threshold)

    def set_threshold(self, t: float) -> None:
        self.threshold.setValue(int(round(float(t) * STEPS)))

    def show_threshold(self, t: float) -> None:
        """Show ``t`` (the session's threshold, in [0, 1]) without emitting ``thresholdChanged``."""
        self.threshold.blockSignals(True)
        self.threshold.setValue(int(round(float(t) * STEPS)))
        self.threshold.blockSignals(False)
        self._update_threshold_label()

    def show_visible(self, on: bool) -> None:
        """Tick "Show overlay" as the session says, without emitting ``visibleChanged``."""
        self.visible_box.blockSignals(True)
        self.visible_box.setChecked(bool(on))
        self.visible_box.blockSignals(False)

    def toggle_visible(self) -> None:
        self.visible_box.setChecked(not self.visible_box.isChecked())

    def _update_threshold_label(self) -> None:
        self.threshold_label.setText(f"{self.threshold_value():.3f}")

    def _emit_style(self, *_):
        self.styleChanged.emit(self.style())

    def _emit_threshold(self, *_):
        self._update_threshold_label()
        self.thresholdChanged.emit(self.threshold_value())

    def show_style(self, colormap: str, opacity: float) -> None:
        """Show a colormap and opacity given by a reading list (emits ``styleChanged``)."""
        self.cmap.setCurrentText(colormap)
        self.opacity.setValue(int(round(float(opacity) * STEPS)))

    def set_fixed(self, fixed: bool, why: str = "fixed by the reading list") -> None:
        """Threshold, opacity and colormap cannot be changed while ``fixed`` (blinded
        reading: every reader sees every item alike)."""
        tips = self.__dict__.setdefault("_tips", {})
        for w in (self.cmap, self.opacity, self.threshold, self.reset_threshold):
            tips.setdefault(id(w), w.toolTip())
            w.setEnabled(not fixed)
            w.setToolTip(why if fixed else tips[id(w)])
        self.fixed_label.setText(f"Display {why}." if fixed else "")
        self.fixed_label.setVisible(fixed)
