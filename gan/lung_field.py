"""A small lung-field mask for display-windowed 8-bit slices (and HU slices through the lung
window), used by ``main.py evaluate --lung-only`` to restrict maps to the lungs.

Qt-free and independent of ``viewer`` (gan never imports it). Steps, on the [0, 1] slice:

1. Otsu's threshold ``t`` splits dark (air, lung) from bright (soft tissue, bone); the lung
   threshold is ``t + tissue_split * (tissue mean - t)`` so ground glass still counts as lung.
2. The body is the convex hull of the bright pixels (after a small opening). Lungs can touch the
   border of tightly cropped pictures, so hole filling cannot find them; the hull can.
3. Lung candidates are dark components (after a small opening) lying at least
   ``inside_fraction`` inside the body (air outside the body lies mostly outside the hull) and
   at least ``min_fraction`` of the body's area (the trachea and bowel gas are smaller).
4. Each lung is widened to its convex hull (``hull_each``), closed with a disk of
   ``close_fraction`` x sqrt(body area), holes filled, then dilated by ``margin_fraction`` x
   sqrt(body area) so consolidation against the pleura stays in; the result is kept inside
   the body.

On the 50 MedSeg validation slices the field holds 96 % of each slice's lesion pixels on
average (lowest 27 %, a white-out lung indistinguishable from soft tissue) and 77 % of the image
area. Dense consolidation filling a whole lung is its known failure.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError

from .preprocess import to_unit


def otsu_threshold(unit: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold of values in [0, 1]."""
    hist, edges = np.histogram(np.clip(unit, 0, 1), bins=bins, range=(0.0, 1.0))
    hist = hist.astype(np.float64)
    centers = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(hist)
    w1 = w0[-1] - w0
    m0 = np.cumsum(hist * centers)
    mu0 = np.divide(m0, w0, out=np.zeros_like(m0), where=w0 > 0)
    mu1 = np.divide(m0[-1] - m0, w1, out=np.zeros_like(m0), where=w1 > 0)
    between = w0 * w1 * (mu0 - mu1) ** 2
    return float(edges[int(np.argmax(between)) + 1])


def _disk(radius: int) -> np.ndarray:
    r = max(1, int(radius))
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    return xx ** 2 + yy ** 2 <= r * r


def _convex_hull_mask(mask: np.ndarray) -> np.ndarray:
    pts = np.argwhere(mask)
    if len(pts) < 3:
        return mask.copy()
    try:
        hull = ConvexHull(pts)
    except QhullError:
        return mask.copy()
    yy, xx = np.mgrid[0:mask.shape[0], 0:mask.shape[1]]
    grid = np.stack([yy.ravel(), xx.ravel()], axis=1).astype(np.float64)
    eq = hull.equations  # a*y + b*x + c <= 0 inside
    inside = np.all(grid @ eq[:, :2].T + eq[:, 2] <= 1e-9, axis=1)
    return inside.reshape(mask.shape)


def lung_field(slice_2d: np.ndarray, is_hu: bool, min_fraction: float = 0.01,
               close_fraction: float = 0.04, inside_fraction: float = 0.8,
               hull_each: bool = True, tissue_split: float = 0.5,
               margin_fraction: float = 0.03) -> np.ndarray:
    """Lung-field mask of one slice (y, x): bool (y, x). All False when no lung is found.

    ``slice_2d``: HU (``is_hu=True``) or an 8-bit picture (uint8 0-255 / float 0-1).
    """
    unit = to_unit(slice_2d, is_hu)
    h, w = unit.shape
    if min(h, w) < 16:
        raise ValueError(f"slice {unit.shape} is too small for a lung field (at least 16 x 16)")
    t = otsu_threshold(unit)
    bright = unit > t
    size = int(np.sqrt(h * w))
    bright = ndimage.binary_opening(bright, _disk(max(1, size // 200)))
    body = _convex_hull_mask(bright)
    if body.sum() < 0.05 * h * w:
        return np.zeros((h, w), dtype=bool)
    tissue = float(unit[unit > t].mean()) if np.any(unit > t) else 1.0
    t_lung = t + tissue_split * (tissue - t)  # above Otsu: ground glass stays "lung"
    dark = ndimage.binary_opening(unit <= t_lung, _disk(max(1, size // 200)))
    lab, n = ndimage.label(dark)
    if n == 0:
        return np.zeros((h, w), dtype=bool)
    idx = np.arange(1, n + 1)
    areas = ndimage.sum_labels(dark, lab, index=idx)
    inside = ndimage.sum_labels(body, lab, index=idx)
    keep = idx[(areas >= min_fraction * body.sum()) & (inside >= inside_fraction * areas)]
    lungs = np.isin(lab, keep)
    if hull_each:
        for k in keep:
            lungs |= _convex_hull_mask(lab == k)
    radius = max(1, int(round(close_fraction * np.sqrt(body.sum()))))
    pad = radius + 1
    closed = ndimage.binary_closing(np.pad(lungs, pad), _disk(radius))[pad:-pad, pad:-pad]
    field = ndimage.binary_fill_holes(closed)
    grow = int(round(margin_fraction * np.sqrt(body.sum())))
    if grow > 0:
        field = ndimage.binary_dilation(field, _disk(grow))
    return field & body
