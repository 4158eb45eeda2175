"""Measurement maths of the reading room, Qt-free: ruler length, ellipse and freehand ROIs,
brush radius in mm, and what a lung restriction clips off a brush stroke.

Coordinates are the slice view's image coordinates: ``x`` = column, ``y`` = row, pixel
``(row, col)`` spans ``[col, col + 1) x [row, row + 1)`` (its centre is ``(col + .5, row + .5)``).
``pixel_spacing`` is ``(y, x)`` in mm, or None for pictures (then lengths are in px and areas in
px²). A pixel is inside an ROI when its centre is. Values are HU for CT (``is_hu``), otherwise
the picture's grey value.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["RoiStats", "line_length", "format_length", "ellipse_mask", "polygon_mask",
           "polygon_area", "ellipse_area", "roi_stats", "radius_px", "clipped_pixels"]


def _spacing(pixel_spacing) -> tuple[float, float] | None:
    if pixel_spacing is None:
        return None
    sy, sx = (float(v) for v in pixel_spacing)
    if not (math.isfinite(sy) and math.isfinite(sx)) or sy <= 0 or sx <= 0:
        raise ValueError(f"measure: pixel spacing must be two numbers > 0 mm, got {pixel_spacing!r}")
    return sy, sx


def line_length(p0, p1, pixel_spacing=None) -> tuple[float, str]:
    """Length of the segment ``p0``-``p1`` (points ``(x, y)``): ``(mm, "mm")`` with a spacing,
    ``(pixels, "px")`` without."""
    sp = _spacing(pixel_spacing)
    dx, dy = float(p1[0]) - float(p0[0]), float(p1[1]) - float(p0[1])
    if sp is None:
        return math.hypot(dx, dy), "px"
    return math.hypot(dx * sp[1], dy * sp[0]), "mm"


def format_length(value: float, unit: str) -> str:
    return f"{value:.1f} {unit}"


def ellipse_mask(shape, cx: float, cy: float, a: float, b: float,
                 angle_deg: float = 0.0) -> np.ndarray:
    """``bool (y, x)``: pixels whose centres lie in the ellipse of centre ``(cx, cy)``, semi-axes
    ``a`` (along the ellipse's own x) and ``b``, rotated by ``angle_deg`` (image coordinates)."""
    rows, cols = int(shape[0]), int(shape[1])
    a, b = abs(float(a)), abs(float(b))
    if a == 0 or b == 0:
        return np.zeros((rows, cols), bool)
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float64)
    dx, dy = xx + 0.5 - float(cx), yy + 0.5 - float(cy)
    t = math.radians(float(angle_deg))
    u = dx * math.cos(t) + dy * math.sin(t)
    v = -dx * math.sin(t) + dy * math.cos(t)
    return (u / a) ** 2 + (v / b) ** 2 <= 1.0


def polygon_mask(shape, vertices) -> np.ndarray:
    """``bool (y, x)``: pixels whose centres lie inside the closed polygon ``vertices``
    (``(x, y)`` points; even-odd rule). Fewer than 3 vertices: empty."""
    rows, cols = int(shape[0]), int(shape[1])
    pts = np.asarray(vertices, dtype=np.float64).reshape(-1, 2)
    out = np.zeros((rows, cols), bool)
    if len(pts) < 3:
        return out
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    r0, r1 = max(int(math.floor(y0)) - 1, 0), min(int(math.ceil(y1)) + 1, rows)
    c0, c1 = max(int(math.floor(x0)) - 1, 0), min(int(math.ceil(x1)) + 1, cols)
    if r0 >= r1 or c0 >= c1:
        return out
    yy = np.arange(r0, r1, dtype=np.float64)[:, None] + 0.5
    xx = np.arange(c0, c1, dtype=np.float64)[None, :] + 0.5
    inside = np.zeros((r1 - r0, c1 - c0), bool)
    xs, ys = pts[:, 0], pts[:, 1]
    xe, ye = np.roll(xs, -1), np.roll(ys, -1)
    for xa, ya, xb, yb in zip(xs, ys, xe, ye):
        if ya == yb:
            continue
        crosses = (ya > yy) != (yb > yy)  # (rows, 1)
        x_at = xa + (yy - ya) * (xb - xa) / (yb - ya)
        inside ^= crosses & (xx < x_at)
    out[r0:r1, c0:c1] = inside
    return out


