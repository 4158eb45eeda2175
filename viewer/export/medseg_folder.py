"""Image + mask folder in the layout of the MedSeg / Inf-Net COVID-19 data, ready for training.

    <out>/images/N.png (or N.jpg)  8-bit greyscale slice; HU input through the lung window
                                   W1500/L−600 (the localizer's input window), pictures as they are
    <out>/masks/N.png              8-bit lesion mask, 0 background / 255 lesion
    <out>/index.csv                N, series key, slice index z, source file, lesion pixels

N counts from `start` (1 like MedSeg), so several series can share one folder: pass the value
returned by the previous call. Images are the source slice's own size; slices are streamed
(one at a time) from `slices`, an iterable of (z, 2-D array) such as SeriesInfo.iter_slices().
"""
from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from viewer.io.atomic import atomic_path
from viewer.core.windowing import LUNG, window_to_uint8
from viewer.export.png import write_png
from viewer.export.source import (
    ExportSource,
    Progress,
    check_indices,
    check_mask,
    ensure_dir,
    mask_slice_to_uint8,
    report,
)

INDEX_FIELDS = ("n", "series", "z", "source_file", "lesion_pixels")


def picture_of(slice_2d: np.ndarray, is_hu: bool) -> np.ndarray:
    """A source slice as 8-bit greyscale: HU through the lung window, uint8 pictures unchanged."""
    arr = np.asarray(slice_2d)
    if arr.ndim != 2:
        raise ValueError(f"medseg export: slice must be 2-D (y, x), got shape {arr.shape}")
    if is_hu:
        return window_to_uint8(arr, LUNG.width, LUNG.level)
    if arr.dtype != np.uint8:
        raise ValueError(f"medseg export: 8-bit picture slice expected, got dtype {arr.dtype}")
    return arr


def export_medseg_folder(
    out_dir: str | Path,
    source: ExportSource | object,
    slices: Iterable[tuple[int, np.ndarray]],
    masks: np.ndarray,
    indices: Sequence[int] | None = None,
    start: int = 1,
    image_format: str = "png",
    skip_empty: bool = False,
    progress: Progress = None,
) -> int:
    """Write images/N and masks/N.png for the chosen slices; returns the next free N.

    slices: (z, slice (y, x)) pairs in any order (HU float or uint8, as `source.is_hu` says);
    masks: bool (z, y, x) of the source's shape. skip_empty leaves out slices with no lesion.
    image_format: "png" (lossless) or "jpg" (like MedSeg, quality 95).
    """
    src = ExportSource.of(source)
    fmt = image_format.lower().lstrip(".")
    if fmt not in ("png", "jpg"):
        raise ValueError(f"medseg export: image format {image_format!r}: use png or jpg")
    check_mask(masks, src.shape)
    if int(start) < 0:
        raise ValueError(f"medseg export: start number must be >= 0, got {start}")
    wanted = set(check_indices(indices, src.shape[0]))
    root = ensure_dir(out_dir)
    images, mask_dir = ensure_dir(root / "images"), ensure_dir(root / "masks")
    index_path = root / "index.csv"
    new_index = not index_path.exists()
    n = int(start)
    done = 0
    with index_path.open("a", newline="") as fh:
        writer = csv.writer(fh)
        if new_index:
            writer.writerow(INDEX_FIELDS)
        for z, sl in slices:
            if z not in wanted:
                continue
            done += 1
            lesion = int(np.count_nonzero(masks[z]))
            if not (skip_empty and lesion == 0):
                if np.shape(sl) != src.shape[1:]:
                    raise ValueError(f"medseg export: slice {z} is {np.shape(sl)}, "
                                     f"the mask is {src.shape[1:]}")
                pic = picture_of(sl, src.is_hu)
                if fmt == "png":
                    write_png(images / f"{n}.png", pic)
                else:
                    with atomic_path(images / f"{n}.jpg") as tmp:
                        Image.fromarray(pic).save(tmp, format="JPEG", quality=95)
                write_png(mask_dir / f"{n}.png", mask_slice_to_uint8(masks[z]))
                ref_path = getattr(src.refs[z], "path", "") if src.refs else ""
                writer.writerow((n, src.key, z, ref_path, lesion))
                n += 1
            report(progress, done, len(wanted))
    if done != len(wanted):
        raise ValueError(f"medseg export: got {done} of the {len(wanted)} slices asked for")
    return n
