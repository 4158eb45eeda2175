"""Localization and classification metrics of the paper, numpy-vectorised.

Inputs are lists of per-image arrays: maps ``float (y, x)`` in [0, 1] and masks ``bool (y, x)``
of the same shape (images may differ in size). A pixel is predicted lesion when
``map >= threshold``.

Pooling choices (documented, because the paper does not spell them out):

* ``auc`` and the ROC curve pool every pixel of every image (one big ranking), as the paper's
  "pixel-level AUC on the test set".
* ``accuracy``, ``sensitivity``, ``specificity``, ``precision`` and ``f1`` pool the confusion
  counts over all pixels of all images. Pooled F1 equals pooled Dice by identity, yet the paper
  reports Dice 0.575 beside F1 0.640, so its Dice cannot be pooled as well: ``dice`` is therefore
  the mean over images of the per-image Dice, and ``dice_pooled`` (= ``f1``) is given beside it.
* The operating threshold is chosen on the validation set by grid search over
  ``0.01, 0.02, ..., 1.00`` maximising ``dice`` (mean per-image Dice); ties go to the lowest
  threshold. 0.00 is left out: at 0 every pixel is "lesion" whatever the map says, and with
  weak maps that trivial answer can win the per-image Dice.
* Inf-Net protocol (Fan et al., IEEE TMI 2020): for each of 256 thresholds ``linspace(0, 1, 256)``
  per-image Dice, sensitivity and specificity, averaged over images, then over thresholds.

Ratios whose denominator is zero (e.g. Dice with an empty mask and an empty prediction) count
as 1.0: nothing was there to find and nothing was claimed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

GRID_THRESHOLDS = np.round(np.linspace(0.01, 1.0, 100), 2)
INFNET_THRESHOLDS = np.linspace(0.0, 1.0, 256)


def _check_pairs(maps: Sequence[np.ndarray], masks: Sequence[np.ndarray]) -> None:
    if len(maps) != len(masks):
        raise ValueError(f"got {len(maps)} maps but {len(masks)} masks")
    if len(maps) == 0:
        raise ValueError("no images to evaluate")
    for i, (m, g) in enumerate(zip(maps, masks)):
        if np.shape(m) != np.shape(g):
            raise ValueError(f"image {i}: map shape {np.shape(m)} differs from mask shape {np.shape(g)}")


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.ones(np.broadcast(num, den).shape, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


# ---------------------------------------------------------------- ROC / AUC (pooled pixels)

@dataclass(frozen=True)
class RocCurve:
    """ROC points from the highest threshold down: ``fpr``, ``tpr`` start at (0, 0), end at (1, 1);
    ``thresholds[i]`` is the score at which point ``i + 1`` is reached."""

    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray
    auc: float

    def thinned(self, max_points: int = 1000) -> "RocCurve":
        """At most ``max_points`` points (first and last kept), for plotting and JSON."""
        n = self.fpr.size
        if n <= max_points:
            return self
        idx = np.unique(np.linspace(0, n - 1, max_points).round().astype(int))
        thr_idx = np.clip(idx - 1, 0, self.thresholds.size - 1)
        return RocCurve(self.fpr[idx], self.tpr[idx], self.thresholds[thr_idx], self.auc)


def _score_counts(maps: Sequence[np.ndarray], masks: Sequence[np.ndarray]):
    """Unique scores (ascending) with the number of positive and negative pixels at each."""
    _check_pairs(maps, masks)
    scores = np.concatenate([np.asarray(m, dtype=np.float32).ravel() for m in maps])
    labels = np.concatenate([np.asarray(g, dtype=bool).ravel() for g in masks])
    values, inverse = np.unique(scores, return_inverse=True)
    pos = np.bincount(inverse, weights=labels, minlength=values.size)
    tot = np.bincount(inverse, minlength=values.size).astype(np.float64)
    return values, pos, tot - pos


def roc_curve(maps: Sequence[np.ndarray], masks: Sequence[np.ndarray]) -> RocCurve:
    """Exact pooled-pixel ROC curve and AUC (ties count half, as in the Mann-Whitney statistic).

    Raises ValueError when the masks hold only lesion or only background pixels.
    """
    values, pos, neg = _score_counts(maps, masks)
    n_pos, n_neg = pos.sum(), neg.sum()
    if n_pos == 0 or n_neg == 0:
        raise ValueError("AUC needs both lesion and background pixels in the masks")
    # descending thresholds: cumulative counts of pixels scoring >= each unique value
    tp = np.concatenate([[0.0], np.cumsum(pos[::-1])])
    fp = np.concatenate([[0.0], np.cumsum(neg[::-1])])
    tpr, fpr = tp / n_pos, fp / n_neg
    auc = float(np.sum((fpr[1:] - fpr[:-1]) * (tpr[1:] + tpr[:-1]) / 2.0))  # trapezoids = ties half
    return RocCurve(fpr, tpr, values[::-1].astype(np.float64), auc)


def pixel_auc(maps: Sequence[np.ndarray], masks: Sequence[np.ndarray]) -> float:
    """Pooled pixel-level ROC AUC over all images (exact, ties half)."""
    return roc_curve(maps, masks).auc


# ---------------------------------------------------------------- counts at many thresholds

def threshold_counts(maps: Sequence[np.ndarray], masks: Sequence[np.ndarray],
                     thresholds: Sequence[float]) -> np.ndarray:
    """Confusion counts per image and threshold: array (n_images, n_thresholds, 4) of
    (tp, fp, fn, tn), prediction = map >= threshold. ``thresholds`` must be ascending.

    One ``searchsorted`` + ``bincount`` per image: O(pixels log thresholds), no loop over
    thresholds.
    """
    _check_pairs(maps, masks)
    thr = np.asarray(thresholds, dtype=np.float64)
    if thr.ndim != 1 or thr.size == 0 or np.any(np.diff(thr) <= 0):
        raise ValueError("thresholds must be a non-empty strictly ascending 1-D sequence")
    k = thr.size
    out = np.zeros((len(maps), k, 4), dtype=np.int64)
    for i, (m, g) in enumerate(zip(maps, masks)):
        v = np.asarray(m, dtype=np.float64).ravel()
        lab = np.asarray(g, dtype=bool).ravel()
        # index of the largest threshold <= v (-1 when below all): v >= thr[j] for all j <= idx
        idx = np.searchsorted(thr, v, side="right") - 1
        idx = idx + 1  # shift so "below all" lands in bin 0
        pos_hist = np.bincount(idx[lab], minlength=k + 1)
        neg_hist = np.bincount(idx[~lab], minlength=k + 1)
        # pixels with shifted index >= j + 1 are predicted positive at threshold j
        tp = np.cumsum(pos_hist[::-1])[::-1][1:]
        fp = np.cumsum(neg_hist[::-1])[::-1][1:]
        n_pos, n_neg = int(lab.sum()), int(lab.size - lab.sum())
        out[i, :, 0] = tp
        out[i, :, 1] = fp
        out[i, :, 2] = n_pos - tp
        out[i, :, 3] = n_neg - fp
    return out


def rates(counts: np.ndarray) -> dict[str, np.ndarray]:
    """Dice, sensitivity, specificity, accuracy, precision, f1 from (..., 4) counts (tp, fp, fn, tn)."""
    c = np.asarray(counts, dtype=np.float64)
    tp, fp, fn, tn = c[..., 0], c[..., 1], c[..., 2], c[..., 3]
    dice = _ratio(2 * tp, 2 * tp + fp + fn)
    sens = _ratio(tp, tp + fn)
    prec = _ratio(tp, tp + fp)
    return {
        "dice": dice,
        "sensitivity": sens,
        "specificity": _ratio(tn, tn + fp),
        "accuracy": _ratio(tp + tn, tp + fp + fn + tn),
        "precision": prec,
        "f1": dice,  # 2PR/(P+R) == 2tp/(2tp+fp+fn)
    }


def binary_metrics(maps: Sequence[np.ndarray], masks: Sequence[np.ndarray],
                   threshold: float) -> dict[str, float]:
    """Metrics of the binary maps ``map >= threshold``: ``dice`` = mean per-image Dice;
    ``dice_pooled``, ``accuracy``, ``sensitivity``, ``specificity``, ``precision``, ``f1`` from
    counts pooled over all pixels of all images (see the module docstring)."""
    counts = threshold_counts(maps, masks, [float(threshold)])[:, 0, :]
    per_image = rates(counts)
    pooled = rates(counts.sum(axis=0))
    return {
        "threshold": float(threshold),
        "dice": float(per_image["dice"].mean()),
        "dice_pooled": float(pooled["dice"]),
        "accuracy": float(pooled["accuracy"]),
        "sensitivity": float(pooled["sensitivity"]),
        "specificity": float(pooled["specificity"]),
        "precision": float(pooled["precision"]),
        "f1": float(pooled["f1"]),
    }


def best_threshold(maps: Sequence[np.ndarray], masks: Sequence[np.ndarray],
                   grid: Sequence[float] = GRID_THRESHOLDS) -> tuple[float, float]:
    """Grid search on a validation set: (threshold, mean per-image Dice) maximising mean
    per-image Dice over ``grid`` (default 0.01..1.00 step 0.01); ties -> lowest threshold."""
    grid = np.asarray(grid, dtype=np.float64)
    dice = rates(threshold_counts(maps, masks, grid))["dice"].mean(axis=0)
    j = int(np.argmax(dice))
    return float(grid[j]), float(dice[j])


def infnet_means(maps: Sequence[np.ndarray], masks: Sequence[np.ndarray],
                 thresholds: Sequence[float] = INFNET_THRESHOLDS) -> dict[str, float]:
    """Inf-Net protocol: per-image Dice, sensitivity, specificity at each of 256 thresholds
    (linspace(0, 1, 256)), mean over images, then mean over thresholds."""
    r = rates(threshold_counts(maps, masks, thresholds))
    return {
        "dice": float(r["dice"].mean(axis=0).mean()),
        "sensitivity": float(r["sensitivity"].mean(axis=0).mean()),
        "specificity": float(r["specificity"].mean(axis=0).mean()),
    }


# ---------------------------------------------------------------- classification

def classification_metrics(labels: Sequence[int], predictions: Sequence[int]) -> dict[str, float]:
    """Slice-level metrics with COVID = 1 as the positive class: accuracy, sensitivity (recall of
    COVID), specificity (recall of non-COVID), precision and F1 of the COVID class, plus counts."""
    y = np.asarray(labels).astype(int).ravel()
    p = np.asarray(predictions).astype(int).ravel()
    if y.shape != p.shape:
        raise ValueError(f"got {y.size} labels but {p.size} predictions")
    if y.size == 0:
        raise ValueError("no slices to evaluate")
    for name, a in (("labels", y), ("predictions", p)):
        if not np.isin(a, (0, 1)).all():
            raise ValueError(f"{name} must be 0 (non-COVID) or 1 (COVID)")
    tp = int(np.sum((y == 1) & (p == 1)))
    tn = int(np.sum((y == 0) & (p == 0)))
    fp = int(np.sum((y == 0) & (p == 1)))
    fn = int(np.sum((y == 1) & (p == 0)))
    r = rates(np.array([tp, fp, fn, tn]))
    return {
        "accuracy": float(r["accuracy"]),
        "sensitivity": float(r["sensitivity"]),
        "specificity": float(r["specificity"]),
        "precision": float(r["precision"]),
        "f1": float(r["f1"]),
        "n": int(y.size), "tp": tp, "fp": fp, "fn": fn, "tn": tn,
    }
