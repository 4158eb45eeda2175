"""Blinded reading lists for a reader study: slices × map methods in a seeded random order.

An item is one 2-D slice (``slice_index``, 0-based z index of the series) shown with one lesion
map method: ``"gan"`` (the GAN localizer), ``"gradcam"``, ``"msgradcam"`` (multi-scale
Grad-CAM), ``"smoothgrad"``, or ``"import:<name>"`` for maps imported from files (``.npy``
float (y, x) in [0, 1], or 8-bit ``.png`` scaled by 1/255; see :func:`load_imported_map`).

The list is shuffled by ``random.Random(seed)`` from a canonical order (sorted by slice, then
method), so the same slices, methods and seed always give the same order, whatever order the
caller passed them in. Each item gets a blinding code (``"R001"``, ``"R002"``, ... in
presentation order) that the reader sees instead of the method name. The seed is stored in the
JSON file, so a list can be rebuilt and audited. Severity (mild/common/severe/critical) is stored
with an item when known (it is hidden from the reader until they have scored the item).

Version 2 (version 1 lists still load): ``display`` fixes what every item is shown with
(:class:`~viewer.study.display_settings.DisplaySettings`: threshold, opacity, colormap, window;
the reader cannot change them while an item of the list is on screen, and they are stored with
each score); ``reference_method`` names the method whose map, at the list's threshold, gives
each item's ``severity_category``: the cohort, fixed per item in the list
(:meth:`ReadingList.with_cohorts`), never taken from a reader's own threshold.
"""
from __future__ import annotations

import json
import random
import re
import secrets
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from gan.map_methods import IMPORT_PREFIX, LABELS, METHODS
from viewer.io.atomic import atomic_path
from viewer.study.display_settings import DisplaySettings
from viewer.study.score_store import ItemKey, validate_severity

BUILTIN_METHODS = METHODS
METHOD_LABELS = LABELS
FORMAT_NAME = "covid-ct-reading-list"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
_IMPORT_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def validate_method(method: str) -> str:
    """Return ``method`` if it is a built-in method or ``import:<name>``; else ValueError."""
    if not isinstance(method, str):
        raise ValueError(f"method: expected text, got {type(method).__name__}")
    m = method.strip()
    if m in BUILTIN_METHODS:
        return m
    if m.startswith(IMPORT_PREFIX) and _IMPORT_NAME_RE.match(m[len(IMPORT_PREFIX):]):
        return m
    raise ValueError(
        f"method {method!r}: expected one of {', '.join(BUILTIN_METHODS)} or "
        f"'{IMPORT_PREFIX}<name>' (letters, digits, _ . -)"
    )


def method_label(method: str) -> str:
    """Human-readable method name for tables and plots."""
    if method in METHOD_LABELS:
        return METHOD_LABELS[method]
    if method.startswith(IMPORT_PREFIX):
        return method[len(IMPORT_PREFIX):] + " (imported)"
    return method


@dataclass(frozen=True)
class SliceTarget:
    """One slice to be read: identifiers as in :class:`~viewer.study.score_store.ItemKey`."""

    slice_index: int
    study_uid: str = ""
    series_uid: str = ""
    sop_instance_uid: str = ""
    image_hash: str = ""
    severity_category: str | None = None


@dataclass(frozen=True)
class ReadingItem:
    """One item of a reading list: a slice shown with a map method, plus its blinding code.

    ``map_path`` is the file of an imported map (``import:`` methods), else None.
    """

    code: str
    slice_index: int
    method: str
    study_uid: str = ""
    series_uid: str = ""
    sop_instance_uid: str = ""
    image_hash: str = ""
    severity_category: str | None = None
    map_path: str | None = None

    @property
    def key(self) -> ItemKey:
        return ItemKey.make(study_uid=self.study_uid, series_uid=self.series_uid,
                            sop_instance_uid=self.sop_instance_uid, image_hash=self.image_hash,
                            slice_index=self.slice_index, method=self.method)

    def request(self, *, blinded: bool) -> dict:
        """The dict sent to the viewer to show this item (see ``ScorePanel.requestItem``)."""
        d = asdict(self)
        d["blinded"] = bool(blinded)
        return d


