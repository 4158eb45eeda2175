"""Lesion-map overlay: one RGBA picture per displayed slice (never for the whole series).

The heatmap is a 256-entry colour table indexed by the map quantised to 8 bits; entries below the
floor are fully transparent, the others carry the chosen opacity. The binary lesion mask (the map
at the operating threshold, or the annotator's edited mask) is drawn as a one-pixel contour on
top, and optionally filled (semi-transparent cyan blended over the heatmap, ``fill_mask``) so
that an edit's before and after differ at a glance. Cost on a 512 x 512 slice: about 2 ms (a 32-bit table look-up and a 4-neighbour erosion).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from viewer.study.display_settings import COLORMAPS  # colormaps offered in the UI

CONTOUR_RGBA = (0, 255, 255, 255)  # cyan: distinct from every heatmap above
LUNG_RGBA = (90, 230, 110, 220)  # green outline of the segmented lungs
FILL_ALPHA = 0.4  # opacity of the filled mask


@dataclass(frozen=True)
class OverlayStyle:
    """How the map is drawn. ``opacity``, ``floor`` and ``threshold`` are in [0, 1]."""

    colormap: str = "inferno"
    opacity: float = 0.45
    floor: float = 0.2
    show_heatmap: bool = True
    show_contour: bool = True
    show_lungs: bool = False
    fill_mask: bool = False

    def __post_init__(self):
        if self.colormap not in COLORMAPS:
            raise ValueError(f"overlay colormap {self.colormap!r}: unknown, choose one of "
                             f"{', '.join(COLORMAPS)}")
        for name in ("opacity", "floor"):
            v = getattr(self, name)
            if not 0.0 <= float(v) <= 1.0:
                raise ValueError(f"overlay {name}: must be in [0, 1], got {v}")


_LUT_CACHE: dict[tuple, np.ndarray] = {}


def colour_table(style: OverlayStyle) -> np.ndarray:
    """``uint8 (256, 4)`` RGBA table for map levels 0..255 (level k = map value k/255)."""
    key = (style.colormap, round(style.opacity, 4), round(style.floor, 4))
    lut = _LUT_CACHE.get(key)
    if lut is None:
        import matplotlib

        rgba = matplotlib.colormaps[style.colormap](np.linspace(0.0, 1.0, 256))
        lut = (rgba * 255.0 + 0.5).astype(np.uint8)
        lut[:, 3] = np.uint8(round(style.opacity * 255))
        floor_level = int(np.ceil(style.floor * 255))
        lut[:floor_level, 3] = 0
        lut[0, 3] = 0  # a zero map is never painted
        if len(_LUT_CACHE) > 64:
            _LUT_CACHE.clear()
        _LUT_CACHE[key] = lut
    return lut


def contour_of(mask: np.ndarray) -> np.ndarray:
    """``bool (y, x)``: the pixels of ``mask`` that touch its outside (4-connected border)."""
    m = np.asarray(mask, dtype=bool)
    if not m.any():
        return m
    inner = m.copy()  # erosion by the 4-neighbour cross, outside the image counts as background
    inner[1:] &= m[:-1]
    inner[:-1] &= m[1:]
    inner[:, 1:] &= m[:, :-1]
    inner[:, :-1] &= m[:, 1:]
    inner[0, :] = inner[-1, :] = False
    inner[:, 0] = inner[:, -1] = False
    return m & ~inner


def overlay_rgba(lesion_map: np.ndarray | None, mask: np.ndarray | None,
                 style: OverlayStyle, lungs: np.ndarray | None = None) -> np.ndarray | None:
    """RGBA overlay ``uint8 (y, x, 4)`` for one slice, or None when there is nothing to draw.

    ``lesion_map``: ``float32 (y, x)`` in [0, 1], already restricted to the lungs when asked.
    ``mask``: ``bool (y, x)``, the binary lesion mask whose contour is drawn (None: no contour).
    ``lungs``: ``bool (y, x)`` lung mask, outlined when ``style.show_lungs``.
    """
    if lesion_map is None and mask is None:
        return None
    shape = (lesion_map if lesion_map is not None else mask).shape
    if len(shape) != 2:
        raise ValueError(f"overlay: expected a 2-D slice (y, x), got shape {shape}")
    if style.show_heatmap and lesion_map is not None:
        levels = np.empty(shape, np.uint8)
        np.multiply(lesion_map, 255.0, out=levels, casting="unsafe")
        table = np.ascontiguousarray(colour_table(style)).view(np.uint32).ravel()
        rgba = table[levels].view(np.uint8).reshape(shape + (4,))
    else:
        rgba = np.zeros(shape + (4,), np.uint8)
    if style.fill_mask and mask is not None:
        if mask.shape != shape:
            raise ValueError(f"overlay: mask shape {mask.shape} differs from map shape {shape}")
        inside = rgba[mask].astype(np.float32)
        a = inside[:, 3:4] / 255.0  # blend cyan over what is there (heatmap or nothing)
        out_a = FILL_ALPHA + a * (1.0 - FILL_ALPHA)
        cyan = np.array(CONTOUR_RGBA[:3], np.float32)
        rgb = (cyan * FILL_ALPHA + inside[:, :3] * a * (1.0 - FILL_ALPHA)) / out_a
        rgba[mask] = np.concatenate([rgb, out_a * 255.0], axis=1).round().astype(np.uint8)
    if style.show_contour and mask is not None:
        if mask.shape != shape:
            raise ValueError(f"overlay: mask shape {mask.shape} differs from map shape {shape}")
        rgba[contour_of(mask)] = CONTOUR_RGBA
    if style.show_lungs and lungs is not None:
        if lungs.shape != shape:
            raise ValueError(f"overlay: lung mask shape {lungs.shape} differs from {shape}")
        rgba[contour_of(lungs)] = LUNG_RGBA
    return rgba
