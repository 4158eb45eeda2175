"""The severity panel's controller: the session's numbers on screen, the series recount in a
worker, and the two debounce timers (curve refresh, recount after a settings change).

The numbers come from the session (``ReadingSession.series_numbers``, ``slice_numbers``), which
takes them from the lesion pipeline (``viewer.core.lesion_layers``), the same rule as
``main.py localize``.
"""
from __future__ import annotations

from viewer.core.reading_session import ReadingSession
from viewer.ui.severity_panel import SeverityPanel
from viewer.ui.work_pool import WorkPool
from viewer.ui.workers import CallWorker


class SeverityController:
    """Feeds ``panel`` from ``session``; workers and timers live in ``pool``."""

    def __init__(self, session: ReadingSession, panel: SeverityPanel, pool: WorkPool):
        self.session, self.panel, self.pool = session, panel, pool
        # ``map_numbers(i)``: the numbers of the map on screen when it is not the GAN's (a
        # reader-study item), else None; set by the window
        self.map_numbers = None
        self.curve_timer = pool.debounce(150, self.refresh_series_numbers)
        # threshold / restriction changes: the shown slice at once, the series after a pause
        self.recount_timer = pool.debounce(250, self.recount_all)
        session.events.connect("notes", panel.set_notes)
        session.events.connect("lungs_only", panel.note_label.setVisible)

    def count_shown_slice(self) -> None:
        """Count the slice on screen now (its numbers show at once after a settings change)."""
        s = self.session
        if s.has_map(s.index):
            s.count_slice(s.index)

    def slice_localized(self, i: int) -> None:
        """Slice ``i``'s map arrived: count it; the curve follows after a short pause."""
        self.session.count_slice(i)
        self.curve_timer.start()

    def settled(self) -> bool:
        """No recount pending (its debounce timer) or running: the counts are final for the
        current settings."""
        w = self.pool.get("stats")
        return not self.recount_timer.isActive() and (w is None or w.isFinished())

    def recount_all(self) -> None:
        """Recount every localized slice (threshold or restriction changed) in a worker."""
        if self.session.store is None:
            return
        self.pool.cancel("stats")
        job = self.session.recount_job()
        if job is None:
            return
        w = CallWorker(job, "stats", self.pool.owner)
        self.pool.on(w.succeeded, lambda _c: self.refresh_series_numbers())
        self.pool.keep(w, "stats")
        w.start()

    def refresh_series_numbers(self) -> None:
        s = self.session
        if s.counts is None or s.voxels is None or not self.pool.alive():
            return  # (a debounce timer may fire after the window closed)
        self.panel.set_curve(s.counts.lesion_pct())
        n = s.series_numbers()
        sev = n["severity"]
        if sev is None:
            self.panel.set_series(None, None, None, None, n["done"], n["total"],
                                  lung_found=n["lung_found"])
        else:
            self.panel.set_series(sev["lesion_pct"], sev["lesion_ml"], sev["lung_ml"],
                                  sev["category"], n["done"], n["total"], sev["ggo_share"],
                                  sev["cons_share"])
        self.show_slice_numbers()

    def show_slice_numbers(self) -> None:
        i = self.session.index
        s = self.map_numbers(i) if self.map_numbers is not None else None
        if s is None:
            s = self.session.slice_numbers(i)
        if s is None:
            self.panel.set_slice(i, None, None)
        elif s == "no lungs":
            self.panel.set_slice(i, None, None, lung_found=False)
        else:
            self.panel.set_slice(i, s["lesion_pct"], s["category"], s["ggo_share"],
                                 s["cons_share"])
