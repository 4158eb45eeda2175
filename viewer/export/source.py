"""What every exporter needs to know about the source series: shape, geometry, provenance.

`ExportSource.of(obj)` reads it from a `viewer.io` `Volume` or `SeriesInfo` (or any object with
the same attributes), so exporters never hold the source voxels themselves.

Geometry follows docs/ARCHITECTURE.md: `shape` is (z, y, x); `spacing` is (z, y, x) in mm;
`origin` is the LPS position (x, y, z) in mm of voxel (0, 0, 0); `direction` is a 3×3 matrix whose
columns are the x, y, z index axes in LPS (SimpleITK convention).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: progress(done, total) -> False to cancel; same contract as viewer.io.
Progress = Callable[[int, int], Any] | None


class ExportCancelled(RuntimeError):
    """Raised when a progress callback returned False."""


def report(progress: Progress, done: int, total: int) -> None:
    """Call `progress(done, total)`; raise ExportCancelled when it returns False."""
    if progress is not None and progress(done, total) is False:
        raise ExportCancelled(f"export cancelled after {done} of {total} slices")


@dataclass
class ExportSource:
    """Shape, geometry and provenance of the series an export belongs to."""

    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: np.ndarray
    is_hu: bool
    source_kind: str = "dicom"
    refs: list = field(default_factory=list)
    key: str = "series"
    series_description: str = ""

    def __post_init__(self) -> None:
        self.shape = tuple(int(v) for v in self.shape)
        if len(self.shape) != 3 or min(self.shape) < 1:
            raise ValueError(f"export source: shape must be (z, y, x) >= 1, got {self.shape}")
        self.spacing = tuple(float(v) for v in self.spacing)
        if len(self.spacing) != 3 or not all(np.isfinite(self.spacing)) or min(self.spacing) <= 0:
            raise ValueError(f"export source: spacing must be 3 positive mm values, got {self.spacing}")
        self.origin = tuple(float(v) for v in self.origin)
        if len(self.origin) != 3 or not all(np.isfinite(self.origin)):
            raise ValueError(f"export source: origin must be 3 finite mm values, got {self.origin}")
        d = np.asarray(self.direction, dtype=np.float64)
        if d.size != 9 or not np.all(np.isfinite(d)):
            raise ValueError("export source: direction must be a finite 3×3 matrix")
        self.direction = d.reshape(3, 3)
        if self.refs and len(self.refs) != self.shape[0]:
            raise ValueError(
                f"export source: {len(self.refs)} slice refs for {self.shape[0]} slices")

    @classmethod
    def of(cls, obj: Any) -> ExportSource:
        """Build from a viewer.io Volume or SeriesInfo (duck-typed) or return an ExportSource."""
        if isinstance(obj, ExportSource):
            return obj
        info = getattr(obj, "info", None) or obj
        voxels = getattr(obj, "voxels", None)
        if voxels is not None:
            shape = tuple(np.shape(voxels))
        else:
            shape = (info.n_slices, info.rows, info.cols)
        if len(shape) == 2:
            shape = (1, *shape)

        def pick(name: str, default: Any = None) -> Any:
            value = getattr(obj, name, None)
            return value if value is not None else getattr(info, name, default)

        return cls(
            shape=shape,
            spacing=pick("spacing"),
            origin=pick("origin"),
            direction=pick("direction"),
            is_hu=bool(pick("is_hu")),
            source_kind=str(pick("source_kind", "dicom")),
            refs=list(pick("refs", []) or []),
            key=str(pick("key", "series")),
            series_description=str(pick("series_description", "") or ""),
        )

    @property
    def has_dicom_instances(self) -> bool:
        """True when every slice points at a DICOM file with a SOP Instance UID."""
        return (self.source_kind == "dicom" and len(self.refs) == self.shape[0]
                and all(getattr(r, "sop_instance_uid", None) and getattr(r, "path", None)
                        for r in self.refs))

    def slice_position(self, z: int) -> np.ndarray:
        """LPS position (x, y, z) mm of voxel (z, 0, 0) on the regular grid of this geometry."""
        return np.asarray(self.origin) + self.direction[:, 2] * self.spacing[0] * z

    def slice_positions(self) -> np.ndarray:
        """(z, 3) float64 LPS positions of every slice's first pixel.

        The source headers' positions (SliceRef.position) when every slice has one, else the
        regular grid of `slice_position`.
        """
        pos = [getattr(r, "position", None) for r in self.refs]
        if pos and all(p is not None and len(p) == 3 for p in pos):
            return np.asarray(pos, dtype=np.float64).reshape(-1, 3)
        return np.stack([self.slice_position(z) for z in range(self.shape[0])])

    def voxel_volume_ml(self) -> float:
        """Volume of one voxel in millilitres (mm³ / 1000)."""
        return float(np.prod(self.spacing)) / 1000.0

    def safe_name(self) -> str:
        """A file-system-safe name: DICOM description (or "series") + UID tail; for pictures
        and NIfTI the description (their file or folder name)."""
        if self.source_kind == "dicom" or not self.series_description:
            desc = self.series_description or "series"
            text = f"{desc}_{self.key[-12:]}" if len(self.key) > 12 else f"{desc}_{self.key}"
        else:  # a picture or NIfTI series is named after its file or folder
            text = self.series_description
        text = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "series"
        return text[:80]


def check_indices(indices: Sequence[int] | None, n: int) -> list[int]:
    """Slice indices to export (all when None); ValueError when out of range or repeated."""
    if indices is None:
        return list(range(n))
    out = [int(i) for i in indices]
    if not out:
        raise ValueError("export: no slice indices given")
    bad = [i for i in out if i < 0 or i >= n]
    if bad:
        raise ValueError(f"export: slice index {bad[0]} outside 0..{n - 1}")
    if len(set(out)) != len(out):
        raise ValueError("export: slice indices repeat")
    return out


def check_map(maps: np.ndarray, shape: tuple[int, ...], what: str = "map") -> np.ndarray:
    """Validate a lesion map: float (z, y, x) in [0, 1] with the source's shape."""
    arr = np.asarray(maps)
    if arr.shape != tuple(shape):
        raise ValueError(f"{what}: shape {arr.shape} differs from the source {tuple(shape)}")
    if arr.dtype.kind != "f":
        raise ValueError(f"{what}: must be a float array in [0, 1], got dtype {arr.dtype}")
    if arr.size:
        lo, hi = float(arr.min()), float(arr.max())
        if not (0.0 <= lo and hi <= 1.0):  # also false for NaN
            raise ValueError(f"{what}: values must lie in [0, 1], found {lo:g}..{hi:g}")
    return arr


