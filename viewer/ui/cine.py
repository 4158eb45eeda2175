"""Cine: play through the slices of the series (play / pause with a button or Space, frames
per second in a spin box), looping at the end. ``stop()`` (called when the window closes, or
when the series changes) stops the timer for good: no tick fires after it.
"""
from __future__ import annotations

from PyQt6 import QtCore, QtWidgets

from viewer.ui.slice_view import SliceView


class CineControls(QtWidgets.QWidget):
    """Play / pause button and fps box over ``view``; the timer is a child of this widget."""

    playingChanged = QtCore.pyqtSignal(bool)

    def __init__(self, view: SliceView, parent=None):
        super().__init__(parent)
        self.view = view
        self.timer = QtCore.QTimer(self)
        self.timer.timeout.connect(self._tick)
        self.button = QtWidgets.QPushButton("▶ Play")
        self.button.setCheckable(True)
        self.button.setToolTip("Play / pause through the slices (Space)")
        self.button.setObjectName("cine_play")
        self.button.toggled.connect(self._toggled)
        self.fps = QtWidgets.QSpinBox()
        self.fps.setRange(1, 30)
        self.fps.setValue(8)
        self.fps.setSuffix(" fps")
        self.fps.setToolTip("Cine speed in slices per second")
        self.fps.valueChanged.connect(self._set_interval)
        lay = QtWidgets.QHBoxLayout(self)
        lay.setContentsMargins(2, 0, 2, 0)
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Maximum,
                           QtWidgets.QSizePolicy.Policy.Fixed)
        lay.addWidget(self.button)
        lay.addWidget(self.fps)
        self._set_interval(self.fps.value())
        self._closed = False

    @property
    def playing(self) -> bool:
        return self.timer.isActive()

    def toggle(self) -> None:
        self.button.setChecked(not self.button.isChecked())

    def play(self) -> None:
        self.button.setChecked(True)

    def pause(self) -> None:
        self.button.setChecked(False)

    def stop(self, final: bool = False) -> None:
        """Pause; ``final`` (window closing): never start again."""
        if final:
            self._closed = True
        self.button.setChecked(False)
        self.timer.stop()

    def _toggled(self, on: bool) -> None:
        if on and (self._closed or self.view.n_slices < 2):
            self.button.blockSignals(True)
            self.button.setChecked(False)
            self.button.blockSignals(False)
            return
        if on:
            self.timer.start()
        else:
            self.timer.stop()
        self.button.setText("⏸ Pause" if on else "▶ Play")
        self.playingChanged.emit(on)

    def _set_interval(self, fps: int) -> None:
        self.timer.setInterval(int(round(1000 / max(int(fps), 1))))

    def _tick(self) -> None:
        if self._closed or self.view.voxels is None:
            self.timer.stop()
            return
        n = self.view.n_slices
        self.view.set_index((self.view.index + 1) % n if n else 0)
