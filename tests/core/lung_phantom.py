"""Synthetic chest CT phantoms with known lung and lesion areas (HU, float32).

Axial slice ``(y, x)`` of 256×256 px at 1 mm: air (-1000 HU) outside, a body ellipse of soft
tissue (40 HU), two lung ellipses (-850 HU), a trachea (air disk on the midline, between the
lungs), and three lesions: ground glass (-500 HU) and consolidation (-100 HU) inside the lungs,
and a juxtapleural consolidation (-100 HU) centred on the outer pleura of the right-hand lung,
half of it inside the lung ellipse and half in the chest wall.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SIZE = 256
BODY_HU, LUNG_HU, AIR_HU = 40.0, -850.0, -1000.0
GGO_LESION_HU, CONS_LESION_HU = -500.0, -100.0


@dataclass
class Phantom:
    hu: np.ndarray  # float32 (y, x) or (z, y, x)
    lungs: np.ndarray  # bool, true lung region (lesions included)
    lesion: np.ndarray  # bool, lesions inside the lungs
    ggo: np.ndarray  # bool, ground-glass lesion pixels
    cons: np.ndarray  # bool, consolidation lesion pixels
    trachea: np.ndarray  # bool
    spacing: tuple  # (z, y, x) mm


def _ellipse(cy, cx, ry, rx, n=SIZE):
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float64)
    return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0


def axial_slice(noise_hu: float = 15.0, seed: int = 0, lesions: bool = True) -> Phantom:
    body = _ellipse(128, 128, 100, 122)
    left = _ellipse(132, 74, 66, 38)
    right = _ellipse(132, 182, 66, 38)
    lungs = left | right
    trachea = _ellipse(100, 128, 7, 7)
    hu = np.full((SIZE, SIZE), AIR_HU)
    hu[body] = BODY_HU
    hu[lungs] = LUNG_HU
    hu[trachea] = AIR_HU
    ggo = np.zeros_like(lungs)
    cons = np.zeros_like(lungs)
    if lesions:
        ggo = _ellipse(110, 70, 14, 14) & lungs
        cons_inner = _ellipse(170, 185, 10, 10) & lungs
        juxta = _ellipse(132, 182 + 38, 11, 11)  # centred on the lateral pleura
        hu[ggo] = GGO_LESION_HU
        hu[cons_inner | (juxta & body)] = CONS_LESION_HU
        cons = (cons_inner | juxta) & lungs
    rng = np.random.default_rng(seed)
    hu = hu + rng.normal(0.0, noise_hu, hu.shape)
    return Phantom(hu.astype(np.float32), lungs, ggo | cons, ggo, cons, trachea,
                   (1.0, 1.0, 1.0))


def series(n_slices: int = 24, noise_hu: float = 15.0) -> Phantom:
    """``n_slices`` copies of the axial slice (slice thickness 2 mm); lungs and lesions run through
    all slices except the top four, where only the trachea remains; the trachea is joined to both
    lungs by an air bar (main bronchi) in slice ``n_slices - 6``."""
    sl = axial_slice(noise_hu=0.0)
    z = n_slices
    hu = np.repeat(sl.hu[None], z, axis=0)
    lungs = np.repeat(sl.lungs[None], z, axis=0)
    lesion = np.repeat(sl.lesion[None], z, axis=0)
    ggo = np.repeat(sl.ggo[None], z, axis=0)
    cons = np.repeat(sl.cons[None], z, axis=0)
    trachea = np.repeat(sl.trachea[None], z, axis=0)
    top = z - 4
    body = _ellipse(128, 128, 100, 122)
    for k in range(top, z):  # above the lung apices: soft tissue and the trachea only
        hu[k][body & ~sl.trachea] = BODY_HU
        hu[k][sl.trachea] = AIR_HU
        lungs[k] = lesion[k] = ggo[k] = cons[k] = False
    bronchi = np.zeros((SIZE, SIZE), dtype=bool)
    bronchi[96:104, 60:200] = True  # joins the trachea and both lungs
    k = z - 6
    hu[k][bronchi & body] = AIR_HU
    rng = np.random.default_rng(1)
    hu = hu + rng.normal(0.0, noise_hu, hu.shape)
    return Phantom(hu.astype(np.float32), lungs, lesion, ggo, cons, trachea, (2.0, 1.0, 1.0))


def to_picture(hu: np.ndarray) -> np.ndarray:
    """Lung-window (W1500/L-600) 8-bit picture of an HU array."""
    unit = np.clip((hu - (-600.0 - 750.0)) / 1500.0, 0.0, 1.0)
    return np.round(unit * 255.0).astype(np.uint8)


@dataclass
class ChestPhantom:
    hu: np.ndarray  # float32 (z, y, x)
    lungs: np.ndarray  # bool, true lung region (consolidation included)
    liver: np.ndarray  # bool, liver dome under the right lung (not lung)
    heart: np.ndarray  # bool, heart between the lungs (not lung)
    cons: np.ndarray  # bool, posterior subpleural consolidation (lung)
    spacing: tuple  # (z, y, x) mm


def chest_series(n_slices: int = 24, noise_hu: float = 15.0) -> ChestPhantom:
    """A chest with ribs (bone disks on a ring just outside the lungs) and a spine, two lungs
    that touch in front of and behind a heart-like blob (the junction lines), a liver-like dome
    rising under the right lung (image left) in the lowest slices, wrapped by a thin lung
    crescent, and a posterior subpleural consolidation (-50 HU) filling the back of the left
    lung (image right) over the upper slices, between the aerated lung and the ribs.
    Slices at 2.5 mm, index 0 the lowest."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    body = _ellipse(128, 128, 100, 122)
    left = _ellipse(132, 74, 66, 38)
    right = _ellipse(132, 182, 66, 38)
    junction = (yy >= 92) & (yy <= 98) & (xx >= 100) & (xx <= 156)  # lungs touch in front
    junction |= (yy >= 166) & (yy <= 172) & (xx >= 100) & (xx <= 156)  # ... and behind
    lungs2 = left | right | junction
    heart = _ellipse(132, 128, 26, 22) & ~lungs2
    bone = _ellipse(205, 128, 14, 14)  # vertebral body
    for a in np.deg2rad(np.arange(0, 360, 15)):  # ribs on a ring just outside the lungs
        bone |= _ellipse(128 + 88 * np.sin(a), 128 + 108 * np.cos(a), 4, 4)
    z = n_slices
    hu = np.full((z, SIZE, SIZE), AIR_HU)
    lungs = np.zeros((z, SIZE, SIZE), dtype=bool)
    liver = np.zeros_like(lungs)
    cons = np.zeros_like(lungs)
    hearts = np.zeros_like(lungs)
    dome_top = 8
    for k in range(z):
        hu[k][body] = BODY_HU
        hu[k][bone & body] = 400.0
        lung_k = lungs2.copy()
        if k < dome_top:  # the dome widens downwards; the lung is a crescent around it
            r = 14.0 + 4.5 * (dome_top - 1 - k)
            dome = ((yy - 110) ** 2 + (xx - 108) ** 2 <= r * r) & left
            liver[k] = dome
            lung_k &= ~dome
        hu[k][lung_k] = LUNG_HU
        hu[k][liver[k]] = 60.0
        hu[k][heart] = 45.0
        hearts[k] = heart
        if k >= dome_top + 2:
            band = right & (yy >= 160)
            hu[k][band] = -50.0
            cons[k] = band
        lungs[k] = lung_k
    rng = np.random.default_rng(5)
    hu = hu + rng.normal(0.0, noise_hu, hu.shape)
    return ChestPhantom(hu.astype(np.float32), lungs, liver, hearts, cons, (2.5, 1.0, 1.0))


