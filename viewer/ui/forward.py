"""``forward("session.threshold")``: a property that reads and writes an attribute of a part.

The main window keeps its public attributes (``win.threshold``, ``win.store``, ...) as views of
the session and controllers that own them, so callers and tests see one window.
"""
from __future__ import annotations

from operator import attrgetter


def forward(path: str, doc: str | None = None) -> property:
    """A property reading and writing ``self.<path>`` (dotted, e.g. ``"study.cam_request"``)."""
    owner_path, name = path.rsplit(".", 1)
    owner = attrgetter(owner_path)

    def get(self):
        return getattr(owner(self), name)

    def set_(self, value) -> None:
        setattr(owner(self), name, value)

    return property(get, set_, doc=doc or f"``self.{path}``")


def worker_slot(slot: str) -> property:
    """A read-only property: the worker of ``self.pool``'s ``slot`` (None when idle)."""
    return property(lambda self: self.pool.get(slot), doc=f"the {slot!r} worker or None")
