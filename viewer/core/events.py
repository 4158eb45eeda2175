"""A plain event hub: named events, callbacks in connection order, no Qt.

```python
hub = EventHub("threshold", "slice")
hub.connect("threshold", lambda t: print(t))
hub.emit("threshold", 0.4)        # calls every callback of "threshold" with 0.4, in order
```
Unknown event names raise ``KeyError`` (a typo must not pass silently). Callbacks run on the
emitting thread; the reading session emits from the GUI thread only.
"""
from __future__ import annotations

from typing import Callable


class EventHub:
    """Callbacks by event name; the names are fixed when the hub is made."""

    def __init__(self, *names: str):
        self._callbacks: dict[str, list[Callable]] = {n: [] for n in names}

    def connect(self, name: str, callback: Callable) -> None:
        """Call ``callback(*args)`` on every ``emit(name, *args)``."""
        self._callbacks[name].append(callback)

    def disconnect(self, name: str, callback: Callable) -> None:
        """Forget ``callback`` for ``name`` (no error when it was not connected)."""
        cbs = self._callbacks[name]
        if callback in cbs:
            cbs.remove(callback)

    def clear(self) -> None:
        """Drop every callback (a closing window unsubscribes its views)."""
        for cbs in self._callbacks.values():
            cbs.clear()

    def emit(self, name: str, *args) -> None:
        for cb in list(self._callbacks[name]):
            cb(*args)
