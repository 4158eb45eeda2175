"""Statistics panel: the reader-study summary table and the Fig. 6/7-style plots.

Shows :func:`viewer.study.score_stats.format_summary` of every reader's latest scores in a
database, and the two PNG plots rendered by matplotlib's Agg canvas (no Qt backend needed).
Computes on the GUI thread: a summary of a few thousand scores takes well under a second.

The main window opens it in :class:`StatsDialog` (View → Reader study statistics…, and the
"Statistics…" button of the Reader study tab): a non-modal window sized to fit a 1280×720
screen, re-read whenever a score is saved while it is open. The table is never clipped (the
dialog is wide enough for the cohort columns) and the plots shrink to the width available.
"""
from __future__ import annotations

from pathlib import Path

from PyQt6 import QtCore, QtGui, QtWidgets

from viewer.study.score_stats import (
    Summary,
    cohort_bars_png,
    format_summary,
    method_bars_png,
    save_plots,
    summarize,
)
from viewer.study.score_store import ScoreStore, ScoreStoreError


class StatsPanel(QtWidgets.QWidget):
    """Summary table and plots of a score database; :meth:`refresh` re-reads it."""

    def __init__(self, db_path: str | Path | None = None, parent=None):
        super().__init__(parent)
        self.db_path = db_path
        self.summary: Summary | None = None
        self.text = QtWidgets.QPlainTextEdit(self)
        self.text.setReadOnly(True)
        self.text.setLineWrapMode(QtWidgets.QPlainTextEdit.LineWrapMode.NoWrap)
        font = QtGui.QFontDatabase.systemFont(QtGui.QFontDatabase.SystemFont.FixedFont)
        self.text.setFont(font)
        self.method_plot = QtWidgets.QLabel(self)
        self.cohort_plot = QtWidgets.QLabel(self)
        for lab in (self.method_plot, self.cohort_plot):
            lab.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
            lab.setMinimumHeight(120)
        self.exclude_unsure = QtWidgets.QCheckBox("leave out scores marked unsure", self)
        self.exclude_unsure.toggled.connect(self.refresh)
        self.refresh_button = QtWidgets.QPushButton("Refresh", self)
        self.refresh_button.clicked.connect(self.refresh)
        self.save_button = QtWidgets.QPushButton("Save plots…", self)
        self.save_button.clicked.connect(self._choose_plot_dir)
        self.status = QtWidgets.QLabel(self)
        self.status.setWordWrap(True)

        tabs = QtWidgets.QTabWidget(self)
        tabs.addTab(self.text, "Table")
        plots = QtWidgets.QWidget()
        pl = QtWidgets.QVBoxLayout(plots)
        pl.addWidget(self.method_plot)
        pl.addWidget(self.cohort_plot)
        scroll = QtWidgets.QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(plots)
        tabs.addTab(scroll, "Plots")
        self.tabs = tabs

        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.exclude_unsure, 1)
        row.addWidget(self.refresh_button)
        row.addWidget(self.save_button)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(row)
        lay.addWidget(tabs, 1)
        lay.addWidget(self.status)
        self.refresh()

    def set_db_path(self, path: str | Path | None) -> None:
        self.db_path = path
        self.refresh()

    def refresh(self) -> bool:
        """Re-read the database and redraw; False with a message when it cannot be read."""
        try:
            with ScoreStore(self.db_path, create=False) as store:
                scores = store.aggregate_latest()
                path = store.path
        except ScoreStoreError as exc:
            self.summary = None
            self.text.setPlainText("")
            self.method_plot.clear()
            self.cohort_plot.clear()
            self.save_button.setEnabled(False)
            self.status.setText(str(exc))
            self.status.setStyleSheet("color: #c03030;")
            return False
        self.summary = summarize(scores, exclude_unsure=self.exclude_unsure.isChecked())
        self.text.setPlainText(format_summary(self.summary))
        self._plots = {}
        for lab, png in ((self.method_plot, method_bars_png(self.summary)),
                         (self.cohort_plot, cohort_bars_png(self.summary))):
            pix = QtGui.QPixmap()
            pix.loadFromData(png, "PNG")
            self._plots[lab] = pix
        self._fit_plots()
        self.save_button.setEnabled(True)
        self.status.setText(f"database: {path}")
        self.status.setStyleSheet("color: gray;")
        return True

    def resizeEvent(self, ev) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(ev)
        self._fit_plots()

    def _fit_plots(self) -> None:
        """Each plot at full size, or shrunk (aspect kept) to the width of the tab."""
        room = max(200, self.tabs.width() - 40)
        for lab, pix in getattr(self, "_plots", {}).items():
            if pix.width() > room:
                pix = pix.scaledToWidth(room, QtCore.Qt.TransformationMode.SmoothTransformation)
            lab.setPixmap(pix)
            lab.setMinimumSize(pix.size())

    def _choose_plot_dir(self) -> None:
        folder = QtWidgets.QFileDialog.getExistingDirectory(self, "Save plots to folder")
        if folder:
            self.save_plots(folder)

    def save_plots(self, folder: str | Path) -> list[Path]:
        """Write the two PNG plots into ``folder``; [] with a message on failure."""
        if self.summary is None:
            return []
        try:
            paths = save_plots(self.summary, folder)
        except OSError as exc:
            self.status.setText(f"{folder}: cannot write plots ({exc.strerror or exc})")
            self.status.setStyleSheet("color: #c03030;")
            return []
        self.status.setText("wrote " + ", ".join(str(p) for p in paths))
        self.status.setStyleSheet("color: #2a8a2a;")
        return paths


class StatsDialog(QtWidgets.QDialog):
    """The statistics panel in its own non-modal window, sized to fit a 1280×720 screen."""

    FIT = QtCore.QSize(1240, 660)  # leaves room for a title bar and a task bar at 1280×720

    def __init__(self, db_path: str | Path | None = None, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Reader study statistics")
        self.panel = StatsPanel(db_path, self)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addWidget(self.panel, 1)
        lay.addWidget(buttons)
        screen = self.screen().availableGeometry().size() if self.screen() else self.FIT
        self.resize(min(self.FIT.width(), screen.width() - 40),
                    min(self.FIT.height(), screen.height() - 60))
