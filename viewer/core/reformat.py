"""Multi-planar reformats of a ``(z, y, x)`` volume, Qt-free: axial, coronal and sagittal planes,
their pixel spacing and display aspect, the linked cursor between them, and the lesion layers
(map and mask) of a plane built from the per-slice layers.

A plane's picture is ``(rows, cols)``: axial ``volume[z]`` = (y, x); coronal ``volume[:, y, :]``
= (z, x); sagittal ``volume[:, :, x]`` = (z, y). The cursor is one voxel ``(z, y, x)``; each
plane shows the slice through it.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

PLANES = ("axial", "coronal", "sagittal")
_AXIS = {"axial": 0, "coronal": 1, "sagittal": 2}  # the volume axis a plane's index runs along

__all__ = ["PLANES", "plane_count", "plane_image", "plane_spacing", "plane_aspect",
           "plane_to_voxel", "voxel_to_plane", "can_reformat", "PlaneLayers"]


def _check_plane(plane: str) -> int:
    if plane not in _AXIS:
        raise ValueError(f"reformat plane {plane!r}: unknown, choose one of {', '.join(PLANES)}")
    return _AXIS[plane]


def plane_count(shape, plane: str) -> int:
    """How many slices of ``plane`` a volume of ``shape`` (z, y, x) has."""
    return int(shape[_check_plane(plane)])


def plane_image(volume: np.ndarray, plane: str, index: int) -> np.ndarray:
    """Slice ``index`` of ``plane`` as ``(rows, cols)`` (a view, no copy)."""
    ax = _check_plane(plane)
    v = np.asarray(volume)
    if v.ndim != 3:
        raise ValueError(f"reformat: volume must be (z, y, x), got shape {v.shape}")
    i = int(index)
    if not 0 <= i < v.shape[ax]:
        raise ValueError(f"reformat: {plane} index {i} outside 0..{v.shape[ax] - 1}")
    return v[(slice(None),) * ax + (i,)]


def plane_spacing(spacing, plane: str) -> tuple[float, float]:
    """``(row mm, col mm)`` of a plane's pixels from the volume spacing ``(z, y, x)`` mm."""
    ax = _check_plane(plane)
    sz, sy, sx = (float(s) for s in spacing)
    return {0: (sy, sx), 1: (sz, sx), 2: (sz, sy)}[ax]


def plane_aspect(spacing, plane: str) -> float:
    """Height / width of one pixel of the plane on screen (1 for square pixels): a coronal plane
    of 2.5 mm slices and 0.7 mm pixels has pixels 3.6 times taller than wide."""
    r, c = plane_spacing(spacing, plane)
    return r / c


def plane_to_voxel(plane: str, index: int, row: float, col: float) -> tuple[int, int, int]:
    """The voxel ``(z, y, x)`` under pixel ``(row, col)`` of slice ``index`` of ``plane``."""
    ax = _check_plane(plane)
    i, r, c = int(index), int(np.floor(row)), int(np.floor(col))
    return {0: (i, r, c), 1: (r, i, c), 2: (r, c, i)}[ax]


def voxel_to_plane(plane: str, voxel) -> tuple[int, int, int]:
    """``(index, row, col)`` of voxel ``(z, y, x)`` in ``plane``."""
    ax = _check_plane(plane)
    z, y, x = (int(v) for v in voxel)
    return {0: (z, y, x), 1: (y, z, x), 2: (x, z, y)}[ax]


def can_reformat(shape, spacing, source_kind: str = "dicom") -> tuple[bool, str]:
    """Whether a series can be shown in three planes, else the reason (one line)."""
    if source_kind == "pictures" or spacing is None:
        return False, "pictures have no slice spacing"
    if len(shape) != 3 or shape[0] < 3:
        return False, f"needs a series of at least 3 slices (this one has {shape[0]})"
    return True, ""


class PlaneLayers:
    """The lesion map and mask of any plane, from ``layers(i) -> (map (y, x) | None, mask | None)``
    of the axial slices. Slices are fetched once and kept until ``invalidate()`` (threshold,
    edits, restriction or new maps): the map in the overlay's 8-bit levels (level k comes back
    as (k + 0.5) / 255, which the overlay quantises to k again) and the mask as bool, 2 bytes a
    pixel (a 133-slice 512 x 512 series: 70 MB while the MPR layout is on). Slices without a
    map are empty (map 0, mask False) and asked again next time."""

    def __init__(self, shape, layers: Callable[[int], tuple]):
        self.shape = tuple(int(s) for s in shape)
        self._layers = layers
        self._maps: dict[int, np.ndarray] = {}
        self._masks: dict[int, np.ndarray] = {}

    def invalidate(self, index: int | None = None) -> None:
        if index is None:
            self._maps.clear()
            self._masks.clear()
        else:
            self._maps.pop(int(index), None)
            self._masks.pop(int(index), None)

    def _slice(self, z: int):
        if z not in self._masks:
            lesion_map, mask = self._layers(z)
            if lesion_map is None or mask is None:
                return None, None  # not cached: it may come later
            levels = np.empty(np.shape(lesion_map), np.uint8)
            np.multiply(np.clip(lesion_map, 0.0, 1.0), 255.0, out=levels, casting="unsafe")
            self._maps[z] = levels
            self._masks[z] = np.asarray(mask, bool)
        return self._maps[z], self._masks[z]

    def plane(self, plane: str, index: int) -> tuple[np.ndarray, np.ndarray]:
        """``(map float32, mask bool)`` of slice ``index`` of ``plane``, ``(rows, cols)``."""
        ax = _check_plane(plane)
        nz, ny, nx = self.shape
        if ax == 0:
            m, k = self._slice(int(index))
            if m is None:
                return np.zeros((ny, nx), np.float32), np.zeros((ny, nx), bool)
            return _unlevel(m), k.copy()
        cols = nx if ax == 1 else ny
        out_map = np.zeros((nz, cols), np.float32)
        out_mask = np.zeros((nz, cols), bool)
        for z in range(nz):
            m, k = self._slice(z)
            if m is None:
                continue
            if ax == 1:
                out_map[z], out_mask[z] = _unlevel(m[int(index), :]), k[int(index), :]
            else:
                out_map[z], out_mask[z] = _unlevel(m[:, int(index)]), k[:, int(index)]
        return out_map, out_mask


def _unlevel(levels: np.ndarray) -> np.ndarray:
    """8-bit overlay levels back to a float32 map (0 stays 0: an empty map is never painted)."""
    out = (levels.astype(np.float32) + 0.5) / 255.0
    out[levels == 0] = 0.0
    return out
