"""Canonical input: the grey scale and framing the generator was trained in, for every kind of CT.

The generator learned "normal" from the Soares training pictures: 8-bit, display-windowed,
cropped close around the lungs. Every input is brought to that look before the generator sees it:

Grey scale (``to_canonical``)
    - HU slices: one fixed lung window, ``HU_WINDOW`` (W1500/L-600), the window under which a
      normal HU lung (LIDC-IDRI-0001) has the training set's normal-lung grey statistics
      (darkest 2 % of lung 0.263 vs 0.267-0.286, median 0.323 vs 0.341; measured at native
      resolution, see the model card). The mapping never depends on the slice's own lungs.
    - 8-bit pictures with an unknown display window: two references that disease does not move
      much are estimated from the picture (``estimate_picture_window``): the air level (the
      darkest 2 % of the lung field, near air) and the soft-tissue level (the peak of the
      bright, non-lung body pixels: muscle, blood, fat). A linear map sends them to the training
      set's levels (``TRAIN_AIR``, ``TRAIN_TISSUE``). Estimate once per series (all its slices
      pooled); when there is no lung or no tissue to measure, the picture is used as it is and
      the estimate says so (``WindowEstimate.note``).

Framing (``lung_frame``)
    The training pictures show the lungs filling the picture (the lung bounding box leaves a
    3-6 % margin). The model input is the lung bounding box with ``FRAME_MARGIN`` of its size
    added on each side, taken over the whole series (one frame for every slice of a series, like
    a reader's zoom), and the body bounding box when no lung is found. On the MedSeg validation
    slices this framing alone lifts the pixel AUC of the absolute maps from 0.807 (body box) to
    0.85, and on LIDC-IDRI-0001 it takes the lesion share of a normal lung from 93 % to a few %.

Arrays: slices ``(y, x)``, stacks ``(z, y, x)``; HU float, pictures uint8 0-255 or float 0-1;
canonical output float32 in [0, 1].
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .preprocess import Crop, body_crop, lung_window_unit, to_unit

#: (width, level) in HU of the fixed window that maps HU into the training grey scale.
HU_WINDOW = (1500.0, -600.0)
#: Training-set grey of the air reference (median over non-COVID training slices of the darkest
#: 2 % of the lung field) and of soft tissue (median of the bright body peak).
TRAIN_AIR = 0.286
TRAIN_TISSUE = 0.9025
#: Estimated references further than this from the training levels make a note.
WINDOW_NOTE_TOLERANCE = 0.08
#: Margin added on each side of the lung bounding box, as a fraction of its height / width.
FRAME_MARGIN = 0.05
#: Lung pixels needed (in the union over a series) before the lungs frame the input.
MIN_FRAME_LUNG_PX = 64
#: Slices with lungs needed to estimate a picture series' display window. One picture is too
#: little: on the MedSeg validation slices a per-picture estimate lowers the pixel AUC from 0.85
#: (as they are) to 0.82, while one estimate pooled over the 50 slices raises it to 0.86.
MIN_WINDOW_SLICES = 5


@dataclass(frozen=True)
class WindowEstimate:
    """Grey levels of the air and soft-tissue references in a picture series (0-1 units).

    ``ok`` is False when a reference could not be measured; the picture is then used as it is
    and ``note`` says why. ``note`` is also set when the references are far from the training
    set's (the input is outside what the model knows)."""

    air: float
    tissue: float
    ok: bool
    note: str = ""

    def apply(self, unit: np.ndarray) -> np.ndarray:
        """float32 [0, 1] picture -> the training grey scale (identity when not ``ok``)."""
        if not self.ok:
            return np.asarray(unit, dtype=np.float32)
        gain = (TRAIN_TISSUE - TRAIN_AIR) / (self.tissue - self.air)
        out = TRAIN_AIR + (np.asarray(unit, dtype=np.float32) - np.float32(self.air)) * np.float32(gain)
        return np.clip(out, 0.0, 1.0).astype(np.float32, copy=False)

    def describe(self) -> str:
        if not self.ok:
            return self.note
        return f"air {self.air:.3f} -> {TRAIN_AIR:.3f}, soft tissue {self.tissue:.3f} -> {TRAIN_TISSUE:.3f}"


IDENTITY_WINDOW = WindowEstimate(TRAIN_AIR, TRAIN_TISSUE, True)


