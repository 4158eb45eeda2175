"""2-D pictures (PNG, JPG, BMP, TIFF) as 8-bit pseudo-series (``is_hu=False``, ``uint8``).

A folder of pictures is one pseudo-series in natural file-name order (``2.png`` before
``10.png``). Pictures of different sizes cannot share a volume: each size with several
pictures is a pseudo-series of its own, and a picture whose size no other picture in the folder
has is a 1-slice series named after the file (folders of unrelated slices, like the public
COVID-19 picture sets, therefore list one series per picture). A
multi-page TIFF is its own pseudo-series of pages. RGB pictures with equal channels become grey;
other colour pictures are converted to grey (luma) with a warning. Pictures have no geometry:
spacing 1 mm, origin 0, identity direction.
"""
from __future__ import annotations

import os
import re
from collections import defaultdict
from typing import Iterator

import numpy as np
from PIL import Image, UnidentifiedImageError

from viewer.io.series import IDENTITY_DIRECTION, SeriesInfo, SkippedFile, SliceRef

PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
NO_GEOMETRY = "pictures carry no geometry: 1 mm spacing assumed; values are 8-bit display grey, not HU"
_DIGITS = re.compile(r"(\d+)")


def is_picture_path(path: str) -> bool:
    return path.lower().endswith(PICTURE_SUFFIXES)


def natural_key(name: str) -> tuple:
    """Sort key that orders embedded numbers by value: ``'img2' < 'img10'``."""
    parts = _DIGITS.split(name.lower())
    return tuple((0, int(p), p) if p.isdigit() else (1, 0, p) for p in parts if p != "")


def _probe(path: str):
    """(width, height, n_pages) from the header, or a SkippedFile."""
    try:
        if os.path.getsize(path) == 0:
            return SkippedFile(path, "empty file (0 bytes)")
        with Image.open(path) as img:
            return img.size[0], img.size[1], int(getattr(img, "n_frames", 1) or 1)
    except (UnidentifiedImageError, SyntaxError, ValueError) as exc:
        return SkippedFile(path, f"not a readable picture ({exc})")
    except OSError as exc:
        return SkippedFile(path, f"cannot read: {exc.strerror or exc}")


def scan_pictures(paths: list[str], name: str) -> tuple[list[SeriesInfo], list[SkippedFile]]:
    """Pictures of one folder (or one file) -> pseudo-series (headers only) and skipped files."""
    skipped: list[SkippedFile] = []
    by_size: dict[tuple[int, int], list[str]] = defaultdict(list)
    series: list[SeriesInfo] = []
    for path in sorted(paths, key=lambda p: natural_key(os.path.basename(p))):
        got = _probe(path)
        if isinstance(got, SkippedFile):
            skipped.append(got)
            continue
        w, h, pages = got
        if pages > 1:
            refs = [SliceRef(path=path, frame_index=k) for k in range(pages)]
            series.append(_info(f"pictures:{os.path.abspath(path)}", os.path.basename(path), w, h,
                                refs, []))
        else:
            by_size[(w, h)].append(path)
    folder_key = f"pictures:{os.path.abspath(name)}"
    groups = sorted(by_size.items(), key=lambda kv: -len(kv[1]))
    others = sum(len(files) for files in by_size.values())
    for n, ((w, h), files) in enumerate(groups):
        if len(files) == 1 and len(groups) > 1:  # an odd-sized picture is a series of its own
            path = files[0]
            series.append(_info(f"pictures:{os.path.abspath(path)}", os.path.basename(path), w, h,
                                [SliceRef(path=path)], []))
            continue
        warnings = []
        if len(groups) > 1:
            warnings.append(f"folder holds pictures of {len(groups)} sizes: this pseudo-series "
                            f"has the {len(files)} of {w}x{h}; the other {others - len(files)} "
                            "are listed as separate series")
        key = folder_key if n == 0 else f"{folder_key}#{w}x{h}"
        refs = [SliceRef(path=p) for p in files]
        series.append(_info(key, os.path.basename(os.path.normpath(name)), w, h, refs, warnings))
    return series, skipped


def _info(key, description, w, h, refs, warnings) -> SeriesInfo:
    return SeriesInfo(
        key=key, source_kind="pictures", n_slices=len(refs), rows=h, cols=w,
        spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0), direction=IDENTITY_DIRECTION,
        is_hu=False, refs=refs, series_description=description,
        warnings=[NO_GEOMETRY, *warnings],
    )


def to_grey_uint8(img: Image.Image) -> tuple[np.ndarray, str | None]:
    """Picture -> ``uint8 (h, w)`` grey, plus a warning when information was changed."""
    mode = img.mode
    if mode == "L":
        return np.asarray(img, dtype=np.uint8), None
    if mode in ("1", "LA", "La"):
        return np.asarray(img.convert("L"), dtype=np.uint8), None
    if mode.startswith("I;16"):
        arr = np.asarray(img).astype(np.uint32)
        return (arr >> 8).astype(np.uint8), "16-bit picture reduced to 8 bits"
    if mode in ("I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        note = "values outside 0-255 clipped" if arr.min() < 0 or arr.max() > 255 else None
        return np.clip(np.rint(arr), 0, 255).astype(np.uint8), note
    rgb = np.asarray(img.convert("RGB"), dtype=np.uint8)
    if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2]):
        return np.ascontiguousarray(rgb[..., 0]), None
    return np.asarray(img.convert("RGB").convert("L"), dtype=np.uint8), \
        "colour picture converted to grey (luma)"


def read_picture(ref: SliceRef) -> tuple[np.ndarray, str | None]:
    """One picture (or TIFF page) -> ``uint8 (h, w)`` and an optional warning."""
    with Image.open(ref.path) as img:
        if ref.frame_index:
            img.seek(ref.frame_index)
        img.load()
        return to_grey_uint8(img)


def iter_picture_slices(info: SeriesInfo) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(i, uint8 slice)``; unreadable pictures become blank with a warning."""
    for i, ref in enumerate(info.refs):
        try:
            arr, note = read_picture(ref)
        except Exception as exc:  # corrupt body behind a valid header
            arr, note = np.zeros((info.rows, info.cols), np.uint8), \
                f"could not decode ({type(exc).__name__}: {exc}); slice {i + 1} left blank"
        if note:
            info.warnings.append(f"{ref.path}: {note}")
        yield i, arr
