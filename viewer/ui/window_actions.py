"""The main window's menus and keyboard shortcuts (see ``viewer.ui.help_dialog`` for the list).

Each action calls a public method of the window (``open_path``, ``apply_preset``,
``export_dialog``, ``step_series``, ``escape``, ...) or of its session and panels.
"""
from __future__ import annotations

from PyQt6 import QtCore, QtGui, QtWidgets

from viewer.core.windowing import PRESETS
from viewer.ui.pacs_dialog import open_from_pacs


def build_menus(win) -> None:
    """File (open, PACS, recent, export, quit), View (window presets, docks), Help."""
    m = win.menuBar().addMenu("&File")
    a = m.addAction("Open file…", lambda: open_dialog(win, folder=False))
    a.setShortcut(QtGui.QKeySequence("Ctrl+O"))
    a = m.addAction("Open folder…", lambda: open_dialog(win, folder=True))
    a.setShortcut(QtGui.QKeySequence("Ctrl+Shift+O"))
    m.addAction("Open from PACS…", lambda: open_from_pacs(win))
    win.recent_menu = m.addMenu("Open recent")
    win.recent_menu.aboutToShow.connect(lambda: fill_recent_menu(win))
    a = m.addAction("Export map and mask…", win.export_dialog)
    a.setShortcut(QtGui.QKeySequence("Ctrl+E"))
    m.addSeparator()
    m.addAction("Quit", win.close).setShortcut(QtGui.QKeySequence("Ctrl+Q"))
    v = win.menuBar().addMenu("&View")
    for i, p in enumerate(PRESETS.values(), start=1):
        v.addAction(f"{p.name.capitalize()} window W{p.width:.0f}/L{p.level:.0f}\t{i}",
                    lambda p=p: win.apply_preset(p.name))
    for d in win.docks.values():
        v.addAction(d.toggleViewAction())
    v.addSeparator()
    win.stats_action = v.addAction("Reader study statistics…", win.show_statistics)
    h = win.menuBar().addMenu("&Help")
    h.addAction("Keyboard shortcuts\tF1", win.show_help)


def open_dialog(win, folder: bool) -> None:
    """Ask for a file (or a folder) and open it."""
    if folder:
        path = QtWidgets.QFileDialog.getExistingDirectory(win, "Open folder")
    else:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(win, "Open CT file")
    if path:
        win.open_path(path)


def fill_recent_menu(win) -> None:
    win.recent_menu.clear()
    paths = win.recent.paths()
    if not paths:
        win.recent_menu.addAction("(none)").setEnabled(False)
    for p in paths:
        win.recent_menu.addAction(p, lambda p=p: win.open_path(p))


def build_shortcuts(win) -> None:
    """Window-wide keys: slices, zoom, presets, overlay, refine tools, undo, series, help."""
    def sc(keys, fn):
        s = QtGui.QShortcut(QtGui.QKeySequence(keys), win)
        s.setContext(QtCore.Qt.ShortcutContext.WindowShortcut)
        s.activated.connect(fn)
        return s

    v, session = win.view, win.session
    for keys, d in (("Left", -1), ("Up", -1), ("Right", 1), ("Down", 1),
                    ("PgUp", -10), ("PgDown", 10)):
        sc(keys, lambda d=d: v.step(d))
    sc("Home", lambda: v.set_index(0))
    sc("End", lambda: v.set_index(v.n_slices - 1))
    sc("H", win.overlay_controls.toggle_visible)
    sc("F", v.fit)
    sc("+", lambda: v.zoom(1.25))
    sc("=", lambda: v.zoom(1.25))
    sc("-", lambda: v.zoom(0.8))
    for i, name in enumerate(PRESETS, start=1):
        sc(str(i), lambda n=name: win.apply_preset(n))
    sc("B", lambda: win.refine.set_tool("brush"))
    sc("E", lambda: win.refine.set_tool("eraser"))
    sc("Esc", win.escape)
    sc("Ctrl+Z", session.undo)
    sc("Ctrl+Shift+Z", session.redo)
    sc("Ctrl+Y", session.redo)
    sc("N", lambda: win.step_series(1))
    sc("P", lambda: win.step_series(-1))
    sc("F1", win.show_help)
