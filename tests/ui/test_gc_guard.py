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
