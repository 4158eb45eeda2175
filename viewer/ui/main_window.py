"""The reading-room main window: the docks and the flow of opening a series.

The state of the series being read is a Qt-free ``viewer.core.reading_session.ReadingSession``
(``self.session``); the panels are its views, driven by thin controllers that hold it:
``SeverityController`` (severity panel, recount), ``RefineController`` (brush, eraser, undo),
``ReaderStudyController`` (reading-list items, their maps, what a score records),
``LocalizationController`` (maps and lungs in the background) and ``ExportController``.
A setting travels one way: a view calls the session, the session emits, the views follow.

Flow: ``open_path`` scans in a worker thread and fills the series browser; ``open_series``
reads the pixels in a worker; once they are in, the session opens the series and the
localization controller localizes the shown slice first, then the rest. The overlay RGBA is
computed for the shown slice only. The localizer is built in a worker at start; without
weights the window says "no localizer weights: overlay off" and works as a plain viewer.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

from PyQt6 import QtCore, QtWidgets, sip

from viewer.core.map_cache import MapCache
from viewer.core.reading_session import ReadingSession
from viewer.ui.export_controller import ExportController
from viewer.ui.display_lock import DisplayLock
from viewer.ui.forward import forward, worker_slot
from viewer.ui.help_dialog import HelpDialog
from viewer.ui.localization_controller import LocalizationController, default_localizer_factory
from viewer.ui.overlay import overlay_rgba
from viewer.ui.overlay_controls import OverlayControls
from viewer.ui.reading_tools import ReadingTools
from viewer.ui.reader_study_controller import ReaderStudyController
from viewer.ui.refine_controller import RefineController
from viewer.ui.refine_tools import RefineTools
from viewer.ui.series_browser import RecentItems, SeriesBrowser
from viewer.ui.series_opener import SeriesOpener
from viewer.ui.severity_controller import SeverityController
from viewer.ui.severity_panel import SeverityPanel
from viewer.ui.slice_view import SliceView
from viewer.ui.status_line import StatusLine
from viewer.ui.window_actions import build_menus, build_shortcuts
from viewer.ui.work_pool import WorkPool
from viewer.ui.workers import CallWorker

NO_WEIGHTS = "no localizer weights: overlay off"
__all__ = ["MainWindow", "NO_WEIGHTS", "default_localizer_factory"]


class MainWindow(QtWidgets.QMainWindow):
    """Signals: ``seriesShown(info)`` once pixels are on screen, ``overlayReady(index)`` when
    the overlay of the shown slice is drawn (or known to be unavailable), ``localizerState(str)``."""

    seriesShown = QtCore.pyqtSignal(object)
    overlayReady = QtCore.pyqtSignal(int)
    localizerState = QtCore.pyqtSignal(str)
    exportFinished = QtCore.pyqtSignal(object)
    openFailed = QtCore.pyqtSignal(str)  # scanning or reading failed, or nothing loadable found
    CLOSE_WAIT_MS = 3000  # how long closing waits for each cancelled worker before retiring it
    # the window's attributes as views of the session and controllers that own them
    info, voxels, store = forward("session.info"), forward("session.voxels"), forward("session.store")
    counts, pipeline = forward("session.counts"), forward("session.pipeline")
    edits, localizer = forward("session.edits"), forward("session.localizer")
    threshold, restrict_to_lungs = forward("session.threshold"), forward("session.lungs_only")
    overlay_visible, series_notes = forward("session.overlay_visible"), forward("session.series_notes")
    _series_voxel_ml = forward("session.voxel_ml")
    map_method, _cam_request = forward("study.map_method"), forward("study.cam_request")
    _cam_cache, _cam_busy_label = forward("study.cam_cache"), forward("study.cam_busy_label")
    _curve_timer = forward("severity_ctl.curve_timer")
    _recount_timer = forward("severity_ctl.recount_timer")
    last_export = forward("exporter.last_export")
    opened_path, requested_slice = forward("opener.opened_path"), forward("opener.requested_slice")
    scan_worker, load_worker, loc_worker = worker_slot("scan"), worker_slot("load"), worker_slot("loc")
    stats_worker, export_worker = worker_slot("stats"), worker_slot("export")

    def __init__(self, localizer_factory: Callable | None = None, cache: MapCache | None = None,
                 settings: QtCore.QSettings | None = None, score_panel: bool = True,
                 db_path: str | Path | None = None, defer_localizer: bool = False):
        """``settings``: QSettings for recent items and the score panel (None: the user's);
        ``db_path``: the reader-study score database (None: the user data folder);
        ``defer_localizer``: build the localizer (torch and the weights) only once the first
        series' pixels are painted (or opening failed), so nothing competes with showing
        them (``main.py view PATH``)."""
        super().__init__()
        self.setWindowTitle("COVID-19 CT reading room")
        self.resize(1500, 950)
        self.setAcceptDrops(True)
        self.session = ReadingSession()
        self.cache = cache or MapCache()
        self.recent = RecentItems(settings)
        self.localizer_error = ""
        self.severity_visible = True
        self._closed = False
        self.pool = WorkPool(self, self._alive)
        self._build_ui()
        self._build_controllers()
        build_menus(self)
        build_shortcuts(self)
        # measurement, typed window and presets, cine, MPR (viewer.ui.reading_tools)
        self.settings = settings if settings is not None else QtCore.QSettings()
        self.tools = ReadingTools(self, self.settings)
        self.score_panel = self.study.dock_score_panel(self, settings, db_path) \
            if score_panel else None
        self._db_path, self.stats_dialog = db_path, None
        if self.score_panel is not None:
            self.score_panel.severityVisibilityChanged.connect(self.set_severity_visible)
            self.score_panel.statisticsRequested.connect(self.show_statistics)
        self._deferred_factory = None
        self._localizer_factory = localizer_factory
        if defer_localizer and localizer_factory is not None:
            self._deferred_factory = localizer_factory
            # after the paint, from the event loop (a window timer: stopped at close)
            deferred = self.pool.debounce(0, self._start_deferred_localizer)
            self.view.pixelsPainted.connect(
                lambda: deferred.start() if self._deferred_factory is not None else None)
            self.openFailed.connect(lambda _msg: self._start_deferred_localizer(force=True))
        else:
            self._start_localizer(localizer_factory)

    # =========================================================================== UI assembly
    def _build_ui(self) -> None:
        self.view = SliceView(self)
        self.setCentralWidget(self.view)
        self.browser = SeriesBrowser(self)
        self.overlay_controls = OverlayControls(self)
        self.refine = RefineTools(self)
        self.severity = SeverityPanel(self)
        self.docks = {}
        L, R = QtCore.Qt.DockWidgetArea.LeftDockWidgetArea, QtCore.Qt.DockWidgetArea.RightDockWidgetArea
        for name, title, w, area in (("browser", "Series", self.browser, L),
                                     ("overlay", "Overlay", self.overlay_controls, R),
                                     ("severity", "Severity", self.severity, R),
                                     ("refine", "Refine mask", self.refine, R)):
            dock = QtWidgets.QDockWidget(title, self)
            dock.setObjectName(f"dock_{name}")
            dock.setWidget(w)
            self.addDockWidget(area, dock)
            self.docks[name] = dock
        self.docks["browser"].setMinimumWidth(300)
        st = self.status_line = StatusLine(self.statusBar(), self, self.cancel_work)
        self.progress, self.cancel_button, self.device_label = (st.progress, st.cancel_button,
                                                                st.device_label)
        self.show_status, self.show_error = st.show_status, st.show_error
        self._show_progress, self._hide_progress = st.show_progress, st.hide_progress

    def _build_controllers(self) -> None:
        s, oc = self.session, self.overlay_controls
        self.severity_ctl = SeverityController(s, self.severity, self.pool)
        self.refine_ctl = RefineController(s, self.refine, self.view, self.show_status,
                                           self.show_error, self.refresh_overlay,
                                           self.severity_ctl.curve_timer.start)
        self.opener = SeriesOpener(s, self.pool, self.browser, self.view, self.recent,
                                   self.status_line, make_edits=self.refine_ctl.make_edits,
                                   shown=self._series_shown, open_failed=self.openFailed.emit,
                                   failed=self._work_failed, set_title=self.setWindowTitle)
        self.display = DisplayLock(s, oc, self.view, self.refine, lambda: self.tools.window_box,
                                   self.show_status, lambda: self.study.fixed_display)
        self.display_state, self.fix_display = self.display.state, self.display.fix
        self.apply_preset = self.display.apply_preset
        self.study = ReaderStudyController(s, self.view, self.browser, self.statusBar(),
                                           self.pool, self.opener.open_series_at,
                                           self.show_error, self.refresh_overlay,
                                           display_state=self.display_state,
                                           fix_display=self.fix_display)
        self.severity_ctl.map_numbers = self.study.shown_numbers
        views = dict(show_status=self.show_status, show_progress=self._show_progress,
                     hide_progress=self._hide_progress, failed=self._work_failed)
        self.localization = LocalizationController(
            s, self.cache, self.pool, self.view, self.severity_ctl, redraw=self.refresh_overlay,
            refresh_score_panel=self.study.refresh_score_panel, **views)
        self.exporter = ExportController(s, self.pool, self, finished=self.exportFinished.emit,
                                         show_error=self.show_error, **views)
        # the window's methods that belong to its parts
        self.set_threshold, self.lesion_layers = s.set_threshold, s.layers
        self.set_overlay_visible, self.set_restrict_to_lungs = (s.set_overlay_visible,
                                                                s.set_lungs_only)
        self.undo_edit, self.redo_edit = s.undo, s.redo
        self.score_context, self.open_item = self.study.score_context, self.study.open_item
        self.shown_layers, self.map_note = self.study.shown_layers, self.study.map_note
        self._refresh_series_numbers = self.severity_ctl.refresh_series_numbers
        self._recount_all = self.severity_ctl.recount_all
        self._slice_ready, self.run_export = self.localization.slice_ready, self.exporter.run
        self.wait_for_workers = self.pool.wait
        self.open_path, self.open_series = self.opener.open_path, self.opener.open_series
        self._series_loaded = self.opener.series_loaded
        # views -> session
        oc.thresholdChanged.connect(s.set_threshold)
        oc.visibleChanged.connect(s.set_overlay_visible)
        oc.styleChanged.connect(lambda _s: self.refresh_overlay())
        self.view.indexChanged.connect(self._on_index_changed)
        self.view.windowChanged.connect(self.display.window_changed)
        self.browser.seriesActivated.connect(self.opener.open_series)
        self.browser.openRequested.connect(self.open_path)
        self.severity.sliceClicked.connect(self.view.set_index)
        # session -> views
        s.events.connect("threshold", oc.show_threshold)
        s.events.connect("threshold", lambda _t: self._settings_changed())
        s.events.connect("lungs_only", lambda _on: self._settings_changed())
        s.events.connect("overlay_visible", oc.show_visible)
        s.events.connect("overlay_visible", lambda _on: self.refresh_overlay())

    # =========================================================================== localizer
    def _start_localizer(self, factory: Callable | None) -> None:
        if factory is None:
            self.localizer_error = NO_WEIGHTS
            self.device_label.setText(NO_WEIGHTS)
            return
        w = CallWorker(factory, "localizer", self)
        self.pool.on(w.succeeded, self._localizer_ready)
        self.pool.on(w.failed, self._localizer_failed)
        self.pool.keep(w)
        w.start()

    def _start_deferred_localizer(self, force: bool = False) -> None:
        """The deferred localizer build starts: the series' pixels are on screen (not just the
        scan's preview), or opening failed (``force``)."""
        if self._deferred_factory is None or not self._alive():
            return
        if not force and self.voxels is None:
            return  # the preview of a scan: wait for the series itself
        factory, self._deferred_factory = self._deferred_factory, None
        if not force:
            self.localization.prepare(factory)  # the lungs while torch and the model load
        self._start_localizer(factory)

    def _localizer_ready(self, loc) -> None:
        # the model's threshold is not an annotator setting: moved to before the localizer is in
        self.overlay_controls.set_model_threshold(float(loc.threshold))
        self.session.localizer = loc
        self.session.set_threshold(self.overlay_controls.threshold_value(), record=False)
        self.session.restore_settings()
        name = str(getattr(loc, "short_name", "GAN"))
        self.device_label.setText(f"localizer: {name} on {loc.device}")  # the model, not the map on screen (blinding)
        self.device_label.setToolTip(f"{getattr(loc, 'model_name', name)}\n"
                                     f"{getattr(loc, 'path', '')}, sha256 {str(getattr(loc, 'weights_hash', ''))[:16]}")
        self.localizerState.emit("ready")
        if self.voxels is not None and not self.pool.busy("loc"):
            self.localization.start()

    def _localizer_failed(self, msg: str) -> None:
        self.localizer_error = f"{NO_WEIGHTS} ({msg})"
        print(f"warning: {self.localizer_error}", file=sys.stderr)
        self.device_label.setText(NO_WEIGHTS)
        self.device_label.setToolTip(msg)
        self.show_status(self.localizer_error, 15000)
        self.view.set_overlay_note(NO_WEIGHTS)
        self.severity.show_message(NO_WEIGHTS)
        self.localizerState.emit("failed")
        if self.voxels is not None:
            self.overlayReady.emit(self.view.index)

    def _series_shown(self, info) -> None:
        self.severity.set_curve(self.counts.lesion_pct())
        self.seriesShown.emit(info)
        self.study.apply_pending_item()  # the reading-list item's map, else the GAN map
        if self.localizer is not None:
            self.localization.start()
        elif self.localizer_error:
            self.view.set_overlay_note(NO_WEIGHTS)
            self.severity.show_message(NO_WEIGHTS)
            self.overlayReady.emit(self.view.index)
        else:
            self.view.set_overlay_note("waiting for the localizer…")
            if self._deferred_factory is None:  # deferred: both start once this is painted
                # the lungs do not depend on the model: segmented while it is built
                self.localization.prepare(self._localizer_factory)

    # =========================================================================== overlay
    def refresh_overlay(self) -> None:
        """Recompute the RGBA overlay of the shown slice (only that slice)."""
        i = self.session.index = self.view.index
        if self.voxels is None:
            return
        lesion_map, mask = self.study.shown_layers(i)
        if lesion_map is None:
            self.view.set_overlay(None)
            if self.localizer is not None:
                self.view.set_overlay_note("localizing this slice…" if self.pipeline is not None
                                           or self.store is None else "segmenting the lungs…")
                if self.pool.busy("loc"):
                    self.pool.get("loc").prioritize(i)
            self.severity_ctl.show_slice_numbers()
            return
        if self.overlay_visible:
            style = self.overlay_controls.style()
            lungs = self.pipeline.lungs(i) if style.show_lungs else None
            self.view.set_overlay(overlay_rgba(lesion_map, mask, style, lungs))
            note = (f"{self.study.map_note()}, " + ("lungs only" if self.restrict_to_lungs
                                                    else "whole slice")
                    + f"\nmask at threshold {self.threshold:.3f}")
        else:
            self.view.set_overlay(None)
            note = "overlay hidden (H)"
        self.view.set_overlay_note(note)
        self.severity_ctl.show_slice_numbers()
        self.overlayReady.emit(i)

    def _on_index_changed(self, i: int) -> None:
        self.study.drop_method_map_if_elsewhere(i)
        self.session.set_index(i)
        self.refresh_overlay()
        self.study.refresh_score_panel()

    def _settings_changed(self) -> None:
        """Threshold or lung restriction: the shown slice now, the series after a pause."""
        self.severity_ctl.count_shown_slice()
        self.refresh_overlay()
        self.severity_ctl.recount_timer.start()

    def set_severity_visible(self, on: bool) -> None:
        """Hide the severity numbers (a blinded item not scored yet, a slice outside an open
        blinded list); the Severity dock stays where it is and says why. While a blinded list
        is open the series line and curve stay hidden (they describe the GAN map)."""
        self.severity_visible = bool(on)
        panel = self.score_panel
        reason = "" if on or panel is None else (panel.severity_reason
                                                 or "hidden during blinded reading")
        series = "hidden during blinded reading" if panel is not None and panel.blinded else ""
        was_hidden = bool(self.severity.hidden_reason or self.severity.series_hidden_reason)
        self.severity.set_blinding(reason, series)
        if reason:
            return
        if was_hidden and not series and self.voxels is not None:
            self.severity_ctl.refresh_series_numbers()  # the series line and curve come back
        else:
            self.severity_ctl.show_slice_numbers()

    def escape(self) -> None:
        if self.pool.busy("scan", "load", "loc", "export"):
            self.cancel_work()
        else:
            self.refine.set_tool("none")
            self.tools.escape()

    # =========================================================================== work, close
    def _alive(self) -> bool:
        """False once the window is closing or deleted: late worker signals are dropped."""
        return not self._closed and not sip.isdeleted(self)

    def cancel_work(self) -> None:
        """Cancel scanning, reading and localization (what is done stays cached)."""
        self.pool.cancel("scan", "load", "lungs", "loc", "export")
        self._hide_progress()
        self.show_status("cancelled", 5000)
        if self.voxels is not None and self.store is not None and not self.store.has(self.view.index):
            self.view.set_overlay_note("localization cancelled")

    def _work_failed(self, msg: str, worker=None) -> None:
        self._hide_progress()
        self.study.pending_item = None  # a reading-list item whose series could not be read
        self.show_error(msg)
        if worker is None or worker is self.pool.get("load") or worker is self.pool.get("scan"):
            self.openFailed.emit(msg)
        if worker is not None and worker is self.pool.get("loc"):
            self.pool.release("loc")
            self.view.set_overlay_note(f"localization failed: {msg}")
            self.overlayReady.emit(self.view.index)

    def closeEvent(self, ev) -> None:
        if not self._closed:
            self._closed = True
            self.tools.close()  # cine and MPR timers stop before anything else
            self.pool.shut_down(self.CLOSE_WAIT_MS)
            self.session.close()
            if self.score_panel is not None:
                self.score_panel.close_store()  # every score is already committed
            # no more paints of the pyqtgraph views while Qt tears the window down: a hidden
            # view gets no paint events while its items are deleted; the severity plot is torn
            # down now, in order (PlotWidget.close removes its axes and view box)
            for gv in (self.view.graphics, self.severity.plot,
                       *(pv.graphics for pv in self.tools.mpr_panel.views.values())):
                gv.setUpdatesEnabled(False)
                gv.hide()
            self.severity.plot.close()
        super().closeEvent(ev)

    # =========================================================================== misc
    def export_dialog(self) -> None:
        self.exporter.dialog(self.opened_path)

    def show_help(self) -> None:
        HelpDialog(self).exec()

    def show_statistics(self) -> None:
        """View → Reader study statistics… (also the Reader study tab's "Statistics…"): the
        summary of the score database in a non-modal window, re-read after every score."""
        from viewer.ui.stats_panel import StatsDialog

        panel = self.score_panel
        db = panel.store.path if panel is not None and panel.store is not None else self._db_path
        if self.stats_dialog is None:
            dlg = self.stats_dialog = StatsDialog(db, self)
            if panel is not None:
                panel.scoreSaved.connect(
                    lambda _s: dlg.panel.refresh() if dlg.isVisible() else None)
        else:
            self.stats_dialog.panel.set_db_path(db)
        self.stats_dialog.show()
        self.stats_dialog.raise_()
        self.stats_dialog.activateWindow()

    def step_series(self, delta: int) -> None:
        info = self.browser.select_offset(delta)
        if info is not None:
            self.open_series(info)

    def dragEnterEvent(self, ev) -> None:
        if ev.mimeData().hasUrls():
            ev.acceptProposedAction()

    def dropEvent(self, ev) -> None:
        url = next((u for u in ev.mimeData().urls() if u.isLocalFile()), None)
        if url is not None:
            self.open_path(url.toLocalFile())
