"""Qt thread adapters around the Qt-free readers and the localizer.

Every worker runs in its own ``QThread`` and talks to the GUI thread only through signals (queued
connections), so the window keeps painting and answering input while a series is scanned, read
or localized. Each has ``cancel()``; cancelling is checked between slices.

- ``CallWorker``: ``fn(progress)`` -> result, for ``scan_path`` and building the ``Localizer``.
- ``LoadWorker``: reads a series' pixels slice by slice (``SeriesInfo.iter_slices``) into one
  ``(z, y, x)`` array.
- ``LocalizeWorker``: the series' lung mask (once, for the whole series), then the lesion maps
  into a ``SeriesMapStore``: the current slice first and alone (the first map on screen soonest),
  then batches of ``batch_size`` slices outwards from it (one model call per batch, about twice
  the throughput of one call per slice on a CPU); ``prioritize(i)`` puts a slice the reader
  scrolled to at the head of the next batch.
"""
from __future__ import annotations

import threading
import traceback
from typing import Callable

import numpy as np
from PyQt6 import QtCore, sip

from viewer.core.map_cache import SeriesMapStore

# Workers of closed windows that were still running: held here (without a Qt parent) until
# their thread ends, so a window's deletion never destroys a running QThread.
_RETIRED: set = set()

# Every started worker, held until the GUI thread sees that its thread has ended
# (``release_ended``). The last reference to a QThread must never go while its thread still
# runs: neither in that thread (a ``finished`` handler dropping it, so Qt aborts: "destroyed
# while still running") nor in a garbage collection that races the thread's last steps (a
# stress run aborted so, in ``gc_guard``'s collection).
_LIVE: set = set()
_LIVE_LOCK = threading.Lock()


def release_ended() -> int:
    """Let go of the started workers whose threads have ended (GUI thread only); returns how
    many are still held.

    A worker without a Qt parent (a retired one) would be deleted by Python the moment it is
    let go, possibly while one of its queued signals is being delivered further up the stack
    (this is called from ``start()`` and timers, which can run inside such a slot): its C++
    object is handed to Qt and deleted with ``deleteLater`` instead, which Qt runs only once
    control is back in the event loop that asked for it."""
    with _LIVE_LOCK:
        live = list(_LIVE)
    for w in live:
        try:
            ended = w.isFinished()
            if ended:
                w.wait()  # returns at once: the thread has left its last Qt step
                if w.parent() is None:
                    sip.transferto(w, None)
                    w.deleteLater()
        except RuntimeError:  # the C++ object is gone already
            ended = True
        if ended:
            with _LIVE_LOCK:
                _LIVE.discard(w)
    with _LIVE_LOCK:
        return len(_LIVE)


class HeldThread(QtCore.QThread):
    """A ``QThread`` held in ``_LIVE`` from ``start()`` until its thread has ended."""

    def start(self, *args) -> None:
        release_ended()
        with _LIVE_LOCK:
            _LIVE.add(self)
        super().start(*args)


def retire(worker: QtCore.QThread) -> None:
    """Cancel ``worker`` and detach it from its window; it is kept alive until it finishes."""
    cancel = getattr(worker, "cancel", None)
    if cancel is not None:
        cancel()
    if not worker.isRunning():
        return
    worker.setParent(None)
    _RETIRED.add(worker)
    worker.finished.connect(lambda w=worker: _RETIRED.discard(w))


_RESULT_SIGNALS = ("progressed", "partial", "succeeded", "failed", "cancelled", "loaded", "sliceReady", "lungsReady",
                   "lungsComplete", "completed")


def disconnect_results(worker: QtCore.QObject) -> None:
    """Cut every result signal of ``worker`` from its receivers (its ``finished`` stays)."""
    for name in _RESULT_SIGNALS:
        sig = getattr(worker, name, None)
        if sig is None:
            continue
        try:
            sig.disconnect()
        except (TypeError, RuntimeError):  # nothing connected, or already deleted
            pass


