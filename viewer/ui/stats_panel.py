"""Statistics panel: the reader-study summary table and the Fig. 6/7-style plots.

Shows :func:`viewer.study.score_stats.format_summary` of every reader's latest scores in a
database, and the two PNG plots rendered by matplotlib's Agg canvas (no Qt backend needed).
Computes on the GUI thread: a summary of a few thousand scores takes well under a second.

Wiring in the main window::

    from viewer.ui.stats_panel import StatsPanel
    stats = StatsPanel(db_path=args.db)                  # None: the user data directory
    dock = QDockWidget("Score statistics"); dock.setWidget(stats)
    score_panel.scoreSaved.connect(lambda _: stats.refresh() if dock.isVisible() else None)
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
        for lab, png in ((self.method_plot, method_bars_png(self.summary)),
                         (self.cohort_plot, cohort_bars_png(self.summary))):
            pix = QtGui.QPixmap()
            pix.loadFromData(png, "PNG")
            lab.setPixmap(pix)
            lab.setMinimumSize(pix.size())  # full size; the scroll area scrolls
        self.save_button.setEnabled(True)
        self.status.setText(f"database: {path}")
        self.status.setStyleSheet("color: gray;")
        return True

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
