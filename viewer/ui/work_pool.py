"""The window's background work: named worker slots, debounce timers, and a safe shutdown.

A worker's queued signals that arrive after the window closed are dropped (``on``); the
debounce timers are children of the window and stopped at close (``shut_down``), so nothing
fires into a closed window; a worker still running at close is retired (kept alive without a
parent until its thread ends, ``viewer.ui.workers.retire``).
"""
from __future__ import annotations

from typing import Callable

from PyQt6 import QtCore

from viewer.ui.workers import disconnect_results, retire

#: the slots, one worker each: scanning, reading pixels, the lungs segmented while the
#: localizer is built, localizing, recounting, exporting
SLOTS = ("scan", "load", "lungs", "loc", "stats", "export")


class WorkPool:
    """Workers and timers owned by ``owner`` (a QObject); ``alive()`` says whether its
    callbacks may still run (False once the window is closing or deleted)."""

    def __init__(self, owner: QtCore.QObject, alive: Callable[[], bool]):
        self.owner = owner
        self.alive = alive
        self.workers: list[QtCore.QThread] = []
        self.timers: list[QtCore.QTimer] = []
        self.slots: dict[str, QtCore.QThread | None] = dict.fromkeys(SLOTS)

    def on(self, signal, fn: Callable) -> None:
        """Connect a worker signal to ``fn``; calls arriving after the window closed are
        ignored instead of touching deleted widgets."""
        signal.connect(lambda *args: fn(*args) if self.alive() else None)

    def debounce(self, ms: int, fn: Callable) -> QtCore.QTimer:
        """A single-shot timer of the owner calling ``fn`` (only while it is alive)."""
        t = QtCore.QTimer(self.owner, singleShot=True, interval=ms)
        t.timeout.connect(lambda: fn() if self.alive() else None)
        self.timers.append(t)
        return t

    def keep(self, w: QtCore.QThread, slot: str | None = None) -> QtCore.QThread:
        """Hold ``w`` until its thread ends; with ``slot``, it is that slot's worker."""
        self.workers.append(w)
        w.finished.connect(lambda w=w: self.workers.remove(w) if w in self.workers else None)
        if slot is not None:
            self.slots[slot] = w
        return w

    def get(self, slot: str):
        return self.slots[slot]

    def release(self, slot: str) -> None:
        """The slot's worker is done (its thread may still be ending)."""
        self.slots[slot] = None

    def cancel(self, *slots: str) -> None:
        """Cancel the workers of ``slots`` (what they did stays) and empty the slots."""
        for s in slots:
            w = self.slots[s]
            if w is not None:
                w.cancel()
                self.slots[s] = None

    def busy(self, *slots: str) -> bool:
        return any(self.slots[s] is not None for s in slots)

    def wait(self, ms: int = 5000) -> None:
        for w in list(self.workers):
            w.wait(ms)

    def shut_down(self, wait_ms: int) -> None:
        """Stop the timers, cancel every worker, cut its signals and wait ``wait_ms`` for
        each; one still running is retired, so the owner's deletion never destroys a running
        thread."""
        for t in self.timers:
            t.stop()
        self.cancel(*SLOTS)
        workers = list(self.workers)
        for w in workers:
            getattr(w, "cancel", lambda: None)()
            disconnect_results(w)
        for w in workers:
            w.wait(wait_ms)
        for w in workers:
            retire(w)
