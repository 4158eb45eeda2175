"""PNG export: one 8-bit greyscale PNG per slice, the same size (rows × cols) as the source slice.

Map slices (float [0, 1]) are scaled to 0–255 (rounded); mask slices (bool) become 0/255.
Files are named ``map_ZZZZ.png`` / ``mask_ZZZZ.png`` with the 0-based slice index z (the
volume's (z, y, x) order, sorted along the slice normal). Written slice by slice.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from viewer.io.atomic import atomic_path

from viewer.export.source import (
    Progress,
    check_indices,
    check_map,
    check_mask,
    ensure_dir,
    map_slice_to_uint8,
    mask_slice_to_uint8,
    report,
)


def write_png(path: str | Path, image: np.ndarray) -> Path:
    """Write a 2-D uint8 array (rows, cols) as an 8-bit greyscale PNG; returns the path."""
    arr = np.asarray(image)
    if arr.ndim != 2 or arr.dtype != np.uint8:
        raise ValueError(f"png {path}: need a 2-D uint8 array, got {arr.dtype} {arr.shape}")
    path = Path(path)
    with atomic_path(path) as tmp:
        Image.fromarray(arr).save(tmp, format="PNG")  # 2-D uint8 -> mode "L"
    return path


def export_png(
    out_dir: str | Path,
    maps: np.ndarray | None = None,
    masks: np.ndarray | None = None,
    indices: Sequence[int] | None = None,
    progress: Progress = None,
) -> list[Path]:
    """Write map and/or mask PNGs for the chosen slices (all when `indices` is None).

    maps: float (z, y, x) in [0, 1]; masks: bool (z, y, x), same shape. Returns written paths.
    """
    if maps is None and masks is None:
        raise ValueError("png export: nothing to write (no map and no mask)")
    shape = (maps if maps is not None else masks).shape
    if len(shape) != 3:
        raise ValueError(f"png export: arrays must be (z, y, x), got shape {shape}")
    if maps is not None:
        check_map(maps, shape)
    if masks is not None:
        check_mask(masks, shape)
    zs = check_indices(indices, shape[0])
    out = ensure_dir(out_dir)
    written: list[Path] = []
    for done, z in enumerate(zs, 1):
        if maps is not None:
            written.append(write_png(out / f"map_{z:04d}.png", map_slice_to_uint8(maps[z])))
        if masks is not None:
            written.append(write_png(out / f"mask_{z:04d}.png", mask_slice_to_uint8(masks[z])))
        report(progress, done, len(zs))
    return written
