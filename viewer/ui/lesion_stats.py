"""Per-slice lesion counts for the severity panel, kept for the whole series as small arrays.

For each slice the window keeps four pixel counts (lung, lesion inside the lung, ground glass and
consolidation inside the lesion); percentages, volumes in ml and categories are derived from them
with ``viewer.core.severity``. Arrays are ``float64 (z,)``, NaN for slices not localized yet, so a
1000-slice series costs 32 kB.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from viewer.core import severity


def slice_counts(mask: np.ndarray, lungs: np.ndarray, hu: np.ndarray | None) -> tuple:
    """``(lung_px, lesion_px, ggo_px, cons_px)`` of one slice.

    ``mask``, ``lungs``: ``bool (y, x)``; the lesion counts only inside the lungs. ``hu``:
    ``float32 (y, x)`` HU slice, or None for 8-bit pictures (then ggo/cons are NaN).
    """
    s = severity.slice_severity(mask, lungs, hu)
    if hu is None:
        return float(s.lung_px), float(s.lesion_px), np.nan, np.nan
    return float(s.lung_px), float(s.lesion_px), float(s.ggo_px), float(s.consolidation_px)


@dataclass
class SeriesCounts:
    """Counts of every slice of a series: four ``float64 (z,)`` arrays, NaN = not known."""

    lung: np.ndarray
    lesion: np.ndarray
    ggo: np.ndarray
    cons: np.ndarray

    @classmethod
    def empty(cls, n: int) -> "SeriesCounts":
        return cls(*(np.full(int(n), np.nan) for _ in range(4)))

    def set(self, i: int, counts: tuple) -> None:
        self.lung[i], self.lesion[i], self.ggo[i], self.cons[i] = counts

    def lesion_pct(self) -> np.ndarray:
        """Lesion % of lung area per slice; NaN where unknown or without lung."""
        with np.errstate(invalid="ignore", divide="ignore"):
            pct = 100.0 * self.lesion / self.lung
        pct[~(self.lung > 0)] = np.nan
        return pct

    def slice_summary(self, i: int) -> dict | None:
        """Numbers for slice ``i``: lesion %, category, ggo/consolidation shares of the lesion
        (%; None for pictures or an empty lesion); None when the slice is not known or lungless."""
        lung, lesion = self.lung[i], self.lesion[i]
        if not np.isfinite(lung) or lung <= 0:
            return None
        pct = 100.0 * lesion / lung
        return {"lesion_pct": pct, "category": severity.category(pct),
                **_shares(self.ggo[i], self.cons[i], lesion)}

    def series_summary(self, voxel_ml: float | None) -> dict | None:
        """Totals over the known slices: lesion % of lung volume, ml (None without a voxel
        volume, e.g. for pictures), category, shares."""
        known = np.isfinite(self.lung)
        lung = float(np.sum(self.lung[known]))
        if lung <= 0:
            return None
        lesion = float(np.sum(self.lesion[known]))
        pct = 100.0 * lesion / lung
        ggo = float(np.nansum(self.ggo[known])) if np.isfinite(self.ggo[known]).any() else np.nan
        cons = float(np.nansum(self.cons[known])) if np.isfinite(self.cons[known]).any() else np.nan
        return {"lesion_pct": pct, "category": severity.category(pct),
                "lesion_ml": None if voxel_ml is None else lesion * voxel_ml,
                "lung_ml": None if voxel_ml is None else lung * voxel_ml,
                "done": int(known.sum()), **_shares(ggo, cons, lesion)}


def _shares(ggo: float, cons: float, lesion: float) -> dict:
    if not np.isfinite(ggo) or lesion <= 0:
        return {"ggo_share": None, "cons_share": None}
    return {"ggo_share": 100.0 * ggo / lesion, "cons_share": 100.0 * cons / lesion}
