"""Closing a window while work is pending: no timer or worker callback may touch a deleted
Qt object afterwards (the cause of the flaky UI suite, issue #13)."""
from __future__ import annotations

import threading

import pytest
from PyQt6 import QtCore, QtWidgets

from test_main_window import open_and_wait

pytestmark = pytest.mark.gui


def _flush_deletes() -> None:
    QtCore.QCoreApplication.sendPostedEvents(None, QtCore.QEvent.Type.DeferredDelete)
    QtWidgets.QApplication.processEvents()


def test_close_with_pending_debounce_timers(qtbot, make_window, phantom):
    win = make_window(managed=False)
    open_and_wait(qtbot, win, phantom)
    win.set_threshold(0.3)            # arms the series recount timer
    win._slice_ready(win.view.index)  # arms the curve refresh timer
    assert win._recount_timer.isActive() and win._curve_timer.isActive()
    win.close()
    assert not win._recount_timer.isActive() and not win._curve_timer.isActive()
    qtbot.wait(600)  # longer than both debounce intervals: nothing may fire
    win.deleteLater()
    _flush_deletes()
    qtbot.wait(300)


def test_close_and_delete_while_recount_worker_runs(qtbot, make_window, phantom, monkeypatch):
    """A series recount still running when the window is closed and deleted: the worker is
    retired (kept alive until it ends) and its late result goes nowhere."""
    import viewer.core.lesion_layers as sm  # the recount counts slices through the pipeline
    from viewer.ui import workers

    win = make_window(managed=False)
    open_and_wait(qtbot, win, phantom)
    qtbot.waitUntil(lambda: win.store.is_complete(), timeout=20000)
    qtbot.waitUntil(lambda: win.stats_worker is None or not win.stats_worker.isRunning(),
                    timeout=20000)
    entered, release = threading.Event(), threading.Event()
    real = sm.slice_counts

    def slow_counts(*args):
        if threading.current_thread() is not threading.main_thread():
            entered.set()
            release.wait(20)
        return real(*args)

    monkeypatch.setattr(sm, "slice_counts", slow_counts)
    monkeypatch.setattr(type(win), "CLOSE_WAIT_MS", 50)
    win._recount_all()
    assert entered.wait(20), "the recount worker did not start"
    worker = win.stats_worker
    win.close()
    assert worker in workers._RETIRED and worker.parent() is None
    win.deleteLater()
    _flush_deletes()
    release.set()
    assert workers.wait_retired(20000)
    qtbot.wait(300)  # the worker's queued signals are delivered (to nobody)
    _flush_deletes()


def test_close_during_localization_then_process_events(qtbot, make_window, phantom):
    from ui_phantom import FakeLocalizer
    from viewer.ui import workers

    win = make_window(localizer=FakeLocalizer(delay=0.05), managed=False)
    with qtbot.waitSignal(win.seriesShown, timeout=20000):
        win.open_path(phantom)
    win.close()
    win.deleteLater()
    _flush_deletes()
    assert workers.wait_retired(20000)
    qtbot.wait(300)