def polygon_area(vertices, pixel_spacing=None) -> tuple[float, str]:
    """Analytic (shoelace) area of the closed polygon: ``(mm², "mm²")`` or ``(px², "px²")``."""
    pts = np.asarray(vertices, dtype=np.float64).reshape(-1, 2)
    if len(pts) < 3:
        a = 0.0
    else:
        x, y = pts[:, 0], pts[:, 1]
        a = 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))
    sp = _spacing(pixel_spacing)
    return (a, "px²") if sp is None else (a * sp[0] * sp[1], "mm²")


def ellipse_area(a: float, b: float, pixel_spacing=None) -> tuple[float, str]:
    """Analytic area ``pi a b`` of an ellipse with semi-axes in pixels."""
    area = math.pi * abs(float(a)) * abs(float(b))
    sp = _spacing(pixel_spacing)
    return (area, "px²") if sp is None else (area * sp[0] * sp[1], "mm²")


@dataclass(frozen=True)
class RoiStats:
    """What an ROI shows: pixel count, area (pixel count × pixel area), mean ± SD of the values."""

    n_pixels: int
    area: float
    area_unit: str  # "mm²" or "px²"
    mean: float
    sd: float
    value_unit: str  # "HU" or "grey"

    def text(self) -> str:
        if self.n_pixels == 0:
            return "empty ROI"
        if self.value_unit == "HU":
            vals = f"{self.mean:.1f} ± {self.sd:.1f} HU"
        else:
            vals = f"grey {self.mean:.1f} ± {self.sd:.1f}"
        return f"{self.area:.1f} {self.area_unit}\n{vals}"


def roi_stats(image: np.ndarray, mask: np.ndarray, pixel_spacing=None,
              is_hu: bool = True) -> RoiStats:
    """Area and mean ± SD (population SD) of ``image`` (y, x) inside ``mask`` (bool (y, x))."""
    img = np.asarray(image)
    m = np.asarray(mask, dtype=bool)
    if img.ndim != 2 or img.shape != m.shape:
        raise ValueError(f"measure: image {img.shape} and ROI mask {m.shape} must be the same "
                         "2-D shape")
    sp = _spacing(pixel_spacing)
    n = int(m.sum())
    vals = img[m].astype(np.float64)
    mean = float(vals.mean()) if n else float("nan")
    sd = float(vals.std()) if n else float("nan")
    px_area, unit = (1.0, "px²") if sp is None else (sp[0] * sp[1], "mm²")
    return RoiStats(n, n * px_area, unit, mean, sd, "HU" if is_hu else "grey")


def radius_px(radius_mm: float, pixel_spacing) -> float:
    """A brush radius in mm as pixels (mean in-plane spacing); without spacing the value is
    already in pixels."""
    r = float(radius_mm)
    if not math.isfinite(r) or r <= 0:
        raise ValueError(f"brush radius: must be > 0, got {radius_mm!r}")
    sp = _spacing(pixel_spacing)
    if sp is None:
        return r
    return r / (0.5 * (sp[0] + sp[1]))


def clipped_pixels(painted: np.ndarray, lungs: np.ndarray | None) -> int:
    """How many pixels of a brush stroke (``bool (y, x)``) fall outside ``lungs``: what the
    "restrict to lungs" rule removes from it (0 without a lung mask)."""
    if lungs is None:
        return 0
    p, lg = np.asarray(painted, bool), np.asarray(lungs, bool)
    if p.shape != lg.shape:
        raise ValueError(f"measure: stroke {p.shape} and lungs {lg.shape} differ in shape")
    return int((p & ~lg).sum())
