"""The lesion maps of one series for `main.py localize`, computed and kept in little memory.

``localize_series`` computes the maps of a series (float32 (z, y, x) in [0, 1]) the way the
viewer does (one plan per series, the values rounded to float16 as the viewer's map cache keeps
them) and returns them as a ``SeriesMaps``: only the plan's frame is stored (the maps are zero
outside it), as float16, the very values the viewer thresholds. A 1,000-slice 512 x 512 series
then costs at most 0.5 GiB instead of 1 GiB of float32, and exports read it slice by slice
(``chunks``) or whole (``np.asarray``).

HU series with a frame go through ``Localizer.frame_maps`` (crop, canonical grey scale and
resize in torch on the localizer's device, batches sized to it); other input, and localizers
without ``frame_maps`` (e.g. test doubles), through ``localize_with_plan``, CHUNK slices a call.
"""
from __future__ import annotations

import numpy as np

#: Slices given to the localizer per call on the fallback path.
CHUNK = 16
#: Slices per chunk handed to the exports.
EXPORT_CHUNK = 32


class SeriesMaps:
    """float16 maps of a series inside a frame ``(y0, y1, x0, x1)`` (zero outside), read as
    float32 (z, y, x): ``get_map(i)`` / ``m[i]``, ``chunks()``, ``np.asarray(m)``."""

    def __init__(self, shape: tuple[int, int, int], box: tuple[int, int, int, int] | None = None,
                 store=np.float16):
        z, y, x = (int(v) for v in shape)
        self.shape = (z, y, x)
        self.box = (0, y, 0, x) if box is None else tuple(int(v) for v in box)
        y0, y1, x0, x1 = self.box
        if not (0 <= y0 < y1 <= y and 0 <= x0 < x1 <= x):
            raise ValueError(f"series maps: frame {self.box} outside slices {(y, x)}")
        self.inner = np.zeros((z, y1 - y0, x1 - x0), dtype=store)
        self.dtype = np.dtype(np.float32)
        self.ndim = 3

    def __len__(self) -> int:
        return self.shape[0]

    def put(self, start: int, values: np.ndarray, framed: bool) -> None:
        """Store maps of slices ``start..``: ``values`` float (k, frame h, frame w) when
        ``framed``, else full slices (k, y, x) (then zero outside the frame)."""
        y0, y1, x0, x1 = self.box
        v = values if framed else values[:, y0:y1, x0:x1]
        self.inner[start:start + len(v)] = v  # rounded to float16 here (the default store)

    def chunk(self, start: int, stop: int) -> np.ndarray:
        """float32 (stop - start, y, x) maps of slices ``start..stop-1``."""
        y0, y1, x0, x1 = self.box
        out = np.zeros((stop - start, *self.shape[1:]), dtype=np.float32)
        out[:, y0:y1, x0:x1] = self.inner[start:stop]
        return out

    def chunks(self, size: int = EXPORT_CHUNK):
        """``(start, stop, float32 (k, y, x))`` over the whole series, in order."""
        for start in range(0, self.shape[0], size):
            stop = min(self.shape[0], start + size)
            yield start, stop, self.chunk(start, stop)

    def get_map(self, i: int) -> np.ndarray:
        return self.chunk(int(i), int(i) + 1)[0]

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            return self.get_map(int(key))
        return np.asarray(self)[key]

    def __array__(self, dtype=None, copy=None):
        out = self.chunk(0, self.shape[0])
        return out if dtype is None else out.astype(dtype, copy=False)


def localize_series(localizer, voxels: np.ndarray, is_hu: bool, plan, progress) -> SeriesMaps:
    """The maps of a whole series as ``SeriesMaps`` (see the module docstring);
    ``progress(done, total)`` per batch."""
    from viewer.core.lesion_layers import localize_with_plan

    n = voxels.shape[0]
    frame = getattr(plan, "frame", None)
    fast = (callable(getattr(localizer, "frame_maps", None)) and is_hu and frame is not None
            and getattr(plan, "is_hu", False))
    if fast:
        maps = SeriesMaps(voxels.shape, (frame.y0, frame.y1, frame.x0, frame.x1))
        for start, stop, part in localizer.frame_maps(voxels, is_hu, plan, progress=None):
            maps.put(start, part, framed=True)
            progress(stop, n)
        return maps
    # the path of viewer.core.lesion_layers.localize_with_plan, as before: float32 maps with
    # the frame's values rounded to float16 as the viewer's map cache stores them
    maps = SeriesMaps(voxels.shape, None, store=np.float32)
    inside = (slice(None), slice(frame.y0, frame.y1), slice(frame.x0, frame.x1)) \
        if frame is not None else (slice(None),)
    for start in range(0, n, CHUNK):
        stop = min(n, start + CHUNK)
        part = localize_with_plan(localizer, voxels[start:stop], is_hu, plan,
                                  progress=lambda done, total, s=start: progress(s + done, n))
        part = np.asarray(part, dtype=np.float32)
        part[inside] = part[inside].astype(np.float16)
        maps.put(start, part, framed=False)
    return maps
