"""Slices of a ``(z, y, x)`` ``.npy`` file read and written in place with positional I/O.

``SliceFile(path, shape, dtype, create)`` behaves like the array for whole slices: ``f[i]`` reads
slice ``i`` (a new ``(y, x)`` array), ``f[i] = a`` writes it, ``f.flush()`` makes the writes
durable (``fdatasync``). Unlike a memory map, the slices read or written never count towards the
process's resident memory (they stay in the OS page cache), so a viewer holding the maps of a
1000-slice series keeps its footprint bounded. Thread-safe (``pread`` / ``pwrite``). Qt-free.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format


class SliceFile:
    """A ``(z, y, x)`` array in an ``.npy`` file, accessed one slice at a time (module docstring).

    ``create``: write a new file of zeros (sparse) with the header; else open an existing one,
    whose shape and dtype must match (ValueError otherwise)."""

    def __init__(self, path: str | Path, shape: tuple[int, int, int], dtype, create: bool):
        self.path = Path(path)
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        if create:
            with open(self.path, "wb") as f:
                npy_format.write_array_header_1_0(f, {"descr": npy_format.dtype_to_descr(self.dtype),
                                                      "fortran_order": False, "shape": self.shape})
                self.offset = f.tell()
                f.truncate(self.offset + int(np.prod(self.shape)) * self.dtype.itemsize)
        else:
            with open(self.path, "rb") as f:
                version = npy_format.read_magic(f)
                read_header = npy_format.read_array_header_1_0 if version == (1, 0) else \
                    npy_format.read_array_header_2_0
                shape_, fortran, dtype_ = read_header(f)
                self.offset = f.tell()
            if tuple(shape_) != self.shape or np.dtype(dtype_) != self.dtype or fortran:
                raise ValueError(f"{self.path.name}: holds {np.dtype(dtype_)} {tuple(shape_)}, "
                                 f"expected {self.dtype} {self.shape}")
            size = self.path.stat().st_size
            if size < self.offset + int(np.prod(self.shape)) * self.dtype.itemsize:
                raise ValueError(f"{self.path.name}: file is truncated")
        self._file = open(self.path, "r+b", buffering=0)
        self._slice_bytes = int(np.prod(self.shape[1:])) * self.dtype.itemsize

    def _pos(self, i: int) -> int:
        if not 0 <= i < self.shape[0]:
            raise IndexError(f"slice {i} outside 0..{self.shape[0] - 1}")
        return self.offset + int(i) * self._slice_bytes

    def __getitem__(self, i: int) -> np.ndarray:
        data = os.pread(self._file.fileno(), self._slice_bytes, self._pos(i))
        if len(data) != self._slice_bytes:
            raise OSError(f"{self.path.name}: short read of slice {i}")
        return np.frombuffer(data, dtype=self.dtype).reshape(self.shape[1:]).copy()

    def __setitem__(self, i: int, value: np.ndarray) -> None:
        a = np.ascontiguousarray(value, dtype=self.dtype)
        if a.shape != self.shape[1:]:
            raise ValueError(f"slice of shape {a.shape}, expected {self.shape[1:]}")
        os.pwrite(self._file.fileno(), a.tobytes(), self._pos(i))

    def flush(self) -> None:
        os.fdatasync(self._file.fileno()) if hasattr(os, "fdatasync") else os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()

    def __del__(self):
        f = getattr(self, "_file", None)
        if f is not None:
            f.close()
