"""Cyclic garbage is collected on the GUI thread only (viewer.ui.gc_guard)."""
from __future__ import annotations

import gc
import threading

from viewer.ui import gc_guard


class _Cycle:
    def __init__(self):
        self.me = self


def test_collection_runs_on_the_gui_thread_even_when_a_worker_allocates(qtbot):
    guard = gc_guard.install()
    assert gc_guard.install() is guard and not gc.isenabled()
    threads = []

    def record(phase, info):
        if phase == "start":
            threads.append(threading.current_thread())

    gc.callbacks.append(record)
    try:
        worker = threading.Thread(target=lambda: [_Cycle() for _ in range(20000)])
        worker.start()
        worker.join()
        before = guard.collections
        qtbot.waitUntil(lambda: guard.collections > before, timeout=10000)
    finally:
        gc.callbacks.remove(record)
    assert threads and all(t is threading.main_thread() for t in threads)


def test_a_started_worker_is_held_until_its_thread_has_ended(qtbot):
    """The only reference to a running worker dropped in its own ``finished`` handler, and a
    collection while it runs: the QThread object lives on until the GUI thread sees the thread
    ended (Qt aborts on destroying a running QThread), then it is let go."""
    import weakref

    from viewer.ui import workers

    gate = threading.Event()
    holder = [workers.CallWorker(lambda _p: gate.wait(10), "held")]
    holder[0].finished.connect(lambda: holder.clear())  # runs in the worker's thread
    ref = weakref.ref(holder[0])
    holder[0].start()
    gc.collect()
    assert ref() is not None and ref().isRunning()
    gate.set()
    qtbot.waitUntil(lambda: ref() is None or ref().isFinished(), timeout=10000)
    assert not holder  # the handler dropped its reference in the worker's thread
    qtbot.waitUntil(lambda: workers.release_ended() == 0 or ref() is None, timeout=10000)
    gc.collect()
    qtbot.waitUntil(lambda: ref() is None, timeout=10000)
