"""The one lesion pipeline: lesion map -> lung mask -> mask at threshold -> edits -> severity.

Every place that shows, exports or counts a lesion mask goes through this module: the viewer
(overlay, severity panel, reader-study maps, export), ``main.py localize`` and its
``summary.csv`` / ``summary.json``. Qt-free.

The rule, for slice ``i`` of a series::

    lungs    = series_lungs(voxels, is_hu, spacing)        once per series, bool (z, y, x)
    shown[i] = map[i] * lungs[i]      when lungs_only, else map[i]        float32 (y, x), [0, 1]
    mask[i]  = map[i] >= threshold                                        bool (y, x)
    mask[i]  = edits.apply(i, mask[i])                     brush / eraser (``MaskEdits``)
    mask[i] &= lungs[i]                                    when lungs_only (last: a threshold of
                                                           0 or a painted pixel never marks a
                                                           voxel outside the lungs)

Severity counts the lesion inside the lungs only (``viewer.core.severity``), per slice
(``SeriesCounts``, four pixel counts per slice, NaN until known) and for the series (sums of
the slice counts, so a series localized slice by slice gives the same numbers as one localized
at once).

Arrays: volumes and masks ``(z, y, x)``; slices ``(y, x)``; maps ``float32`` in [0, 1]; masks
``bool``; spacing ``(z, y, x)`` in mm, or None for inputs without physical geometry (picture
stacks: no mm, no ml; the lung segmentation then assumes a typical field of view).

Notes: ``LesionLayers.notes`` is a list of one-line remarks shown beside the numbers (the
severity panel, ``summary.json`` / ``summary.csv``, ``warning:`` lines of ``localize``): "no lungs
found in this series" when the lung mask is empty (severity is then None, never 0 %), plus
whatever the caller adds (``notes=`` or ``add_notes``), e.g. intensity remarks of the localizer.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np

from viewer.core import severity

NO_LUNGS_NOTE = "no lungs found in this series"

__all__ = ["NO_LUNGS_NOTE", "LesionLayers", "SeriesCounts", "layer_slice", "localizer_notes",
           "physical_spacing", "series_lungs", "slice_counts"]


# --------------------------------------------------------------------------- the rule


def layer_slice(index: int, lesion_map: np.ndarray, threshold: float,
                lungs: np.ndarray | None = None, edits=None) -> tuple[np.ndarray, np.ndarray]:
    """The rule for one slice: ``(shown map float32 (y, x), mask bool (y, x))``.

    ``lesion_map``: ``float (y, x)`` in [0, 1]; ``threshold`` in [0, 1]; ``lungs``: ``bool
    (y, x)`` to restrict to (None: no restriction); ``edits``: ``MaskEdits`` (slice ``index``'s
    strokes) or None. mask = map >= threshold, then the edits, then ``& lungs`` (so nothing
    outside the lungs, painted or at threshold 0, survives the restriction)."""
    t = _check_threshold(threshold)
    m = np.asarray(lesion_map)
    mask = m >= t
    if edits is not None:
        mask = edits.apply(index, mask)
    if lungs is not None:
        lungs = np.asarray(lungs) != 0
        if lungs.shape != m.shape:
            raise ValueError(f"lesion layers: lung mask of slice {index} has shape "
                             f"{lungs.shape}, map {m.shape}")
        m = m * lungs
        mask = mask & lungs
    return m.astype(np.float32, copy=False), mask


def _check_threshold(value) -> float:
    try:
        t = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"lesion layers: threshold must be a number, got {value!r}")
    if not math.isfinite(t) or not 0.0 <= t <= 1.0:
        raise ValueError(f"lesion layers: threshold must lie in [0, 1], got {value!r}")
    return t


# --------------------------------------------------------------------------- lungs


def physical_spacing(source) -> tuple[float, float, float] | None:
    """``(z, y, x)`` mm spacing of a ``SeriesInfo`` / ``Volume`` (anything with ``spacing`` and
    optionally ``source_kind`` or ``info.source_kind``), or None for picture stacks, whose 1 mm
    spacing is nominal (no mm, no ml; the lung mask assumes a typical field of view)."""
    kind = getattr(source, "source_kind", None)
    if kind is None:
        kind = getattr(getattr(source, "info", None), "source_kind", None)
    if kind == "pictures":
        return None
    return _check_spacing(getattr(source, "spacing"))


def check_voxels(voxels) -> np.ndarray:
    """``voxels`` as an array, checked to be a non-empty ``(z, y, x)`` volume (ValueError)."""
    vol = np.asarray(voxels)
    if vol.ndim != 3 or min(vol.shape) <= 0:
        raise ValueError(f"lesion layers: voxels must be a non-empty (z, y, x) array, got shape "
                         f"{vol.shape}")
    return vol


def series_lungs(voxels: np.ndarray, is_hu: bool,
                 spacing: tuple[float, float, float] | None,
                 progress: Callable[[int, int], object] | None = None,
                 network="auto") -> np.ndarray:
    """The lung mask of a whole series: ``bool (z, y, x)``, computed once per series.

    ``voxels``: ``(z, y, x)`` HU (``is_hu``) or 8-bit grey levels. ``spacing``: ``(z, y, x)`` mm,
    or None without physical geometry (``physical_spacing``). A multi-slice HU series is
    segmented in 3-D (``viewer.core.lung_mask.segment_lungs`` with the real spacing); a one-slice
    series and 8-bit picture stacks slice by slice in 2-D (the 3-D path drops lung components
    under its minimum volume, which one thin slice never reaches; pictures are unrelated
    images, not a volume). ``progress(done, total)`` is called per slice on the 2-D path and
    once at the end; returning False cancels (ValueError "cancelled"). ``network``: the lung-field
    network that adds dense lung (``segment_lungs``; "auto" = the shipped one when present).
    """
    from viewer.core.lung_mask import segment_lungs

    vol = check_voxels(voxels)
    sp = None if spacing is None else _check_spacing(spacing)
    n = vol.shape[0]
    if is_hu and n > 1:
        out = np.asarray(segment_lungs(vol, True, spacing=sp, network=network), dtype=bool)
        if progress is not None:
            progress(n, n)
        return out
    out = np.zeros(vol.shape, dtype=bool)
    sp2 = None if sp is None else sp[1:]
    for k in range(n):
        out[k] = segment_lungs(vol[k], bool(is_hu), spacing=sp2, network=network)
        if progress is not None and progress(k + 1, n) is False:
            raise ValueError("lung mask: cancelled")
    return out


def localizer_notes(localizer) -> list[str]:
    """One-line notes a localizer offers about its input (e.g. "display window could not be
    estimated"): its ``notes`` attribute when it has one (a list of strings), else []."""
    notes = getattr(localizer, "notes", None)
    if callable(notes):
        notes = notes()
    if not notes:
        return []
    if isinstance(notes, str):
        return [notes]
    return [str(n) for n in notes if str(n).strip()]


def localizer_plan(localizer, voxels: np.ndarray, is_hu: bool, lungs: np.ndarray):
    """The localizer's input plan for a whole series (``gan.inference.InputPlan``: one framing
    from the series' lungs, one grey-scale mapping), or None for a localizer without plans.
    ``voxels`` (z, y, x) HU or pictures, ``lungs`` bool (z, y, x) from :func:`series_lungs`.
    Pass it to every ``localize_with_plan`` call of the series: the viewer and ``localize`` both
    do, so their maps are the same."""
    make = getattr(localizer, "plan", None)
    if not callable(make):
        return None
    return make(voxels, is_hu, np.asarray(lungs, dtype=bool))


def localize_with_plan(localizer, slices: np.ndarray, is_hu: bool, plan, progress=None) -> np.ndarray:
    """``localizer.apply`` for slices of a series with its plan (None: the localizer's own)."""
    kwargs = {} if plan is None else {"plan": plan}
    if progress is not None:
        kwargs["progress"] = progress
    return localizer.apply(slices, is_hu=is_hu, **kwargs)


def plan_notes(plan) -> list[str]:
    """The one-line notes of an input plan ([] for None)."""
    return [str(n) for n in getattr(plan, "notes", None) or [] if str(n).strip()]


# --------------------------------------------------------------------------- counts


def slice_counts(mask: np.ndarray, lungs: np.ndarray, hu: np.ndarray | None) -> tuple:
    """``(lung_px, lesion_px, ggo_px, cons_px)`` of one slice, as floats.

    ``mask``, ``lungs``: ``bool (y, x)``; the lesion counts only inside the lungs. ``hu``:
    ``float32 (y, x)`` HU slice, or None for 8-bit pictures (then ggo/cons are NaN).
    """
    s = severity.slice_severity(mask, lungs, hu)
    if hu is None:
        return float(s.lung_px), float(s.lesion_px), np.nan, np.nan
    return float(s.lung_px), float(s.lesion_px), float(s.ggo_px), float(s.consolidation_px)


@dataclass
class SeriesCounts:
    """Counts of every slice of a series: four ``float64 (z,)`` arrays (lung, lesion inside the
    lung, ground glass and consolidation inside the lesion, in pixels), NaN = not known yet.
    A 1000-slice series costs 32 kB."""

    lung: np.ndarray
    lesion: np.ndarray
    ggo: np.ndarray
    cons: np.ndarray

    @classmethod
    def empty(cls, n: int) -> "SeriesCounts":
        return cls(*(np.full(int(n), np.nan) for _ in range(4)))

    def set(self, i: int, counts: tuple) -> None:
        self.lung[i], self.lesion[i], self.ggo[i], self.cons[i] = counts

    def known(self) -> np.ndarray:
        """``bool (z,)``: slices counted."""
        return np.isfinite(self.lung)

    def lesion_pct(self) -> np.ndarray:
        """Lesion % of lung area per slice; NaN where unknown or without lung."""
        with np.errstate(invalid="ignore", divide="ignore"):
            pct = 100.0 * self.lesion / self.lung
        pct[~(self.lung > 0)] = np.nan
        return pct

    def slice_summary(self, i: int) -> dict | None:
        """Numbers for slice ``i``: lesion %, category, ggo/consolidation shares of the lesion
        (%; None for pictures or an empty lesion); None when the slice is not known or lungless."""
        lung, lesion = self.lung[i], self.lesion[i]
        if not np.isfinite(lung) or lung <= 0:
            return None
        pct = 100.0 * lesion / lung
        return {"lesion_pct": pct, "category": severity.category(pct),
                **_shares(self.ggo[i], self.cons[i], lesion)}

    def series_summary(self, voxel_ml: float | None) -> dict | None:
        """Totals over the known slices: lesion % of lung volume, ml (None without a voxel
        volume, e.g. for pictures), category, shares; None when no known slice has lung."""
        known = self.known()
        lung = float(np.sum(self.lung[known]))
        if lung <= 0:
            return None
        lesion = float(np.sum(self.lesion[known]))
        pct = 100.0 * lesion / lung
        ggo = float(np.nansum(self.ggo[known])) if np.isfinite(self.ggo[known]).any() else np.nan
        cons = float(np.nansum(self.cons[known])) if np.isfinite(self.cons[known]).any() else np.nan
        return {"lesion_pct": pct, "category": severity.category(pct),
                "lesion_ml": None if voxel_ml is None else lesion * voxel_ml,
                "lung_ml": None if voxel_ml is None else lung * voxel_ml,
                "done": int(known.sum()), **_shares(ggo, cons, lesion)}


def _shares(ggo: float, cons: float, lesion: float) -> dict:
    if not np.isfinite(ggo) or lesion <= 0:
        return {"ggo_share": None, "cons_share": None}
    return {"ggo_share": 100.0 * ggo / lesion, "cons_share": 100.0 * cons / lesion}


# --------------------------------------------------------------------------- the pipeline


class LesionLayers:
    """Lesion layers and severity of one series (see the module docstring for the rule).

    ``shape``: the series ``(z, y, x)``. ``spacing``: ``(z, y, x)`` mm, or None for inputs
    without physical geometry (then no ml). ``is_hu``: HU input (enables the ground-glass /
    consolidation split when ``hu`` is given). ``lungs``: the series lung mask ``(z, y, x)``,
    bool or 0/1 integers (a ``uint8`` memory map is read slice by slice, never copied whole),
    from ``series_lungs``. ``maps``: the lesion maps, float in [0, 1]: a ``(z, y, x)`` array, a
    callable ``get_map(i) -> (y, x) map or None`` or an object with such a ``get_map`` method
    (e.g. ``viewer.core.map_cache.SeriesMapStore``), for maps that arrive slice by slice (None:
    slice ``i`` not localized yet). ``threshold``: in [0, 1]. ``lungs_only``: restrict map and
    mask to the lungs. ``edits``: ``viewer.core.mask_edits.MaskEdits`` of the same shape, or None.
    ``hu``: HU voxels ``(z, y, x)`` (HU input only) or None. ``notes``: caller's one-line notes.

    ``threshold``, ``lungs_only`` and ``edits`` may be changed later (validated on assignment).
    """

    def __init__(self, shape, spacing, is_hu: bool, lungs, maps, *, threshold: float,
                 lungs_only: bool = True, edits=None, hu: np.ndarray | None = None,
                 notes: Iterable[str] = ()):
        try:
            z, y, x = (int(v) for v in shape)
        except (TypeError, ValueError):
            raise ValueError(f"lesion layers: shape must be (z, y, x), got {shape!r}")
        if min(z, y, x) <= 0:
            raise ValueError(f"lesion layers: shape must be positive, got {(z, y, x)}")
        self.shape = (z, y, x)
        self.spacing = None if spacing is None else _check_spacing(spacing)
        self.is_hu = bool(is_hu)
        if lungs is None or np.shape(lungs) != self.shape:
            raise ValueError(f"lesion layers: lung mask shape {np.shape(lungs)} != series shape "
                             f"{self.shape}")
        if np.asarray(lungs[:1]).dtype.kind not in "bui":
            raise ValueError(f"lesion layers: lung mask must be bool or 0/1 integers, got "
                             f"{np.asarray(lungs[:1]).dtype}")
        self._lungs = lungs
        self._get_map = self._map_provider(maps)
        if hu is not None:
            if not self.is_hu:
                raise ValueError("lesion layers: HU voxels given for a series that is not HU")
            if np.shape(hu) != self.shape:
                raise ValueError(f"lesion layers: HU volume shape {np.shape(hu)} != series "
                                 f"shape {self.shape}")
        self.hu = hu
        self.threshold = threshold
        self.lungs_only = lungs_only
        self.edits = edits
        self.lung_found = bool(np.any(lungs))
        self.notes: list[str] = []
        if not self.lung_found:
            self.notes.append(NO_LUNGS_NOTE)
        self.add_notes(notes)

    @classmethod
    def for_volume(cls, volume, maps, *, threshold: float, lungs_only: bool = True,
                   lungs: np.ndarray | None = None, edits=None, notes: Iterable[str] = ()):
        """The pipeline of a loaded ``viewer.io.Volume`` (``.voxels``, ``.is_hu``,
        ``.spacing``, ``.info``): lungs from ``series_lungs`` unless given, HU from the voxels."""
        spacing = physical_spacing(volume)
        if lungs is None:
            lungs = series_lungs(volume.voxels, volume.is_hu, spacing)
        return cls(volume.voxels.shape, spacing, volume.is_hu, lungs, maps,
                   threshold=threshold, lungs_only=lungs_only, edits=edits,
                   hu=volume.voxels if volume.is_hu else None, notes=notes)

    # -- settings -------------------------------------------------------------------------
    @property
    def threshold(self) -> float:
        return self._threshold

    @threshold.setter
    def threshold(self, value: float) -> None:
        self._threshold = _check_threshold(value)

    @property
    def lungs_only(self) -> bool:
        return self._lungs_only

    @lungs_only.setter
    def lungs_only(self, value: bool) -> None:
        self._lungs_only = bool(value)

    @property
    def edits(self):
        return self._edits

    @edits.setter
    def edits(self, value) -> None:
        if value is not None and tuple(getattr(value, "shape", ())) != self.shape:
            raise ValueError(f"lesion layers: edits shape {getattr(value, 'shape', None)} != "
                             f"series shape {self.shape}")
        self._edits = value

    def add_notes(self, notes: Iterable[str] | str) -> None:
        """Add one-line notes (strings; blanks and repeats are skipped)."""
        if isinstance(notes, str):
            notes = [notes]
        for n in notes or ():
            text = " ".join(str(n).split())
            if text and text not in self.notes:
                self.notes.append(text)

    @property
    def voxel_ml(self) -> float | None:
        """Volume of one voxel in ml, None without physical spacing."""
        return None if self.spacing is None else float(np.prod(self.spacing)) / 1000.0

    # -- layers ---------------------------------------------------------------------------
    def _map_provider(self, maps) -> Callable[[int], np.ndarray | None]:
        if maps is None:
            raise ValueError("lesion layers: no lesion maps given (an array or get_map(i))")
        if hasattr(maps, "get_map"):
            return maps.get_map
        if callable(maps):
            return maps
        if np.shape(maps) != self.shape:
            raise ValueError(f"lesion layers: maps shape {np.shape(maps)} != series shape "
                             f"{self.shape}")
        if np.asarray(maps[:1]).dtype.kind not in "fb":
            raise ValueError(f"lesion layers: maps must be float in [0, 1], got "
                             f"{np.asarray(maps[:1]).dtype}")
        return lambda i: maps[i]

    def _index(self, i: int) -> int:
        i = int(i)
        if not 0 <= i < self.shape[0]:
            raise ValueError(f"lesion layers: slice index {i} outside 0..{self.shape[0] - 1}")
        return i

    def lungs(self, i: int) -> np.ndarray:
        """Lung mask of slice ``i``: ``bool (y, x)``."""
        return np.asarray(self._lungs[self._index(i)]) != 0

    def raw_map(self, i: int) -> np.ndarray | None:
        """The localizer's map of slice ``i`` (``float32 (y, x)``, not restricted), or None."""
        m = self._get_map(self._index(i))
        if m is None:
            return None
        m = np.asarray(m)
        if m.shape != self.shape[1:]:
            raise ValueError(f"lesion layers: map of slice {i} has shape {m.shape}, expected "
                             f"{self.shape[1:]}")
        return m.astype(np.float32, copy=False)

    def has(self, i: int) -> bool:
        """True when slice ``i`` has a map."""
        return self._get_map(self._index(i)) is not None

    def apply(self, i: int, lesion_map: np.ndarray, with_edits: bool = True) -> tuple:
        """``(shown map, mask)`` of slice ``i`` for ``lesion_map`` (``float (y, x)`` in [0, 1]):
        the rule of the module docstring; ``with_edits=False`` for maps the edits were not made
        on (e.g. another method's map in a reader study)."""
        i = self._index(i)
        m = np.asarray(lesion_map)
        if m.shape != self.shape[1:]:
            raise ValueError(f"lesion layers: map of slice {i} has shape {m.shape}, expected "
                             f"{self.shape[1:]}")
        return layer_slice(i, m, self._threshold, self.lungs(i) if self._lungs_only else None,
                           self._edits if with_edits else None)

    def layers(self, i: int) -> tuple:
        """``(shown map float32 (y, x), mask bool (y, x))`` of slice ``i``; ``(None, None)``
        while the slice has no map."""
        m = self.raw_map(i)
        if m is None:
            return None, None
        return self.apply(i, m)

    def map(self, i: int) -> np.ndarray | None:
        """Map of slice ``i`` as shown (restricted to the lungs when ``lungs_only``), or None."""
        return self.layers(i)[0]

    def mask(self, i: int) -> np.ndarray | None:
        """Mask of slice ``i`` (``bool (y, x)``), or None while the slice has no map."""
        return self.layers(i)[1]

    def volume_mask(self) -> np.ndarray:
        """The whole series' mask, ``bool (z, y, x)``; ValueError when a slice has no map."""
        out = np.zeros(self.shape, dtype=bool)
        for i in range(self.shape[0]):
            mask = self.mask(i)
            if mask is None:
                raise ValueError(f"lesion layers: slice {i} has no lesion map yet")
            out[i] = mask
        return out

    def volume_map(self) -> np.ndarray:
        """The whole series' shown map, ``float32 (z, y, x)``; ValueError when a slice has no
        map."""
        out = np.zeros(self.shape, dtype=np.float32)
        for i in range(self.shape[0]):
            m = self.map(i)
            if m is None:
                raise ValueError(f"lesion layers: slice {i} has no lesion map yet")
            out[i] = m
        return out

    # -- severity -------------------------------------------------------------------------
    def hu_slice(self, i: int) -> np.ndarray | None:
        return None if self.hu is None else np.asarray(self.hu[self._index(i)])

    def slice_severity(self, i: int, mask: np.ndarray | None = None):
        """``viewer.core.severity.SliceSeverity`` of slice ``i`` (areas with the spacing), or
        None while the slice has no map. ``mask``: the slice's mask when already computed."""
        if mask is None:
            mask = self.mask(i)
            if mask is None:
                return None
        return severity.slice_severity(mask, self.lungs(i), self.hu_slice(i),
                                       None if self.spacing is None else self.spacing,
                                       index=int(i))

    def count_slice(self, i: int) -> tuple | None:
        """``slice_counts`` of slice ``i``: ``(lung_px, lesion_px, ggo_px, cons_px)``, or None
        while the slice has no map."""
        mask = self.mask(i)
        if mask is None:
            return None
        return slice_counts(mask, self.lungs(i), self.hu_slice(i))

    def count(self, indices: Iterable[int] | None = None, counts: SeriesCounts | None = None,
              progress: Callable[[int, int], object] | None = None) -> SeriesCounts | None:
        """Count the slices ``indices`` (all when None) that have a map into ``counts`` (a new
        ``SeriesCounts`` when None) and return it; ``progress(done, total)`` returning False
        stops early and returns None."""
        if counts is None:
            counts = SeriesCounts.empty(self.shape[0])
        idx = list(range(self.shape[0]) if indices is None else indices)
        for k, i in enumerate(idx):
            c = self.count_slice(int(i))
            if c is not None:
                counts.set(int(i), c)
            if progress is not None and progress(k + 1, len(idx)) is False:
                return None
        return counts

    def severity(self, counts: SeriesCounts | None = None) -> dict | None:
        """Series numbers (``SeriesCounts.series_summary``: lesion %, category, lesion / lung
        ml, shares, slices done) from ``counts`` (all slices counted now when None); None when
        no lungs were found or no slice with lung is counted yet (never 0 %)."""
        if not self.lung_found:
            return None
        if counts is None:
            counts = self.count()
        return counts.series_summary(self.voxel_ml)


def _check_spacing(spacing) -> tuple[float, float, float]:
    try:
        sp = tuple(float(s) for s in spacing)
    except (TypeError, ValueError):
        raise ValueError(f"lesion layers: spacing must be (z, y, x) mm, got {spacing!r}")
    if len(sp) != 3 or not all(math.isfinite(s) and s > 0 for s in sp):
        raise ValueError(f"lesion layers: spacing must be 3 positive (z, y, x) mm values, got "
                         f"{spacing!r}")
    return sp
