"""Calibrating the severity threshold at both ends, with the product's own lesion pipeline.

The operating threshold on the absolute [0, 1] map must make

- normal lungs read about 0 %: the lesion share of the lung of normal slices (pictures: the
  held-out non-COVID training slices; HU series: e.g. LIDC-IDRI-0001) stays at or below
  ``normal_target`` percent (the mean over picture slices; the whole-series share for a series);
- the lesion share of labelled slices (MedSeg validation) right: among the thresholds that keep
  the normal targets, the one with the smallest mean absolute error (points) is chosen. When no
  threshold keeps them, the one with the smallest normal share is chosen and the result says so.

Pictures and HU series are calibrated apart, on one scale: the picture threshold comes from the
labelled and normal pictures as above; the HU threshold is the lowest that keeps every normal HU
series at the target (normal HU lungs leave a larger residual than the training pictures). The
localizer then stores a map scale per kind of input (``map_scale``, ``map_scale_hu``) such
that both thresholds fall on the same map value, the one threshold the user sees.

Lungs come from ``viewer.core.lung_mask.segment_lungs`` (one segmentation per series, 2-D for a
single picture) and maps from ``Localizer.apply`` with the series' input plan: exactly what the
viewer and ``localize`` do. Qt-free.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

GRID = np.round(np.arange(0.01, 1.0001, 0.01), 2)


def share_curve(maps: np.ndarray, lungs: np.ndarray, grid: np.ndarray = GRID) -> np.ndarray:
    """Lesion share of the lung (percent) of one slice or series for every threshold of ``grid``
    (map >= t inside the lungs); NaN when there is no lung. ``maps`` float [0, 1] and ``lungs``
    bool, same shape."""
    maps = np.asarray(maps)
    lungs = np.asarray(lungs, dtype=bool)
    if maps.shape != lungs.shape:
        raise ValueError(f"map {maps.shape} and lung mask {lungs.shape} differ in shape")
    area = int(lungs.sum())
    if area == 0:
        return np.full(len(grid), np.nan)
    vals = np.sort(maps[lungs].ravel())
    above = area - np.searchsorted(vals, grid, side="left")
    return 100.0 * above / area


@dataclass
class CalibrationResult:
    threshold: float
    met: bool
    val_mae_points: float
    val_bias_points: float
    val_mae_if_zero_points: float
    normal_picture_mean_pct: float | None
    normal_series_pct: dict[str, float] = field(default_factory=dict)
    normal_target: float = 2.0
    normal_target_hu: float = 2.0
    n_val: int = 0
    n_normal_pictures: int = 0
    hu_threshold: float | None = None   # on the calibration scale; None without normal series
    hu_met: bool = True
    tradeoff: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def choose_threshold(val_curves: list[np.ndarray], val_true: list[float],
                     normal_picture_curves: list[np.ndarray], normal_series_curves: dict[str, np.ndarray],
                     normal_target: float = 2.0, grid: np.ndarray = GRID,
                     normal_target_hu: float | None = None) -> CalibrationResult:
    """Pick the thresholds (see the module docstring) from precomputed share curves.
    ``normal_target_hu``: the target for the normal HU series (default ``normal_target``); a
    lower one leaves a margin for scanners other than the one the series comes from."""
    target_hu = normal_target if normal_target_hu is None else float(normal_target_hu)
    if not val_curves or len(val_curves) != len(val_true):
        raise ValueError("calibration needs labelled slices with their true lesion shares")
    vc = np.array([c for c in val_curves])
    keep = ~np.isnan(vc[:, 0])
    if not keep.any():
        raise ValueError("calibration: no labelled slice has a lung")
    vc, vt = vc[keep], np.asarray(val_true, dtype=np.float64)[keep]
    err = vc - vt[:, None]
    mae = np.abs(err).mean(axis=0)
    pic = None
    if normal_picture_curves:
        pc = np.array(normal_picture_curves)
        pc = pc[~np.isnan(pc[:, 0])]
        pic = pc.mean(axis=0) if len(pc) else None
    ok = (pic <= normal_target) if pic is not None else np.ones(len(grid), bool)
    if ok.any():
        k = int(np.flatnonzero(ok)[np.argmin(mae[ok])])
        met = True
    else:
        k = int(np.argmin(pic))
        met = False
    hu_threshold, hu_met, h = None, True, k
    series = [c for c in normal_series_curves.values() if not np.isnan(c[0])]
    if series:
        worst = np.max(np.array(series), axis=0)
        hu_ok = worst <= target_hu
        hu_met = bool(hu_ok.any())
        h = int(np.flatnonzero(hu_ok)[0]) if hu_met else int(np.argmin(worst))
        hu_threshold = float(grid[h])
    table = []
    for j in range(0, len(grid), max(1, len(grid) // 20)):
        table.append({"threshold": float(grid[j]), "val_mae": round(float(mae[j]), 2),
                      "val_bias": round(float(err[:, j].mean()), 2),
                      "normal_pictures_pct": None if pic is None else round(float(pic[j]), 2),
                      **{f"series_pct:{n[:24]}": round(float(c[j]), 2)
                         for n, c in normal_series_curves.items()}})
    return CalibrationResult(
        threshold=float(grid[k]), met=met, val_mae_points=float(mae[k]),
        val_bias_points=float(err[:, k].mean()), val_mae_if_zero_points=float(np.mean(vt)),
        normal_picture_mean_pct=None if pic is None else float(pic[k]),
        normal_series_pct={n: float(c[h])
                           for n, c in normal_series_curves.items()},
        normal_target=float(normal_target), normal_target_hu=target_hu, n_val=int(len(vt)),
        n_normal_pictures=0 if not normal_picture_curves else len(normal_picture_curves),
        hu_threshold=hu_threshold, hu_met=hu_met, tradeoff=table)
