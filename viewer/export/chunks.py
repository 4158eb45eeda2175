"""Volumes written slice chunk by slice chunk, so an export never holds a second full copy.

A *chunked volume* is any object with ``shape`` (z, y, x), ``dtype`` and
``chunks() -> iterable of (start, stop, array (stop - start, y, x))`` covering the series in
order (e.g. ``viewer.cli.localize_maps.SeriesMaps``, float16 maps read as float32). Plain arrays
are chunked by ``as_chunks``. The writers here take such chunks:

- ``write_npy``: the ``.npy`` bytes ``np.save`` writes for the whole array (same header);
- ``write_nifti``: a ``.nii.gz`` whose header is the one SimpleITK writes for the source
  geometry (taken from a two-slice image, its slice count patched), then the voxels; read back
  by SimpleITK / nibabel it gives the same array, spacing, origin and direction as a
  ``SimpleITK.WriteImage`` of the whole array (compressed at ``NIFTI_LEVEL``);
- ``fractional_frames``: the uint8 frames of a DICOM SEG FRACTIONAL map, rounded exactly as
  highdicom rounds them (``np.around(value * 255)``).
"""
from __future__ import annotations

import gzip
import struct
import tempfile
from pathlib import Path

import numpy as np

#: Slices per chunk when an in-memory array is written in chunks.
CHUNK = 32
#: gzip level of streamed ``.nii.gz`` files (1 = fastest; SimpleITK's default is 6).
NIFTI_LEVEL = 1


def is_chunked(volume) -> bool:
    """True for a chunked volume that is not a plain array."""
    return not isinstance(volume, np.ndarray) and callable(getattr(volume, "chunks", None))


def as_chunks(volume, size: int = CHUNK):
    """``(start, stop, array)`` over a chunked volume or an array (z, y, x)."""
    if is_chunked(volume):
        yield from volume.chunks()
        return
    arr = np.asarray(volume)
    for start in range(0, arr.shape[0], size):
        stop = min(arr.shape[0], start + size)
        yield start, stop, arr[start:stop]


def write_npy(fid, volume, dtype) -> None:
    """Write ``volume`` (array or chunked) as ``.npy`` bytes of ``dtype`` into the open binary
    file ``fid`` (header version 1.0, as ``np.save`` for such shapes)."""
    dtype = np.dtype(dtype)
    np.lib.format.write_array_header_1_0(fid, {
        "descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False,
        "shape": tuple(int(v) for v in volume.shape)})
    for _start, _stop, part in as_chunks(volume):
        fid.write(np.ascontiguousarray(part, dtype=dtype).data)


def nifti_header(two_slices, n_slices: int) -> bytes:
    """The NIfTI-1 header (and extension flag) SimpleITK writes for ``n_slices`` slices:
    ``two_slices`` is a SimpleITK image of two slices on the wanted grid, pixel type and
    geometry; it is written uncompressed and its slice count patched."""
    import SimpleITK as sitk

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "h.nii"
        sitk.WriteImage(two_slices, str(path), useCompression=False)
        raw = path.read_bytes()
    if struct.unpack_from("<i", raw, 0)[0] != 348 or struct.unpack_from("<h", raw, 40)[0] != 3:
        raise ValueError("nifti export: unexpected header from SimpleITK")
    offset = int(struct.unpack_from("<f", raw, 108)[0])
    head = bytearray(raw[:offset])
    struct.pack_into("<h", head, 46, int(n_slices))  # dim[3]
    return bytes(head)


def write_nifti(path: Path, two_slices, volume, dtype, start: int, stop: int,
                level: int = NIFTI_LEVEL) -> None:
    """Slices ``start..stop-1`` of ``volume`` (array or chunked, (z, y, x)) as a ``.nii.gz``
    (``.nii`` uncompressed) at ``path``; ``two_slices``: a SimpleITK image of two slices of
    ``dtype`` placed at slice ``start`` (its header is used, see ``nifti_header``); bool is
    written as uint8 0/1."""
    dtype = np.dtype(dtype)
    head = nifti_header(two_slices, stop - start)
    opener = (lambda p: gzip.GzipFile(p, "wb", compresslevel=level, mtime=0)) \
        if str(path).endswith(".gz") else (lambda p: open(p, "wb"))
    with opener(path) as fid:
        fid.write(head)
        for a, b, part in as_chunks(volume):
            lo, hi = max(a, start), min(b, stop)
            if lo < hi:
                piece = part[lo - a:hi - a]
                piece = piece.view(np.uint8) if piece.dtype == np.bool_ else piece
                fid.write(np.ascontiguousarray(piece, dtype=dtype).data)


def slice_of(volume, z: int) -> np.ndarray:
    """Slice ``z`` (y, x) of an array or a chunked volume (``get_map(z)`` or ``volume[z]``)."""
    get = getattr(volume, "get_map", None)
    return np.asarray(get(z) if callable(get) else volume[z])


def fractional_frames(fid, volume, order: list[int], max_value: int = 255) -> int:
    """Write the uint8 FRACTIONAL frames of map slices ``order`` (frame k = slice order[k])
    into ``fid``, rounded as highdicom rounds (``np.around(value * max_value)`` in float32);
    returns the bytes written."""
    written = 0
    for z in order:
        frame = np.around(np.asarray(slice_of(volume, z), dtype=np.float32) * float(max_value))
        data = np.ascontiguousarray(frame.astype(np.uint8))
        fid.write(data.data)
        written += data.nbytes
    return written
