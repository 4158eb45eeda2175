"""The reading-room main window: browser, slice view, overlay, severity, refine tools.

Flow: ``open_path`` scans in a worker thread and fills the series browser; ``open_series`` reads
the pixels in a worker; once they are in, ``LocalizeWorker`` segments the series' lungs once (in
3-D with the real spacing, ``viewer.core.lesion_layers.series_lungs``), then localizes the
current slice first and the rest of the series in the background, with a progress bar and
Cancel in the status bar. Masks and severity come from
``viewer.core.lesion_layers.LesionLayers`` (``SeverityMixin``), the same pipeline as
``main.py localize``. Maps and the lung mask are cached per series in memory and on disk
(``viewer.core.map_cache``). The overlay RGBA is computed for the displayed slice only. The
localizer itself is built in a worker at start; without weights the window says "no localizer
weights: overlay off" and works as a plain viewer.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
from PyQt6 import QtCore, QtGui, QtWidgets, sip

from viewer.core.lesion_layers import SeriesCounts
from viewer.core.map_cache import MapCache
from viewer.core.windowing import PRESETS
from viewer.ui.help_dialog import HelpDialog
from viewer.ui.overlay import overlay_rgba
from viewer.ui.overlay_controls import OverlayControls
from viewer.ui.pacs_dialog import open_from_pacs
from viewer.ui.reader_study_mixin import ReaderStudyMixin
from viewer.ui.refine_mixin import RefineMixin
from viewer.ui.refine_tools import RefineTools
from viewer.ui.series_browser import RecentItems, SeriesBrowser, split_skipped
from viewer.ui.severity_mixin import SeverityMixin
from viewer.ui.severity_panel import SeverityPanel
from viewer.ui.slice_view import SliceView, geometry_from_direction
from viewer.ui.workers import (CallWorker, LoadWorker, LocalizeWorker, disconnect_results,
                               retire)

NO_WEIGHTS = "no localizer weights: overlay off"


def default_localizer_factory(weights: str | None, device: str) -> Callable:
    """A factory building ``gan.inference.Localizer(weights, device)`` (imported lazily)."""

    def build(_progress=None):
        path = Path(weights) if weights else None
        from gan.inference import DEFAULT_WEIGHTS, Localizer

        target = path or DEFAULT_WEIGHTS
        if not target.is_file():
            raise FileNotFoundError(f"{target}: file not found")
        return Localizer(target, device=device)

    return build


class MainWindow(ReaderStudyMixin, RefineMixin, SeverityMixin, QtWidgets.QMainWindow):
    """Signals: ``seriesShown(info)`` once pixels are on screen, ``overlayReady(index)`` when
    the overlay of the shown slice is drawn (or known to be unavailable), ``localizerState(str)``."""

    seriesShown = QtCore.pyqtSignal(object)
    overlayReady = QtCore.pyqtSignal(int)
    localizerState = QtCore.pyqtSignal(str)
    exportFinished = QtCore.pyqtSignal(object)
    openFailed = QtCore.pyqtSignal(str)  # scanning or reading failed, or nothing loadable found
    CLOSE_WAIT_MS = 3000  # how long closing waits for each cancelled worker before retiring it

    def __init__(self, localizer_factory: Callable | None = None, cache: MapCache | None = None,
                 settings: QtCore.QSettings | None = None, score_panel: bool = True,
                 db_path: str | Path | None = None):
        """``settings``: QSettings for recent items and the score panel (None: the user's);
        ``db_path``: the reader-study score database (None: the user data folder)."""
        super().__init__()
        self.setWindowTitle("COVID-19 CT reading room")
        self.resize(1500, 950)
        self.setAcceptDrops(True)
        self.cache = cache or MapCache()
        self.recent = RecentItems(settings)
        self.localizer = None
        self.localizer_error = ""
        self.info = None
        self.voxels: np.ndarray | None = None
        self.store = None
        self.counts: SeriesCounts | None = None
        self.requested_slice: int | None = None
        self.threshold = 0.5
        self.restrict_to_lungs = True
        self.overlay_visible = True
        self.severity_visible = True
        self.edits = None
        self._restoring = False
        self.opened_path: Path | None = None
        self._series_voxel_ml = 0.0
        self._workers: list[QtCore.QThread] = []
        self.scan_worker = self.load_worker = self.loc_worker = self.stats_worker = None
        self.export_worker = None
        self.last_export = None
        self._closed = False
        self._with_score_panel = score_panel
        self._settings = settings
        self._db_path = db_path
        self._build_ui()
        self._build_shortcuts()
        self._timers: list[QtCore.QTimer] = []
        self._curve_timer = self._debounce(150, self._refresh_series_numbers)
        # threshold / restriction changes: the shown slice at once, the series after a pause
        self._recount_timer = self._debounce(250, self._recount_all)
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
        self.browser.seriesActivated.connect(self.open_series)
        self.browser.openRequested.connect(self.open_path)
        self.view.indexChanged.connect(self._on_index_changed)
        self.overlay_controls.styleChanged.connect(lambda _s: self.refresh_overlay())
        self.overlay_controls.visibleChanged.connect(self.set_overlay_visible)
        self.overlay_controls.thresholdChanged.connect(self.set_threshold)
        self.refine.thresholdChanged.connect(self.overlay_controls.set_threshold)
        self.refine.toolChanged.connect(self._on_tool)
        self.refine.restrictChanged.connect(self.set_restrict_to_lungs)
        self.refine.undoRequested.connect(self.undo_edit)
        self.refine.redoRequested.connect(self.redo_edit)
        self.view.paintStarted.connect(self._paint_start)
        self.view.paintMoved.connect(self._paint_move)
        self.view.paintFinished.connect(self._paint_end)
        self.severity.sliceClicked.connect(self.view.set_index)
        # status bar: message, progress, cancel, device
        sb = self.statusBar()
        self.progress = QtWidgets.QProgressBar(self)
        self.progress.setMaximumWidth(260)
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.cancel_button = QtWidgets.QPushButton("Cancel", self)
        self.cancel_button.clicked.connect(self.cancel_work)
        self.cancel_button.hide()
        self.device_label = QtWidgets.QLabel("localizer: loading…", self)
        sb.addPermanentWidget(self.progress)
        sb.addPermanentWidget(self.cancel_button)
        sb.addPermanentWidget(self.device_label)
        self._build_menus()
        self._dock_score_panel()

    def _build_menus(self) -> None:
        m = self.menuBar().addMenu("&File")
        a = m.addAction("Open file…", self.open_file_dialog)
        a.setShortcut(QtGui.QKeySequence("Ctrl+O"))
        a = m.addAction("Open folder…", self.open_folder_dialog)
        a.setShortcut(QtGui.QKeySequence("Ctrl+Shift+O"))
        m.addAction("Open from PACS…", lambda: open_from_pacs(self))
        self.recent_menu = m.addMenu("Open recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        a = m.addAction("Export map and mask…", self.export_dialog)
        a.setShortcut(QtGui.QKeySequence("Ctrl+E"))
        m.addSeparator()
        m.addAction("Quit", self.close).setShortcut(QtGui.QKeySequence("Ctrl+Q"))
        v = self.menuBar().addMenu("&View")
        for i, p in enumerate(PRESETS.values(), start=1):
            v.addAction(f"{p.name.capitalize()} window W{p.width:.0f}/L{p.level:.0f}\t{i}",
                        lambda p=p: self.apply_preset(p.name))
        for d in self.docks.values():
            v.addAction(d.toggleViewAction())
        h = self.menuBar().addMenu("&Help")
        h.addAction("Keyboard shortcuts\tF1", self.show_help)

    def _build_shortcuts(self) -> None:
        def sc(keys, fn):
            s = QtGui.QShortcut(QtGui.QKeySequence(keys), self)
            s.setContext(QtCore.Qt.ShortcutContext.WindowShortcut)
            s.activated.connect(fn)
            return s

        v = self.view
        for keys, d in (("Left", -1), ("Up", -1), ("Right", 1), ("Down", 1),
                        ("PgUp", -10), ("PgDown", 10)):
            sc(keys, lambda d=d: v.step(d))
        sc("Home", lambda: v.set_index(0))
        sc("End", lambda: v.set_index(v.n_slices - 1))
        sc("H", self.overlay_controls.toggle_visible)
        sc("F", v.fit)
        sc("+", lambda: v.zoom(1.25))
        sc("=", lambda: v.zoom(1.25))
        sc("-", lambda: v.zoom(0.8))
        for i, name in enumerate(PRESETS, start=1):
            sc(str(i), lambda n=name: self.apply_preset(n))
        sc("B", lambda: self.refine.set_tool("brush"))
        sc("E", lambda: self.refine.set_tool("eraser"))
        sc("Esc", self._escape)
        sc("Ctrl+Z", self.undo_edit)
        sc("Ctrl+Shift+Z", self.redo_edit)
        sc("Ctrl+Y", self.redo_edit)
        sc("N", lambda: self._step_series(1))
        sc("P", lambda: self._step_series(-1))
        sc("F1", self.show_help)

    def _dock_score_panel(self) -> None:
        """Dock the reader-study score panel, tabbed behind the series browser. While it is
        raised (and a reader is set, its "keys" box ticked) it takes keys 1–5 and N."""
        self.score_panel = None
        if not self._with_score_panel:
            return
        from viewer.ui.score_panel import ScorePanel

        self.score_panel = ScorePanel(self.score_context, db_path=self._db_path,
                                      settings=self._settings, parent=self)
        dock = QtWidgets.QDockWidget("Reader study", self)
        dock.setObjectName("dock_scores")
        dock.setWidget(self.score_panel)
        self.addDockWidget(QtCore.Qt.DockWidgetArea.LeftDockWidgetArea, dock)
        self.tabifyDockWidget(self.docks["browser"], dock)
        self.docks["browser"].raise_()
        self.docks["scores"] = dock
        self.score_panel.requestItem.connect(self.open_item)
        self.score_panel.severityVisibilityChanged.connect(self.set_severity_visible)
        self.score_panel.scoreKeysActiveChanged.connect(self._score_keys_changed)

    def _score_keys_changed(self, on: bool) -> None:
        if on:
            self.statusBar().showMessage("reader study: keys 1–5 score and N goes to the next "
                                         "unscored item (window presets and next series: menus)",
                                         8000)

    # =========================================================================== localizer
    def _start_localizer(self, factory: Callable | None) -> None:
        if factory is None:
            self.localizer_error = NO_WEIGHTS
            self.device_label.setText(NO_WEIGHTS)
            return
        w = CallWorker(factory, "localizer", self)
        self._on(w.succeeded, self._localizer_ready)
        self._on(w.failed, self._localizer_failed)
        self._keep(w)
        w.start()

    def _localizer_ready(self, loc) -> None:
        self.localizer = loc
        self._restoring = True  # the model's threshold is not an annotator setting
        try:
            self.overlay_controls.set_model_threshold(float(loc.threshold))
        finally:
            self._restoring = False
        self.threshold = self.overlay_controls.threshold_value()
        self._restore_settings()
        self.device_label.setText(f"localizer on {loc.device}")
        self.localizerState.emit("ready")
        if self.voxels is not None and self.loc_worker is None:
            self._start_localization()

    def _localizer_failed(self, msg: str) -> None:
        self.localizer_error = f"{NO_WEIGHTS} ({msg})"
        import sys

        print(f"warning: {self.localizer_error}", file=sys.stderr)
        self.device_label.setText(NO_WEIGHTS)
        self.device_label.setToolTip(msg)
        self.statusBar().showMessage(self.localizer_error, 15000)
        self.view.set_overlay_note(NO_WEIGHTS)
        self.severity.show_message(NO_WEIGHTS)
        self.localizerState.emit("failed")
        if self.voxels is not None:
            self.overlayReady.emit(self.view.index)

    # =========================================================================== opening
    def open_file_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Open CT file")
        if path:
            self.open_path(path)

    def open_folder_dialog(self) -> None:
        path = QtWidgets.QFileDialog.getExistingDirectory(self, "Open folder")
        if path:
            self.open_path(path)

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        paths = self.recent.paths()
        if not paths:
            self.recent_menu.addAction("(none)").setEnabled(False)
        for p in paths:
            self.recent_menu.addAction(p, lambda p=p: self.open_path(p))

    def open_path(self, path: str | Path, slice_index: int | None = None) -> None:
        """Scan a file or folder in the background and show its first series."""
        p = Path(path).expanduser()
        if not p.exists():
            self.show_error(f"{p}: no such file or folder")
            return
        self.requested_slice = slice_index
        self.opened_path = p
        self.recent.add(p)
        from viewer.io import scan_path

        self._cancel_worker("scan_worker")
        w = CallWorker(lambda progress: scan_path(p, progress=progress), "scan", self)
        self._on(w.progressed, lambda d, t: self._show_progress("Scanning", d, t))
        self._on(w.succeeded, lambda result: self._scan_done(result, p))
        self._on(w.failed, lambda msg: self._work_failed(f"{p}: {msg}"))
        self._on(w.cancelled, self._work_cancelled)
        self.scan_worker = self._keep(w)
        self.statusBar().showMessage(f"Scanning {p}…")
        w.start()

    def _scan_done(self, result, path: Path) -> None:
        self.scan_worker = None
        self._hide_progress()
        self.browser.set_scan(result.series, result.skipped, str(path))
        problems, _ignored = split_skipped(result.skipped)
        if problems:
            first = problems[0].message()
            more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
            self.statusBar().showMessage(f"skipped {first}{more}", 15000)
        if not result.series:
            msg = f"{path}: no CT series or pictures found"
            if problems:
                msg += f" ({len(problems)} skipped; first: {problems[0].message()})"
            self.show_error(msg)
            self.openFailed.emit(msg)
            return
        self.open_series(result.series[0])

    def open_series(self, info) -> None:
        """Read the pixels of ``info`` (a SeriesInfo) in the background, then show them."""
        if info is self.info and self.voxels is not None:
            return
        self._cancel_worker("load_worker")
        self._cancel_worker("loc_worker")
        self._cancel_worker("stats_worker")
        self.browser.select(info)
        w = LoadWorker(info, self)
        self._on(w.progressed, lambda d, t: self._show_progress("Reading", d, t))
        self._on(w.loaded, lambda vox, info=info: self._series_loaded(info, vox))
        self._on(w.failed, lambda msg, w=w: self._work_failed(msg, w))
        self._on(w.cancelled, self._work_cancelled)
        self.load_worker = self._keep(w)
        self.statusBar().showMessage(f"Reading {info.n_slices} slice(s)…")
        w.start()

    def _series_loaded(self, info, voxels: np.ndarray) -> None:
        self.load_worker = None
        self._hide_progress()
        self.info, self.voxels = info, voxels
        self.store = None
        self.pipeline = None
        self.severity.set_notes([])
        self.counts = SeriesCounts.empty(voxels.shape[0])
        pictures = info.source_kind == "pictures"  # no physical geometry: no mm, no ml
        self._series_voxel_ml = None if pictures else float(np.prod(info.spacing)) / 1000.0
        self.edits = self._make_edits(info, voxels.shape)
        self._restore_settings()
        positions = [r.position[2] if r.position is not None else None for r in info.refs]
        geo = geometry_from_direction(None if pictures else info.direction, info.spacing,
                                      [None] * len(positions) if pictures else positions)
        if pictures:
            geo.thickness_mm = None
        title = " · ".join(t for t in (info.patient_name or info.patient_id,
                                       info.series_description) if t)
        start = self.requested_slice
        self.requested_slice = None
        if start is not None and not 0 <= start < voxels.shape[0]:
            last = voxels.shape[0] - 1
            msg = f"--slice {start}: outside 0..{last}; showing slice {last} (the last)"
            import sys

            print(f"warning: {msg}", file=sys.stderr)
            self.statusBar().showMessage(msg, 15000)
            start = last if start > last else 0
        self.view.set_volume(voxels, info.is_hu, geo, index=start, title=title)
        self.setWindowTitle(f"{title or info.key} — COVID-19 CT reading room")
        self.severity.set_curve(self.counts.lesion_pct())
        if info.warnings:
            self.statusBar().showMessage(f"{info.key}: {info.warnings[0]}", 15000)
        else:
            self.statusBar().showMessage(f"{info.n_slices} slice(s) read", 5000)
        self.seriesShown.emit(info)
        self._apply_pending_item()  # the reading-list item's map, else the GAN map
        if self.localizer is not None:
            self._start_localization()
        elif self.localizer_error:
            self.view.set_overlay_note(NO_WEIGHTS)
            self.severity.show_message(NO_WEIGHTS)
            self.overlayReady.emit(self.view.index)
        else:
            self.view.set_overlay_note("waiting for the localizer…")

    # =========================================================================== localization
    def _start_localization(self) -> None:
        info, loc, vox = self.info, self.localizer, self.voxels
        self.series_notes = []
        self.store = self.cache.store(info.key, str(loc.weights_hash)[:16], vox.shape)
        if self.store.warning:
            self.statusBar().showMessage(self.store.warning, 15000)
        self._build_pipeline()  # None until the worker has segmented the series' lungs
        self._recount_all()
        self.refresh_overlay()
        self._refresh_score_panel()
        if self.store.is_complete():
            from viewer.core.lesion_layers import localizer_plan, plan_notes

            # the maps are cached; the notes about the input are cheap to make again
            self.series_notes = plan_notes(localizer_plan(loc, vox, info.is_hu, self.store.lungs()))
            if self.pipeline is not None:
                self.pipeline.add_notes(self.series_notes)
                self.severity.set_notes(self.pipeline.notes)
            self.statusBar().showMessage("lesion maps from the cache", 5000)
            return
        from viewer.core.lesion_layers import (localize_with_plan, localizer_plan, physical_spacing,
                                               plan_notes, series_lungs)

        is_hu = info.is_hu
        # one lung mask per series, as `localize` makes it (pictures: no physical spacing)
        spacing = physical_spacing(info)
        store_now = self.store
        plan_box: dict = {}
        notes = self.series_notes = []  # the model's notes about this series' input

        def localize(sl):  # worker thread; the plan is made once, from the series' lungs
            if "plan" not in plan_box:
                plan_box["plan"] = localizer_plan(loc, vox, is_hu, store_now.lungs())
                notes.extend(plan_notes(plan_box["plan"]))
            return localize_with_plan(loc, sl, is_hu, plan_box["plan"])

        def segment(volume):
            return series_lungs(volume, is_hu, spacing)

        w = LocalizeWorker(vox, self.store, localize, segment, start=self.view.index, parent=self)
        store = self.store  # a worker cancelled by a series switch must not touch the new one
        self._on(w.lungsReady, lambda: self._lungs_ready() if store is self.store else None)
        self._on(w.sliceReady, lambda i: self._slice_ready(i) if store is self.store else None)
        self._on(w.progressed, lambda d, t: self._show_progress(f"Localizing on {loc.device}", d, t)
                             if store is self.store else None)
        self._on(w.completed, lambda: self._localization_done() if store is self.store else None)
        self._on(w.cancelled, self._work_cancelled)
        self._on(w.failed, lambda msg, w=w: self._work_failed(msg, w))
        self.loc_worker = self._keep(w)
        self.view.set_overlay_note("localizing…")
        w.start()

    def _lungs_ready(self) -> None:
        if self.pipeline is None:
            self._build_pipeline()
            self._recount_all()
            self.refresh_overlay()

    def _slice_ready(self, i: int) -> None:
        if self.store is None or self.voxels is None or i >= self.voxels.shape[0]:
            return
        self._count_slice(i)
        self._curve_timer.start()
        if i == self.view.index:
            self.refresh_overlay()

    def _localization_done(self) -> None:
        self.loc_worker = None
        self._hide_progress()
        self._refresh_series_numbers()
        self.statusBar().showMessage("series localized", 5000)

    # =========================================================================== overlay
    def refresh_overlay(self) -> None:
        """Recompute the RGBA overlay of the shown slice (only that slice)."""
        i = self.view.index
        if self.voxels is None:
            return
        lesion_map, mask = self.shown_layers(i)
        if lesion_map is None:
            self.view.set_overlay(None)
            if self.localizer is not None:
                self.view.set_overlay_note("localizing this slice…" if self.pipeline is not None
                                           or self.store is None else "segmenting the lungs…")
                if self.loc_worker is not None:
                    self.loc_worker.prioritize(i)
            self._show_slice_numbers()
            return
        if self.overlay_visible:
            style = self.overlay_controls.style()
            lungs = self.pipeline.lungs(i) if style.show_lungs else None
            self.view.set_overlay(overlay_rgba(lesion_map, mask, style, lungs))
            note = (f"{self.map_note()}, " + ("lungs only" if self.restrict_to_lungs
                                               else "whole slice")
                    + f"\nmask at threshold {self.threshold:.3f}")
        else:
            self.view.set_overlay(None)
            note = "overlay hidden (H)"
        self.view.set_overlay_note(note)
        self._show_slice_numbers()
        self.overlayReady.emit(i)

    def _on_index_changed(self, i: int) -> None:
        self._drop_method_map_if_elsewhere(i)
        self.refresh_overlay()
        self._refresh_score_panel()

    def set_overlay_visible(self, on: bool) -> None:
        self.overlay_visible = bool(on)
        if self.overlay_controls.visible_box.isChecked() != on:
            self.overlay_controls.visible_box.setChecked(on)
        self.refresh_overlay()

    def set_threshold(self, t: float) -> None:
        self.threshold = float(t)
        self.refine.set_threshold(self.threshold)
        if self.edits is not None and not self._restoring and self.localizer is not None:
            self.edits.set_setting("threshold", self.threshold)
        self._series_settings_changed()

    def _series_settings_changed(self) -> None:
        if self.store is not None and self.store.has(self.view.index):
            self._count_slice(self.view.index)
        self.refresh_overlay()
        self._recount_timer.start()

    def set_restrict_to_lungs(self, on: bool) -> None:
        self.restrict_to_lungs = bool(on)
        if self.edits is not None and not self._restoring:
            self.edits.set_setting("restrict_to_lungs", self.restrict_to_lungs)
        self.severity.note_label.setVisible(on)
        self._series_settings_changed()

    def set_severity_visible(self, on: bool) -> None:
        """Hide severity numbers (e.g. while a blinded reader scores)."""
        self.severity_visible = bool(on)
        self.docks["severity"].setVisible(on)

    def apply_preset(self, name: str) -> None:
        p = PRESETS[name]
        self.view.set_window(p.width, p.level, p.name)

    def _escape(self) -> None:
        if any(w is not None for w in (self.scan_worker, self.load_worker, self.loc_worker,
                                       self.export_worker)):
            self.cancel_work()
        else:
            self.refine.set_tool("none")

    # =========================================================================== workers
    def _alive(self) -> bool:
        """False once the window is closing or deleted: late worker signals are dropped."""
        return not self._closed and not sip.isdeleted(self)

    def _on(self, signal, fn) -> None:
        """Connect a worker signal to ``fn`` (a plain callable): queued calls that arrive after
        the window closed are ignored instead of touching deleted widgets."""
        signal.connect(lambda *args: fn(*args) if self._alive() else None)

    def _debounce(self, ms: int, fn) -> QtCore.QTimer:
        """A single-shot timer of the window calling ``fn`` (only while the window is alive);
        ``closeEvent`` stops it, so nothing fires into a closed window."""
        t = QtCore.QTimer(self, singleShot=True, interval=ms)
        t.timeout.connect(lambda: fn() if self._alive() else None)
        self._timers.append(t)
        return t

    def _keep(self, w: QtCore.QThread) -> QtCore.QThread:
        self._workers.append(w)
        w.finished.connect(lambda w=w: self._workers.remove(w) if w in self._workers else None)
        return w

    def _cancel_worker(self, attr: str) -> None:
        w = getattr(self, attr)
        if w is not None:
            w.cancel()
            setattr(self, attr, None)

    def cancel_work(self) -> None:
        """Cancel scanning, reading and localization (what is done stays cached)."""
        for attr in ("scan_worker", "load_worker", "loc_worker", "export_worker"):
            self._cancel_worker(attr)
        self._hide_progress()
        self.statusBar().showMessage("cancelled", 5000)
        if self.voxels is not None and self.store is not None and not self.store.has(self.view.index):
            self.view.set_overlay_note("localization cancelled")

    def _work_cancelled(self) -> None:
        self._hide_progress()

    def _work_failed(self, msg: str, worker=None) -> None:
        self._hide_progress()
        self._pending_item = None  # a reading-list item whose series could not be read
        self.show_error(msg)
        if worker is None or worker is self.load_worker or worker is self.scan_worker:
            self.openFailed.emit(msg)
        if worker is not None and worker is self.loc_worker:
            self.loc_worker = None
            self.view.set_overlay_note(f"localization failed: {msg}")
            self.overlayReady.emit(self.view.index)

    def _show_progress(self, what: str, done: int, total: int) -> None:
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)
        self.progress.setFormat(f"{what} %v/%m")
        self.progress.show()
        self.cancel_button.show()

    def _hide_progress(self) -> None:
        self.progress.hide()
        self.cancel_button.hide()

    def show_error(self, msg: str) -> None:
        """One-line message in the status bar (and on stderr), never a crash."""
        import sys

        print(f"error: {msg}", file=sys.stderr)
        self.statusBar().showMessage(f"error: {msg}", 20000)

    def wait_for_workers(self, ms: int = 5000) -> None:
        for w in list(self._workers):
            w.wait(ms)

    def closeEvent(self, ev) -> None:
        if self._closed:
            super().closeEvent(ev)
            return
        self._closed = True
        self._shut_down_work()
        if self.edits is not None:
            self.edits.close()
        if self.score_panel is not None:
            self.score_panel.close_store()  # every score is already committed
        # no more paints of the pyqtgraph views while Qt tears the window down
        for gv in (self.view.graphics, self.severity.plot):
            gv.setUpdatesEnabled(False)
            gv.hide()  # a hidden view gets no paint events while its items are deleted
        # tear the severity plot down now, in order (PlotWidget.close removes its axes and
        # view box), rather than leave it to the window's deletion under pending paint events
        self.severity.plot.close()
        super().closeEvent(ev)

    def _shut_down_work(self) -> None:
        """Stop the debounce timers, cancel every worker, cut its signals to this window and
        wait for it a little; one still running is retired (kept alive, without parent, until
        its thread ends) so the window's deletion never destroys a running thread."""
        for t in self._timers:
            t.stop()
        for attr in ("scan_worker", "load_worker", "loc_worker", "stats_worker", "export_worker"):
            self._cancel_worker(attr)
        workers = list(self._workers)
        for w in workers:
            getattr(w, "cancel", lambda: None)()
            disconnect_results(w)
        for w in workers:
            w.wait(self.CLOSE_WAIT_MS)
        for w in workers:
            retire(w)

    # =========================================================================== export
    def export_dialog(self) -> None:
        """Ask what to export, then run it (see ``run_export``)."""
        if self.store is None or not self.store.has(self.view.index):
            self.show_error("export: the shown slice has no lesion map yet")
            return
        from viewer.ui.export_dialog import ExportDialog

        default = self._default_export_dir()
        dlg = ExportDialog(default, self.info.source_kind == "dicom", self.store.is_complete(),
                           self)
        if dlg.exec() != QtWidgets.QDialog.DialogCode.Accepted:
            return
        try:
            request = dlg.request(self.view.index, **self._export_provenance())
        except ValueError as exc:
            self.show_error(str(exc))
            return
        self.run_export(request)

    def _default_export_dir(self) -> Path:
        """``<study>.export`` beside the opened file or folder when writable (not for the bundled
        sample), else ``~/covid-ct-exports``."""
        import os

        base = Path(self.opened_path or Path.home()).resolve()
        samples = (Path(__file__).resolve().parents[2] / "resources" / "samples").resolve()
        if base != samples and samples not in base.parents and os.access(base.parent, os.W_OK):
            return base.parent / f"{base.name}.export"
        return Path.home() / "covid-ct-exports"

    def _export_provenance(self) -> dict:
        loc = self.localizer
        return {"model_name": str(getattr(loc, "model_name", "GAN localizer")),
                "weights_hash": str(getattr(loc, "weights_hash", "unknown")),
                "threshold": self.threshold}

    def run_export(self, request) -> None:
        """Write ``request`` (an ExportRequest) in a worker; the result goes to the status bar."""
        from viewer.export.series_export import export_formats
        from viewer.io.series import Volume
        from viewer.ui.export_dialog import export_arrays

        info, vox = self.info, self.voxels
        if request.indices is None and not self.store.is_complete():
            self.show_error(f"export: localization not finished ({self.store.n_done()}/"
                            f"{vox.shape[0]} slices); export the current slice or wait")
            return
        volume = Volume(voxels=vox, is_hu=info.is_hu, spacing=info.spacing, origin=info.origin,
                        direction=info.direction, refs=info.refs, info=info)

        def job(progress):
            maps, masks = export_arrays(vox.shape[0], vox.shape[1:], request.indices,
                                        self.lesion_layers)
            return export_formats(request, volume, maps, masks, progress=progress)

        w = CallWorker(job, "export", self)
        self._on(w.progressed, lambda d, t: self._show_progress("Exporting", d, t))
        self._on(w.succeeded, lambda report: self._export_done(report, request.out_dir))
        self._on(w.failed, lambda msg, w=w: self._work_failed(msg, w))
        self._on(w.cancelled, self._work_cancelled)
        self.export_worker = self._keep(w)
        w.start()

    def _export_done(self, report, out_dir: Path) -> None:
        self.export_worker = None
        self._hide_progress()
        self.last_export = report
        msg = f"exported {len(report.written)} item(s) to {out_dir}"
        if report.errors:
            self.show_error(f"{msg}; failed: {'; '.join(report.errors)}")
        else:
            self.statusBar().showMessage(msg, 15000)
        self.exportFinished.emit(report)

    # =========================================================================== misc
    def show_help(self) -> None:
        HelpDialog(self).exec()

    def _step_series(self, delta: int) -> None:
        info = self.browser.select_offset(delta)
        if info is not None:
            self.open_series(info)

    def dragEnterEvent(self, ev) -> None:
        if ev.mimeData().hasUrls():
            ev.acceptProposedAction()

    def dropEvent(self, ev) -> None:
        for url in ev.mimeData().urls():
            if url.isLocalFile():
                self.open_path(url.toLocalFile())
                break
