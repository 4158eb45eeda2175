"""Slice preprocessing shared by training and inference.

The model sees 1-channel images in [0, 1] that look like the display-windowed, body-cropped
pictures of its training set. HU slices go through a lung window (W1500/L-600) first; 8-bit
pictures are divided by 255. Slices are cropped to the body bounding box, resized to the model
size, and the map is put back at the input's own size and position.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

LUNG_WINDOW_WIDTH = 1500.0
LUNG_WINDOW_LEVEL = -600.0
BODY_HU_THRESHOLD = -500.0  # tissue denser than this belongs to the body (air is about -1000 HU)
BODY_UNIT_THRESHOLD = 0.35  # same idea for 0-1 pictures (lung-window grey of about -500 HU... fat)


def lung_window_unit(hu: np.ndarray) -> np.ndarray:
    """HU array (any shape) -> float32 in [0, 1] through the lung window W1500/L-600."""
    lo = LUNG_WINDOW_LEVEL - LUNG_WINDOW_WIDTH / 2.0
    out = (np.asarray(hu, dtype=np.float32) - np.float32(lo)) / np.float32(LUNG_WINDOW_WIDTH)
    return np.clip(out, 0.0, 1.0).astype(np.float32, copy=False)


def to_unit(slice_2d: np.ndarray, is_hu: bool) -> np.ndarray:
    """One slice (y, x) -> float32 (y, x) in [0, 1]. HU: lung window; pictures: /255 (uint8) or
    as-is when already float in [0, 1]."""
    a = np.asarray(slice_2d)
    if a.ndim != 2:
        raise ValueError(f"expected a 2-D slice (y, x), got shape {a.shape}")
    if is_hu:
        return lung_window_unit(a)
    if a.dtype == np.uint8:
        return a.astype(np.float32) / 255.0
    a = a.astype(np.float32)
    if a.size and (np.nanmin(a) < -1e-3 or np.nanmax(a) > 1.0 + 1e-3):
        if np.nanmax(a) <= 255.0 and np.nanmin(a) >= 0.0:
            return a / 255.0
        raise ValueError("picture slice values must be uint8 0-255 or float 0-1; pass is_hu=True for HU data")
    return np.clip(np.nan_to_num(a), 0.0, 1.0)


@dataclass(frozen=True)
class Crop:
    """Bounding box (y0, y1, x0, x1), half-open, in the input slice's pixel grid."""

    y0: int
    y1: int
    x0: int
    x1: int

    @property
    def shape(self) -> tuple[int, int]:
        return (self.y1 - self.y0, self.x1 - self.x0)


def body_crop(unit: np.ndarray, is_hu: bool, margin: int = 4) -> Crop:
    """Body bounding box of a [0, 1] slice (y, x). Pictures from the public sets are already
    cropped, so their box is the whole image unless a clear air border exists.

    The body is the largest connected component above the body threshold after a small opening
    (drops the table's thin lines and text overlays)."""
    h, w = unit.shape
    thr = float(lung_window_unit(np.array([BODY_HU_THRESHOLD]))[0]) if is_hu else BODY_UNIT_THRESHOLD
    fg = unit > thr
    fg = ndimage.binary_opening(fg, iterations=2)
    lab, n = ndimage.label(fg)
    if n == 0:
        return Crop(0, h, 0, w)
    sizes = ndimage.sum_labels(fg, lab, index=np.arange(1, n + 1))
    biggest = int(np.argmax(sizes)) + 1
    if sizes[biggest - 1] < 0.02 * h * w:
        return Crop(0, h, 0, w)
    sl = ndimage.find_objects((lab == biggest).astype(np.int8))[0]
    y0 = max(0, sl[0].start - margin)
    y1 = min(h, sl[0].stop + margin)
    x0 = max(0, sl[1].start - margin)
    x1 = min(w, sl[1].stop + margin)
    if (y1 - y0) < 16 or (x1 - x0) < 16:
        return Crop(0, h, 0, w)
    return Crop(y0, y1, x0, x1)
