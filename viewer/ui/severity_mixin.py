"""Lesion masks and severity numbers of the main window, per slice and for the series.

A mixin of ``MainWindow``: it reads the window's ``store`` (maps, lungs), ``edits``,
``threshold``, ``restrict_to_lungs`` and ``voxels``, keeps ``counts`` (``SeriesCounts``) and
feeds the severity panel. Recounting the whole series runs in a worker thread.
"""
from __future__ import annotations

import numpy as np

from viewer.ui.lesion_stats import SeriesCounts, slice_counts
from viewer.ui.workers import CallWorker


class SeverityMixin:
    def lesion_layers(self, i: int):
        """``(map, mask)`` of slice ``i`` as shown: the map restricted to the lungs when asked
        (float32 (y, x) in [0, 1]) and the binary mask (map >= threshold, then the edits)."""
        if self.store is None:
            return None, None
        m = self.store.get_map(i)
        if m is None:
            return None, None
        if self.restrict_to_lungs:
            m = m * self.store.get_lungs(i)
        mask = m >= self.threshold
        if self.edits is not None:
            mask = self.edits.apply(i, mask)
            if self.restrict_to_lungs:
                mask &= self.store.get_lungs(i)
        return m, mask

    def _count_slice(self, i: int) -> None:
        _, mask = self.lesion_layers(i)
        if mask is None:
            return
        hu = self.voxels[i] if self.info.is_hu else None
        self.counts.set(i, slice_counts(mask, self.store.get_lungs(i), hu))

    def _recount_all(self) -> None:
        """Recount every localized slice (threshold or restriction changed) in a worker."""
        if self.store is None:
            return
        self._cancel_worker("stats_worker")
        self.counts = SeriesCounts.empty(self.voxels.shape[0])
        self._count_slice(self.view.index)
        done = np.flatnonzero(self.store.done_mask())
        counts = self.counts

        def job(progress):
            for k, i in enumerate(done):
                if self.counts is not counts:
                    return None
                _, mask = self.lesion_layers(int(i))
                if mask is not None:
                    hu = self.voxels[i] if self.info.is_hu else None
                    counts.set(int(i), slice_counts(mask, self.store.get_lungs(int(i)), hu))
                if progress(k + 1, len(done)) is False:
                    return None
            return counts

        w = CallWorker(job, "stats", self)
        self._on(w.succeeded, lambda _c: self._refresh_series_numbers())
        self.stats_worker = self._keep(w)
        w.start()

    def _refresh_series_numbers(self) -> None:
        if self.counts is None or self.voxels is None:
            return
        self.severity.set_curve(self.counts.lesion_pct())
        s = self.counts.series_summary(self._series_voxel_ml)
        total = self.voxels.shape[0]
        done = self.store.n_done() if self.store is not None else 0
        if s is None:
            self.severity.set_series(None, None, None, None, done, total)
        else:
            self.severity.set_series(s["lesion_pct"], s["lesion_ml"], s["lung_ml"], s["category"],
                                     done, total, s["ggo_share"], s["cons_share"])
        self._show_slice_numbers()

    def _show_slice_numbers(self) -> None:
        i = self.view.index
        if self.store is None or not self.store.has(i):
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
