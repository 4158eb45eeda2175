"""The reader study's rules about keys and re-scoring, without Qt.

* :func:`score_keys_allowed`: keys 1–5 score only while the Reader study panel is raised (its
  dock tab actually on screen) and a study item is on screen; N (next unscored item) only while
  the panel is raised and a reading list is open. Otherwise the viewer's own keys act
  (1–3 window presets, N next series).
* :class:`RescoreGuard`: a score never silently replaces an earlier one. The first request to
  score an already scored item is held and the reader is asked to confirm; the same score asked
  again for the same item (second key press or button click) confirms it.
"""
from __future__ import annotations

from dataclasses import dataclass


def score_keys_allowed(key: str, *, panel_raised: bool, reader_ready: bool,
                       keys_enabled: bool, item_on_screen: bool, list_open: bool) -> bool:
    """Whether ``key`` (``"1"``..``"5"`` or ``"N"``) goes to the score panel."""
    if not (panel_raised and reader_ready and keys_enabled):
        return False
    if key.upper() == "N":
        return list_open
    return item_on_screen


@dataclass
class RescoreGuard:
    """Holds a re-score until it is confirmed (see the module docstring)."""

    pending: tuple | None = None  # (item key, score) waiting for confirmation

    def decide(self, key, score: int, previous_score: int | None) -> str:
        """``"save"`` (first score, or a confirmed change) or ``"confirm"`` (ask first)."""
        if previous_score is None:
            self.pending = None
            return "save"
        if self.pending == (key, int(score)):
            self.pending = None
            return "save"
        self.pending = (key, int(score))
        return "confirm"

    def clear(self) -> None:
        self.pending = None
