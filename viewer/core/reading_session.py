"""The state of the series being read, without Qt: ``ReadingSession``.

The window's panels are views of one session: they change it through its methods and redraw on
its events (``session.events``, a plain :class:`viewer.core.events.EventHub`). A setting travels
one way: a view calls ``set_threshold`` -> the session updates the lesion pipeline and the edit
journal -> ``"threshold"`` is emitted -> every view shows the new value.

State (array contracts as in docs/ARCHITECTURE.md):

* ``info`` (``SeriesInfo``) and ``voxels`` ``(z, y, x)``, HU float32 or uint8 0-255;
* ``store``: the series' map store (``viewer.core.map_cache.SeriesMapStore``): float32 maps
  ``(y, x)`` in [0, 1] per slice and the series' bool lung mask ``(z, y, x)``;
* ``pipeline``: the series' ``LesionLayers`` over the store, None until the lungs are in;
* ``threshold`` (mask threshold on the map, in [0, 1]), ``lungs_only`` (the map and mask kept
  inside the lungs), ``overlay_visible``;
* ``edits``: the series' ``MaskEdits`` (brush / eraser, journal);
* ``index``: the slice on screen; ``counts``: ``SeriesCounts``, 4 pixel counts per slice;
* ``localizer`` (``gan.inference.Localizer`` or None) and ``series_notes`` (its notes about this
  series' input).

Events (arguments): ``series(info)`` a series' pixels are in; ``slice(i)`` another slice is
shown; ``threshold(t)``; ``lungs_only(on)``; ``overlay_visible(on)``; ``pipeline()`` the lesion
pipeline was built (lungs in); ``edited(i)`` slice ``i``'s mask was painted, undone or redone;
``notes(list[str])`` the notes shown beside the numbers changed.
"""
from __future__ import annotations

import numpy as np

from viewer.core.events import EventHub
from viewer.core.lesion_layers import (LesionLayers, SeriesCounts, layer_slice,
                                       localizer_notes, physical_spacing, slice_counts)

EVENTS = ("series", "slice", "threshold", "lungs_only", "overlay_visible", "pipeline", "edited",
          "notes")


