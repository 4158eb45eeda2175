"""NIfTI export (SimpleITK ``.nii.gz``) with the source volume's geometry.

The image keeps the source's voxel grid: size (x, y, z) = (cols, rows, slices), spacing,
origin and direction copied from the source (LPS, SimpleITK convention; ITK converts to the
NIfTI RAS sform/qform on write and back on read), so the file overlays the source series in
3D Slicer and ITK-SNAP. Maps are written as float32 in [0, 1], masks as uint8 0/1.

Exporting a contiguous run of slices (e.g. the current slice) moves the origin to the first
exported slice, so the run still sits at its place in patient space.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from viewer.io.atomic import atomic_path
from viewer.export.chunks import is_chunked, write_nifti
from viewer.export.source import (
    ExportSource,
    Progress,
    check_indices,
    check_map,
    check_mask,
    ensure_dir,
    report,
)


def _contiguous_run(zs: list[int]) -> tuple[int, int]:
    """(start, stop) of an increasing run of consecutive indices; ValueError otherwise."""
    if zs != list(range(zs[0], zs[0] + len(zs))):
        raise ValueError("nifti export: slice indices must be one consecutive increasing run")
    return zs[0], zs[0] + len(zs)


def to_sitk_image(array: np.ndarray, source: ExportSource | object, start: int = 0) -> sitk.Image:
    """A SimpleITK image of `array` (z, y, x) placed on the source grid from slice `start`."""
    src = ExportSource.of(source)
    arr = np.asarray(array)
    if arr.ndim != 3 or arr.shape[1:] != src.shape[1:]:
        raise ValueError(f"nifti export: array shape {arr.shape} does not fit the source "
                         f"slices {src.shape[1:]}")
    image = sitk.GetImageFromArray(arr, isVector=False)
    sz, sy, sx = src.spacing
    image.SetSpacing((sx, sy, sz))
    image.SetOrigin(tuple(float(v) for v in src.slice_position(start)))
    image.SetDirection(tuple(float(v) for v in src.direction.ravel()))
    return image


def export_nifti(
    path: str | Path,
    source: ExportSource | object,
    array: np.ndarray,
    indices: Sequence[int] | None = None,
    progress: Progress = None,
) -> Path:
    """Write a map (float (z, y, x) in [0, 1] -> float32) or a mask (bool -> uint8 0/1).

    `path` must end in .nii.gz or .nii. `indices`: one consecutive run of slices (all if None).
    """
    src = ExportSource.of(source)
    path = Path(path)
    if not (path.name.endswith(".nii.gz") or path.suffix == ".nii"):
        raise ValueError(f"nifti export {path}: file name must end in .nii.gz or .nii")
    if is_chunked(array) or path.name.endswith(".nii.gz"):
        return _export_streamed(path, src, array, indices, progress)
    arr = np.asarray(array)
    if arr.dtype == np.bool_:
        check_mask(arr, src.shape)
        pixels = arr.view(np.uint8)  # bool is one byte 0/1: no copy
    else:
        check_map(arr, src.shape)
        pixels = arr if arr.dtype == np.float32 else arr.astype(np.float32)
    start, stop = _contiguous_run(check_indices(indices, src.shape[0]))
    image = to_sitk_image(pixels[start:stop], src, start)
    ensure_dir(path.parent)
    report(progress, 0, 1)
    with atomic_path(path) as tmp:
        sitk.WriteImage(image, str(tmp), useCompression=path.name.endswith(".gz"))
    report(progress, 1, 1)
    return path


def _export_streamed(path: Path, src: ExportSource, array, indices, progress) -> Path:
    """``export_nifti`` chunk by chunk (``viewer.export.chunks.write_nifti``): the same image
    read back, without a full-size copy of the volume in memory. Maps are written as float32
    (a chunked map's values are known to lie in [0, 1]), masks as uint8 0/1."""
    if is_chunked(array):
        if tuple(array.shape) != tuple(src.shape):
            raise ValueError(f"map: shape {tuple(array.shape)} differs from the source "
                             f"{tuple(src.shape)}")
        dtype = np.float32
    else:
        arr = np.asarray(array)
        if arr.dtype == np.bool_:
            check_mask(arr, src.shape)
            dtype = np.uint8
        else:
            check_map(arr, src.shape)
            dtype = np.float32
        array = arr
    start, stop = _contiguous_run(check_indices(indices, src.shape[0]))
    ensure_dir(path.parent)
    report(progress, 0, 1)
    with atomic_path(path) as tmp:
        two = to_sitk_image(np.zeros((2, *src.shape[1:]), dtype=dtype), src, start)
        write_nifti(tmp, two, array, dtype, start, stop)
    report(progress, 1, 1)
    return path
