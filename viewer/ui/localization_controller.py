"""Localizing the open series in the background: the session's map store from the cache, then
``LocalizeWorker`` segments the series' lungs once (3-D with the real spacing,
``viewer.core.staged_lungs.SeriesLungs``: the front of the whole series, which plans the
model's input, and the shown slice's lungs finished) and localizes the shown slice first
(alone); then it finishes every slice's lungs, checks the plan against them (the first map is
made again when it differs) and localizes the rest of the series outwards from the shown slice
in batches (``LocalizeWorker.BATCH_SIZE`` slices per model call). Maps and lungs go to the
store (memory and disk, ``viewer.core.map_cache``); the session builds its lesion pipeline
once the front is in, and again once every slice's lungs are.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable

from viewer.core.map_cache import MapCache
from viewer.core.reading_session import ReadingSession
from viewer.ui.severity_controller import SeverityController
from viewer.ui.slice_view import SliceView
from viewer.ui.work_pool import WorkPool
from viewer.ui.workers import CallWorker, LocalizeWorker


def default_localizer_factory(weights: str | None, device: str) -> Callable:
    """A factory building ``gan.inference.Localizer(weights, device)`` (imported lazily; the
    default weights are ``gan.resources.LOCALIZER_WEIGHTS``)."""

    def target() -> Path:
        from gan.resources import LOCALIZER_WEIGHTS

        return Path(weights) if weights else LOCALIZER_WEIGHTS

    def build(_progress=None):
        from gan.inference import Localizer

        path = target()
        if not path.is_file():
            raise FileNotFoundError(f"{path}: file not found")
        return Localizer(path, device=device)

    def cache_hash() -> str | None:
        """The weights' sha256 (as ``Localizer.weights_hash``) without torch; None when absent."""
        path = target()
        if not path.is_file():
            return None
        from gan.file_hash import file_sha256

        return file_sha256(path)

    build.cache_hash = cache_hash
    return build


class EarlyLungs:
    """The lungs of one series (``SeriesLungs``: the front, or a picture stack's whole mask),
    made while the localizer is still being built (``LocalizationController.prepare``);
    ``result()`` waits for them (worker threads only)."""

    def __init__(self, voxels):
        self.voxels = voxels
        self.done = threading.Event()
        self.lungs = None
        self.error: BaseException | None = None

    def compute(self, segment: Callable) -> None:
        try:
            self.lungs = segment(self.voxels)
        except BaseException as exc:  # noqa: BLE001 - handed to whoever waits
            self.error = exc
        finally:
            self.done.set()

    def result(self):
        """The lungs, once (the one consumer keeps them; this holder lets go of them)."""
        self.done.wait()
        if self.error is not None:
            raise self.error
        lungs, self.lungs, self.voxels = self.lungs, None, None
        return lungs


