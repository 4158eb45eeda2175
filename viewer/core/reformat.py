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


#: Default memory budget (bytes) of the axial slices ``PlaneLayers`` keeps (2 bytes a pixel):
#: 96 MiB hold 192 slices of 512 x 512.
PLANE_CACHE_BYTES = 96 * 2**20


class PlaneLayers:
    """The lesion map and mask of any plane, from ``layers(i) -> (map (y, x) | None, mask | None)``
    of the axial slices, in bounded memory.

    Axial slices are fetched once and kept until ``invalidate()`` (threshold, edits, restriction
    or new maps), as the map in the overlay's 8-bit levels (level k comes back as
    (k + 0.5) / 255, which the overlay quantises to k again) and the mask as bool, 2 bytes a
    pixel, but only as many as fit in ``max_bytes`` (``max_slices``): a 133-slice 512 x 512
    series (70 MB) is held whole, a 1000-slice one keeps 192 slices (96 MiB, not 524 MB). The
    slices beyond the budget are fetched again for each new coronal / sagittal index; the last
    plane of each orientation is kept (``(z, cols)``, a few MB), so redrawing it, or moving the
    cursor along the other axis, fetches nothing. Slices without a map are empty (map 0, mask
    False) and asked again next time.
    """

    def __init__(self, shape, layers: Callable[[int], tuple], max_bytes: int = PLANE_CACHE_BYTES):
        self.shape = tuple(int(s) for s in shape)
        self._layers = layers
        per_slice = 2 * self.shape[1] * self.shape[2]
        self.max_slices = max(1, int(max_bytes) // max(1, per_slice))
        self._slices: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        # per orientation (1 coronal, 2 sagittal): [index, levels (z, cols), mask, known (z,)]
        self._lines: dict[int, list] = {}

    @property
    def n_cached(self) -> int:
        """How many axial slices are held (at most ``max_slices``)."""
        return len(self._slices)

    @property
    def complete(self) -> bool:
        """Every axial slice had a map (all held, or every kept plane fully filled): nothing
        more will come in until ``invalidate``."""
        if len(self._slices) >= self.shape[0]:
            return True
        return bool(self._lines) and all(bool(line[3].all()) for line in self._lines.values())

    def invalidate(self, index: int | None = None) -> None:
        if index is None:
            self._slices.clear()
            self._lines.clear()
        else:
            self._slices.pop(int(index), None)
            for line in self._lines.values():
                line[3][int(index)] = False

    def _fetch(self, z: int):
        """``(levels uint8, mask bool)`` of axial slice ``z`` (held while the budget allows),
        or ``(None, None)`` without a map."""
        got = self._slices.get(z)
        if got is not None:
            return got
        lesion_map, mask = self._layers(z)
        if lesion_map is None or mask is None:
            return None, None  # not held: it may come later
        levels = np.empty(np.shape(lesion_map), np.uint8)
        np.multiply(np.clip(lesion_map, 0.0, 1.0), 255.0, out=levels, casting="unsafe")
        got = (levels, np.asarray(mask, bool))
        if len(self._slices) < self.max_slices:
            self._slices[z] = got
        return got

    def _line(self, ax: int, i: int) -> list:
        nz, ny, nx = self.shape
        line = self._lines.get(ax)
        if line is None or line[0] != i:
            cols = nx if ax == 1 else ny
            line = self._lines[ax] = [i, np.zeros((nz, cols), np.uint8),
                                      np.zeros((nz, cols), bool), np.zeros(nz, bool)]
        return line

    def _fill(self, lines: list[tuple[int, list]]) -> None:
        """Fetch each axial slice the ``(axis, line)`` pairs still lack once, for all of them."""
        need = sorted(set().union(*(np.flatnonzero(~line[3]).tolist() for _, line in lines)))
        for z in need:
            m, k = self._fetch(int(z))
            if m is None:
                continue
            for ax, (i, levels, mask, known) in lines:
                if known[z]:
                    continue
                if ax == 1:
                    levels[z], mask[z] = m[i, :], k[i, :]
                else:
                    levels[z], mask[z] = m[:, i], k[:, i]
                known[z] = True

    def planes(self, wanted: dict[str, int]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Several planes ``{plane: index}`` at once: an axial slice beyond the budget is
        fetched once for all of them (a click moving both the coronal and sagittal index)."""
        lines = [(ax, self._line(ax, int(i))) for ax, i in
                 ((_check_plane(p), i) for p, i in wanted.items()) if ax != 0]
        if lines:
            self._fill(lines)
        return {p: self.plane(p, i) for p, i in wanted.items()}

    def plane(self, plane: str, index: int) -> tuple[np.ndarray, np.ndarray]:
        """``(map float32, mask bool)`` of slice ``index`` of ``plane``, ``(rows, cols)``."""
        ax = _check_plane(plane)
        nz, ny, nx = self.shape
        i = int(index)
        if ax == 0:
            m, k = self._fetch(i)
            if m is None:
                return np.zeros((ny, nx), np.float32), np.zeros((ny, nx), bool)
            return _unlevel(m), k.copy()
        line = self._line(ax, i)
        self._fill([(ax, line)])
        return _unlevel(line[1]), line[2].copy()


def _unlevel(levels: np.ndarray) -> np.ndarray:
    """8-bit overlay levels back to a float32 map (0 stays 0: an empty map is never painted)."""
    out = (levels.astype(np.float32) + 0.5) / 255.0
    out[levels == 0] = 0.0
    return out