def _tissue_peak(unit: np.ndarray, lungs: np.ndarray) -> float | None:
    """Peak grey of bright, non-lung pixels (soft tissue), or None when there are too few."""
    vals = unit[(unit > 0.45) & ~lungs]
    if vals.size < 200:
        return None
    hist, edges = np.histogram(vals, bins=110, range=(0.45, 1.0 + 1e-6))
    hist = ndimage.uniform_filter1d(hist.astype(np.float64), 5)
    k = int(np.argmax(hist))
    return float((edges[k] + edges[k + 1]) / 2)


def estimate_picture_window(units: list[np.ndarray] | np.ndarray,
                            lungs: list[np.ndarray] | np.ndarray,
                            min_slices: int = MIN_WINDOW_SLICES) -> WindowEstimate:
    """The display window of a picture series from its air and soft-tissue references.

    ``units``: float [0, 1] slices (y, x) (a list, or a (z, y, x) stack) of one series or of one
    folder from one source; ``lungs``: bool lung masks of the same shapes. All slices are pooled:
    the median of the per-slice references of slices with at least 200 lung pixels. Fewer than
    ``min_slices`` such slices: not estimated (``ok`` False), the picture is used as it is.
    """
    if len(units) != len(lungs):
        raise ValueError(f"{len(units)} slices but {len(lungs)} lung masks")
    airs, tissues = [], []
    for u, lg in zip(units, lungs):
        u = np.asarray(u, dtype=np.float32)
        lg = np.asarray(lg, dtype=bool)
        if u.shape != lg.shape:
            raise ValueError(f"slice {u.shape} and lung mask {lg.shape} differ in shape")
        if lg.sum() < 200:
            continue
        airs.append(float(np.percentile(u[lg], 2)))
        t = _tissue_peak(u, lg)
        if t is not None:
            tissues.append(t)
    if not airs:
        return WindowEstimate(TRAIN_AIR, TRAIN_TISSUE, False,
                              "display window could not be estimated (no lungs found); "
                              "picture used as it is")
    if len(airs) < min_slices:
        air = float(np.median(airs))
        far = abs(air - TRAIN_AIR) > WINDOW_NOTE_TOLERANCE
        return WindowEstimate(TRAIN_AIR, TRAIN_TISSUE, False,
                              (f"display window not estimated from {len(airs)} picture(s) "
                               f"(needs {min_slices}); its air level {air:.2f} is far from the "
                               f"training pictures' {TRAIN_AIR:.2f}, so the map may be off; "
                               "picture used as it is") if far else "")
    if not tissues:
        return WindowEstimate(TRAIN_AIR, TRAIN_TISSUE, False,
                              "display window could not be estimated (no soft tissue visible); "
                              "picture used as it is")
    air, tissue = float(np.median(airs)), float(np.median(tissues))
    if tissue - air < 0.25:
        return WindowEstimate(air, tissue, False,
                              f"display window could not be estimated (air {air:.2f} and soft "
                              f"tissue {tissue:.2f} too close); picture used as it is")
    note = ""
    if abs(air - TRAIN_AIR) > WINDOW_NOTE_TOLERANCE or abs(tissue - TRAIN_TISSUE) > WINDOW_NOTE_TOLERANCE:
        note = (f"display window differs from the training pictures (air {air:.2f} vs "
                f"{TRAIN_AIR:.2f}, soft tissue {tissue:.2f} vs {TRAIN_TISSUE:.2f}); remapped")
    return WindowEstimate(air, tissue, True, note)


#: Plausible HU of the references in a chest CT: the darkest 2 % of the lungs (near air; normal
#: lung -950, LIDC-IDRI-0001 -955) and the soft-tissue peak of the body (fat -120 to -80 in
#: many patients, muscle and blood 30-60).
HU_AIR_RANGE = (-1100.0, -820.0)
HU_TISSUE_RANGE = (-160.0, 120.0)