def heart_bite_slice(noise_hu: float = 15.0) -> ChestPhantom:
    """One axial slice (as a one-slice ``ChestPhantom``, 1 mm pixels) in which the heart bites
    a shallow notch into the medial front of the left lung (image right): the notch's
    convex-hull chord runs through the heart (a straight-edged "triangle in front of the heart"
    when the notch is filled as a pleural bite). Ribs and a spine as in ``chest_series``; no
    consolidation, no liver."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    body = _ellipse(128, 128, 100, 122)
    right = _ellipse(132, 74, 66, 38)
    left = _ellipse(132, 182, 66, 38)
    heart = _ellipse(100, 140, 20, 20) & body
    lungs = (right | left) & ~heart
    bone = _ellipse(205, 128, 14, 14)
    for a in np.deg2rad(np.arange(0, 360, 15)):
        bone |= _ellipse(128 + 88 * np.sin(a), 128 + 108 * np.cos(a), 4, 4)
    hu = np.full((SIZE, SIZE), AIR_HU)
    hu[body] = BODY_HU
    hu[bone & body] = 400.0
    hu[lungs] = LUNG_HU
    hu[heart] = 45.0
    rng = np.random.default_rng(7)
    hu = hu + rng.normal(0.0, noise_hu, hu.shape)
    none = np.zeros((1, SIZE, SIZE), dtype=bool)
    return ChestPhantom(hu[None].astype(np.float32), lungs[None], none, (heart & ~lungs)[None],
                        none, (2.5, 1.0, 1.0))
