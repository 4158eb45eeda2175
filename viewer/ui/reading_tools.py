"""The reading tools added to the main window in one call: the measurement toolbar (ruler,
ellipse, freehand, crosshair), typed window / level with user presets, cine, the MPR layout,
and their menu entries and keys (``install``). Each part lives in its own module; this one only
wires them to the window, so the window itself changes by a few lines.
"""
from __future__ import annotations

from PyQt6 import QtCore, QtGui, QtWidgets

from viewer.ui.cine import CineControls
from viewer.ui.measure_tools import MEASURE_TOOLS, MeasureController, tool_actions
from viewer.ui.mpr_view import MprController, MprPanel
from viewer.ui.window_level_box import WindowLevelBox

#: (keys, action) rows of the help dialog for these tools; none clashes with the window's keys.
SHORTCUTS: tuple[tuple[str, str], ...] = (
    ("R / O / D / C", "measure: ruler (mm) / ellipse ROI / freehand ROI (area mm², mean ± SD HU) "
                      "/ crosshair; left-drag draws, handles edit; Esc back to pan"),
    ("W", "type a window width and level (Enter applies); presets of your own: Save… "
          "in the Window toolbar"),
    ("Space", "cine: play / pause through the slices (fps in the toolbar)"),
    ("M", "MPR layout: axial + coronal + sagittal with a linked cursor (click in any plane); "
          "M again for the single view (View menu)"),
)


class ReadingTools:
    """Holds the parts: ``measure`` (MeasureController), ``window_box`` (WindowLevelBox),
    ``cine`` (CineControls), ``mpr`` (MprController), ``mpr_action`` (View-menu toggle)."""

    def __init__(self, win, settings: QtCore.QSettings):
        self.win = win
        view = win.view
        # the MPR planes beside the axial view (the view moves into a splitter, not deleted)
        self.mpr_panel = MprPanel()
        central = win.takeCentralWidget()
        self.splitter = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
        self.splitter.addWidget(central)
        self.splitter.addWidget(self.mpr_panel)
        win.setCentralWidget(self.splitter)
        # measurement toolbar
        self.measure = MeasureController(view, win.show_status)
        tb = self.measure_bar = win.addToolBar("Measure")
        tb.setObjectName("toolbar_measure")
        self.actions = tool_actions(win, self.measure, tb)
        # window / cine toolbar
        win.addToolBarBreak()
        tb2 = self.window_bar = win.addToolBar("Window and cine")
        tb2.setObjectName("toolbar_window")
        self.window_box = WindowLevelBox(view, settings, win.show_error)
        tb2.addWidget(self.window_box)
        tb2.addSeparator()
        self.cine = CineControls(view)
        tb2.addWidget(self.cine)
        # MPR
        self.mpr = MprController(win.session, view, self.mpr_panel, win.shown_layers,
                                 win.overlay_controls.style,
                                 lambda: bool(win.overlay_visible), win.show_status)
        # one tool at a time: a measurement tool turns the brush off and back
        self.measure.listeners.append(lambda n: n != "none" and win.refine.set_tool("none"))
        win.refine.toolChanged.connect(lambda n: n != "none" and self.measure.set_tool("none"))
        s = win.session
        s.events.connect("series", self._series)
        win.seriesShown.connect(lambda _info: self.measure.show_saved())
        win.overlay_controls.styleChanged.connect(lambda _s: self.mpr.invalidate())
        s.events.connect("overlay_visible", lambda _on: self.mpr.invalidate())
        self._menus()
        self._keys()

    def _menus(self) -> None:
        win = self.win
        v = next(a.menu() for a in win.menuBar().actions() if a.text() == "&View")
        v.addSeparator()
        self.mpr_action = v.addAction("MPR layout (axial + coronal + sagittal)\tM")
        self.mpr_action.setCheckable(True)
        self.mpr_action.toggled.connect(self.set_mpr)
        self._mpr_reason("no series open")
        v.addAction(self.measure_bar.toggleViewAction())
        v.addAction(self.window_bar.toggleViewAction())
        m = win.menuBar().addMenu("&Tools")
        for name, label, key, _tip in MEASURE_TOOLS:
            m.addAction(f"{label}\t{key}", lambda n=name: self.measure.set_tool(n))
        m.addAction("Clear measurements", self.measure.clear)
        m.addSeparator()
        m.addAction("Play / pause cine\tSpace", self.cine.toggle)
        # the Help menu stays last
        help_menu = next(a for a in win.menuBar().actions() if a.text() == "&Help")
        win.menuBar().insertMenu(help_menu, m)

    def _keys(self) -> None:
        def sc(keys, fn):
            s = QtGui.QShortcut(QtGui.QKeySequence(keys), self.win)
            s.setContext(QtCore.Qt.ShortcutContext.WindowShortcut)
            s.activated.connect(fn)

        for name, _label, key, _tip in MEASURE_TOOLS:
            sc(key, lambda n=name: self.measure.set_tool(n))
        sc("W", self._focus_window_box)
        sc("Space", self.cine.toggle)
        sc("M", lambda: self.set_mpr(not self.mpr.enabled))

    def _focus_window_box(self) -> None:
        self.window_box.width_edit.setFocus()
        self.window_box.width_edit.selectAll()

    # -- MPR ----------------------------------------------------------------------------------
    def set_mpr(self, on: bool) -> None:
        got = self.mpr.set_enabled(bool(on))
        if self.mpr_action.isChecked() != got:
            self.mpr_action.blockSignals(True)
            self.mpr_action.setChecked(got)
            self.mpr_action.blockSignals(False)
        if got:
            w = self.splitter.width()
            self.splitter.setSizes([w * 11 // 20, w - w * 11 // 20])
            for pv in self.mpr_panel.views.values():
                pv.fit()

    def _mpr_reason(self, why: str) -> None:
        self.mpr_action.setEnabled(not why)
        self.mpr_action.setText("MPR layout (axial + coronal + sagittal)"
                                + (f": unavailable, {why}" if why else "") + "\tM")
        self.mpr_action.setToolTip(why or "Coronal and sagittal reformats with a linked cursor")

    def _series(self, info) -> None:
        self.measure.set_series(info)
        self.win.refine_ctl.set_series(info)
        ok, why = self.mpr.availability()
        self._mpr_reason("" if ok else why)
        if not ok and self.mpr.enabled:
            self.set_mpr(False)

    # -- window ---------------------------------------------------------------------------------
    def escape(self) -> None:
        self.measure.set_tool("none")

    def close(self) -> None:
        """The window is closing: no timer fires after this."""
        self.cine.stop(final=True)
        self.mpr.stop()