def wait_retired(ms: int = 10000) -> bool:
    """Wait (up to ``ms`` each) for the retired workers to end; True when none is running."""
    for w in list(_RETIRED):
        w.wait(ms)
        if not w.isRunning():
            _RETIRED.discard(w)
    return not _RETIRED


class CallWorker(HeldThread):
    """Runs ``fn(progress)`` off the GUI thread. ``progress(done, total)`` returns False once
    cancelled. Emits ``progressed(done, total)``, then ``succeeded(result)`` or ``failed(msg)``
    (a one-line message) or ``cancelled()``. ``fn`` may hand out a result early with
    ``worker.partial.emit(obj)`` (the scan: one decoded slice before the headers are read)."""

    progressed = QtCore.pyqtSignal(int, int)
    partial = QtCore.pyqtSignal(object)
    succeeded = QtCore.pyqtSignal(object)
    failed = QtCore.pyqtSignal(str)
    cancelled = QtCore.pyqtSignal()

    def __init__(self, fn: Callable, label: str = "", parent=None):
        super().__init__(parent)
        self._fn = fn
        self.label = label
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    def _progress(self, done: int, total: int) -> bool:
        self.progressed.emit(int(done), int(total))
        return not self._cancel.is_set()

    def run(self) -> None:
        try:
            result = self._fn(self._progress)
        except Exception as exc:  # reported to the user as one line, never raised in Qt
            if self._cancel.is_set():
                self.cancelled.emit()
            else:
                self.failed.emit(_one_line(exc))
            return
        if self._cancel.is_set():
            self.cancelled.emit()
        else:
            self.succeeded.emit(result)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    msg = text[0] if text else type(exc).__name__
    if not text:
        traceback.print_exception(exc)
    return msg


class LoadWorker(HeldThread):
    """Reads the pixels of ``info`` (a ``SeriesInfo``) into ``voxels`` ``(z, y, x)``.

    Emits ``progressed(done, total)``, ``loaded(voxels)`` (HU float32 or uint8), ``failed(msg)``
    or ``cancelled()``. Slices the reader could not decode come back blank; their warnings are
    in ``info.warnings``.
    """

    progressed = QtCore.pyqtSignal(int, int)
    loaded = QtCore.pyqtSignal(object)
    failed = QtCore.pyqtSignal(str)
    cancelled = QtCore.pyqtSignal()

    def __init__(self, info, parent=None):
        super().__init__(parent)
        self.info = info
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    def run(self) -> None:
        info = self.info
        try:
            voxels = np.empty(info.shape, dtype=info.dtype)
            total = info.n_slices
            for i, sl in info.iter_slices():
                voxels[i] = sl
                self.progressed.emit(i + 1, total)
                if self._cancel.is_set():
                    self.cancelled.emit()
                    return
        except Exception as exc:
            self.failed.emit(f"{info.key}: {_one_line(exc)}")
            return
        self.loaded.emit(voxels)


def outward_order(n: int, start: int) -> list[int]:
    """Slice indices ``0..n-1`` ordered by distance from ``start`` (start, start+1, start-1, ...)."""
    start = min(max(int(start), 0), n - 1)
    order = [start]
    for d in range(1, n):
        if start + d < n:
            order.append(start + d)
        if start - d >= 0:
            order.append(start - d)
    return order


