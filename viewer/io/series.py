"""The CT series model shared by every reader: headers (SeriesInfo), pixels (Volume).

Conventions (see docs/ARCHITECTURE.md):

* voxels are ``(z, y, x)``; HU volumes are ``float32`` Hounsfield units (``is_hu=True``),
  display-windowed pictures are ``uint8`` 0-255 (``is_hu=False``);
* ``spacing`` is ``(z, y, x)`` in mm;
* ``origin`` is the LPS patient position ``(x, y, z)`` in mm of voxel ``(0, 0, 0)``;
* ``direction`` is a 3x3 matrix whose columns are the x, y, z index axes in LPS, stored
  flattened row-major as 9 floats (SimpleITK convention).

This module is Qt-free, a pure data model: it imports no reader. ``SeriesInfo.iter_slices``
reads through ``SLICE_READERS`` (source kind -> slice reader), which ``viewer.io.scan`` fills
when ``viewer.io`` is imported; the readers import this module, never the other way round.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterator, Optional

import numpy as np

Progress = Optional[Callable[[int, int], Optional[bool]]]
"""``progress(done, total)``; returning ``False`` cancels the operation."""

SOURCE_KINDS = ("dicom", "nifti", "pictures")
IDENTITY_DIRECTION = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


class LoadCancelled(Exception):
    """Raised when a progress callback returned ``False``."""


def report(progress: Progress, done: int, total: int) -> None:
    """Call ``progress(done, total)``; raise LoadCancelled when it returns ``False``."""
    if progress is not None and progress(done, total) is False:
        raise LoadCancelled(f"cancelled after {done} of {total}")


@dataclass(frozen=True)
class DecodeHint:
    """How to get one slice's stored values fast, found while reading the header.

    ``offset``/``dtype`` locate native (uncompressed, little-endian) pixel data in the file so it
    can be read with ``numpy.fromfile``; ``None`` means decode through pydicom.
    ``slope``/``intercept`` map stored values to output values (HU for CT).
    """

    slope: float = 1.0
    intercept: float = 0.0
    offset: Optional[int] = None
    dtype: Optional[str] = None
    invert_max: Optional[int] = None  # MONOCHROME1 8-bit pictures: value -> invert_max - value
    bits_shift: int = 0  # BitsAllocated - BitsStored: unused high bits cleared on the fast path
    bits_stored: int = 0  # BitsStored (0: unknown); values that need more bits are warned about
    signed: bool = False  # PixelRepresentation 1
    stretch: bool = False  # a CT without a usable rescale: grey levels (uint8), not HU


@dataclass(frozen=True)
class SliceRef:
    """Where one slice comes from.

    ``position`` is the LPS position (x, y, z) in mm of the slice's first voxel, when known.
    ``frame_index`` is the 0-based frame of a multi-frame file (or page of a TIFF), else None.
    """

    path: str
    sop_instance_uid: Optional[str] = None
    sop_class_uid: Optional[str] = None
    frame_index: Optional[int] = None
    position: Optional[tuple[float, float, float]] = None
    instance_number: Optional[int] = None
    decode: Optional[DecodeHint] = None


@dataclass(frozen=True)
class SkippedFile:
    """A file (or folder) that was not loaded and the one-line reason why."""

    path: str
    reason: str

    def message(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass
class SeriesInfo:
    """Headers of one loadable series: sorted slices, geometry, warnings; no pixels.

    ``n_slices`` x ``rows`` x ``cols`` is the shape ``(z, y, x)`` of the volume it loads to.
    ``key`` is unique within a scan (the SeriesInstanceUID, with a suffix when one UID was split,
    or a synthetic key for NIfTI files and picture folders).
    """

    key: str
    source_kind: str
    n_slices: int
    rows: int
    cols: int
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: tuple[float, ...]
    is_hu: bool
    refs: list[SliceRef]
    patient_name: str = ""
    patient_id: str = ""
    study_uid: str = ""
    series_uid: str = ""
    study_description: str = ""
    series_description: str = ""
    modality: str = ""
    frame_of_reference_uid: str = ""
    series_number: Optional[int] = None
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.source_kind not in SOURCE_KINDS:
            raise ValueError(f"source_kind must be one of {SOURCE_KINDS}, got {self.source_kind!r}")
        if self.n_slices < 1 or self.rows < 1 or self.cols < 1:
            raise ValueError(
                f"series {self.key}: empty shape {(self.n_slices, self.rows, self.cols)}"
            )
        if len(self.refs) != self.n_slices:
            raise ValueError(
                f"series {self.key}: {len(self.refs)} slice references for {self.n_slices} slices"
            )
        if len(self.spacing) != 3 or min(self.spacing) <= 0:
            raise ValueError(f"series {self.key}: spacing (z, y, x) must be 3 positive mm values")
        if len(self.origin) != 3 or len(self.direction) != 9:
            raise ValueError(f"series {self.key}: origin needs 3 values and direction 9")

    @property
    def shape(self) -> tuple[int, int, int]:
        """Volume shape ``(z, y, x)``."""
        return (self.n_slices, self.rows, self.cols)

    @property
    def dtype(self) -> np.dtype:
        """``float32`` for HU series, ``uint8`` for display-windowed pictures."""
        return np.dtype(np.float32) if self.is_hu else np.dtype(np.uint8)

    def iter_slices(self, progress: Progress = None) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(i, slice)`` for i = 0..n_slices-1 in order; slice is ``(rows, cols)``.

        Slices are HU ``float32`` (``is_hu``) or ``uint8``. Pixels are read lazily, so the first
        slice arrives long before the last one is decoded. ``progress(done, total)`` is called
        after each slice; returning False stops with LoadCancelled. A slice that cannot be decoded
        is yielded blank (lowest value) and a warning naming its file is added to ``warnings``.
        """
        it = SLICE_READERS.get(self.source_kind)
        if it is None:
            raise LookupError(f"series {self.key}: no slice reader for source kind "
                              f"{self.source_kind!r} (registered: {', '.join(SLICE_READERS)})")
        total = self.n_slices
        for i, sl in it(self):
            if sl.shape != (self.rows, self.cols):
                raise ValueError(
                    f"{self.refs[i].path}: slice is {sl.shape[1]}x{sl.shape[0]}, "
                    f"series is {self.cols}x{self.rows}"
                )
            yield i, sl
            report(progress, i + 1, total)