def hu_reference_notes(voxels: np.ndarray, lungs: np.ndarray) -> list[str]:
    """Notes when a HU series' references are far from a chest CT's (a wrong rescale, a
    non-CT series, lungs filled from wall to wall): [] when they look right.

    ``voxels`` HU (y, x) or (z, y, x); ``lungs`` bool of the same shape."""
    hu = np.asarray(voxels)
    lg = np.asarray(lungs, dtype=bool)
    notes = []
    step = max(1, hu.shape[0] // 24) if hu.ndim == 3 else 1
    sub, sub_l = (hu[::step], lg[::step]) if hu.ndim == 3 else (hu, lg)
    lung_vals = sub[sub_l]
    if lung_vals.size >= 200:
        air = float(np.percentile(lung_vals, 2))
        if not (HU_AIR_RANGE[0] <= air <= HU_AIR_RANGE[1]):
            notes.append(f"the darkest 2 % of the lungs read {air:.0f} HU, far from air (-1000 to "
                         "-900 HU): the lungs are dense throughout or the rescale is wrong; the "
                         "lesion share may be off")
    tissue = sub[(sub > -200) & (sub < 300)]
    if tissue.size >= 1000:
        hist, edges = np.histogram(tissue, bins=50, range=(-200, 300))
        k = int(np.argmax(ndimage.uniform_filter1d(hist.astype(np.float64), 3)))
        peak = float((edges[k] + edges[k + 1]) / 2)
        if not (HU_TISSUE_RANGE[0] <= peak <= HU_TISSUE_RANGE[1]):
            notes.append(f"soft tissue peaks at {peak:.0f} HU, not near fat or muscle (-120 to "
                         "60 HU): check the rescale; the lesion numbers may be wrong")
    return notes


def hu_to_canonical(hu: np.ndarray) -> np.ndarray:
    """HU array (any shape) -> float32 [0, 1] through ``HU_WINDOW``."""
    width, level = HU_WINDOW
    lo = level - width / 2.0
    out = (np.asarray(hu, dtype=np.float32) - np.float32(lo)) / np.float32(width)
    return np.clip(out, 0.0, 1.0).astype(np.float32, copy=False)


def to_canonical(slice_2d: np.ndarray, is_hu: bool, window: WindowEstimate | None = None) -> np.ndarray:
    """One slice (y, x) -> float32 (y, x) in the training grey scale.

    HU: ``hu_to_canonical``. Pictures: [0, 1] units, then ``window.apply`` when a window
    estimate is given (None = the picture as it is)."""
    if is_hu:
        a = np.asarray(slice_2d)
        if a.ndim != 2:
            raise ValueError(f"expected a 2-D slice (y, x), got shape {a.shape}")
        return hu_to_canonical(a)
    unit = to_unit(slice_2d, False)
    return unit if window is None else window.apply(unit)


def lung_frame(lungs: np.ndarray, margin: float = FRAME_MARGIN) -> Crop | None:
    """The model's field of view from lung masks: the bounding box of ``lungs`` (bool (y, x),
    or (z, y, x) for a whole series, whose in-plane union is used) grown by ``margin`` of its
    height and width on each side, inside the image. None when there are fewer than
    ``MIN_FRAME_LUNG_PX`` lung pixels."""
    lg = np.asarray(lungs, dtype=bool)
    if lg.ndim == 3:
        lg = lg.any(axis=0)
    if lg.ndim != 2:
        raise ValueError(f"lung mask must be (y, x) or (z, y, x), got shape {np.shape(lungs)}")
    if int(lg.sum()) < MIN_FRAME_LUNG_PX:
        return None
    if not (math.isfinite(margin) and 0.0 <= margin <= 1.0):
        raise ValueError(f"frame margin must lie in [0, 1], got {margin!r}")
    rows = np.flatnonzero(lg.any(axis=1))
    cols = np.flatnonzero(lg.any(axis=0))
    h, w = lg.shape
    my = int(round(margin * (rows[-1] - rows[0] + 1)))
    mx = int(round(margin * (cols[-1] - cols[0] + 1)))
    y0, y1 = max(0, rows[0] - my), min(h, rows[-1] + 1 + my)
    x0, x1 = max(0, cols[0] - mx), min(w, cols[-1] + 1 + mx)
    if (y1 - y0) < 8 or (x1 - x0) < 8:
        return None
    return Crop(int(y0), int(y1), int(x0), int(x1))


def fallback_frame(unit: np.ndarray, is_hu: bool) -> Crop:
    """The body bounding box of a canonical slice (for slices of a series without lungs).
    ``body_crop`` thresholds HU slices in lung-window grey, which is the canonical HU window."""
    return body_crop(unit, is_hu)


__all__ = ["HU_WINDOW", "TRAIN_AIR", "TRAIN_TISSUE", "FRAME_MARGIN", "WindowEstimate",
           "IDENTITY_WINDOW", "estimate_picture_window", "hu_to_canonical", "to_canonical",
           "lung_frame", "fallback_frame", "lung_window_unit"]
