"""Reader-study behaviour of the main window: what the score panel records (``score_context``),
showing a reading-list item (``open_item``) with the map of its method, and which map is on
screen (``map_method``).

A mixin of ``MainWindow``: it uses the window's ``browser``, ``view``, ``info``, ``voxels``,
``store``, ``counts``, ``threshold``, ``restrict_to_lungs``, ``score_panel`` and status bar.

Maps other than the GAN's are shown for the item's slice only: ``gradcam``, ``msgradcam`` and
``smoothgrad`` are computed with :class:`gan.cams.ClassifierExplainer` from
``resources/weights/classifier.safetensors`` (once per series, slice and method, kept in memory);
``import:<name>`` maps are read from the item's ``map_path``. Scrolling to another slice or
opening another series goes back to the GAN map. In a blinded list the method name is never
shown (overlay note, status messages).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PyQt6 import QtCore, QtGui, QtWidgets

CLASSIFIER_WEIGHTS = Path(__file__).resolve().parents[2] / "resources" / "weights" / \
    "classifier.safetensors"
CAM_METHODS = ("gradcam", "msgradcam", "smoothgrad")


class ReaderStudyMixin:
    map_method = "gan"       # method of the map on screen
    _method_map = None       # (series key, slice index, method, float32 (y, x) map) or None
    _method_blinded = False
    _pending_item = None     # item waiting for its series to be read
    _explainer = None
    _cam_cache: dict | None = None

    # ------------------------------------------------------------------ score panel
    def score_context(self) -> dict:
        """What the score panel records with a score: the shown series, slice and map method,
        and the severity category of the slice (None until its GAN map is in). Empty while
        nothing is shown or while a requested item's series is being read."""
        info, i = self.info, self.view.index
        if info is None or self.voxels is None:
            return {}
        if self._pending_item is not None:  # a reading-list item's series is being read:
            return {}                       # what is on screen is about to change
        ref = info.refs[i]
        ctx = {"study_uid": info.study_uid, "series_uid": info.series_uid or info.key,
               "slice_index": i, "method": self.map_method or "gan", "severity_category": None}
        if ref.sop_instance_uid:
            ctx["sop_instance_uid"] = ref.sop_instance_uid
        else:
            from viewer.core.score_store import image_hash

            ctx["image_hash"] = image_hash(self.voxels[i])
        s = self.counts.slice_summary(i) if self.counts is not None else None
        if s is not None and self.store is not None and self.store.has(i):
            ctx["severity_category"] = s["category"]
        return ctx

    def _refresh_score_panel(self) -> None:
        if self.score_panel is not None:
            self.score_panel.refresh()

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
            self._pending_item = None
            if idx is not None:
                self.view.set_index(int(idx))
            self._show_item_method(item)
            return
        self._pending_item = item
        self.requested_slice = int(idx) if idx is not None else None
        self.open_series(match)

    def _apply_pending_item(self) -> None:
        """Called once a series is on screen: the waiting item's map, else the GAN map."""
        item, self._pending_item = self._pending_item, None
        info = self.info
        if item is not None and (info.series_uid or info.key) == item.get("series_uid"):
            self._show_item_method(item)
        else:
            self._set_method_map(None)

    def _show_item_method(self, item: dict) -> None:
        method = str(item.get("method") or "gan")
        self._method_blinded = bool(item.get("blinded"))
        if method == "gan":
            self._set_method_map(None)
            return
        i = self.view.index
        what = "the item's map" if self._method_blinded else f"the {method} map"
        try:
            if method in CAM_METHODS:
                m = self._cam_map(method, i)
            elif method.startswith("import:"):
                from viewer.core.reading_list import load_imported_map

                if not item.get("map_path"):
                    raise ValueError("the item names no map file")
                m = load_imported_map(item["map_path"], shape=self.voxels.shape[1:])
            else:
                raise ValueError(f"unknown method {method!r}")
        except Exception as exc:  # noqa: BLE001 (a missing file or weights must not crash)
            detail = "" if self._method_blinded else f": {exc}"
            self.show_error(f"reading-list item {item.get('code', '')}: {what} could not be "
                            f"shown{detail}; showing the GAN map")
            self._set_method_map(None)
            return
        self._set_method_map((self.info.key, i, method, np.asarray(m, dtype=np.float32)))

    def _cam_map(self, method: str, i: int) -> np.ndarray:
        """Grad-CAM / multi-scale Grad-CAM / SmoothGrad of slice ``i`` (float32 (y, x) in
        [0, 1]); computed once per series, slice and method."""
        if self._cam_cache is None:
            self._cam_cache = {}
        key = (self.info.key, i, method)
        if key not in self._cam_cache:
            app = QtWidgets.QApplication
            app.setOverrideCursor(QtGui.QCursor(QtCore.Qt.CursorShape.WaitCursor))
            self.statusBar().showMessage("computing the item's map…")
            app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.ExcludeUserInputEvents)
            try:
                if self._explainer is None:
                    if not CLASSIFIER_WEIGHTS.is_file():
                        raise FileNotFoundError(f"{CLASSIFIER_WEIGHTS}: file not found")
                    from gan.cams import ClassifierExplainer

                    self._explainer = ClassifierExplainer(CLASSIFIER_WEIGHTS, device="auto")
                self._cam_cache[key] = self._explainer.maps([self.voxels[i]], self.info.is_hu,
                                                            method)[0]
            finally:
                app.restoreOverrideCursor()
                self.statusBar().clearMessage()
        return self._cam_cache[key]

    def _set_method_map(self, entry) -> None:
        """Show ``entry`` (series key, slice, method, map) instead of the GAN map; None: GAN."""
        self._method_map = entry
        self.map_method = "gan" if entry is None else entry[2]
        if self.voxels is not None:
            self.refresh_overlay()
        self._refresh_score_panel()

    def _drop_method_map_if_elsewhere(self, i: int) -> None:
        """Back to the GAN map when the slice (or series) on screen is not the item's."""
        e = self._method_map
        if e is not None and (self.info is None or e[0] != self.info.key or e[1] != i):
            self._method_map = None
            self.map_method = "gan"

    def shown_layers(self, i: int):
        """``(map, mask)`` drawn for slice ``i``: the item's map when one is shown (restricted
        to the lungs when asked, mask = map >= threshold), else the GAN's ``lesion_layers``."""
        e = self._method_map
        if e is None or self.info is None or e[0] != self.info.key or e[1] != i:
            return self.lesion_layers(i)
        m = e[3]
        if self.restrict_to_lungs and self.store is not None:
            lungs = self.store.get_lungs(i)
            if lungs is not None:
                m = m * lungs
        return m, m >= self.threshold

    def map_note(self) -> str:
        """The map's name for the overlay note ("map" when blinded)."""
        if self._method_blinded:
            return "map (method hidden)"
        from viewer.core.reading_list import method_label

        return f"{method_label(self.map_method)} map"