class LocalizationController:
    """``show_status(text, ms)``, ``show_progress(what, done, total)``, ``hide_progress()``,
    ``redraw()`` (the shown slice's overlay), ``refresh_score_panel()`` and
    ``failed(msg, worker)`` are the window's."""

    def __init__(self, session: ReadingSession, cache: MapCache, pool: WorkPool,
                 view: SliceView, severity: SeverityController, *,
                 show_status: Callable, show_progress: Callable, hide_progress: Callable,
                 redraw: Callable, refresh_score_panel: Callable, failed: Callable):
        self.session, self.cache, self.pool = session, cache, pool
        self.view, self.severity = view, severity
        self.show_status, self.show_progress = show_status, show_progress
        self.hide_progress, self.redraw = hide_progress, redraw
        self.refresh_score_panel, self.failed = refresh_score_panel, failed
        self.early: EarlyLungs | None = None

    def prepare(self, factory) -> None:
        """The series is on screen but the localizer is not built yet: segment its lungs now
        (they do not depend on the model), unless the map cache has them. ``factory``: the
        localizer factory; its ``cache_hash()`` (the weights' sha256) finds the cached store;
        without it nothing is started."""
        from viewer.core.lesion_layers import physical_spacing
        from viewer.core.staged_lungs import SeriesLungs

        s = self.session
        cache_hash = getattr(factory, "cache_hash", None)
        if s.voxels is None or s.info is None or cache_hash is None:
            return
        try:
            digest = cache_hash()
        except OSError:
            return
        if not digest:
            return
        if self.cache.store(s.info.key, str(digest)[:16], s.voxels.shape).has_lungs():
            return
        is_hu, spacing = s.info.is_hu, physical_spacing(s.info)
        early = self.early = EarlyLungs(s.voxels)
        w = CallWorker(lambda _progress: early.compute(
            lambda v: SeriesLungs(v, is_hu, spacing)), "lungs", self.pool.owner)
        self.pool.keep(w, "lungs")
        self.pool.on(w.finished, lambda: self.pool.release("lungs")
                     if self.pool.get("lungs") is w else None)
        w.start()

    def start(self) -> None:
        """The series' store from the cache; the rest is localized in a worker."""
        s = self.session
        info, loc, vox = s.info, s.localizer, s.voxels
        s.series_notes = []
        s.attach_store(self.cache.store(info.key, str(loc.weights_hash)[:16], vox.shape))
        store = s.store
        if store.warning:
            self.show_status(store.warning, 15000)
        self.severity.recount_all()
        self.redraw()
        self.refresh_score_panel()
        if store.is_complete():
            from viewer.core.lesion_layers import localizer_plan, plan_notes

            # the maps are cached; the notes about the input are cheap to make again
            s.series_notes = plan_notes(localizer_plan(loc, vox, info.is_hu, store.lungs()))
            s.add_series_notes(s.series_notes)
            self.show_status("lesion maps from the cache", 5000)
            return
        self._start_worker(info, loc, vox, store)

    def _start_worker(self, info, loc, vox, store) -> None:
        from viewer.core.lesion_layers import (localize_with_plan, localizer_plan,
                                               physical_spacing, plan_notes)
        from viewer.core.staged_lungs import SeriesLungs, same_plan

        is_hu = info.is_hu
        # one lung mask per series, as `localize` makes it (pictures: no physical spacing)
        spacing = physical_spacing(info)
        plan_box: dict = {}
        notes = self.session.series_notes = []  # the model's notes about this series' input

        def plan(lungs):  # worker thread: the plan from the lungs' front (or the stored lungs)
            plan_box["plan"] = localizer_plan(loc, vox, is_hu, lungs)
            notes[:] = plan_notes(plan_box["plan"])

        def verify(final) -> bool:  # worker thread: the plan of the finished lungs
            final_plan = localizer_plan(loc, vox, is_hu, final)
            same = same_plan(plan_box.get("plan"), final_plan)
            plan_box["plan"] = final_plan
            notes[:] = plan_notes(final_plan)
            return same

        def localize(stack):  # worker thread, (k, y, x)
            return localize_with_plan(loc, stack, is_hu, plan_box["plan"])

        early = self.early if self.early is not None and self.early.voxels is vox else None
        self.early = None

        def segment(volume):  # worker thread
            if early is not None:  # segmented while the localizer was built: wait for it
                try:
                    return early.result()
                except Exception:  # noqa: BLE001 - segmented again below, reported if it fails
                    pass
            return SeriesLungs(volume, is_hu, spacing)

        w = LocalizeWorker(vox, store, localize, segment, start=self.view.index,
                           parent=self.pool.owner, plan=plan, verify=verify)
        # a worker cancelled by a series switch must not touch the new series' store
        current = lambda: store is self.session.store  # noqa: E731
        on = self.pool.on
        on(w.lungsReady, lambda: self._lungs_ready() if current() else None)
        on(w.lungsComplete, lambda: self._lungs_complete() if current() else None)
        on(w.sliceReady, lambda i: self.slice_ready(i) if current() else None)
        on(w.progressed, lambda d, t: self.show_progress(f"Localizing on {loc.device}", d, t)
           if current() else None)
        on(w.completed, lambda: self._done() if current() else None)
        on(w.cancelled, self.hide_progress)
        on(w.failed, lambda msg, w=w: self.failed(msg, w))
        self.pool.keep(w, "loc")
        w.start()
        # the note follows what is drawn: "segmenting the lungs…" / "localizing this slice…"
        # until the shown slice's overlay is in, then the map's note (never a stale one)
        self.redraw()

    def _lungs_ready(self) -> None:
        if self.session.pipeline is None:
            self.session.build_pipeline()
            self.severity.recount_all()
            self.redraw()

    def _lungs_complete(self) -> None:
        """Every slice's finished lungs are in: the pipeline again (lung found or not, the
        notes of the finished plan) and the counts (maps made again are counted as they come)."""
        self.session.build_pipeline()
        self.severity.recount_all()
        self.redraw()

    def slice_ready(self, i: int) -> None:
        """Slice ``i``'s map is in the store: count it, draw it when it is on screen."""
        s = self.session
        if s.store is None or s.voxels is None or i >= s.voxels.shape[0]:
            return
        self.severity.slice_localized(i)
        if i == self.view.index:
            self.redraw()

    def _done(self) -> None:
        self.pool.release("loc")
        self.hide_progress()
        self.redraw()  # the shown slice's note is the drawn overlay's
        self.severity.refresh_series_numbers()
        self.show_status("series localized", 5000)
