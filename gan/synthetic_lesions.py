"""Synthetic lung lesions painted into a CT slice, for training the lung-field network.

The lung-field network (``gan.lung_net``) must keep dense consolidation, effusion and ground glass
against the pleura inside the lung field, which the threshold-based lung mask cannot see (dense
lung looks like soft tissue). No lung masks of diseased lungs exist to train on, so the training
pairs are made: a normal slice with its (reliable) lung mask, and lesions painted into the lung
while the target stays the whole lung mask.

``paint_lesions(unit, lungs, rng)`` paints, at random (``LesionMix``):

- subpleural consolidation: 1-3 blobs with a noisy outline seeded on the lung outline, mostly in
  the dependent (posterior, image-bottom) half, filled with the slice's own soft-tissue grey;
- a dependent crescent: the lowest ``depth`` of a lung, column by column (consolidation or
  effusion against the posterior chest wall);
- a white-out: one whole lung filled;
- ground glass: blobs anywhere in the lung whose grey is raised part of the way to soft tissue,
  vessels kept.

Arrays: ``unit`` float (y, x) in [0, 1] with the image-bottom side posterior (axial slices in the
radiological display; the training pictures are), ``lungs`` bool (y, x). Returns a new float32
array; the lung mask is unchanged (it is the target).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi


@dataclass(frozen=True)
class LesionMix:
    """Probabilities of each kind of painted lesion (independent draws)."""

    none: float = 0.2
    blobs: float = 0.55
    crescent: float = 0.3
    whiteout: float = 0.07
    ground_glass: float = 0.4


def _smooth_noise(shape: tuple[int, int], sigma: float, rng: np.random.Generator) -> np.ndarray:
    n = ndi.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma)
    s = float(n.std())
    return n / s if s > 0 else n


def tissue_grey(unit: np.ndarray, lungs: np.ndarray) -> float:
    """The soft-tissue grey of a slice: the median of the bright non-lung pixels (above the mean
    of the lung and the brightest 10 % of the slice), 0.9 when there is none."""
    if not lungs.any():
        return 0.9
    hi = float(np.percentile(unit, 90))
    lo = float(np.median(unit[lungs]))
    cut = (hi + lo) / 2
    bright = unit[(~lungs) & (unit > cut)]
    return float(np.median(bright)) if bright.size > 50 else 0.9


def _lung_parts(lungs: np.ndarray) -> list[np.ndarray]:
    lab, n = ndi.label(lungs)
    if n == 0:
        return []
    sizes = ndi.sum_labels(lungs, lab, index=np.arange(1, n + 1))
    order = np.argsort(sizes)[::-1]
    return [lab == (i + 1) for i in order[:2] if sizes[i] >= 0.05 * sizes.max()]


def _blob(part: np.ndarray, rng: np.random.Generator, dependent: float = 0.7) -> np.ndarray:
    """A noisy disk seeded on the outline of ``part``, cut to it."""
    edge = part & ~ndi.binary_erosion(part)
    ys, xs = np.nonzero(edge)
    if ys.size == 0:
        return np.zeros_like(part)
    cy = ys.mean()
    if rng.random() < dependent and (ys > cy).any():
        pick = np.nonzero(ys > cy)[0]
    else:
        pick = np.arange(ys.size)
    k = int(rng.choice(pick))
    radius = float(np.sqrt(part.sum() / np.pi)) * rng.uniform(0.15, 0.6)
    yy, xx = np.indices(part.shape, dtype=np.float32)
    d = np.hypot(yy - ys[k], xx - xs[k]) / max(radius, 1.0)
    d += 0.35 * _smooth_noise(part.shape, max(radius / 3, 1.0), rng)
    return part & (d < 1.0)


def _crescent(part: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The lowest ``depth`` rows of each column of ``part`` (dependent lung)."""
    rows = np.arange(part.shape[0])[:, None]
    bottom = np.where(part.any(0), (part * rows).max(0), -1)
    height = float(np.ptp(np.nonzero(part)[0])) if part.any() else 0.0
    depth = height * rng.uniform(0.1, 0.45)
    wobble = 0.15 * depth * _smooth_noise((1, part.shape[1]), part.shape[1] / 10, rng)[0]
    return part & (rows > bottom[None, :] - depth - wobble[None, :])


def _fill(unit: np.ndarray, region: np.ndarray, grey: float, rng: np.random.Generator,
          sigma: float = 1.0) -> np.ndarray:
    """``unit`` with ``region`` set to a textured ``grey`` and a soft edge."""
    soft = ndi.gaussian_filter(region.astype(np.float32), sigma)
    tex = grey * rng.uniform(0.9, 1.02) + 0.03 * _smooth_noise(unit.shape, 1.5, rng)
    return unit * (1 - soft) + np.clip(tex, 0, 1) * soft


def paint_lesions(unit: np.ndarray, lungs: np.ndarray, rng: np.random.Generator,
                  mix: LesionMix = LesionMix()) -> np.ndarray:
    """``unit`` (float (y, x) in [0, 1]) with random lesions inside ``lungs`` (module docstring).

    Raises ``ValueError`` when the shapes differ."""
    unit = np.asarray(unit, dtype=np.float32)
    lungs = np.asarray(lungs, dtype=bool)
    if unit.shape != lungs.shape or unit.ndim != 2:
        raise ValueError(f"paint_lesions: unit {unit.shape} and lungs {lungs.shape} must be the "
                         "same 2-D shape")
    parts = _lung_parts(lungs)
    out = unit.copy()
    if not parts or rng.random() < mix.none:
        return out
    grey = tissue_grey(unit, lungs)
    if rng.random() < mix.ground_glass:
        part = parts[int(rng.integers(len(parts)))]
        ggo = np.zeros_like(lungs)
        for _ in range(int(rng.integers(1, 4))):
            ggo |= _blob(part, rng, dependent=0.4)
        lift = ndi.gaussian_filter(ggo.astype(np.float32), 1.5) * rng.uniform(0.25, 0.6)
        out = out + (grey - out).clip(0, None) * lift
    if rng.random() < mix.blobs:
        dense = np.zeros_like(lungs)
        for _ in range(int(rng.integers(1, 4))):
            dense |= _blob(parts[int(rng.integers(len(parts)))], rng)
        out = _fill(out, dense, grey, rng)
    if rng.random() < mix.crescent:
        part = parts[int(rng.integers(len(parts)))]
        out = _fill(out, _crescent(part, rng), grey * rng.uniform(0.92, 1.0), rng)
    if rng.random() < mix.whiteout:
        part = parts[int(rng.integers(len(parts)))]
        out = _fill(out, part, grey, rng)
    return np.clip(out, 0.0, 1.0).astype(np.float32)
