"""QApplication set-up and ``run``: the entry point behind ``python main.py view``.

``run(path, slice_index, screenshot)`` opens the window on ``path``; with ``screenshot`` it waits
until the requested slice's overlay is drawn (or the localizer is known to be missing), saves the
window as PNG and returns 0 without entering an interactive session.
"""
from __future__ import annotations

import sys
from pathlib import Path

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
    return app


def build_window(weights: str | None = None, device: str = "auto", cache=None, settings=None):
    from viewer.ui.main_window import MainWindow, default_localizer_factory

    return MainWindow(default_localizer_factory(weights, device), cache=cache, settings=settings)


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
        weights: str | None = None, device: str = "auto") -> int:
    """Open the reading room on ``path`` (file or folder). Returns the exit code."""
    app = make_app()
    if screenshot and Path(screenshot).suffix.lower() != ".png":
        print(f"error: {screenshot}: screenshot must be a .png file", file=sys.stderr)
        return 2
    win = build_window(weights, device)
    win.show()
    result = {"code": 0}
    if screenshot:
        _arm_screenshot(app, win, screenshot, slice_index, result)
    if path is not None:
        p = Path(path)
        if not p.exists():
            print(f"error: {p}: no such file or folder", file=sys.stderr)
            if screenshot:
                return 2
        else:
            win.open_path(p, slice_index)
    app.exec()
    return result["code"]


def _arm_screenshot(app, win, screenshot: str, slice_index: int | None, result: dict) -> None:
    state = {"done": False}

    def shoot(i: int) -> None:
        if state["done"]:
            return
        if slice_index is not None and 0 <= slice_index < win.view.n_slices and i != slice_index:
            return
        state["done"] = True
        QtCore.QTimer.singleShot(300, finish)

    def finish() -> None:
        try:
            out = save_screenshot(win, screenshot)
            print(f"screenshot written: {out}")
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            result["code"] = 1
        win.close()
        app.quit()

    def give_up() -> None:
        if not state["done"]:
            print(f"error: screenshot: overlay not ready after {SCREENSHOT_TIMEOUT_S} s",
                  file=sys.stderr)
            result["code"] = 1
            win.close()
            app.quit()

    win.overlayReady.connect(shoot)
    QtCore.QTimer.singleShot(SCREENSHOT_TIMEOUT_S * 1000, give_up)
