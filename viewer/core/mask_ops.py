"""Bool-array helpers of the lung mask (Qt-free, numpy and scipy.ndimage): slabs and bounding
boxes of volumes, a bit-packed volume, block pooling, shifts, and hole filling in one labelling
pass. Each gives what the plain numpy / scipy operation gives
(tests/core/test_lung_mask_fast_paths.py).
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi


def chunks(n: int, start: int = 0, size: int = 16):
    """Slices of ``size`` along an axis of length ``n`` from ``start``."""
    for z0 in range(start, start + n, size):
        yield slice(z0, min(z0 + size, start + n))


def box_3d(mask: np.ndarray) -> tuple[slice, slice, slice] | None:
    """Bounding box of a (z, y, x) bool mask; None when it is empty."""
    zs = np.flatnonzero(mask.reshape(mask.shape[0], -1).any(axis=1))
    if zs.size == 0:
        return None
    plane = np.zeros(mask.shape[1:], dtype=bool)
    for z in chunks(zs[-1] + 1 - zs[0], start=int(zs[0])):
        plane |= mask[z].any(axis=0)
    ys = np.flatnonzero(plane.any(axis=1))
    xs = np.flatnonzero(plane.any(axis=0))
    return (slice(int(zs[0]), int(zs[-1]) + 1), slice(int(ys[0]), int(ys[-1]) + 1),
            slice(int(xs[0]), int(xs[-1]) + 1))


def grid_box(mask: np.ndarray, margin: int, grid: int) -> tuple[slice, slice]:
    """Bounding box (y, x slices) of a non-empty 2-D mask grown by ``margin`` px on each side,
    its start a multiple of ``grid`` and its end too, or the frame's edge."""
    box = []
    for axis in (1, 0):
        idx = np.flatnonzero(mask.any(axis=axis))
        size = mask.shape[1 - axis]
        lo = max(0, (int(idx[0]) - margin) // grid * grid)
        hi = min(size, -(-(int(idx[-1]) + 1 + margin) // grid) * grid)
        box.append(slice(lo, hi))
    return box[0], box[1]


class Bits:
    """A (z, y, x) bool volume kept 8 voxels a byte; ``bits[k]`` / ``bits[z0:z1]`` unpack a
    slice or a slab (bool), ``bits[k] = mask`` packs one."""

    def __init__(self, shape: tuple[int, int, int]):
        self.shape = shape
        self.packed = np.zeros((shape[0], shape[1], -(-shape[2] // 8)), dtype=np.uint8)

    def __getitem__(self, k) -> np.ndarray:
        return np.unpackbits(self.packed[k], axis=-1, count=self.shape[2]).view(bool)

    def __setitem__(self, k: int, mask: np.ndarray) -> None:
        self.packed[k] = np.packbits(mask, axis=-1)


def pool_any(mask: np.ndarray, f: int) -> np.ndarray:
    """``f`` x ``f`` block maximum of a (y, x) bool mask (padded with False)."""
    if f == 1:
        return mask
    rows = np.zeros((-(-mask.shape[0] // f), mask.shape[1]), dtype=bool)
    for i in range(f):  # strided ORs: much faster than a reduction over a reshaped block axis
        part = mask[i::f]
        rows[: part.shape[0]] |= part
    out = np.zeros((rows.shape[0], -(-mask.shape[1] // f)), dtype=bool)
    for j in range(f):
        part = rows[:, j::f]
        out[:, : part.shape[1]] |= part
    return out


def shift(mask: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``out[y, x] = mask[y + dy, x + dx]`` (False beyond the edge). (y, x) bool."""
    out = np.zeros_like(mask)
    h, w = mask.shape
    out[max(0, -dy): h - max(0, dy), max(0, -dx): w - max(0, dx)] = \
        mask[max(0, dy): h - max(0, -dy), max(0, dx): w - max(0, -dx)]
    return out


def or_shifted(mask: np.ndarray, dy: int, dx: int, where: np.ndarray) -> None:
    """``mask |= shift(mask, dy, dx) & where`` in place, on the overlapping part only."""
    h, w = mask.shape
    dst = (slice(max(0, -dy), h - max(0, dy)), slice(max(0, -dx), w - max(0, dx)))
    src = mask[max(0, dy): h - max(0, -dy), max(0, dx): w - max(0, -dx)]
    mask[dst] |= src & where[dst]  # src is read before the write (numpy copies on overlap)


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """``ndi.binary_fill_holes`` (2-D, 4-connected background) in one labelling pass: the
    background pieces that do not reach the frame's edge are holes."""
    labels, n = ndi.label(~mask)
    if n == 0:
        return mask.copy()
    edge = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    hole = np.ones(n + 1, dtype=bool)
    hole[edge] = False
    hole[0] = True
    return hole[labels]
