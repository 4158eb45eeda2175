"""Lesion masks and severity numbers of the main window, per slice and for the series.

A mixin of ``MainWindow``. The rule (map -> lungs -> threshold -> edits -> severity) lives in
``viewer.core.lesion_layers.LesionLayers`` (the same object ``main.py localize`` uses); this
mixin builds it over the window's map ``store`` once the series' lung mask is in
(``_build_pipeline``), keeps it in step with the window's ``threshold``, ``restrict_to_lungs``
and ``edits``, keeps ``counts`` (``SeriesCounts``) and feeds the severity panel. Recounting the
whole series runs in a worker thread.
"""
from __future__ import annotations

import numpy as np

from viewer.core.lesion_layers import (LesionLayers, SeriesCounts, localizer_notes,
                                       physical_spacing)
from viewer.ui.workers import CallWorker


class SeverityMixin:
    pipeline: LesionLayers | None = None  # the open series' lesion pipeline (once lungs are in)

    def _build_pipeline(self) -> None:
        """The series' ``LesionLayers`` over the map store; None until the store holds the
        series' lung mask. Its notes go to the severity panel."""
        st, info = self.store, self.info
        self.pipeline = None
        if st is None or info is None or not st.has_lungs():
            return
        self.pipeline = LesionLayers(
            self.voxels.shape, physical_spacing(info), info.is_hu, st.lungs(), st,
            threshold=self.threshold, lungs_only=self.restrict_to_lungs, edits=self.edits,
            hu=self.voxels if info.is_hu else None, notes=self._input_notes())
        self.severity.set_notes(self.pipeline.notes)

    def _input_notes(self) -> list[str]:
        """The localizer's notes and those of this series' input plan (made by the worker)."""
        return localizer_notes(self.localizer) + list(getattr(self, "series_notes", None) or [])

    def _pipeline(self) -> LesionLayers | None:
        """The pipeline with the window's current threshold, restriction and edits."""
        p = self.pipeline
        if p is not None:
            p.threshold = self.threshold
            p.lungs_only = self.restrict_to_lungs
            if p.edits is not self.edits:
                p.edits = self.edits
        return p

    def lesion_layers(self, i: int):
        """``(map, mask)`` of slice ``i`` as shown (``LesionLayers.layers``): the map restricted
        to the lungs when asked (float32 (y, x) in [0, 1]) and the binary mask (map >= threshold,
        the edits, then the lungs); ``(None, None)`` while the slice or the lungs are not in."""
        p = self._pipeline()
        if p is None:
            return None, None
        return p.layers(i)

    def _count_slice(self, i: int) -> None:
        p = self._pipeline()
        if p is None or self.counts is None:
            return
        c = p.count_slice(i)
        if c is not None:
            self.counts.set(i, c)

    def _recount_all(self) -> None:
        """Recount every localized slice (threshold or restriction changed) in a worker."""
        if self.store is None:
            return
        self._cancel_worker("stats_worker")
        self.counts = SeriesCounts.empty(self.voxels.shape[0])
        p = self._pipeline()
        if p is None:
            return
        self._count_slice(self.view.index)
        done = [int(i) for i in np.flatnonzero(self.store.done_mask())]
        counts = self.counts

        def job(progress):
            # stops once a newer recount replaced these counts
            return p.count(done, counts,
                           progress=lambda d, t: self.counts is counts and progress(d, t))

        w = CallWorker(job, "stats", self)
        self._on(w.succeeded, lambda _c: self._refresh_series_numbers())
        self.stats_worker = self._keep(w)
        w.start()

    def _refresh_series_numbers(self) -> None:
        if self.counts is None or self.voxels is None or not self._alive():
            return  # (a debounce timer may fire after the window closed)
        self.severity.set_curve(self.counts.lesion_pct())
        p = self.pipeline
        if p is not None:  # the localizer's notes about this series' input, once it has run
            n = len(p.notes)
            p.add_notes(self._input_notes())
            if len(p.notes) != n:
                self.severity.set_notes(p.notes)
        s = None if p is None else p.severity(self.counts)
        total = self.voxels.shape[0]
        done = self.store.n_done() if self.store is not None else 0
        if s is None:
            self.severity.set_series(None, None, None, None, done, total,
                                     lung_found=p is None or p.lung_found)
        else:
            self.severity.set_series(s["lesion_pct"], s["lesion_ml"], s["lung_ml"], s["category"],
                                     done, total, s["ggo_share"], s["cons_share"])
        self._show_slice_numbers()

    def _show_slice_numbers(self) -> None:
        i = self.view.index
        if self.pipeline is None or self.store is None or not self.store.has(i):
            self.severity.set_slice(i, None, None)
            return
        if not np.isfinite(self.counts.lung[i]):
            self._count_slice(i)
        s = self.counts.slice_summary(i)
        if s is None:
            self.severity.set_slice(i, None, None, lung_found=False)
        else:
            self.severity.set_slice(i, s["lesion_pct"], s["category"], s["ggo_share"],
                                    s["cons_share"])