@dataclass(frozen=True)
class Progress:
    scored: int
    total: int

    def __str__(self) -> str:
        return f"{self.scored} / {self.total} scored"


@dataclass
class ReadingList:
    """Items in presentation order; ``seed`` reproduces the order; ``blinded`` hides methods."""

    items: list[ReadingItem]
    seed: int
    blinded: bool = True
    name: str = ""
    created_at: str = field(
        default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    display: DisplaySettings | None = None  # None: the reader's own settings (version 1)
    reference_method: str = "gan"  # the method whose map gives each item's cohort

    def with_cohorts(self, category_of, default_threshold: float = 0.5) -> "ReadingList":
        """A copy whose items carry their cohort: ``category_of(item, threshold)`` -> severity
        category of the item's slice from :attr:`reference_method`'s map at the list's
        threshold (``display.threshold``; ``default_threshold``, e.g. the localizer's operating
        threshold, without display settings); None keeps none."""
        t = self.display.threshold if self.display is not None else float(default_threshold)
        items = [replace(it, severity_category=validate_severity(category_of(it, t)))
                 for it in self.items]
        return replace(self, items=items)

    # -- building
    @classmethod
    def build(cls, slices: Sequence[SliceTarget], methods: Sequence[str], *,
              seed: int | None = None, blinded: bool = True, name: str = "",
              imported_maps: Mapping[str, Mapping[int, str | Path]] | None = None,
              display: DisplaySettings | None = None, reference_method: str = "gan"
              ) -> "ReadingList":
        """Cross ``slices`` × ``methods`` and shuffle with ``seed`` (a fresh random seed if None).

        ``imported_maps``: ``{"import:<name>": {slice_index: path}}`` giving the file of each
        imported map; an imported method gets items only for the slices it has a file for.
        ValueError for no slices, no methods, unknown methods, duplicate slices, a bad seed or
        an imported method without files.
        """
        if not slices:
            raise ValueError("reading list: no slices given")
        if not methods:
            raise ValueError("reading list: no methods given")
        if seed is None:
            seed = secrets.randbelow(2**31)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"reading list: seed must be an integer >= 0, got {seed!r}")
        meths = []
        for m in methods:
            m = validate_method(m)
            if m not in meths:
                meths.append(m)
        imported_maps = dict(imported_maps or {})
        for m in meths:
            if m.startswith(IMPORT_PREFIX) and not imported_maps.get(m):
                raise ValueError(f"reading list: method {m}: no map files given")
        seen = set()
        targets = []
        for t in slices:
            key = ItemKey.make(study_uid=t.study_uid, series_uid=t.series_uid,
                               sop_instance_uid=t.sop_instance_uid, image_hash=t.image_hash,
                               slice_index=t.slice_index, method="gan").slice_key
            if key in seen:
                raise ValueError(f"reading list: slice {t.slice_index} given twice")
            seen.add(key)
            targets.append(replace(t, severity_category=validate_severity(t.severity_category)))
        canonical = []
        for t in sorted(targets, key=lambda t: (t.study_uid, t.series_uid, t.slice_index,
                                                t.sop_instance_uid, t.image_hash)):
            for m in sorted(meths):
                path = None
                if m.startswith(IMPORT_PREFIX):
                    path = imported_maps[m].get(t.slice_index)
                    if path is None:
                        continue
                    path = str(path)
                canonical.append((t, m, path))
        if not canonical:
            raise ValueError("reading list: no items (imported maps match none of the slices)")
        random.Random(int(seed)).shuffle(canonical)
        width = max(3, len(str(len(canonical))))
        items = [
            ReadingItem(code=f"R{i + 1:0{width}d}", slice_index=t.slice_index, method=m,
                        study_uid=t.study_uid, series_uid=t.series_uid,
                        sop_instance_uid=t.sop_instance_uid, image_hash=t.image_hash,
                        severity_category=t.severity_category, map_path=path)
            for i, (t, m, path) in enumerate(canonical)
        ]
        return cls(items=items, seed=int(seed), blinded=blinded, name=name, display=display,
                   reference_method=validate_method(reference_method))

    # -- navigation and progress
    def __len__(self) -> int:
        return len(self.items)

    def index_of(self, key: ItemKey) -> int | None:
        """Position of the item with this key, or None."""
        for i, it in enumerate(self.items):
            if it.key == key:
                return i
        return None

    def progress(self, scored_keys: Iterable[ItemKey]) -> Progress:
        """How many items of this list the reader has scored (``"37 / 300 scored"``)."""
        scored = set(scored_keys)
        return Progress(sum(1 for it in self.items if it.key in scored), len(self.items))

    def next_unscored(self, scored_keys: Iterable[ItemKey], after: int | None = None) -> int | None:
        """Index of the first unscored item after position ``after`` (wrapping), or None if done.

        ``after=None`` starts from the top of the list.
        """
        scored = set(scored_keys)
        n = len(self.items)
        start = 0 if after is None else (after + 1)
        for k in range(n):
            i = (start + k) % n
            if self.items[i].key not in scored:
                return i
        return None

    # -- persistence
    def to_json(self) -> dict:
        return {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "name": self.name,
            "seed": self.seed,
            "blinded": self.blinded,
            "created_at": self.created_at,
            "display": None if self.display is None else self.display.to_json(),
            "reference_method": self.reference_method,
            "items": [asdict(it) for it in self.items],
        }

    def save(self, path: str | Path) -> Path:
        """Write the list as JSON (atomically: ``viewer.io.atomic.atomic_path``)."""
        path = Path(path)
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(self.to_json(), indent=1), encoding="utf-8")
        return path

    @classmethod
    def from_json(cls, data: dict, source: str = "reading list") -> "ReadingList":
        """Inverse of :meth:`to_json`; ValueError naming ``source`` and the problem."""
        if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
            raise ValueError(f"{source}: not a reading list (format field missing or wrong)")
        if data.get("version") not in READABLE_VERSIONS:
            raise ValueError(f"{source}: unsupported reading list version {data.get('version')!r}")
        raw = data.get("items")
        if not isinstance(raw, list) or not raw:
            raise ValueError(f"{source}: no items")
        allowed = set(ReadingItem.__dataclass_fields__)
        items = []
        for n, d in enumerate(raw):
            if not isinstance(d, dict):
                raise ValueError(f"{source}: item {n + 1} is not an object")
            try:
                it = ReadingItem(**{k: v for k, v in d.items() if k in allowed})
                validate_method(it.method)
                validate_severity(it.severity_category)
                it.key  # validates identifiers and slice index
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{source}: item {n + 1}: {exc}") from None
            items.append(it)
        seed = data.get("seed")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"{source}: seed missing or not an integer")
        display = data.get("display")
        if display is not None:
            display = DisplaySettings.from_json(display, f"{source}: display")
        try:
            reference = validate_method(data.get("reference_method", "gan"))
        except ValueError as exc:
            raise ValueError(f"{source}: reference_method: {exc}") from None
        return cls(items=items, seed=seed, blinded=bool(data.get("blinded", True)),
                   name=str(data.get("name", "")), created_at=str(data.get("created_at", "")),
                   display=display, reference_method=reference)

    @classmethod
    def load(cls, path: str | Path) -> "ReadingList":
        """Read a list saved by :meth:`save`; ValueError with a one-line reason when unusable."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ValueError(f"reading list {path}: does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"reading list {path}: cannot read ({exc})") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"reading list {path}: not valid JSON ({exc.msg}, line {exc.lineno})"
                             ) from None
        return cls.from_json(data, source=f"reading list {path}")


# ----------------------------------------------------------------------------- helpers

def slice_targets_from_series(info, slice_indices: Iterable[int] | None = None,
                              severities: Mapping[int, str] | None = None,
                              image_hashes: Mapping[int, str] | None = None) -> list[SliceTarget]:
    """Slice targets for a ``viewer.io`` ``SeriesInfo`` (duck-typed: ``study_uid``,
    ``series_uid``, ``key``, ``n_slices``, ``refs[i].sop_instance_uid``). The series is named by
    ``series_uid``, or by ``key`` when it has no UID (pictures, NIfTI).

    ``slice_indices``: which z indices (default all). ``severities``: known severity category
    per slice index. ``image_hashes``: per slice index, required for slices without a SOP
    Instance UID (pictures); compute them with :func:`viewer.study.score_store.image_hash`.
    """
    n = int(info.n_slices)
    idx = range(n) if slice_indices is None else list(slice_indices)
    out = []
    for i in idx:
        if not 0 <= int(i) < n:
            raise ValueError(f"slice index {i}: outside the series (0..{n - 1})")
        ref = info.refs[int(i)] if getattr(info, "refs", None) else None
        sop = (getattr(ref, "sop_instance_uid", "") or "") if ref is not None else ""
        ih = (image_hashes or {}).get(int(i), "")
        if not sop and not ih:
            raise ValueError(f"slice {i}: no SOP Instance UID; give its image hash")
        out.append(SliceTarget(slice_index=int(i), study_uid=info.study_uid or "",
                               series_uid=info.series_uid or getattr(info, "key", "") or "",
                               sop_instance_uid=sop,
                               image_hash=ih,
                               severity_category=(severities or {}).get(int(i))))
    return out


_INDEX_RE = re.compile(r"(\d+)(?!.*\d)")


def discover_imported_maps(folder: str | Path) -> dict[int, Path]:
    """Map files in ``folder`` by slice index: the last number in each ``.npy``/``.png`` stem
    (``slice_012.npy`` -> 12). Hidden files (a name starting with ".", such as the ``.part-*``
    temporary file a killed export leaves) are skipped. ValueError when the folder is missing,
    has no such files, or two files claim the same slice.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"map folder {folder}: does not exist or is not a folder")
    found: dict[int, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.name.startswith(".") or p.suffix.lower() not in (".npy", ".png") or not p.is_file():
            continue
        m = _INDEX_RE.search(p.stem)
        if not m:
            continue
        i = int(m.group(1))
        if i in found:
            raise ValueError(f"map folder {folder}: {found[i].name} and {p.name} both name slice {i}")
        found[i] = p
    if not found:
        raise ValueError(f"map folder {folder}: no .npy or .png files named with a slice number")
    return found


def load_imported_map(path: str | Path, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Load an imported lesion map as float32 ``(y, x)`` in [0, 1].

    ``.npy``: a 2-D numeric array already in [0, 1] (NaN refused). ``.png``: 8-bit greyscale
    (colour is converted with Pillow's ``L``), divided by 255; 16-bit by 65535.
    ``shape``: the slice's ``(rows, cols)``; a map of another size is refused.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"map file {path}: does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            arr = np.load(path, allow_pickle=False)
            if arr.dtype.kind not in "fiub":
                raise ValueError(f"map file {path}: not a numeric array ({arr.dtype})")
            arr = np.asarray(arr, dtype=np.float32)
        elif suffix == ".png":
            from PIL import Image

            with Image.open(path) as im:
                if im.mode in ("I;16", "I;16B", "I"):
                    arr = np.asarray(im, dtype=np.float32) / 65535.0
                else:
                    arr = np.asarray(im.convert("L"), dtype=np.float32) / 255.0
        else:
            raise ValueError(f"map file {path}: expected .npy or .png")
    except ValueError:
        raise
    except Exception as exc:  # corrupt file: numpy / Pillow raise many kinds
        raise ValueError(f"map file {path}: cannot read ({type(exc).__name__}: {exc})") from None
    arr = np.squeeze(arr)
    if arr.ndim != 2:
        raise ValueError(f"map file {path}: expected a 2-D (y, x) map, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"map file {path}: contains NaN or infinite values")
    if arr.size and (arr.min() < 0 or arr.max() > 1):
        raise ValueError(f"map file {path}: values outside [0, 1] "
                         f"({arr.min():.3g}..{arr.max():.3g})")
    if shape is not None and tuple(arr.shape) != tuple(shape):
        raise ValueError(f"map file {path}: shape {arr.shape} differs from the slice {tuple(shape)}")
    return arr
