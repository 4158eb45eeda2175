"""Decode DICOM slice pixels to HU float32 (CT) or uint8 (8-bit greyscale pictures).

Native little-endian pixels are read straight from the file offset found while reading the
header (``numpy.fromfile``); everything else goes through pydicom, whose pixel handlers decode
JPEG Lossless/Baseline/Extended (pylibjpeg-libjpeg), JPEG-LS (pylibjpeg-libjpeg or pyjpegls),
JPEG 2000 (pylibjpeg-openjpeg), RLE Lossless (pylibjpeg-rle or pydicom's own), deflated and
big-endian data. Slices are decoded on a small thread pool, ahead of the consumer, and yielded
in order.
"""
from __future__ import annotations

import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator

import numpy as np
import pydicom
from pydicom.pixels import pixel_array

from viewer.io.dicom_sanity import needs_more_bits
from viewer.io.dicom_values import one_line, pydicom_notes
from viewer.io.series import DecodeHint, SeriesInfo, SliceRef

HU_BLANK = -1024.0  # air: value of a slice that could not be decoded
MAX_WORKERS = 4


def read_stored(ref: SliceRef, rows: int, cols: int) -> np.ndarray:
    """Stored pixel values of one slice, ``(rows, cols)``, before rescaling.

    Raises ValueError (or the decoder's exception) when the pixels cannot be decoded.
    """
    hint = ref.decode or DecodeHint()
    if hint.offset is not None and hint.dtype:
        n = rows * cols
        arr = np.fromfile(ref.path, dtype=hint.dtype, count=n, offset=hint.offset)
        if arr.size < n:
            raise ValueError(f"truncated pixel data ({arr.size} of {n} pixels)")
        arr = arr.reshape(rows, cols)
        if hint.bits_shift and not needs_more_bits(arr, hint.bits_stored, hint.signed):
            arr = np.right_shift(np.left_shift(arr, hint.bits_shift), hint.bits_shift)
        return arr
    try:
        arr = pixel_array(ref.path, index=ref.frame_index)
    except Exception as first_error:  # e.g. deflated files: decode from a fully read dataset
        try:
            arr = pydicom.dcmread(ref.path).pixel_array
        except Exception:
            raise first_error from None
        if ref.frame_index is not None and arr.ndim == 3:
            arr = arr[ref.frame_index]
    if arr.ndim == 3 and ref.frame_index is None:  # single-frame file decoded with a frame axis
        arr = arr[0]
    if arr.shape != (rows, cols):
        raise ValueError(f"decoded pixels are {arr.shape[1]}x{arr.shape[0]}, header says "
                         f"{cols}x{rows}")
    return arr


def stretch_to_grey(stored: np.ndarray) -> np.ndarray:
    """Values without a known meaning (a CT without a usable rescale) -> ``uint8``: the 0.5-99.5
    percentile range of the slice mapped to 0-255."""
    v = stored.astype(np.float64)
    lo, hi = np.percentile(v, (0.5, 99.5)) if v.size else (0.0, 1.0)
    if not hi > lo:
        hi = lo + 1.0
    return np.clip((v - lo) * (255.0 / (hi - lo)), 0, 255).astype(np.uint8)


def to_output(stored: np.ndarray, hint: DecodeHint | None, is_hu: bool) -> np.ndarray:
    """Stored values -> HU ``float32`` (``is_hu``) or ``uint8`` 0-255."""
    hint = hint or DecodeHint()
    if not is_hu and hint.stretch:
        return stretch_to_grey(stored)
    if is_hu:
        out = stored.astype(np.float32)
        if hint.slope != 1.0:
            out *= np.float32(hint.slope)
        if hint.intercept != 0.0:
            out += np.float32(hint.intercept)
        return out
    if hint.invert_max is not None:
        stored = hint.invert_max - stored.astype(np.int32)
    return np.clip(stored, 0, 255).astype(np.uint8)


def decode_slice(info: SeriesInfo, i: int) -> np.ndarray:
    """Slice ``i`` of a DICOM series as HU float32 or uint8 ``(rows, cols)``; raises on failure.
    Problems that do not stop decoding become warnings of ``info``."""
    ref = info.refs[i]
    stored = read_stored(ref, info.rows, info.cols)
    hint = ref.decode
    if (hint is not None and hint.bits_stored
            and needs_more_bits(stored, hint.bits_stored, hint.signed)):
        _add_warning(info, f"{_where(info, i)}: BitsStored {hint.bits_stored} but the pixel "
                           f"values need more bits: read with all {stored.dtype.itemsize * 8} bits")
    out = to_output(stored, hint, info.is_hu)
    if out.shape != (info.rows, info.cols):
        raise ValueError(f"decoded pixels are {out.shape}, expected {(info.rows, info.cols)}")
    return out


def _where(info: SeriesInfo, i: int) -> str:
    ref = info.refs[i]
    return ref.path if ref.frame_index is None else f"{ref.path} (frame {ref.frame_index + 1})"


def _add_warning(info: SeriesInfo, text: str) -> None:
    if text not in info.warnings:
        info.warnings.append(text)


def _decode_or_blank(info: SeriesInfo, i: int) -> np.ndarray:
    notes: list[str] = []
    try:
        with pydicom_notes(notes):  # pydicom's warnings go to the series, not to stderr
            out = decode_slice(info, i)
    except Exception as exc:  # any decoder failure: keep going with a blank slice
        for note in notes:
            _add_warning(info, f"{_where(info, i)}: {note}")
        _add_warning(info, f"{_where(info, i)}: could not decode pixels ({one_line(exc)}); "
                           f"slice {i + 1} left blank")
        return np.full((info.rows, info.cols), HU_BLANK if info.is_hu else 0, dtype=info.dtype)
    for note in notes:
        _add_warning(info, f"{_where(info, i)}: {note}")
    return out


def iter_dicom_slices(info: SeriesInfo) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(i, slice)`` in order.

    Native pixels are read in the calling thread (a plain file read is faster than a thread
    hand-off); compressed slices are decoded a few slices ahead on worker threads.
    """
    n = info.n_slices
    if n == 0:
        return
    native = all(r.decode is not None and r.decode.offset is not None for r in info.refs)
    workers = 1 if native else max(1, min(MAX_WORKERS, os.cpu_count() or 1, n))
    if workers == 1:
        for i in range(n):
            yield i, _decode_or_blank(info, i)
        return
    ahead = 2 * workers
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dicom-decode") as pool:
        pending: deque = deque()
        next_i = 0
        try:
            for i in range(n):
                while next_i < n and len(pending) < ahead:
                    pending.append(pool.submit(_decode_or_blank, info, next_i))
                    next_i += 1
                yield i, pending.popleft().result()
        finally:
            for fut in pending:
                fut.cancel()
