"""Severity panel: lesion share of the lungs for the current slice and the whole series, and a
plot of lesion % along the series (click a point to jump to that slice)."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore, QtWidgets, sip

RESTRICT_NOTE = "Lesion map restricted to the lungs (automatic lung segmentation)."


def _pct(v) -> str:
    return "–" if v is None or not np.isfinite(v) else f"{v:.1f} %"


class SeverityPanel(QtWidgets.QWidget):
    """Shows numbers it is given; computes nothing. Emits ``sliceClicked(index)``."""

    sliceClicked = QtCore.pyqtSignal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.slice_label = QtWidgets.QLabel(self)
        self.series_label = QtWidgets.QLabel(self)
        self.note_label = QtWidgets.QLabel(RESTRICT_NOTE, self)
        # the series' notes (viewer.core.lesion_layers.LesionLayers.notes), hidden when none
        self.notes_label = QtWidgets.QLabel("", self)
        self.notes_label.setStyleSheet("color: #808080; font-size: 11px;")
        self.notes_label.hide()
        self.caution_label = self.notes_label  # its former name
        for lab in (self.slice_label, self.series_label, self.note_label, self.notes_label):
            lab.setWordWrap(True)
            lab.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.note_label.setStyleSheet("color: #b06000;")
        self.plot = pg.PlotWidget(self)
        self.plot.setMinimumHeight(130)
        self.plot.setLabel("bottom", "slice")
        self.plot.setLabel("left", "lesion %")
        self.plot.showGrid(x=True, y=True, alpha=0.3)
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.curve = self.plot.plot([], [], pen=pg.mkPen("#ff8040", width=2),
                                    symbol="o", symbolSize=4, symbolBrush="#ff8040")
        self.marker = pg.InfiniteLine(angle=90, pen=pg.mkPen("#40c0ff"))
        self.plot.addItem(self.marker)
        self.plot.scene().sigMouseClicked.connect(self._clicked)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.slice_label)
        lay.addWidget(self.series_label)
        lay.addWidget(self.plot, 1)
        lay.addWidget(self.note_label)
        lay.addWidget(self.notes_label)
        lay.addStretch(0)  # takes the room when the plot is hidden (one-slice series)
        self._n = 0
        self.hidden_reason = ""  # why the numbers are hidden (blinded reading), "" when shown
        self.series_hidden_reason = ""  # why the series line and curve are hidden
        self.show_message("No lesion map yet.")

    def set_notes(self, notes) -> None:
        """One-line notes about the numbers (e.g. "no lungs found in this series"), one per
        line; hidden when there is none."""
        lines = [str(n) for n in (notes or ()) if str(n).strip()]
        self.notes_label.setText("\n".join(f"Note: {n}" for n in lines))
        self.notes_label.setVisible(bool(lines))

    def set_blinding(self, hidden_reason: str = "", series_reason: str = "") -> None:
        """Blinded reading: with ``hidden_reason`` no number is shown, the panel says why (it
        stays in its dock, the docks do not move); with ``series_reason`` only the slice line
        is shown (the series line and the curve would describe another map)."""
        self.hidden_reason, self.series_hidden_reason = hidden_reason, series_reason
        if hidden_reason:
            self.slice_label.setText(f"<b>Severity hidden</b>: {hidden_reason}")
        if hidden_reason or series_reason:
            self.series_label.setText(f"<b>Series</b>: {series_reason or 'hidden'}")
        if not sip.isdeleted(self.plot):
            self.plot.setVisible(not (hidden_reason or series_reason) and self._n > 1)

    def show_message(self, text: str) -> None:
        if self.hidden_reason:
            return
        self.slice_label.setText(f"<b>This slice</b>: {text}")
        self.series_label.setText("<b>Series</b>: –")

    def set_slice(self, index: int, lesion_pct: float | None, category: str | None,
                  ggo_share: float | None = None, cons_share: float | None = None,
                  lung_found: bool = True) -> None:
        """Numbers for the shown slice: lesion % of lung area, paper category, and for HU input
        the ground-glass and consolidation shares of the lesion (in %)."""
        self.marker.setValue(index + 1)
        if self.hidden_reason:
            return
        if lesion_pct is None:
            text = "not localized yet" if lung_found else "no lung found on this slice"
        else:
            text = f"lesion {_pct(lesion_pct)} of lung area — <b>{category or '–'}</b>"
            if ggo_share is not None:
                text += (f"<br>ground glass {_pct(ggo_share)}, consolidation "
                         f"{_pct(cons_share)} of the lesion")
        self.slice_label.setText(f"<b>Slice {index + 1}</b>: {text}")

    def set_series(self, lesion_pct: float | None, lesion_ml: float | None,
                   lung_ml: float | None, category: str | None, done: int, total: int,
                   ggo_share: float | None = None, cons_share: float | None = None,
                   lung_found: bool = True) -> None:
        """Series totals over the localized slices (``done`` of ``total``); ``lung_found``
        False: the series' lung mask is empty (no severity, never 0 %)."""
        if self.hidden_reason or self.series_hidden_reason:
            return
        if lesion_pct is None:
            text = f"{done}/{total} slices localized"
            if not lung_found:
                text = f"no lungs found in this series ({text})"
        else:
            text = f"lesion {_pct(lesion_pct)} of lung volume — <b>{category or '–'}</b>"
            if lesion_ml is not None:
                text += f"<br>lesion {lesion_ml:.1f} ml of {lung_ml:.0f} ml lung"
            if ggo_share is not None:
                text += (f"<br>ground glass {_pct(ggo_share)}, consolidation "
                         f"{_pct(cons_share)}")
            if done < total:
                text += f"<br><i>{done}/{total} slices localized so far</i>"
        self.series_label.setText(f"<b>Series</b>: {text}")

    def set_curve(self, lesion_pct: np.ndarray) -> None:
        """``lesion_pct``: ``float (z,)``, NaN where a slice has no value yet."""
        if sip.isdeleted(self.curve) or sip.isdeleted(self.plot):
            return  # the panel is being torn down with its window
        y = np.asarray(lesion_pct, dtype=float)
        self._n = len(y)
        # a one-slice series has nothing to plot along z; blinded reading hides it
        self.plot.setVisible(len(y) > 1 and not (self.hidden_reason or self.series_hidden_reason))
        x = np.arange(1, len(y) + 1, dtype=float)
        ok = np.isfinite(y)
        self.curve.setData(x[ok], y[ok])
        self.plot.setXRange(0.5, max(1, len(y)) + 0.5, padding=0)
        top = float(np.nanmax(y)) if ok.any() else 1.0
        self.plot.setYRange(0, max(5.0, top * 1.1), padding=0)

    def _clicked(self, ev) -> None:
        if self._n == 0:
            return
        vb = self.plot.getPlotItem().vb
        p = vb.mapSceneToView(ev.scenePos())
        i = int(round(p.x())) - 1
        if 0 <= i < self._n:
            self.sliceClicked.emit(i)
