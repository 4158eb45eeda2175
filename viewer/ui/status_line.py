"""The window's status bar: messages, the progress of background work with Cancel, and the
localizer's device."""
from __future__ import annotations

import sys
from typing import Callable

from PyQt6 import QtWidgets


class StatusLine:
    """Widgets added to ``bar`` (a QStatusBar); ``cancel()`` is called by the Cancel button."""

    def __init__(self, bar: QtWidgets.QStatusBar, parent: QtWidgets.QWidget,
                 cancel: Callable[[], None]):
        self.bar = bar
        self.progress = QtWidgets.QProgressBar(parent)
        self.progress.setMaximumWidth(260)
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.cancel_button = QtWidgets.QPushButton("Cancel", parent)
        self.cancel_button.clicked.connect(cancel)
        self.cancel_button.hide()
        self.device_label = QtWidgets.QLabel("localizer: loading…", parent)
        for w in (self.progress, self.cancel_button, self.device_label):
            bar.addPermanentWidget(w)

    def show_progress(self, what: str, done: int, total: int) -> None:
        """``what done/total`` in the progress bar, with Cancel."""
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)
        self.progress.setFormat(f"{what} %v/%m")
        self.progress.show()
        self.cancel_button.show()

    def hide_progress(self) -> None:
        self.progress.hide()
        self.cancel_button.hide()

    def show_status(self, text: str, ms: int = 0) -> None:
        self.bar.showMessage(text, ms)

    def show_error(self, msg: str) -> None:
        """One-line message in the status bar (and on stderr), never a crash."""
        print(f"error: {msg}", file=sys.stderr)
        self.bar.showMessage(f"error: {msg}", 20000)
