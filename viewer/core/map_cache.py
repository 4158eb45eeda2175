"""Per-series cache of lesion maps and lung masks, in memory and on disk (Qt-free).

A series' maps are keyed by its series key (the Series Instance UID for DICOM, a synthetic key
otherwise) and the localizer's weights hash, so a reopened series is shown at once and a new set
of weights never reuses stale maps.

On disk (``<root>/<key digest>/``) a store holds four ``.npy`` files, so a 1000-slice series
never sits in process memory as a whole: the maps are read and written slice by slice with
positional I/O (``viewer.core.slice_file``; they stay in the OS page cache, out of the process's
resident memory), the others are memory maps:

- ``maps.npy``: ``float16 (z, y, x)``, the localizer's lesion map in [0, 1] (not yet restricted
  to the lungs);
- ``lungs.npy``: ``uint8 (z, y, x)``, the series' lung mask (1 inside the lungs), segmented once
  for the whole series (``viewer.core.staged_lungs.SeriesLungs``: the front of every slice
  first, which only plans the model's input, then each slice's finished mask);
- ``done.npy``: ``uint8 (z,)``, 1 once the map of slice ``z`` is written (set after its pixels
  are flushed, so a run cut off half way never marks a half-written slice as done);
- ``lungs_done.npy``: ``uint8 (z,)``, 1 once the finished lung mask of slice ``z`` is written;
- ``meta.json``: series key, weights hash, shape and the lung-mask kind, checked on reopening
  (stores of older versions, with lungs segmented slice by slice, are recomputed).

If the cache folder cannot be written, the store falls back to plain in-memory arrays and says
why in ``SeriesMapStore.warning``; nothing fails.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from viewer.core.lung_field_stage import network_id
from viewer.core.slice_file import SliceFile

APP_NAME = "covid-ct-reading-room"
MAP_DTYPE = np.float16
_FILES = ("maps.npy", "lungs.npy", "done.npy", "lungs_done.npy")
#: Recorded in meta.json: how the lung mask was made (a change invalidates old stores).
#: "series-wallbites": #17 changed ``segment_lungs`` (concavity fill against the chest wall only);
#: "+organs": the lung field's large even pieces (liver, heart) are left out (pictures).
#: The lung-field network's weights are part of it too (``lung_field_stage.network_id``).
LUNGS_KIND = "series-wallbites+organs"


def default_cache_root() -> Path:
    """``<platformdirs user cache dir>/maps``; overridden by ``$COVID_CT_CACHE_DIR`` when set."""
    env = os.environ.get("COVID_CT_CACHE_DIR")
    if env:
        return Path(env) / "maps"
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME)) / "maps"


def cache_key(series_key: str, weights_hash: str) -> str:
    """Folder name for a (series, weights) pair: 32 hex chars of sha256 over both."""
    if not str(series_key):
        raise ValueError("map cache: series key is empty")
    if not str(weights_hash):
        raise ValueError("map cache: weights hash is empty")
    h = hashlib.sha256(f"{series_key}\x00{weights_hash}".encode("utf-8")).hexdigest()
    return h[:32]


def _check_shape(shape) -> tuple[int, int, int]:
    try:
        z, y, x = (int(v) for v in shape)
    except (TypeError, ValueError):
        raise ValueError(f"map cache: shape must be (z, y, x), got {shape!r}")
    if min(z, y, x) <= 0:
        raise ValueError(f"map cache: shape must be positive, got {(z, y, x)}")
    return z, y, x


class SeriesMapStore:
    """Maps of one series and its lung mask, both filled slice by slice (thread-safe writes).

    ``shape`` is the volume's ``(z, y, x)``. Slices are read back as ``float32 (y, x)`` maps in
    [0, 1] and ``bool (y, x)`` lung masks. A slice counts as done (``has``) once its map and its
    finished lung mask are both written. ``put_lungs_front`` may fill the slices not finished
    yet with a provisional mask first (``lung_array`` then reads it; ``get_lungs`` does not).
    """

    def __init__(self, shape, series_key: str, weights_hash: str, folder: Path | None):
        self.shape = _check_shape(shape)
        self.series_key = str(series_key)
        self.weights_hash = str(weights_hash)
        self.folder = folder
        self.warning = ""
        self._lock = threading.Lock()
        self._maps = self._lungs = self._done = self._lungs_done = None
        self._front_in = False
        if folder is not None:
            try:
                self._open_on_disk(folder)
            except (OSError, ValueError) as exc:
                self.warning = f"map cache {folder}: {exc}; keeping maps in memory only"
                self.folder = None
        if self._maps is None:
            z, y, x = self.shape
            self._maps = np.zeros((z, y, x), MAP_DTYPE)
            self._lungs = np.zeros((z, y, x), np.uint8)
            self._done = np.zeros(z, np.uint8)
            self._lungs_done = np.zeros(z, np.uint8)

    # -- disk ---------------------------------------------------------------------------------
    def _meta(self) -> dict:
        return {"series_key": self.series_key, "weights_hash": self.weights_hash,
                "shape": list(self.shape), "map_dtype": np.dtype(MAP_DTYPE).name,
                "lungs": f"{LUNGS_KIND}+{network_id()}"}

    def _open_on_disk(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        meta_path = folder / "meta.json"
        reuse = False
        if meta_path.is_file() and all((folder / f).is_file() for f in _FILES):
            try:
                reuse = json.loads(meta_path.read_text()) == self._meta()
            except (OSError, ValueError):
                reuse = False
        z, y, x = self.shape
        from numpy.lib.format import open_memmap

        if reuse:
            try:
                self._maps = SliceFile(folder / "maps.npy", (z, y, x), MAP_DTYPE, create=False)
                self._lungs = open_memmap(folder / "lungs.npy", mode="r+")
                self._done = open_memmap(folder / "done.npy", mode="r+")
                self._lungs_done = open_memmap(folder / "lungs_done.npy", mode="r+")
                if (self._maps.shape != (z, y, x) or self._lungs.shape != (z, y, x)
                        or self._done.shape != (z,) or self._lungs_done.shape != (z,)):
                    raise ValueError("cached arrays have the wrong shape")
                return
            except (OSError, ValueError):
                self._maps = self._lungs = self._done = self._lungs_done = None
        self._maps = SliceFile(folder / "maps.npy", (z, y, x), MAP_DTYPE, create=True)
        self._lungs = open_memmap(folder / "lungs.npy", mode="w+", dtype=np.uint8, shape=(z, y, x))
        self._done = open_memmap(folder / "done.npy", mode="w+", dtype=np.uint8, shape=(z,))
        self._lungs_done = open_memmap(folder / "lungs_done.npy", mode="w+", dtype=np.uint8,
                                       shape=(z,))
        meta_path.write_text(json.dumps(self._meta()))

    # -- access -------------------------------------------------------------------------------
    @property
    def on_disk(self) -> bool:
        return self.folder is not None

    def _index(self, i: int) -> int:
        i = int(i)
        if not 0 <= i < self.shape[0]:
            raise ValueError(f"map cache: slice index {i} outside 0..{self.shape[0] - 1}")
        return i

    def _slice_array(self, i: int, value, what: str) -> tuple[int, np.ndarray]:
        """``(index, array)`` of one slice's ``what``, checked against the series' shape."""
        i = self._index(i)
        a = np.asarray(value)
        if a.shape != self.shape[1:]:
            raise ValueError(f"map cache: slice {i} {what} has shape {a.shape}, expected "
                             f"{self.shape[1:]}")
        return i, a

    def _volume_lungs(self, lungs) -> np.ndarray:
        lm = np.asarray(lungs)
        if lm.shape != self.shape:
            raise ValueError(f"map cache: lung mask has shape {lm.shape}, expected {self.shape}")
        return lm

    def has_lungs(self) -> bool:
        """True once every slice's finished lung mask is written."""
        return bool(np.all(self._lungs_done))

    def has_lungs_at(self, i: int) -> bool:
        """True once slice ``i``'s finished lung mask is written."""
        return bool(self._lungs_done[self._index(i)])

    def lungs_started(self) -> bool:
        """True once the lungs can be read for planning (``put_lungs_front`` or all written)."""
        return self._front_in or self.has_lungs()

    def has_map(self, i: int) -> bool:
        """True once slice ``i`` holds a map."""
        return bool(self._done[self._index(i)])

    def has(self, i: int) -> bool:
        """True once slice ``i`` holds a map and its finished lung mask."""
        i = self._index(i)
        return bool(self._done[i]) and bool(self._lungs_done[i])

    def done_mask(self) -> np.ndarray:
        """``bool (z,)`` copy: which slices are done (map and lungs)."""
        return np.asarray(self._done, dtype=bool) & np.asarray(self._lungs_done, dtype=bool)

    def n_done(self) -> int:
        """Slices whose map is written."""
        return int(np.count_nonzero(self._done))

    def is_complete(self) -> bool:
        return self.has_lungs() and self.n_done() == self.shape[0]

    def get_map(self, i: int) -> np.ndarray | None:
        """Lesion map of slice ``i``: ``float32 (y, x)`` in [0, 1], or None when not done."""
        i = self._index(i)
        if not self._done[i] or not self._lungs_done[i]:
            return None
        return np.asarray(self._maps[i], dtype=np.float32)

    def lungs(self) -> np.ndarray | None:
        """The series' finished lung mask as stored, ``uint8 (z, y, x)`` 0/1 (a read-only view,
        a memory map on disk), or None before every slice's is written."""
        if not self.has_lungs():
            return None
        return self.lung_array()

    def lung_array(self) -> np.ndarray | None:
        """The stored lung mask, ``uint8 (z, y, x)`` read-only, while it is being filled: the
        finished slices' masks (``has_lungs_at``) and the provisional front elsewhere; None
        before ``lungs_started``. Read a slice from it only once ``has_lungs_at`` says so."""
        if not self.lungs_started():
            return None
        view = self._lungs.view()
        view.flags.writeable = False
        return view

    def get_lungs(self, i: int) -> np.ndarray | None:
        """Finished lung mask of slice ``i``: ``bool (y, x)``, or None before it is written."""
        i = self._index(i)
        if not self._lungs_done[i]:
            return None
        return np.asarray(self._lungs[i]) != 0

    def put_lungs(self, lungs: np.ndarray) -> None:
        """Store the series' finished lung mask, ``bool (z, y, x)``."""
        lm = self._volume_lungs(lungs)
        with self._lock:
            self._lungs[:] = lm.astype(bool, copy=False)
            self._flush(self._lungs)
            self._lungs_done[:] = 1
            self._flush(self._lungs_done)

    def put_lungs_front(self, front: np.ndarray) -> None:
        """The provisional mask ``bool (z, y, x)`` for the slices not finished yet (kept for this
        session only: ``lungs_done`` is not set, a reopened store makes it again)."""
        lm = self._volume_lungs(front)
        with self._lock:
            for k in np.flatnonzero(np.asarray(self._lungs_done) == 0):
                self._lungs[k] = lm[k]
            self._front_in = True

    def put_lungs_slice(self, i: int, lungs: np.ndarray) -> None:
        """Store slice ``i``'s finished lung mask, ``bool (y, x)``."""
        i, lm = self._slice_array(i, lungs, "lung mask")
        with self._lock:
            self._lungs[i] = lm.astype(bool)
            self._flush(self._lungs)
            self._lungs_done[i] = 1
            self._flush(self._lungs_done)

    def put(self, i: int, lesion_map: np.ndarray) -> None:
        """Store the map of slice ``i``: ``lesion_map`` ``float (y, x)`` in [0, 1]."""
        i, m = self._slice_array(i, lesion_map, "map")
        if m.dtype.kind != "f":
            raise ValueError(f"map cache: lesion map must be floating point, got {m.dtype}")
        with self._lock:
            self._maps[i] = np.clip(np.nan_to_num(m, nan=0.0), 0.0, 1.0).astype(MAP_DTYPE)
            self._flush(self._maps)
            self._done[i] = 1
            self._flush(self._done)

    @staticmethod
    def _flush(arr) -> None:
        if isinstance(arr, (np.memmap, SliceFile)):
            arr.flush()

    def clear(self) -> None:
        """Forget every slice and the lung mask (they will be recomputed)."""
        with self._lock:
            self._done[:] = 0
            self._lungs_done[:] = 0
            self._front_in = False
            self._flush(self._done)
            self._flush(self._lungs_done)

    def clear_maps(self) -> None:
        """Forget every slice's map (kept: the lungs); they will be recomputed."""
        with self._lock:
            self._done[:] = 0
            self._flush(self._done)


class MapCache:
    """Open stores by (series key, weights hash), the last ``max_open`` kept in memory (LRU)."""

    def __init__(self, root: Path | str | None = None, max_open: int = 4, use_disk: bool = True):
        self.root = Path(root) if root is not None else default_cache_root()
        self.max_open = max(1, int(max_open))
        self.use_disk = bool(use_disk)
        self._open: OrderedDict[str, SeriesMapStore] = OrderedDict()

    def store(self, series_key: str, weights_hash: str, shape) -> SeriesMapStore:
        """The store for this series and weights, reopened from disk when already computed."""
        key = cache_key(series_key, weights_hash)
        shape = _check_shape(shape)
        st = self._open.get(key)
        if st is not None and st.shape == shape:
            self._open.move_to_end(key)
            return st
        folder = self.root / key if self.use_disk else None
        st = SeriesMapStore(shape, series_key, weights_hash, folder)
        self._open[key] = st
        while len(self._open) > self.max_open:
            self._open.popitem(last=False)
        return st
