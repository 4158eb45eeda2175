"""Python's cyclic garbage collector runs on the GUI thread only.

Automatic collection starts in whichever thread happens to allocate when a generation fills up:
with localization, lung masks and exports running in worker threads, that is often a worker. A
collected cycle that holds Qt objects (a closed window or dialog, pyqtgraph items kept in cycles by
signal lambdas) then destroys them off the GUI thread, racing the GUI thread's paints: the
reading room's rare segmentation faults in ``GraphicsView.paintEvent`` (seen in
``scripts/stress_ui.py``) came from there.

``install(app)`` turns automatic collection off and runs it from a GUI-thread timer instead
(``INTERVAL_MS``), one generation at a time as ``gc.get_count()`` passes the usual thresholds, so
memory is still reclaimed. Idempotent; ``uninstall()`` restores automatic collection.
"""
from __future__ import annotations

import gc

from PyQt6 import QtCore

#: How often the GUI thread checks whether a collection is due (ms).
INTERVAL_MS = 500

_guard: "_MainThreadCollector | None" = None


class _MainThreadCollector(QtCore.QObject):
    def __init__(self, app: QtCore.QCoreApplication):
        super().__init__(app)
        self.thresholds = gc.get_threshold()
        self.timer = QtCore.QTimer(self)
        self.timer.setInterval(INTERVAL_MS)
        self.timer.timeout.connect(self.check)
        self.collections = 0

    def check(self) -> None:
        """Collect the oldest generation whose count passed its threshold (GUI thread); the
        workers whose threads have ended are let go first, and running ones stay held
        (``viewer.ui.workers.release_ended``), so no collection destroys a running QThread."""
        from viewer.ui.workers import release_ended

        release_ended()
        counts = gc.get_count()
        for gen in (2, 1, 0):
            if self.thresholds[gen] and counts[gen] > self.thresholds[gen]:
                gc.collect(gen)
                self.collections += 1
                return


def install(app: QtCore.QCoreApplication | None = None) -> "_MainThreadCollector":
    """Collect garbage on the GUI thread only (module docstring); returns the collector."""
    global _guard
    if _guard is not None:
        return _guard
    app = app or QtCore.QCoreApplication.instance()
    if app is None:
        raise ValueError("gc guard: create the QApplication first")
    _guard = _MainThreadCollector(app)
    gc.disable()
    _guard.timer.start()
    return _guard


def uninstall() -> None:
    """Back to automatic collection."""
    global _guard
    if _guard is not None:
        _guard.timer.stop()
        _guard.deleteLater()
        _guard = None
    gc.enable()
