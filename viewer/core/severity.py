"""Lesion burden: lesion area / lung area per slice, lesion volume / lung volume per series.

Categories (Yang et al., after the Chinese COVID-19 guideline), on the lesion percentage ``p`` of
the lung, with exact boundaries:

    mild      0 <= p < 10
    common   10 <= p < 30      (10.0 is common)
    severe   30 <= p <= 50     (30.0 and 50.0 are severe)
    critical 50 <  p <= 100

Beyond the paper, for HU input the lesion is split by density:

    ground-glass opacity (GGO)   -750 <= HU < -300     (``GGO_HU``)
    consolidation                 HU >= -300           (``CONSOLIDATION_HU``)

Lesion voxels below -750 HU (aerated lung inside a drawn lesion) belong to neither share, so the
two shares may sum to less than 100 %.

Inputs: ``lesion`` is a ``bool`` mask, or a float lesion map in [0, 1] with a ``threshold``
(lesion = ``map >= threshold``, as everywhere in the project); ``lung`` a ``bool`` mask of the same
shape; ``hu`` an optional ``float`` HU array of the same shape. Arrays are ``(y, x)`` for a slice
and ``(z, y, x)`` for a series. The lesion is always restricted to the lung. ``spacing`` is
``(z, y, x)`` in mm (``(y, x)`` accepted for a slice); without it areas and volumes are None.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Ground-glass opacity: ``GGO_HU[0] <= HU < GGO_HU[1]``.
GGO_HU = (-750.0, -300.0)
#: Consolidation: ``HU >= CONSOLIDATION_HU``.
CONSOLIDATION_HU = -300.0

#: Category names in increasing order, with the lower bound of each (percent of lung).
CATEGORIES = ("mild", "common", "severe", "critical")
MILD_BELOW = 10.0
COMMON_BELOW = 30.0
SEVERE_UP_TO = 50.0


def category(pct: float) -> str:
    """Severity category of a lesion percentage of the lung (see the module docstring).

    ValueError unless ``pct`` is a finite number in [0, 100] (1e-6 rounding slack above 100).
    """
    try:
        p = float(pct)
    except (TypeError, ValueError):
        raise ValueError(f"severity: lesion percentage must be a number, got {pct!r}")
    if not math.isfinite(p) or p < 0.0 or p > 100.0 + 1e-6:
        raise ValueError(f"severity: lesion percentage must lie in 0..100, got {pct!r}")
    if p < MILD_BELOW:
        return "mild"
    if p < COMMON_BELOW:
        return "common"
    if p <= SEVERE_UP_TO:
        return "severe"
    return "critical"


@dataclass(frozen=True)
class SliceSeverity:
    """Lesion burden of one slice.

    ``lung_px``/``lesion_px``: pixel counts (lesion inside the lung). ``lung_mm2``/``lesion_mm2``:
    areas in mm^2, None without spacing. ``lesion_pct``: 100 * lesion / lung, None when the slice
    has no lung (``category`` is then None too). ``ggo_px``/``consolidation_px`` and the shares
    ``ggo_pct``/``consolidation_pct`` (percent of the lesion) are None for 8-bit input; the shares
    are also None when the lesion is empty.
    """

    index: int | None
    lung_px: int
    lesion_px: int
    lung_mm2: float | None
    lesion_mm2: float | None
    lesion_pct: float | None
    category: str | None
    ggo_px: int | None = None
    consolidation_px: int | None = None
    ggo_pct: float | None = None
    consolidation_pct: float | None = None


@dataclass(frozen=True)
class SeriesSeverity:
    """Lesion burden of a series: totals over all slices plus the per-slice values.

    ``lung_ml``/``lesion_ml``/``ggo_ml``/``consolidation_ml``: volumes in ml (1 ml = 1000 mm^3),
    None without spacing (the GGO / consolidation ones also for 8-bit input). ``lesion_pct``:
    100 * lesion volume / lung volume, None without lung. Shares as in ``SliceSeverity``.
    """

    lung_voxels: int
    lesion_voxels: int
    lung_ml: float | None
    lesion_ml: float | None
    lesion_pct: float | None
    category: str | None
    ggo_voxels: int | None
    consolidation_voxels: int | None
    ggo_ml: float | None
    consolidation_ml: float | None
    ggo_pct: float | None
    consolidation_pct: float | None
    slices: tuple[SliceSeverity, ...]


def lesion_mask(lesion: np.ndarray, threshold: float | None = None) -> np.ndarray:
    """``bool`` lesion mask from a mask (returned as bool) or a map in [0, 1] (``>= threshold``).

    ValueError for a float map without a threshold, or a threshold outside [0, 1].
    """
    arr = np.asarray(lesion)
    if arr.dtype == bool:
        return arr
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"severity: lesion must be a bool mask or a numeric map, got {arr.dtype}")
    if threshold is None:
        raise ValueError("severity: a lesion map needs a threshold (lesion = map >= threshold)")
    t = float(threshold)
    if not math.isfinite(t) or not 0.0 <= t <= 1.0:
        raise ValueError(f"severity: threshold must lie in [0, 1], got {threshold!r}")
    return arr >= t


def slice_severity(
    lesion: np.ndarray,
    lung: np.ndarray,
    hu: np.ndarray | None = None,
    spacing: tuple[float, ...] | None = None,
    *,
    threshold: float | None = None,
    index: int | None = None,
) -> SliceSeverity:
    """Severity of one slice; arrays ``(y, x)``, see the module docstring for the inputs."""
    les, lng, hu_arr = _prepare(lesion, lung, hu, threshold, ndim=2)
    pixel_mm2 = _pixel_mm2(spacing)
    lung_px = int(np.count_nonzero(lng))
    lesion_px = int(np.count_nonzero(les))
    ggo_px = cons_px = None
    if hu_arr is not None:
        ggo_px, cons_px = _density_counts(hu_arr[les])
    return _slice_record(index, lung_px, lesion_px, ggo_px, cons_px, pixel_mm2)


def series_severity(
    lesion: np.ndarray,
    lung: np.ndarray,
    hu: np.ndarray | None = None,
    spacing: tuple[float, ...] | None = None,
    *,
    threshold: float | None = None,
) -> SeriesSeverity:
    """Severity of a series; arrays ``(z, y, x)``, ``spacing`` ``(z, y, x)`` mm."""
    les, lng, hu_arr = _prepare(lesion, lung, hu, threshold, ndim=3)
    sp = _spacing(spacing, 3) if spacing is not None else None
    pixel_mm2 = sp[1] * sp[2] if sp else None
    voxel_ml = sp[0] * sp[1] * sp[2] / 1000.0 if sp else None

    lung_z = np.count_nonzero(lng, axis=(1, 2))
    lesion_z = np.count_nonzero(les, axis=(1, 2))
    ggo_z = cons_z = None
    if hu_arr is not None:
        lo, hi = np.float32(GGO_HU[0]), np.float32(GGO_HU[1])
        ggo_z = np.count_nonzero(les & (hu_arr >= lo) & (hu_arr < hi), axis=(1, 2))
        cons_z = np.count_nonzero(les & (hu_arr >= np.float32(CONSOLIDATION_HU)), axis=(1, 2))
    slices = tuple(
        _slice_record(
            k,
            int(lung_z[k]),
            int(lesion_z[k]),
            None if ggo_z is None else int(ggo_z[k]),
            None if cons_z is None else int(cons_z[k]),
            pixel_mm2,
        )
        for k in range(les.shape[0])
    )
    lung_n, lesion_n = int(lung_z.sum()), int(lesion_z.sum())
    ggo_n = None if ggo_z is None else int(ggo_z.sum())
    cons_n = None if cons_z is None else int(cons_z.sum())
    pct = 100.0 * lesion_n / lung_n if lung_n else None
    ggo_share, cons_share = _shares(ggo_n, cons_n, lesion_n)
    return SeriesSeverity(
        lung_voxels=lung_n,
        lesion_voxels=lesion_n,
        lung_ml=_scaled(lung_n, voxel_ml),
        lesion_ml=_scaled(lesion_n, voxel_ml),
        lesion_pct=pct,
        category=None if pct is None else category(pct),
        ggo_voxels=ggo_n,
        consolidation_voxels=cons_n,
        ggo_ml=_scaled(ggo_n, voxel_ml),
        consolidation_ml=_scaled(cons_n, voxel_ml),
        ggo_pct=ggo_share,
        consolidation_pct=cons_share,
        slices=slices,
    )


# --------------------------------------------------------------------------- helpers


def _prepare(lesion, lung, hu, threshold, ndim: int):
    les = lesion_mask(lesion, threshold)
    lng = np.asarray(lung)
    what = "slice (y, x)" if ndim == 2 else "series (z, y, x)"
    if les.ndim != ndim:
        raise ValueError(f"severity: lesion must be a {what}, got shape {les.shape}")
    if lng.dtype != bool:
        raise ValueError(f"severity: lung mask must be bool, got {lng.dtype}")
    if lng.shape != les.shape:
        raise ValueError(f"severity: lung mask shape {lng.shape} != lesion shape {les.shape}")
    hu_arr = None
    if hu is not None:
        hu_arr = np.asarray(hu)
        if hu_arr.shape != les.shape:
            raise ValueError(f"severity: HU shape {hu_arr.shape} != lesion shape {les.shape}")
        if hu_arr.dtype.kind not in "biuf":
            raise ValueError(f"severity: HU array must be numeric, got {hu_arr.dtype}")
    return les & lng, lng, hu_arr


def _density_counts(values: np.ndarray) -> tuple[int, int]:
    v = values.astype(np.float32, copy=False)
    ggo = int(np.count_nonzero((v >= GGO_HU[0]) & (v < GGO_HU[1])))
    cons = int(np.count_nonzero(v >= CONSOLIDATION_HU))
    return ggo, cons


def _slice_record(index, lung_px, lesion_px, ggo_px, cons_px, pixel_mm2) -> SliceSeverity:
    pct = 100.0 * lesion_px / lung_px if lung_px else None
    ggo_share, cons_share = _shares(ggo_px, cons_px, lesion_px)
    return SliceSeverity(
        index=index,
        lung_px=lung_px,
        lesion_px=lesion_px,
        lung_mm2=_scaled(lung_px, pixel_mm2),
        lesion_mm2=_scaled(lesion_px, pixel_mm2),
        lesion_pct=pct,
        category=None if pct is None else category(pct),
        ggo_px=ggo_px,
        consolidation_px=cons_px,
        ggo_pct=ggo_share,
        consolidation_pct=cons_share,
    )


def _shares(ggo, cons, lesion) -> tuple[float | None, float | None]:
    if ggo is None or cons is None or not lesion:
        return None, None
    return 100.0 * ggo / lesion, 100.0 * cons / lesion


def _scaled(count, unit) -> float | None:
    return None if count is None or unit is None else float(count) * unit


def _pixel_mm2(spacing) -> float | None:
    if spacing is None:
        return None
    sp = _spacing(spacing, None)
    return sp[-2] * sp[-1]


def _spacing(spacing, n: int | None) -> tuple[float, ...]:
    try:
        sp = tuple(float(s) for s in spacing)
    except (TypeError, ValueError):
        raise ValueError(f"severity: spacing must be numbers in mm, got {spacing!r}")
    ok_len = len(sp) == n if n is not None else len(sp) in (2, 3)
    if not ok_len or not all(math.isfinite(s) and s > 0 for s in sp):
        want = f"{n}" if n is not None else "2 or 3"
        raise ValueError(f"severity: spacing must be {want} positive mm values, got {spacing!r}")
    return sp
