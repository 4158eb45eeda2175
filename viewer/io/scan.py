"""One entry point for CT input: ``scan_path`` (headers) and ``load_series`` (pixels).

It also picks the reader of each source kind: the DICOM, NIfTI and picture slice readers are
registered here in ``viewer.io.series.SLICE_READERS`` (``register_slice_reader``), so the
series model imports no reader.

``scan_path`` accepts a folder (scanned recursively), a DICOM file, a NIfTI file or a picture.
It never raises for bad input: a missing path, unreadable folders and bad files all end up in
``ScanResult.skipped`` with a one-line reason, and whatever is valid is still returned.
"""
from __future__ import annotations

import os
from collections import defaultdict
from typing import Optional

import numpy as np

from viewer.io.dicom_pixels import iter_dicom_slices
from viewer.io.dicom_scan import scan_dicom_files
from viewer.io.nifti import is_nifti_path, iter_nifti_slices, scan_nifti
from viewer.io.pictures import is_picture_path, iter_picture_slices, scan_pictures
from viewer.io.series import (SLICE_READERS, Progress, ScanResult, SeriesInfo, SkippedFile,
                              Volume, report)


def register_slice_reader(source_kind: str, reader) -> None:
    """Read the slices of series of ``source_kind`` with ``reader(info)`` -> iterator of
    ``(i, slice)`` (HU float32 or uint8 ``(rows, cols)``, in slice order)."""
    SLICE_READERS[source_kind] = reader


register_slice_reader("dicom", iter_dicom_slices)
register_slice_reader("nifti", iter_nifti_slices)
register_slice_reader("pictures", iter_picture_slices)

# Files that are certainly not images: skipped without opening them.
NOT_IMAGE_SUFFIXES = (".xml", ".txt", ".md", ".json", ".csv", ".pdf", ".html", ".htm", ".zip",
                      ".gz", ".tar", ".py", ".log", ".ini", ".cfg", ".yaml", ".yml", ".exe",
                      ".bat", ".sh", ".doc", ".docx", ".xls", ".xlsx", ".npy", ".npz", ".pt",
                      ".safetensors", ".mp4", ".avi")


def _walk(root: str, skipped: list[SkippedFile]) -> list[str]:
    files: list[str] = []

    def onerror(exc: OSError) -> None:
        skipped.append(SkippedFile(exc.filename or root,
                                   f"cannot list folder: {exc.strerror or exc}"))

    for folder, dirs, names in os.walk(root, onerror=onerror):
        dirs.sort()
        for name in sorted(names):
            files.append(os.path.join(folder, name))
    return files


def scan_path(path: str | os.PathLike, progress: Progress = None) -> ScanResult:
    """Find every loadable series under ``path`` (headers only, no pixels).

    ``progress(done, total)`` is called once per file; returning False raises LoadCancelled.
    """
    path = os.fspath(path)
    result = ScanResult()
    if not os.path.lexists(path):
        result.skipped.append(SkippedFile(path, "no such file or folder"))
        return result
    if os.path.isdir(path):
        files = _walk(path, result.skipped)
        if not files and not result.skipped:
            result.skipped.append(SkippedFile(path, "empty folder (no files)"))
    elif os.path.basename(path).upper() == "DICOMDIR":
        files = [f for f in _walk(os.path.dirname(path) or ".", result.skipped)
                 if os.path.basename(f).upper() != "DICOMDIR"]
    else:
        files = [path]
    total = len(files)
    dicom_files: list[str] = []
    pictures: dict[str, list[str]] = defaultdict(list)
    nifti: list[SeriesInfo] = []
    done = 0
    for f in files:
        low = f.lower()
        base = os.path.basename(f)
        if is_nifti_path(low):
            got = scan_nifti(f)
            (result.skipped if isinstance(got, SkippedFile) else nifti).append(got)
            done += 1
            report(progress, done, total)
        elif is_picture_path(low):
            pictures[os.path.dirname(f) if os.path.isdir(path) else f].append(f)
        elif base.startswith("."):
            result.skipped.append(SkippedFile(f, "hidden file"))
            done += 1
        elif low.endswith(NOT_IMAGE_SUFFIXES) or base.upper() in ("ATTRIBUTION", "LICENSE",
                                                                  "README"):
            result.skipped.append(SkippedFile(f, f"not an image file ({os.path.splitext(base)[1] or base})"))
            done += 1
        else:
            dicom_files.append(f)
    dicom = scan_dicom_files(dicom_files, progress, done0=done, total=total)
    done += len(dicom_files)
    result.extend(dicom)
    result.series.extend(nifti)
    for folder, group in pictures.items():
        series, skipped = scan_pictures(group, folder)
        result.series.extend(series)
        result.skipped.extend(skipped)
        done += len(group)
        report(progress, done, total)
    return result


def load_series(info: SeriesInfo, progress: Progress = None) -> Volume:
    """Read all pixels of ``info`` -> Volume ``(z, y, x)`` HU float32 or uint8.

    ``progress(done, total)`` after each slice; returning False raises LoadCancelled.
    Undecodable slices are left blank and named in ``info.warnings``.
    """
    voxels = np.empty(info.shape, dtype=info.dtype)
    for i, sl in info.iter_slices(progress):
        voxels[i] = sl
    return Volume(voxels=voxels, is_hu=info.is_hu, spacing=info.spacing, origin=info.origin,
                  direction=info.direction, refs=list(info.refs), info=info)


def first_series(result: ScanResult) -> Optional[SeriesInfo]:
    """The series with most slices (the usual one to open first), or None."""
    return max(result.series, key=lambda s: s.n_slices, default=None)