class LocalizeWorker(HeldThread):
    """Fills ``store`` with the series' lung mask and the lesion maps of ``voxels`` ``(z, y, x)``.

    ``segment(voxels)`` gives the lungs: a ``viewer.core.staged_lungs.SeriesLungs`` (its front
    first; each slice finished just before its map) or a finished ``bool (z, y, x)`` mask.
    ``plan(lungs)`` (optional) is called once with the mask to plan the model's input with (the
    front, or the stored finished mask), before the first map; ``localize(stack (k, y, x)) ->
    maps (k, y, x) in [0, 1]`` is called with the shown slice alone first (its lungs finished
    just before), then with batches of up to ``batch_size`` slices. Between the two, every
    slice's lungs are finished and stored (``LUNG_CHUNK`` slices at a time; a slice the reader
    asks for meanwhile, ``prioritize``, is localized between two chunks, and a cancel is seen
    there), and ``verify(lungs)`` (optional) is called with the finished mask: False means the
    plan made from the front was not the finished one's (dense lung against the wall widened
    the lungs' frame), so the maps made so far (the first, and those asked for meanwhile) are
    made again with the plan ``verify`` has put in its place.

    What the store already holds is skipped (a reopened series costs nothing). Emits
    ``lungsReady()`` once the lungs can be read (the front in the store), ``sliceReady(i)``
    after each slice (its map and finished lungs), ``progressed(done, total)``,
    ``lungsComplete()`` once every slice's finished lungs are stored (only when this worker made
    them), and at the end ``completed()``, ``cancelled()`` or ``failed(msg)``.
    """

    lungsReady = QtCore.pyqtSignal()
    lungsComplete = QtCore.pyqtSignal()
    sliceReady = QtCore.pyqtSignal(int)
    progressed = QtCore.pyqtSignal(int, int)
    completed = QtCore.pyqtSignal()
    cancelled = QtCore.pyqtSignal()
    failed = QtCore.pyqtSignal(str)

    #: slices per model call after the first (the Localizer's own batch size)
    BATCH_SIZE = 8
    #: slices whose lungs are finished between two looks at the reader's requests (and a cancel)
    LUNG_CHUNK = 16

    def __init__(self, voxels: np.ndarray, store: SeriesMapStore, localize: Callable,
                 segment: Callable, start: int = 0, parent=None, batch_size: int | None = None,
                 plan: Callable | None = None, verify: Callable | None = None):
        super().__init__(parent)
        if voxels.shape != store.shape:
            raise ValueError(f"localize: volume shape {voxels.shape} differs from the map "
                             f"store's {store.shape}")
        self.voxels = voxels
        self.store = store
        self._localize = localize
        self._segment = segment
        self._plan = plan
        self._verify = verify
        self.batch_size = max(1, int(batch_size or self.BATCH_SIZE))
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._queue = self._all_missing(start)
        self._priority: list[int] = []
        self._first = True
        self._start = start
        #: the slice indices of each ``localize`` call, in order (read by tests)
        self.batches: list[list[int]] = []

    def _all_missing(self, start: int) -> list[int]:
        return [i for i in outward_order(self.voxels.shape[0], start) if not self.store.has_map(i)]

    def cancel(self) -> None:
        self._cancel.set()

    def prioritize(self, i: int) -> None:
        """Compute slice ``i`` next (when not done yet)."""
        with self._lock:
            if 0 <= i < self.voxels.shape[0] and not self.store.has_map(i):
                self._priority = [i]

    def _next_batch(self) -> list[int]:
        """The next slices to localize: the shown slice alone the first time, then up to
        ``batch_size`` (a prioritized slice first, then the queue's order)."""
        size = 1 if self._first else self.batch_size
        self._first = False
        out: list[int] = []
        with self._lock:
            while self._priority and len(out) < size:
                i = self._priority.pop()
                if not self.store.has_map(i) and i not in out:
                    out.append(i)
            while self._queue and len(out) < size:
                i = self._queue.pop(0)
                if not self.store.has_map(i) and i not in out:
                    out.append(i)
        return out

    def run(self) -> None:
        total = self.voxels.shape[0]
        try:
            lungs = None  # the SeriesLungs being finished, while the store lacks some slices'
            if self.store.has_lungs():
                plan_lungs = self.store.lungs()
            else:
                made = self._segment(self.voxels)
                if self._cancel.is_set():
                    self.cancelled.emit()
                    return
                lungs = made if hasattr(made, "front") else _Finished(made)
                plan_lungs = lungs.front()
                self.store.put_lungs_front(plan_lungs)
                del made
            if self._plan is not None:
                self._plan(plan_lungs)
            del plan_lungs
            self.lungsReady.emit()
            while not self._cancel.is_set():
                batch = self._next_batch()
                if not batch and lungs is None:
                    break
                if batch:
                    self.batches.append(batch)
                    if lungs is not None:  # the shown slice's lungs, finished just before its map
                        lungs.finish(batch)
                        for i in batch:
                            if not self.store.has_lungs_at(i):
                                self.store.put_lungs_slice(i, lungs.get(i))
                    stack = self.voxels[batch]  # (k, y, x), a copy in the batch's order
                    maps = np.asarray(self._localize(stack), dtype=np.float32).reshape(stack.shape)
                    if self._cancel.is_set():
                        break
                    for i, lesion_map in zip(batch, maps):
                        self.store.put(i, lesion_map)
                        self.sliceReady.emit(i)
                    self.progressed.emit(self.store.n_done(), total)
                if lungs is not None and not self._cancel.is_set():
                    # after the first map: every slice's lungs, then the plan checked against
                    # them before the rest (when it changed, the maps made so far, the first
                    # and any the reader scrolled to meanwhile, are made again)
                    if self._complete_lungs(lungs) is None:
                        break  # cancelled
                    lungs = None
        except Exception as exc:
            traceback.print_exc()
            self.failed.emit(f"localization: {_one_line(exc)}")
            return
        if self._cancel.is_set():
            self.cancelled.emit()
        else:
            self.completed.emit()

    def _complete_lungs(self, lungs) -> bool | None:
        """Every slice's finished lungs into the store, a few slices at a time outwards from the
        shown one (a slice the reader scrolls to is localized in between, with the plan so
        far; cancelling stops between chunks: None). False when ``verify`` found the plan
        changed: the maps made so far are then cleared and queued again."""
        n = self.voxels.shape[0]
        order = [i for i in outward_order(n, self._start) if not lungs.is_finished(i)]
        for k in range(0, len(order), self.LUNG_CHUNK):
            if self._cancel.is_set():
                return None
            lungs.finish(order[k:k + self.LUNG_CHUNK])
            self._serve_priority(lungs)
        if self._cancel.is_set():
            return None
        final = lungs.result()
        self.store.put_lungs(final)  # one write and flush (the finished slices are the same)
        same = True if self._verify is None else bool(self._verify(final))
        del final
        if not same:
            self.store.clear_maps()
            with self._lock:
                self._queue = self._all_missing(self._start)
        self.lungsComplete.emit()
        return same

    def _serve_priority(self, lungs) -> None:
        """The slice the reader asked for (``prioritize``) while the lungs are being finished:
        its lungs, then its map, now."""
        with self._lock:
            wanted = [i for i in self._priority if not self.store.has_map(i)]
            self._priority = []
        for i in wanted:
            if self._cancel.is_set():
                return
            lungs.finish([i])
            if not self.store.has_lungs_at(i):
                self.store.put_lungs_slice(i, lungs.get(i))
            self.batches.append([i])
            stack = self.voxels[[i]]
            lesion_map = np.asarray(self._localize(stack), dtype=np.float32).reshape(stack.shape)[0]
            if self._cancel.is_set():
                return
            self.store.put(i, lesion_map)
            self.sliceReady.emit(i)
            self.progressed.emit(self.store.n_done(), self.voxels.shape[0])


class _Finished:
    """A finished lung mask ``bool (z, y, x)`` with the ``SeriesLungs`` calls the worker uses."""

    def __init__(self, mask):
        self.mask = np.asarray(mask, dtype=bool)

    def front(self):
        return self.mask

    def finish(self, _indices) -> None:
        return None

    def is_finished(self, _i: int) -> bool:
        return True

    def get(self, i: int):
        return self.mask[i]

    def result(self):
        return self.mask
