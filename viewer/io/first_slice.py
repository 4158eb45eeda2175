"""One slice on screen before the folder is scanned: ``first_slice(path)`` decodes the first
DICOM image file found under ``path`` (folders walked in sorted order, like ``scan_path``) and
returns its pixels, so the viewer can show a picture while the headers of the other files are
read. The file need not be the series' first or middle slice (files are often named by
instance, not position); the scanned series replaces it.

Only DICOM files are peeked at (NIfTI volumes and pictures are read whole by their scan anyway).
Never raises: a path with no decodable DICOM image among its first ``max_files`` candidates
gives None.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from viewer.io.dicom_header import read_dicom_header
from viewer.io.dicom_pixels import decode_slice
from viewer.io.dicom_scan import build_series
from viewer.io.nifti import is_nifti_path
from viewer.io.pictures import is_picture_path
from viewer.io.scan import NOT_IMAGE_SUFFIXES
from viewer.io.series import SkippedFile

__all__ = ["FirstSlice", "first_slice"]


@dataclass
class FirstSlice:
    """The pixels of one file: ``pixels`` ``(rows, cols)`` HU float32 (``is_hu``) or uint8,
    ``path`` the file they come from, ``n_files`` how many files were opened to find it."""

    path: str
    pixels: np.ndarray
    is_hu: bool
    n_files: int


def _candidates(path: str):
    """DICOM-looking files under ``path`` in ``scan_path``'s order, lazily (no full walk)."""
    if not os.path.isdir(path):
        yield path
        return
    for folder, dirs, names in os.walk(path):
        dirs.sort()
        for name in sorted(names):
            low = name.lower()
            if (name.startswith(".") or low.endswith(NOT_IMAGE_SUFFIXES) or is_nifti_path(low)
                    or is_picture_path(low) or name.upper() in ("ATTRIBUTION", "LICENSE", "README",
                                                                "DICOMDIR")):
                continue
            yield os.path.join(folder, name)


def first_slice(path: str | os.PathLike, max_files: int = 20) -> FirstSlice | None:
    """The first decodable DICOM image under ``path``, or None (see the module doc)."""
    opened = 0
    try:
        for f in _candidates(os.fspath(path)):
            if opened >= max_files:
                return None
            opened += 1
            got = read_dicom_header(f)
            if isinstance(got, SkippedFile) or not got:
                continue
            series, _ = build_series(got[:1])
            if not series:
                continue
            info = series[0]
            try:
                pixels = decode_slice(info, 0)
            except Exception:  # noqa: BLE001 - a preview only: try the next file
                continue
            return FirstSlice(f, pixels, bool(info.is_hu), opened)
    except OSError:
        return None
    return None
