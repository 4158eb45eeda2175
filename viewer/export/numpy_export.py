"""NumPy export: ``.npy`` for one array, ``.npz`` for map + mask with the geometry beside them.

The ``.npz`` holds (only plain arrays, so ``np.load(..., allow_pickle=False)`` works):

- ``map``: float32 (z, y, x) in [0, 1]; ``mask``: bool (z, y, x) (either may be absent);
- ``slice_indices``: int64 (z,) indices into the source volume of the exported slices;
- ``spacing``: float64 (3,) mm in (z, y, x); ``origin``: float64 (3,) LPS (x, y, z) mm of the
  source voxel (0, 0, 0); ``direction``: float64 (3, 3), columns = x, y, z axes in LPS;
- ``slice_positions``: float64 (z, 3) LPS position of each exported slice's first pixel;
- ``sop_instance_uids``: str (z,) for DICOM sources (absent otherwise);
- ``is_hu``: bool scalar, whether the source was HU (else 8-bit pictures).

numpy writes arrays to the zip in 16 MiB chunks, so no extra full copy is made when all slices
are exported. Compressed with deflate level ``NPZ_LEVEL`` (1: about 6x faster than numpy's
default level 6 on the 133 x 512 x 512 map and mask of LIDC-IDRI-0001, 10 % larger); any zip / ``np.load`` reads it.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import zipfile

import numpy as np

from viewer.io.atomic import atomic_path
from viewer.export.chunks import is_chunked, write_npy
from viewer.export.source import (
    ExportSource,
    Progress,
    check_indices,
    check_map,
    check_mask,
    ensure_dir,
    report,
)

#: Deflate level of compressed ``.npz`` files (1 = fastest).
NPZ_LEVEL = 1


def savez(path: str | Path, arrays: dict[str, np.ndarray], compress: bool = True,
          level: int = NPZ_LEVEL) -> None:
    """``np.savez`` / ``np.savez_compressed`` with a chosen deflate ``level``: one ``NAME.npy``
    member per array (written by ``numpy.lib.format.write_array``, no pickles); a chunked
    volume (``viewer.export.chunks``) is written chunk by chunk as float32."""
    mode = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, mode="w", compression=mode, allowZip64=True,
                         compresslevel=level if compress else None) as zf:
        for name, value in arrays.items():
            with zf.open(f"{name}.npy", "w", force_zip64=True) as fid:
                if is_chunked(value):
                    write_npy(fid, value, np.float32)
                else:
                    np.lib.format.write_array(fid, np.asanyarray(value), allow_pickle=False)


def export_npy(path: str | Path, array: np.ndarray) -> Path:
    """Save one array (map float32 or mask bool, any shape) as ``.npy``; returns the path.
    A chunked map (``viewer.export.chunks``) is written as float32 chunk by chunk."""
    path = Path(path)
    if path.suffix != ".npy":
        raise ValueError(f"npy export {path}: file name must end in .npy")
    ensure_dir(path.parent)
    if is_chunked(array):
        with atomic_path(path) as tmp, open(tmp, "wb") as fid:
            write_npy(fid, array, np.float32)
        return path
    arr = np.asarray(array)
    if arr.dtype.kind == "f" and arr.dtype != np.float32:
        arr = arr.astype(np.float32)
    with atomic_path(path) as tmp:
        np.save(tmp, arr, allow_pickle=False)
    return path


def _subset(arr: np.ndarray, zs: list[int], n: int) -> np.ndarray:
    """The chosen slices; the array itself (no copy) when all slices in order."""
    return arr if zs == list(range(n)) else arr[zs]


def export_npz(
    path: str | Path,
    source: ExportSource | object,
    maps: np.ndarray | None = None,
    masks: np.ndarray | None = None,
    indices: Sequence[int] | None = None,
    compress: bool = True,
    progress: Progress = None,
) -> Path:
    """Save map and/or mask of the chosen slices with the source geometry as ``.npz``.

    maps: float (z, y, x) in [0, 1]; masks: bool (z, y, x); both the source's shape.
    """
    src = ExportSource.of(source)
    path = Path(path)
    if path.suffix != ".npz":
        raise ValueError(f"npz export {path}: file name must end in .npz")
    if maps is None and masks is None:
        raise ValueError("npz export: nothing to write (no map and no mask)")
    zs = check_indices(indices, src.shape[0])
    arrays: dict[str, np.ndarray] = {}
    if maps is not None and is_chunked(maps) and zs == list(range(src.shape[0])):
        if tuple(maps.shape) != tuple(src.shape):
            raise ValueError(f"map: shape {tuple(maps.shape)} differs from the source "
                             f"{tuple(src.shape)}")
        arrays["map"] = maps  # written chunk by chunk
    elif maps is not None:
        m = check_map(maps, src.shape)
        arrays["map"] = _subset(m if m.dtype == np.float32 else m.astype(np.float32), zs,
                                src.shape[0])
    if masks is not None:
        arrays["mask"] = _subset(check_mask(masks, src.shape), zs, src.shape[0])
    arrays["slice_indices"] = np.asarray(zs, dtype=np.int64)
    arrays["spacing"] = np.asarray(src.spacing, dtype=np.float64)
    arrays["origin"] = np.asarray(src.origin, dtype=np.float64)
    arrays["direction"] = np.asarray(src.direction, dtype=np.float64)
    arrays["slice_positions"] = src.slice_positions()[zs]
    arrays["is_hu"] = np.asarray(bool(src.is_hu))
    if src.has_dicom_instances:
        arrays["sop_instance_uids"] = np.asarray([str(src.refs[z].sop_instance_uid) for z in zs])
    ensure_dir(path.parent)
    report(progress, 0, 1)
    with atomic_path(path) as tmp:
        savez(tmp, arrays, compress)
    report(progress, 1, 1)
    return path