def check_mask(masks: np.ndarray, shape: tuple[int, ...], what: str = "mask") -> np.ndarray:
    """Validate a binary mask: bool (z, y, x) with the source's shape."""
    arr = np.asarray(masks)
    if arr.shape != tuple(shape):
        raise ValueError(f"{what}: shape {arr.shape} differs from the source {tuple(shape)}")
    if arr.dtype != np.bool_:
        raise ValueError(f"{what}: must be a bool array, got dtype {arr.dtype}")
    return arr


def map_slice_to_uint8(map_slice: np.ndarray) -> np.ndarray:
    """A map slice in [0, 1] -> uint8 0..255 (rounded, clipped; NaN -> 0)."""
    out = np.nan_to_num(np.asarray(map_slice, dtype=np.float32), nan=0.0)
    np.clip(out, 0.0, 1.0, out=out)
    out *= 255.0
    out += 0.5
    return out.astype(np.uint8)


def mask_slice_to_uint8(mask_slice: np.ndarray) -> np.ndarray:
    """A bool mask slice -> uint8 0/255."""
    return np.where(np.asarray(mask_slice, dtype=bool), np.uint8(255), np.uint8(0))


def ensure_dir(path: str | Path) -> Path:
    """Create `path` (and parents); ValueError naming it when that fails."""
    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"output folder {p}: cannot create ({exc.strerror or exc})") from exc
    if not p.is_dir():
        raise ValueError(f"output folder {p}: not a folder")
    return p
