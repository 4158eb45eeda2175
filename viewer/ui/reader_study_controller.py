"""The reader study's controller: what the score panel records (``score_context``), showing a
reading-list item (``open_item``) with the map of its method, and which map is on screen
(``map_method``).

Maps other than the GAN's are shown for the item's slice only: ``gradcam``, ``msgradcam`` and
``smoothgrad`` are computed with :class:`viewer.core.cam_maps.CamMapComputer` from
``resources/weights/classifier.safetensors`` in a background ``CallWorker`` (once per series,
slice and method, kept in memory); while one is computed the status bar shows
"computing … map…", no overlay is drawn and ``score_context`` is empty, so no score can go to a
map that is not on screen. A result that comes back after the reader moved to another item,
slice or series is kept in the cache but not shown. ``import:<name>`` maps are read from the
item's ``map_path``. Scrolling to another slice or opening another series goes back to the GAN
map. While a blinded list is open the method name is never shown (overlay note, status
messages), whether the item was opened from the list or scrolled to.

A list's display settings (``ReadingList.display``) are fixed while the list is open
(``fix_display(settings or None)``, the window's); what is on screen (``display_state()``) is
recorded with every score. The severity numbers of an item come from the map shown
(``shown_numbers``); its cohort from the list, else from the GAN map at the list's threshold.
A brief note on the image confirms every saved score (``flash``).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from PyQt6 import QtCore, QtWidgets

from gan.map_methods import CAM_METHODS, GAN, IMPORT_PREFIX
from gan.resources import CLASSIFIER_WEIGHTS
from viewer.core.cam_maps import CamMapComputer
from viewer.core.reading_session import ReadingSession
from viewer.ui.series_browser import SeriesBrowser
from viewer.ui.slice_view import SliceView
from viewer.ui.work_pool import WorkPool
from viewer.ui.workers import CallWorker

__all__ = ["CAM_METHODS", "CLASSIFIER_WEIGHTS", "ReaderStudyController"]

# CAM workers still running; held here (not by the window) so a window closed mid-computation
# never destroys a running thread
_RUNNING_CAM_WORKERS: set = set()


class ReaderStudyController:
    """Reading-list items and their maps over ``session``.

    ``status_bar``: the window's QStatusBar; ``open_series(info, slice_index)`` opens another
    series of the browser; ``show_error(text)``; ``redraw()`` recomputes the shown overlay.
    ``score_panel`` (a ScorePanel or None) is set once it is docked.
    """

    def __init__(self, session: ReadingSession, view: SliceView, browser: SeriesBrowser,
                 status_bar: QtWidgets.QStatusBar, pool: WorkPool,
                 open_series: Callable, show_error: Callable[[str], None],
                 redraw: Callable[[], None], display_state: Callable[[], dict] | None = None,
                 fix_display: Callable | None = None):
        self.display_state, self.fix_display = display_state, fix_display
        self.fixed_display = None  # the list's DisplaySettings in force, or None
        self.canvas_note: QtWidgets.QLabel | None = None
        self.session, self.view, self.browser = session, view, browser
        self.status_bar, self.pool = status_bar, pool
        self.open_series, self.show_error, self.redraw = open_series, show_error, redraw
        self.score_panel = None
        self.map_method = GAN     # method of the map on screen
        self.method_map = None    # (series key, slice index, method, float32 (y, x) map) or None
        self.blinded = False
        self.pending_item = None  # item waiting for its series to be read
        self.cam_computer: CamMapComputer | None = None
        self.cam_cache: dict = {}
        self.cam_request = None   # (series key, slice index, method, item) being computed
        self.cam_busy_label = None

    @property
    def blind(self) -> bool:
        """True while the item on screen is blinded or a blinded list is open."""
        p = self.score_panel
        return bool(self.blinded or (p is not None and p.blinded))

    @property
    def info(self):
        return self.session.info

    @property
    def voxels(self):
        return self.session.voxels

    # ------------------------------------------------------------------ score panel
    def dock_score_panel(self, window: QtWidgets.QMainWindow, settings, db_path):
        """Dock the reader-study score panel in ``window``, tabbed behind its series browser
        (``window.docks["browser"]``), and return it. While it is raised (and a reader is
        set, its "keys" box ticked) it takes keys 1–5 and N."""
        from PyQt6 import QtCore

        from viewer.ui.score_panel import ScorePanel

        panel = self.score_panel = ScorePanel(self.score_context, db_path=db_path,
                                              settings=settings, parent=window)
        dock = QtWidgets.QDockWidget("Reader study", window)
        dock.setObjectName("dock_scores")
        dock.setWidget(panel)
        window.addDockWidget(QtCore.Qt.DockWidgetArea.LeftDockWidgetArea, dock)
        window.tabifyDockWidget(window.docks["browser"], dock)
        window.docks["browser"].raise_()
        window.docks["scores"] = dock
        panel.requestItem.connect(self.open_item)
        panel.canvasNote.connect(self.flash)
        panel.scoreKeysActiveChanged.connect(
            lambda on: on and self.status_bar.showMessage(
                "reader study: keys 1–5 score the item on screen and N goes to the next "
                "unscored item (window presets and next series: menus)", 8000))
        # raised or lowered behind another tab: say whether the keys score now
        dock.visibilityChanged.connect(
            lambda _on: panel.scoreKeysActiveChanged.emit(panel.score_keys_active()))
        return panel

    def flash(self, text: str, ms: int = 2500) -> None:
        """A brief note at the top of the image ("Saved: 4"); hidden after ``ms``."""
        if self.canvas_note is None:
            lab = self.canvas_note = QtWidgets.QLabel(self.view)
            lab.setObjectName("canvas_note")
            lab.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
            lab.setStyleSheet("QLabel { color: white; background: rgba(30, 120, 40, 210); "
                              "border-radius: 6px; font-size: 18px; font-weight: bold; "
                              "padding: 6px 14px; }")
            # the timer is the label's child: it dies with the window, never fires after
            self._note_timer = QtCore.QTimer(lab, singleShot=True)
            self._note_timer.timeout.connect(lab.hide)
        lab = self.canvas_note
        lab.setText(text)
        lab.adjustSize()
        lab.move(max(0, (self.view.width() - lab.width()) // 2), 34)
        lab.raise_()
        lab.show()
        self._note_timer.start(ms)

    def score_context(self) -> dict:
        """What the score panel records with a score: the shown series, slice and map method,
        and the severity category of the slice (None until its GAN map is in). Empty while
        nothing is shown or while a requested item's series is being read."""
        info, i = self.info, self.view.index
        if info is None or self.voxels is None:
            return {}
        if self.pending_item is not None:  # a reading-list item's series is being read:
            return {}                       # what is on screen is about to change
        if self.cam_request is not None:   # the item's map is not on screen yet
            return {}
        ref = info.refs[i]
        ctx = {"study_uid": info.study_uid, "series_uid": info.series_uid or info.key,
               "slice_index": i, "method": self.map_method or GAN, "severity_category": None}
        if ref.sop_instance_uid:
            ctx["sop_instance_uid"] = ref.sop_instance_uid
        else:
            from viewer.study.score_store import image_hash

            ctx["image_hash"] = image_hash(self.voxels[i])
        t = self.cohort_threshold()
        ctx["severity_category"] = (self.session.reference_category(i, t) if t is not None
                                    else self.session.severity_category(i))
        if self.display_state is not None:
            ctx["display"] = self.display_state()
        return ctx

    def cohort_threshold(self) -> float | None:
        """The threshold a list item's cohort is computed at: the list's, or for a list
        without display settings the localizer's operating threshold; never the reader's
        own. None without a list (free scoring: the category on screen)."""
        fixed = self._list_display()
        if fixed is not None:
            return fixed.threshold
        p, loc = self.score_panel, self.session.localizer
        if p is not None and p.reading_list is not None and loc is not None:
            return float(getattr(loc, "threshold", self.session.threshold))
        return None

    def _list_display(self):
        p = self.score_panel
        rl = p.reading_list if p is not None else None
        return rl.display if rl is not None else None

    def shown_numbers(self, i: int):
        """Severity numbers of the map on screen when it is an item's own map (not the
        GAN's), else None (the GAN numbers apply)."""
        e = self.method_map
        if e is None or self.info is None or e[0] != self.info.key or e[1] != i \
                or self.session.pipeline is None:
            return None
        return self.session.map_numbers(i, e[3]) or "no lungs"

    def refresh_score_panel(self) -> None:
        if self.score_panel is not None:
            self.score_panel.refresh()
            fixed = self._list_display()
            if fixed != self.fixed_display and self.fix_display is not None:
                self.fixed_display = fixed
                self.fix_display(fixed)

    # ------------------------------------------------------------------ reading-list items
    def open_item(self, item: dict) -> None:
        """Show slice ``slice_index`` of series ``series_uid`` with the map ``method`` (a
        reading-list item, see ``ScorePanel.requestItem``)."""
        uid = item.get("series_uid")
        match = next((s for s in self.browser.series()
                      if uid and (s.series_uid or s.key) == uid), None)
        if match is None:
            self.show_error(f"reading-list item: series {uid} is not open in the browser")
            return
        idx = item.get("slice_index")
        if match is self.info and self.voxels is not None:
            self.pending_item = None
            if idx is not None:
                self.view.set_index(int(idx))
            self._show_item_method(item)
            return
        self.pending_item = item
        self.open_series(match, int(idx) if idx is not None else None)

    def apply_pending_item(self) -> None:
        """Called once a series is on screen: the waiting item's map, else the GAN map."""
        item, self.pending_item = self.pending_item, None
        info = self.info
        if item is not None and (info.series_uid or info.key) == item.get("series_uid"):
            self._show_item_method(item)
        else:
            self._set_method_map(None)

    def _show_item_method(self, item: dict) -> None:
        method = str(item.get("method") or GAN)
        self.blinded = bool(item.get("blinded"))
        self._end_cam_request()  # a newer item replaces one still being computed
        if method == GAN:
            self._set_method_map(None)
            return
        i = self.view.index
        if method in CAM_METHODS:
            self._request_cam_map(item, method, i)
            return
        try:
            if method.startswith(IMPORT_PREFIX):
                from viewer.study.reading_list import load_imported_map

                if not item.get("map_path"):
                    raise ValueError("the item names no map file")
                m = load_imported_map(item["map_path"], shape=self.voxels.shape[1:])
            else:
                raise ValueError(f"unknown method {method!r}")
        except Exception as exc:  # noqa: BLE001 (a missing file or weights must not crash)
            self._item_map_failed(item, method, str(exc))
            return
        self._set_method_map((self.info.key, i, method, np.asarray(m, dtype=np.float32)))

    def _item_map_failed(self, item: dict, method: str, msg: str) -> None:
        what = "the item's map" if self.blind else f"the {method} map"
        detail = "" if self.blind else f": {msg}"
        self.show_error(f"reading-list item {item.get('code', '')}: {what} could not be "
                        f"shown{detail}; showing the GAN map")
        self._set_method_map(None)

    def _request_cam_map(self, item: dict, method: str, i: int) -> None:
        """Show the Grad-CAM / multi-scale Grad-CAM / SmoothGrad map of slice ``i`` (float32
        (y, x) in [0, 1]): from the cache at once, else computed in a background worker; until
        it is in, no overlay is drawn and scoring is off."""
        key = (self.info.key, i, method)
        if key in self.cam_cache:
            self._set_method_map((*key, self.cam_cache[key]))
            return
        if self.cam_computer is None:
            self.cam_computer = CamMapComputer(CLASSIFIER_WEIGHTS, device="auto")
        self.method_map = None
        self.map_method = method
        self.cam_request = (*key, item)
        self._show_cam_busy(method)
        computer, sl, is_hu = self.cam_computer, self.voxels[i], self.info.is_hu
        w = CallWorker(lambda progress: computer.compute(sl, is_hu, method, progress), "cam")
        _RUNNING_CAM_WORKERS.add(w)
        w.finished.connect(lambda w=w: _RUNNING_CAM_WORKERS.discard(w))
        self.pool.on(w.succeeded, lambda m, key=key: self._cam_ready(key, m))
        self.pool.on(w.failed, lambda msg, key=key: self._cam_failed(key, msg))
        self.pool.on(w.cancelled, lambda key=key: self._cam_failed(key, "cancelled"))
        self.pool.keep(w)
        w.start()
        if self.voxels is not None:
            self.redraw()
        self._show_cam_busy(method)  # over refresh_overlay's note
        self.refresh_score_panel()

    def _is_current_cam(self, key) -> bool:
        r = self.cam_request
        return r is not None and tuple(r[:3]) == tuple(key)

    def _cam_ready(self, key, m) -> None:
        m = np.asarray(m, dtype=np.float32)
        self.cam_cache[key] = m  # valid for its series, slice and method even when late
        if not self._is_current_cam(key):
            return  # the reader moved on meanwhile: not shown
        self._end_cam_request()
        if self.info is None or self.info.key != key[0] or self.view.index != key[1]:
            self._set_method_map(None)
            return
        self._set_method_map((*key, m))

    def _cam_failed(self, key, msg: str) -> None:
        if not self._is_current_cam(key):
            return
        item = self.cam_request[3]
        self._end_cam_request()
        self._item_map_failed(item, key[2], msg)

    def _show_cam_busy(self, method: str) -> None:
        from viewer.study.reading_list import method_label

        name = "the item's" if self.blind else f"the {method_label(method)}"
        text = f"computing {name} map…"
        if self.cam_busy_label is None:
            self.cam_busy_label = QtWidgets.QLabel(self.status_bar)
            self.status_bar.addPermanentWidget(self.cam_busy_label)
        self.cam_busy_label.setText(text)
        self.cam_busy_label.show()
        self.status_bar.showMessage(text)
        self.view.set_overlay_note(text)

    def _end_cam_request(self) -> None:
        """Forget the map being computed (its result will not be shown) and the busy note."""
        if self.cam_request is None:
            return
        self.cam_request = None
        if self.cam_busy_label is not None:
            self.cam_busy_label.hide()
        if self.status_bar.currentMessage().startswith("computing "):
            self.status_bar.clearMessage()

    def _set_method_map(self, entry) -> None:
        """Show ``entry`` (series key, slice, method, map) instead of the GAN map; None: GAN."""
        self._end_cam_request()
        self.method_map = entry
        self.map_method = GAN if entry is None else entry[2]
        if self.voxels is not None:
            self.redraw()
        self.refresh_score_panel()

    def drop_method_map_if_elsewhere(self, i: int) -> None:
        """Back to the GAN map when the slice (or series) on screen is not the item's (a map
        still being computed for it is then not shown)."""
        r = self.cam_request
        if r is not None and (self.info is None or r[0] != self.info.key or r[1] != i):
            self._end_cam_request()
            self.map_method = GAN
        e = self.method_map
        if e is not None and (self.info is None or e[0] != self.info.key or e[1] != i):
            self.method_map = None
            self.map_method = GAN

    def shown_layers(self, i: int):
        """``(map, mask)`` drawn for slice ``i``: the item's map when one is shown, through the
        series' ``LesionLayers`` without the edits (made on the GAN mask), else the GAN's
        ``lesion_layers``; ``(None, None)`` until the series' lungs are in."""
        r = self.cam_request
        if r is not None and self.info is not None and r[0] == self.info.key and r[1] == i:
            return None, None  # the item's map is being computed: nothing drawn meanwhile
        e = self.method_map
        if e is None or self.info is None or e[0] != self.info.key or e[1] != i:
            return self.session.layers(i)
        return self.session.apply(i, e[3])

    def map_note(self) -> str:
        """The map's name for the overlay note (neutral while blinded)."""
        if self.blind:
            return "map (method hidden)"
        from viewer.study.reading_list import method_label

        if self.map_method == "gan":  # the product's map: name the model that drew it
            return f"{getattr(self.session.localizer, 'short_name', 'GAN')} map"
        return f"{method_label(self.map_method)} map"
