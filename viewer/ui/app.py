"""QApplication set-up and ``run``: the entry point behind ``python main.py view``.

``run(path, slice_index, screenshot)`` opens the window on ``path``; with ``screenshot`` it waits
until the requested slice's overlay is drawn (or the localizer is known to be missing), saves the
window as PNG and returns 0 without entering an interactive session.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PyQt6 import QtCore, QtWidgets

ORG, APP = "covid-ct-reading-room", "reading-room"
SCREENSHOT_TIMEOUT_S = 600


def make_app(argv: list[str] | None = None) -> QtWidgets.QApplication:
    """The QApplication (created once), with names for QSettings."""
    app = QtWidgets.QApplication.instance()
    if app is None:
        QtCore.QCoreApplication.setOrganizationName(ORG)
        QtCore.QCoreApplication.setApplicationName(APP)
        app = QtWidgets.QApplication(argv if argv is not None else sys.argv[:1])
    from viewer.ui import gc_guard

    gc_guard.install(app)  # cyclic garbage (Qt objects among it) is freed on the GUI thread only
    return app


def build_window(weights: str | None = None, device: str = "auto", cache=None, settings=None,
                 db_path: str | Path | None = None, defer_localizer: bool = False):
    """The main window with the real localizer; ``db_path``: reader-study score database;
    ``defer_localizer``: torch and the weights load once the first series is painted."""
    from viewer.ui.main_window import MainWindow, default_localizer_factory

    return MainWindow(default_localizer_factory(weights, device), cache=cache, settings=settings,
                      db_path=db_path, defer_localizer=defer_localizer)


def save_screenshot(window: QtWidgets.QWidget, path: str | Path) -> Path:
    """Grab ``window`` as it is drawn and write it as PNG; ValueError when it cannot be written."""
    out = Path(path)
    if out.suffix.lower() != ".png":
        raise ValueError(f"{out}: screenshot must be a .png file")
    if not out.parent.exists():
        raise ValueError(f"{out}: folder {out.parent} does not exist")
    QtWidgets.QApplication.processEvents()
    pix = window.grab()
    if not pix.save(str(out), "PNG"):
        raise ValueError(f"{out}: could not write the PNG")
    return out


def run(path: str | Path | None, slice_index: int | None = None, screenshot: str | None = None,
        weights: str | None = None, device: str = "auto", db_path: str | None = None,
        screenshot_when: str = "slice") -> int:
    """Open the reading room on ``path`` (file or folder). Returns the exit code.

    Interactive: runs the application until the window is closed. With ``screenshot``: runs a
    local event loop until the PNG is written (or the overlay never comes), then closes the
    window; the QApplication itself is not quit, so ``run`` can be called more than once.
    """
    app = make_app()
    if screenshot and Path(screenshot).suffix.lower() != ".png":
        print(f"error: {screenshot}: screenshot must be a .png file", file=sys.stderr)
        return 2
    p = Path(path) if path is not None else None
    if p is not None and not p.exists():
        print(f"error: {p}: no such file or folder", file=sys.stderr)
        if screenshot:
            return 2
        p = None
    # a path to open: its first slice goes on screen before torch is imported
    win = build_window(weights, device, db_path=db_path, defer_localizer=p is not None)
    win.show()
    if not screenshot:
        if p is not None:
            win.open_path(p, slice_index)
        app.exec()
        from viewer.ui.workers import wait_retired

        wait_retired()
        return 0
    result = {"code": 0}
    loop = QtCore.QEventLoop()
    _arm_screenshot(loop, win, screenshot, slice_index, result, screenshot_when == "series")
    if p is not None:
        win.open_path(p, slice_index)
    else:
        win.overlayReady.emit(-1)  # nothing to open: shoot the empty window
    loop.exec()
    win.close()
    win.deleteLater()
    QtCore.QCoreApplication.sendPostedEvents(None, QtCore.QEvent.Type.DeferredDelete)
    from viewer.ui.workers import wait_retired

    wait_retired()  # no thread of the closed window may outlive the application
    return result["code"]


def _arm_screenshot(loop: QtCore.QEventLoop, win, screenshot: str, slice_index: int | None,
                    result: dict, whole_series: bool = False) -> None:
    """Save ``win`` as ``screenshot`` once the wanted slice's overlay is drawn (and, with
    ``whole_series``, once every slice is localized and counted), then stop ``loop``; give up
    (exit code 1) after SCREENSHOT_TIMEOUT_S."""
    state = {"done": False, "slice": False}

    def series_counted() -> bool:
        store, counts = getattr(win, "store", None), getattr(win, "counts", None)
        worker = getattr(win, "stats_worker", None)
        return (store is not None and store.is_complete() and counts is not None
                and bool(np.isfinite(counts.lung).all())
                and (worker is None or worker.isFinished()))

    def shoot(i: int) -> None:
        if state["done"]:
            return
        if slice_index is not None and 0 <= slice_index < win.view.n_slices and i != slice_index:
            return
        state["slice"] = True
        if whole_series:
            return  # the poll below shoots once the series is counted
        state["done"] = True
        QtCore.QTimer.singleShot(300, finish)

    def poll() -> None:
        if state["done"]:
            return
        if state["slice"] and series_counted():
            state["done"] = True
            win._refresh_series_numbers()
            QtCore.QTimer.singleShot(300, finish)

    def finish() -> None:
        try:
            out = save_screenshot(win, screenshot)
            print(f"screenshot written: {out}")
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            result["code"] = 1
        loop.quit()

    def give_up() -> None:
        if not state["done"]:
            state["done"] = True
            print(f"error: screenshot: overlay not ready after {SCREENSHOT_TIMEOUT_S} s",
                  file=sys.stderr)
            result["code"] = 1
            loop.quit()

    def failed(msg: str) -> None:  # the scan or read failed: nothing will ever be drawn
        if not state["done"]:
            state["done"] = True
            print(f"error: screenshot: nothing to show ({msg})", file=sys.stderr)
            result["code"] = 1
            loop.quit()

    win.overlayReady.connect(shoot)
    win.openFailed.connect(failed)
    if whole_series:
        poller = QtCore.QTimer(win)  # dies with the window
        poller.timeout.connect(poll)
        poller.start(200)
    timer = QtCore.QTimer(win)  # dies with the window: nothing left pending after run()
    timer.setSingleShot(True)
    timer.timeout.connect(give_up)
    timer.start(SCREENSHOT_TIMEOUT_S * 1000)