class ReadingSession:
    """One series being read: its pixels, maps, lungs, settings, edits, slice and severity."""

    def __init__(self, threshold: float = 0.5):
        self.events = EventHub(*EVENTS)
        self.info = None
        self.voxels: np.ndarray | None = None
        self.store = None
        self.pipeline: LesionLayers | None = None
        self.counts: SeriesCounts | None = None
        self.edits = None
        self.index = 0
        self.threshold = float(threshold)
        self.lungs_only = True
        self.overlay_visible = True
        self.localizer = None
        self.series_notes: list[str] = []
        self.voxel_ml: float | None = 0.0
        self.fixed_threshold: float | None = None  # set by a reading list: no other value

    # ------------------------------------------------------------------ series and slice
    def open_series(self, info, voxels: np.ndarray, edits=None, index: int = 0) -> None:
        """Show ``voxels`` ``(z, y, x)`` of ``info`` with ``edits`` (its MaskEdits, or None):
        no store, pipeline or counts yet; the annotator's saved threshold and lung restriction
        (in the edits' journal) are restored. Emits ``series(info)``."""
        if voxels.ndim != 3:
            raise ValueError(f"voxels must be 3-D (z, y, x), got shape {voxels.shape}")
        if self.edits is not None and self.edits is not edits:
            self.edits.close()
        self.info, self.voxels, self.edits = info, voxels, edits
        self.store = self.pipeline = None
        self.series_notes = []
        self.counts = SeriesCounts.empty(voxels.shape[0])
        pictures = info.source_kind == "pictures"  # no physical geometry: no mm, no ml
        self.voxel_ml = None if pictures else float(np.prod(info.spacing)) / 1000.0
        self.index = int(index)
        self.events.emit("notes", [])
        self.restore_settings()
        self.events.emit("series", info)

    def set_index(self, i: int) -> None:
        """The slice on screen; emits ``slice(i)``."""
        self.index = int(i)
        self.events.emit("slice", self.index)

    def has_map(self, i: int) -> bool:
        return self.store is not None and self.store.has(i)

    # ------------------------------------------------------------------ settings (one way in)
    def set_threshold(self, t: float, record: bool = True) -> None:
        """Mask threshold ``t`` in [0, 1]; ``record``: an annotator's choice, saved in the
        edits' journal (once the localizer is in: its own threshold is not a choice). While a
        reading list fixes the threshold (``fix_threshold``) any other value is refused: the
        fixed one is emitted again so every view shows it."""
        if self.fixed_threshold is not None and float(t) != self.fixed_threshold:
            self.events.emit("threshold", self.threshold)
            return
        self.threshold = float(t)
        if record and self.edits is not None and self.localizer is not None:
            self.edits.set_setting("threshold", self.threshold)
        self._sync_pipeline()
        self.events.emit("threshold", self.threshold)

    def fix_threshold(self, t: float | None) -> None:
        """A reading list's threshold ``t`` (not recorded as the annotator's choice), fixed
        until ``fix_threshold(None)``."""
        self.fixed_threshold = None
        if t is not None:
            self.set_threshold(float(t), record=False)
            self.fixed_threshold = float(t)

    def set_lungs_only(self, on: bool, record: bool = True) -> None:
        """Keep the map and mask inside the lungs; ``record``: saved in the journal."""
        self.lungs_only = bool(on)
        if record and self.edits is not None:
            self.edits.set_setting("restrict_to_lungs", self.lungs_only)
        self._sync_pipeline()
        self.events.emit("lungs_only", self.lungs_only)

    def set_overlay_visible(self, on: bool) -> None:
        self.overlay_visible = bool(on)
        self.events.emit("overlay_visible", self.overlay_visible)

    def restore_settings(self) -> None:
        """Threshold and lung restriction as the annotator left them for this series."""
        saved = self.edits.settings if self.edits is not None else {}
        if "restrict_to_lungs" in saved:
            self.set_lungs_only(bool(saved["restrict_to_lungs"]), record=False)
        if "threshold" in saved:
            self.set_threshold(float(saved["threshold"]), record=False)

    # ------------------------------------------------------------------ maps, lungs, pipeline
    def attach_store(self, store) -> None:
        """The series' map store (maps may arrive slice by slice); the pipeline is built as
        soon as it holds the lungs (``build_pipeline``)."""
        self.store = store
        self.pipeline = None
        self.build_pipeline()

    def build_pipeline(self) -> LesionLayers | None:
        """The series' ``LesionLayers`` over the store; None until the store holds the lungs
        (their front at least: ``SeriesMapStore.lungs_started``).
        Emits ``notes`` and ``pipeline()`` when built."""
        st, info = self.store, self.info
        self.pipeline = None
        if st is None or info is None or not st.lungs_started():
            return None
        # the store's lungs while they are being finished: a slice is read only once its map
        # is in, and the worker stores a slice's finished lungs before its map
        self.pipeline = LesionLayers(
            self.voxels.shape, physical_spacing(info), info.is_hu, st.lung_array(), st,
            threshold=self.threshold, lungs_only=self.lungs_only, edits=self.edits,
            hu=self.voxels if info.is_hu else None, notes=self.input_notes())
        self.events.emit("notes", self.pipeline.notes)
        self.events.emit("pipeline")
        return self.pipeline

    def input_notes(self) -> list[str]:
        """The localizer's notes and those of this series' input plan."""
        return localizer_notes(self.localizer) + list(self.series_notes or [])

    def add_series_notes(self, notes) -> None:
        """Notes of the localizer's plan for this series; shown once the pipeline exists."""
        p = self.pipeline
        if p is None:
            return
        n = len(p.notes)
        p.add_notes(list(notes))
        if len(p.notes) != n:
            self.events.emit("notes", p.notes)

    def _sync_pipeline(self) -> LesionLayers | None:
        p = self.pipeline
        if p is not None:
            p.threshold = self.threshold
            p.lungs_only = self.lungs_only
            if p.edits is not self.edits:
                p.edits = self.edits
        return p

    def layers(self, i: int):
        """``(map, mask)`` of slice ``i`` as shown: the map (restricted to the lungs when
        asked; float32 (y, x) in [0, 1]) and the bool mask (map >= threshold, the edits, then
        the lungs); ``(None, None)`` while the slice or the lungs are not in."""
        p = self._sync_pipeline()
        if p is None:
            return None, None
        return p.layers(i)

    def apply(self, i: int, other_map: np.ndarray):
        """Another method's map (float32 (y, x)) of slice ``i`` through the same rule, without
        the edits (made on the GAN mask); ``(None, None)`` until the lungs are in."""
        p = self._sync_pipeline()
        if p is None:
            return None, None
        return p.apply(i, other_map, with_edits=False)

    # ------------------------------------------------------------------ severity
    def count_slice(self, i: int) -> None:
        """Count slice ``i`` (lung, lesion, GGO, consolidation pixels) into ``counts``."""
        p = self._sync_pipeline()
        if p is None or self.counts is None:
            return
        c = p.count_slice(i)
        if c is not None:
            self.counts.set(i, c)

    def recount_job(self):
        """Start over: fresh ``counts`` with the shown slice counted at once, and a job
        ``job(progress)`` that counts every other localized slice (run it off the GUI thread;
        it stops once a newer recount replaced these counts). None without a pipeline."""
        if self.store is None:
            return None
        self.counts = counts = SeriesCounts.empty(self.voxels.shape[0])
        p = self._sync_pipeline()
        if p is None:
            return None
        self.count_slice(self.index)
        done = [int(i) for i in np.flatnonzero(self.store.done_mask())]

        def job(progress):
            return p.count(done, counts,
                           progress=lambda d, t: self.counts is counts and progress(d, t))

        return job

    def series_numbers(self) -> dict:
        """The series line of the severity panel: ``severity`` (``LesionLayers.severity``
        dict, or None without lungs or counts), ``done`` / ``total`` slices localized and
        ``lung_found``."""
        p = self.pipeline
        if p is not None:  # the localizer's notes about this series' input, once it has run
            self.add_series_notes(self.input_notes())
        s = None if p is None or self.counts is None else p.severity(self.counts)
        return {"severity": s, "done": self.store.n_done() if self.store is not None else 0,
                "total": 0 if self.voxels is None else self.voxels.shape[0],
                "lung_found": p is None or p.lung_found}

    def slice_numbers(self, i: int):
        """``SeriesCounts.slice_summary`` of slice ``i`` (lesion %, category, GGO and
        consolidation shares); ``"no lungs"`` when the slice has none; None while its map or
        the pipeline is not in."""
        if self.pipeline is None or not self.has_map(i):
            return None
        if not np.isfinite(self.counts.lung[i]):
            self.count_slice(i)
        s = self.counts.slice_summary(i)
        return "no lungs" if s is None else s

    def severity_category(self, i: int) -> str | None:
        """The severity category of slice ``i`` once its GAN map is in, else None."""
        s = self.counts.slice_summary(i) if self.counts is not None else None
        return s["category"] if s is not None and self.has_map(i) else None

    def map_numbers(self, i: int, lesion_map: np.ndarray, threshold: float | None = None):
        """``slice_summary``-style numbers (lesion %, category, shares) of slice ``i`` for
        another map (float32 (y, x) in [0, 1], e.g. the map shown for a reader-study item) at
        ``threshold`` (None: the session's), without the edits; None without lungs on the
        slice or before the pipeline is built."""
        p = self._sync_pipeline()
        if p is None or (self.store is not None and not self.store.has_lungs_at(i)):
            return None
        t = self.threshold if threshold is None else float(threshold)
        lungs = p.lungs(i)
        _, mask = layer_slice(i, np.asarray(lesion_map, np.float32), t,
                              lungs if self.lungs_only else None, None)
        one = SeriesCounts.empty(1)
        one.set(0, slice_counts(mask, lungs, p.hu_slice(i)))
        return one.slice_summary(0)

    def reference_category(self, i: int, threshold: float) -> str | None:
        """Severity category of slice ``i`` from its GAN map at ``threshold`` (the cohort of
        a reading-list item at the list's threshold, whatever the reader's threshold); None
        until the map is in."""
        p = self._sync_pipeline()
        raw = p.raw_map(i) if p is not None else None
        if raw is None:
            return None
        s = self.map_numbers(i, raw, threshold)
        return None if s is None else s["category"]

    # ------------------------------------------------------------------ edits
    def begin_stroke(self, i: int) -> bool:
        """Start a brush / eraser stroke on slice ``i``; False while it has no map."""
        if self.edits is None or not self.has_map(i):
            return False
        self.edits.begin_stroke(i)
        return True

    def paint(self, i: int, row: float, col: float, radius: float, value: bool) -> bool:
        """Paint a disc at pixel centre (row, col) of slice ``i``; False outside a stroke."""
        if self.edits is None or not self.edits.in_stroke:
            return False
        self.edits.paint(i, row, col, radius, value)
        return True

    def end_stroke(self) -> None:
        if self.edits is None or not self.edits.in_stroke:
            return
        self.edits.end_stroke()
        self._edited(self.index)

    def undo(self) -> None:
        if self.edits is not None and self.edits.can_undo:
            self._edited(self.edits.undo())

    def redo(self) -> None:
        if self.edits is not None and self.edits.can_redo:
            self._edited(self.edits.redo())

    def _edited(self, i) -> None:
        if i is not None:
            self.count_slice(int(i))
        self.events.emit("edited", None if i is None else int(i))

    def close(self) -> None:
        """Close the edits' journal and drop every subscriber."""
        if self.edits is not None:
            self.edits.close()
        self.events.clear()