#: ``source_kind`` -> reader ``(info) -> iterator of (i, slice (rows, cols))``, in slice order;
#: filled by ``viewer.io.scan.register_slice_reader`` (the one place that picks a reader)
SLICE_READERS: dict[str, Callable[["SeriesInfo"], Iterator[tuple[int, np.ndarray]]]] = {}


@dataclass
class Volume:
    """Pixels of one series: ``voxels`` ``(z, y, x)`` plus the geometry of ``info``."""

    voxels: np.ndarray
    is_hu: bool
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: tuple[float, ...]
    refs: list[SliceRef]
    info: SeriesInfo

    def __post_init__(self) -> None:
        if self.voxels.ndim != 3:
            raise ValueError(f"voxels must be 3-D (z, y, x), got shape {self.voxels.shape}")
        want = np.float32 if self.is_hu else np.uint8
        if self.voxels.dtype != want:
            raise ValueError(f"voxels must be {np.dtype(want)} when is_hu={self.is_hu}, "
                             f"got {self.voxels.dtype}")
        if len(self.refs) != self.voxels.shape[0]:
            raise ValueError(f"{len(self.refs)} slice references for {self.voxels.shape[0]} slices")

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.voxels.shape)  # type: ignore[return-value]


@dataclass
class ScanResult:
    """Everything a scan found: loadable series (headers only) and skipped files with reasons."""

    series: list[SeriesInfo] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)

    def extend(self, other: "ScanResult") -> None:
        self.series.extend(other.series)
        self.skipped.extend(other.skipped)
