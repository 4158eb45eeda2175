"""The display settings a reading list fixes (threshold, opacity, colormap, window) over the
reader's own, and back when the list closes.

While a list fixes them: the session refuses other thresholds, the overlay and refine controls
and the typed W/L box are disabled, window presets are refused with a status note, and a window
set any other way (right-drag) is put back. The reader's own settings are remembered and
restored when the list is closed.
"""
from __future__ import annotations

from typing import Callable

from viewer.core.windowing import PRESETS


class DisplayLock:
    """``state()``: what the item on screen is seen with (stored with every score);
    ``fix(settings or None)``; ``window_changed(width, level)`` (the view's signal);
    ``apply_preset(name)``. ``fixed()`` returns the list's settings in force, or None;
    ``window_box()`` the typed W/L box (built after the controllers)."""

    def __init__(self, session, overlay_controls, view, refine, window_box: Callable[[], object],
                 show_status: Callable[[str, int], None], fixed: Callable[[], object]):
        self.session, self.oc, self.view = session, overlay_controls, view
        self.refine, self.window_box = refine, window_box
        self.show_status, self.fixed = show_status, fixed
        self._reader: dict | None = None  # the reader's own settings while a list fixes them

    def state(self) -> dict:
        st = self.oc.style()
        return {"threshold": self.session.threshold, "opacity": st.opacity,
                "colormap": st.colormap, "window_width": self.view.width_hu,
                "window_level": self.view.level_hu}

    def fix(self, d) -> None:
        """A reading list's ``DisplaySettings``, or None: the reader's own settings back."""
        oc = self.oc
        if d is not None:
            if self._reader is None:
                self._reader = self.state()
            self.session.fix_threshold(None)
            oc.show_style(d.colormap, d.opacity)
            self.session.fix_threshold(d.threshold)
            self.view.set_window(d.window_width, d.window_level, "reading list")
            oc.set_fixed(True)
            self.refine.threshold.setEnabled(False)
            self.window_box().setEnabled(False)  # typed W/L and user presets too
            return
        self.session.fix_threshold(None)
        oc.set_fixed(False)
        self.refine.threshold.setEnabled(True)
        self.window_box().setEnabled(True)
        back, self._reader = self._reader, None
        if back is not None:
            oc.show_style(back["colormap"], back["opacity"])
            self.session.set_threshold(back["threshold"], record=False)
            self.view.set_window(back["window_width"], back["window_level"])

    def window_changed(self, width: float, level: float) -> None:
        d = self.fixed()
        if d is not None and (width, level) != (d.window_width, d.window_level):
            self.view.set_window(d.window_width, d.window_level, "reading list")
            self.show_status("window fixed by the reading list", 4000)

    def apply_preset(self, name: str) -> None:
        if self.fixed() is not None:
            self.show_status("window fixed by the reading list", 4000)
            return
        p = PRESETS[name]
        self.view.set_window(p.width, p.level, p.name)
