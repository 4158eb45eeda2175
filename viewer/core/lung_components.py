"""Steps 1-4 of the lung mask (``viewer.core.lung_mask``): the air inside the body, the
components kept as lungs, the airways dropped.

``air_inside_body`` (steps 1-2) thresholds the air and keeps what lies inside the body, slice
by slice; ``keep_lungs_3d`` (step 3, a series) and ``keep_lungs_2d`` (a slice, or an 8-bit
picture) keep the largest two air components that are not gas; ``drop_airways`` (step 4) drops
the trachea and main bronchi where they are their own in-plane component.
``components_mostly_inside`` keeps the dark components of a picture that lie inside its body.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from viewer.core.mask_ops import Bits, box_3d, chunks, fill_holes

#: Single HU slices: further aerated pieces at least this fraction of the largest are lung too
#: (at most ``MAX_FRAGMENTS`` of them).
FRAGMENT_RATIO = 0.1
MAX_FRAGMENTS = 4
#: Second lung component kept when its size is at least this fraction of the largest.
SECOND_LUNG_RATIO = 0.15
#: Largest in-plane area (mm^2) of a separate airway (trachea, main bronchus) component.
AIRWAY_MAX_AREA_MM2 = 1000.0
#: An airway component's 10th HU percentile lies below this (it holds a lumen of pure air).
AIRWAY_AIR_HU = -925.0
#: An airway component's centroid lies within this fraction of the body width from its middle.
AIRWAY_MAX_OFFSET = 0.12
#: Air components with at least ``GAS_FRACTION`` of their voxels below ``GAS_HU`` are gas (bowel,
#: stomach), not lung: measured 0.16-0.74 for gas pockets, at most 0.06 for healthy and COVID-19
#: lungs (LIDC-IDRI-0001, COVID-19-NY-SBU). The same measure is the emphysema index LAA-950, so
#: a lung with very severe emphysema (LAA-950 >= 30 %) would be taken for gas.
GAS_HU = -950.0
GAS_FRACTION = 0.3
#: Lung components smaller than this (ml for 3-D HU input, mm^2 per slice for 2-D) are noise.
MIN_LUNG_ML = 20.0
MIN_LUNG_AREA_MM2 = 150.0


def air_inside_body(hu: np.ndarray, air_level: np.float32,
                    for_each_slice) -> tuple[np.ndarray, np.ndarray]:
    """Steps 1 and 2, slice by slice (no volume-sized temporaries): the air inside the body,
    a (z, y, x) bool volume, and the body (``_body_slice``), 8 voxels a byte (``Bits``).
    ``for_each_slice(work, n)`` runs ``work(k)`` for k in 0..n-1 (the caller's threads)."""
    cand = np.zeros(hu.shape, dtype=bool)
    inside = Bits(hu.shape)

    def work(k: int) -> None:
        air = hu[k] < air_level
        body = np.zeros(air.shape, dtype=bool)
        _body_slice(~air, body)
        inside[k] = body
        np.logical_and(air, body, out=cand[k])

    for_each_slice(work, hu.shape[0])
    return cand, inside


def _body_slice(tissue: np.ndarray, out: np.ndarray) -> None:
    """The largest in-plane tissue component of a slice with its holes filled, into ``out``
    (y, x bool, all False on entry)."""
    labels, n = ndi.label(tissue)
    if n == 0:
        return
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    i = int(np.argmax(sizes))
    sl = ndi.find_objects(labels, max_label=i)[i - 1]
    out[sl] = fill_holes(labels[sl] == i)


def components_mostly_inside(dark: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Dark components (y, x) with more than half of their pixels inside ``region``."""
    labels, n = ndi.label(dark)
    if n == 0:
        return np.zeros(dark.shape, dtype=bool)
    total = np.bincount(labels.ravel(), minlength=n + 1)
    inner = np.bincount(labels[region].ravel(), minlength=n + 1)
    ok = inner * 2 > total
    ok[0] = False
    return ok[labels]


def keep_lungs_3d(cand: np.ndarray, voxel_mm3: float, hu: np.ndarray) -> None:
    """Step 3: keeps in ``cand`` (z, y, x bool, changed in place) only the lung components.

    The labels cover the candidates' bounding box only, in 16 bits when the components fit
    (the numbering is the whole frame's: the same raster order), and are counted and mapped
    back a few slices at a time: memory stays near one bool volume plus the box's labels."""
    box = box_3d(cand)
    if box is None:
        return
    sub = cand[box]
    try:
        labels = np.empty(sub.shape, dtype=np.uint16)
        n = ndi.label(sub, output=labels)
    except RuntimeError:  # more than 65535 components
        labels, n = ndi.label(sub)
    sizes = np.zeros(n + 1, dtype=np.int64)
    for z in chunks(labels.shape[0]):
        sizes += np.bincount(labels[z].ravel(), minlength=n + 1)
    sizes[0] = 0
    keep_ids = _largest_two(sizes, MIN_LUNG_ML * 1000.0 / voxel_mm3,
                            _gas_test(labels, hu[box], sizes))
    lut = np.zeros(n + 1, dtype=bool)
    lut[keep_ids] = True
    for z in chunks(labels.shape[0]):
        sub[z] = lut[labels[z]]


def keep_lungs_2d(cand: np.ndarray, pixel_mm2: float, hu: np.ndarray | None) -> np.ndarray:
    """The lung components of one slice (y, x bool). HU input: besides the largest two, the
    aerated fragments of a lung cut up by consolidation (``_lung_fragments``)."""
    labels, n = ndi.label(cand)
    if n == 0:
        return np.zeros(cand.shape, dtype=bool)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    is_gas = _gas_test(labels, hu, sizes) if hu is not None else None
    keep_ids = _largest_two(sizes, MIN_LUNG_AREA_MM2 / pixel_mm2, is_gas)
    if hu is not None and keep_ids:
        keep_ids += _lung_fragments(sizes, keep_ids, MIN_LUNG_AREA_MM2 / pixel_mm2, is_gas)
    lut = np.zeros(n + 1, dtype=bool)
    lut[keep_ids] = True
    return lut[labels]


def _lung_fragments(sizes: np.ndarray, keep_ids: list[int], floor: float, is_gas) -> list[int]:
    """Labels of further components (not gas, at least ``floor`` and ``FRAGMENT_RATIO`` of the
    largest; at most ``MAX_FRAGMENTS``): a lung cut into pieces by consolidation leaves
    several aerated pieces, of which the largest two may lie in the same lung."""
    extra: list[int] = []
    for label in np.argsort(sizes)[::-1][: len(keep_ids) + 2 * MAX_FRAGMENTS]:
        label = int(label)
        if label in keep_ids:
            continue
        if sizes[label] <= 0 or sizes[label] < max(floor, FRAGMENT_RATIO * sizes[keep_ids[0]]):
            break
        if not is_gas(label):
            extra.append(label)
        if len(extra) == MAX_FRAGMENTS:
            break
    return extra


def _gas_test(labels: np.ndarray, hu: np.ndarray, sizes: np.ndarray):
    """``is_gas(label)``: at least ``GAS_FRACTION`` of the component lies below ``GAS_HU`` (pure
    air, as in bowel or stomach gas; aerated lung holds vessels and septa and is denser).
    ``sizes``: voxels per label. A large component is subsampled (every ``step``-th voxel in
    raster order), a few planes at a time."""
    objects = ndi.find_objects(labels)

    def is_gas(label: int) -> bool:
        sl = objects[label - 1]
        size = int(sizes[label])
        step = size // 100_000 if size > 200_000 else 1  # a subsample is plenty for a fraction
        gas = taken = seen = 0
        for z in chunks(sl[0].stop - sl[0].start, start=sl[0].start):
            part = (z,) + tuple(sl[1:])
            vals = hu[part][labels[part] == label]
            vals = vals[(-seen) % step:: step]
            seen += int(np.count_nonzero(labels[part] == label))
            gas += int(np.count_nonzero(vals < GAS_HU))
            taken += vals.size
        return float(gas) >= GAS_FRACTION * taken

    return is_gas


def _largest_two(sizes: np.ndarray, floor: float, is_gas=None) -> list[int]:
    """Labels of the largest component and of the second largest when it holds at least
    ``SECOND_LUNG_RATIO`` of the first; components smaller than ``floor`` or, with ``is_gas``,
    made of gas are passed over."""
    keep: list[int] = []
    for label in np.argsort(sizes)[::-1][:8]:
        label = int(label)
        if sizes[label] <= 0 or sizes[label] < floor:
            break
        if keep and sizes[label] < SECOND_LUNG_RATIO * sizes[keep[0]]:
            break
        if is_gas is not None and is_gas(label):
            continue
        keep.append(label)
        if len(keep) == 2:
            break
    return keep


def drop_airways(keep: np.ndarray, inside: np.ndarray, hu: np.ndarray,
                 pixel_mm2: float, for_each_slice) -> np.ndarray:
    """Drop in-plane airway components (trachea, main bronchi) from a (z, y, x) lung mask, in
    place (also returned); ``for_each_slice`` as in :func:`air_inside_body`.

    A component is an airway when its area is at most ``AIRWAY_MAX_AREA_MM2``, its 10th HU
    percentile is below ``AIRWAY_AIR_HU`` (it holds a lumen of pure air; a small lung apex is
    volume-averaged and brighter), and its bounding-box centre lies within ``AIRWAY_MAX_OFFSET``
    of the body width from the body's left-right middle (and within 2.5 times that from its
    front-back middle).
    """
    max_px = AIRWAY_MAX_AREA_MM2 / pixel_mm2
    out = keep  # changed in place, slice by slice (each slice's labels come first)

    def work(k: int) -> None:  # slice k on its own (threads: each writes its own slice)
        if not keep[k].any():
            return
        labels, n = ndi.label(keep[k])
        body = inside[k]
        rows = np.flatnonzero(body.any(axis=1))
        if rows.size == 0:
            return
        cols = np.flatnonzero(body.any(axis=0))
        by, bx = slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)
        mid_y, mid_x = (by.start + by.stop - 1) / 2.0, (bx.start + bx.stop - 1) / 2.0
        half_y = (by.stop - by.start) * AIRWAY_MAX_OFFSET * 2.5
        half_x = (bx.stop - bx.start) * AIRWAY_MAX_OFFSET
        sizes = np.bincount(labels.ravel())
        for i, sl in enumerate(ndi.find_objects(labels), start=1):
            if sl is None or sizes[i] > max_px:
                continue
            cy = (sl[0].start + sl[0].stop - 1) / 2.0
            cx = (sl[1].start + sl[1].stop - 1) / 2.0
            if abs(cx - mid_x) > half_x or abs(cy - mid_y) > half_y:
                continue
            part = labels[sl] == i
            if np.percentile(hu[k][sl][part], 10) < AIRWAY_AIR_HU:
                out[k][sl][part] = False

    for_each_slice(work, keep.shape[0])
    return out
