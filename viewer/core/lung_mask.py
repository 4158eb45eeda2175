"""Lung segmentation for CT slices and series (Qt-free, scipy.ndimage only).

``segment_lungs(volume, is_hu, spacing=None)`` returns a ``bool`` mask of the lungs with the same
shape as ``volume``: a slice ``(y, x)`` or a series ``(z, y, x)``.

HU input (DICOM, NIfTI; ``float`` HU):
  1. air = voxels below ``air_hu`` (default -320 HU);
  2. the body = per slice, the largest non-air component with its holes filled; air outside it
     (room air, air under the table) is dropped;
  3. the air inside the body is labelled in 3-D (6-connected) and the lungs are kept: the largest
     component, and the second largest when it holds at least ``SECOND_LUNG_RATIO`` of the first
     (lungs that touch form one component and are kept together; bowel and stomach gas are
     smaller, or mostly pure air (``GAS_FRACTION`` below ``GAS_HU``), and dropped);
  4. trachea and main bronchi are dropped where they appear as their own small in-plane
     component holding pure air (10th percentile below -925 HU) near the body's left-right
     middle (axial slices, x = patient left-right);
  5. per slice and per lung component, a closing with a disk of ``closing_mm`` radius, hole
     filling, and filling of shallow concavities of the outline (``CONCAVITY_*``), so vessels,
     nodules and dense lesions inside the lung, and a juxtapleural lesion (dense lesion touching
     the pleura, a "bite" in the air mask) stay inside the lung mask. Only bites against the
     chest wall are filled (most of the hull chord across the bite's mouth within the chest
     wall's thickness plus ``CONCAVITY_MAX_DEPTH_MM`` of the body outline, or within
     ``CONCAVITY_WALL_DEPTH_SHARE`` of the body's depth; ``wall_depth``), not notches on the
     mediastinal side, whose straight chord would cut across the heart or hilum; a wall bite is
     filled beyond its chord too, up to the depth below the body outline at which the lung
     meets the wall on either side of it (the pleura is curved, not straight). A component
     holding both lungs (touching at the anterior or posterior junction line,
     ``SPLIT_MIN_SHARE`` of it on each side of the body's middle; HU input only) is handled per
     half, or the hole filling would take in the heart and mediastinum between them. The
     result is limited to the body;
  6. per slice and per lung (the pieces on each side of the body's middle), dense lung between the
     aerated lung and the chest wall (dependent or subpleural consolidation, which can cut off a
     whole posterior lung region) is added by a rolling ball of ``WALL_CLOSING_MM`` against the
     thoracic cavity: the inside of the rib cage (bone hull shrunk by ``RIB_MM``) and of the chest
     wall. Only pixels that lie on a straight line from the lung to a rib, the rib behind or
     beside them (rays to the back and sideways, ``_between_lung_and_wall``; ribs: bone outside
     the lungs' hull within ``RIB_SLAB_MM`` in z, gaps up to ``RIB_GAP_MM`` closed, not within
     ``SPINE_HALF_MM`` of the body's middle (the vertebral body); sideways only
     inside the hull of the lung and the mirrored other lung, ``_mirror_hull``, as a rib gap can
     let a ray out into the chest wall) join: the liver and spleen domes under a basal lung
     crescent and the heart have the lung behind or beside them and the anterior wall in front,
     and stay out; ground glass (below ``WALL_GGO_HU``, lighter than any organ, but not pure
     air below ``AIRWAY_AIR_HU``: the trachea between touching lungs) joins without
     the ray test, as do organs ringed by lung and added pixels (only holes up to
     ``WALL_HOLE_MM2`` or inside the added region are filled, and none with a lumen of pure
     air: the trachea ringed by touching lungs) (``fill_against_wall``).

A single HU slice, and a one-slice series, keep lung components by area (``MIN_LUNG_AREA_MM2``)
rather than volume, and also keep the further aerated pieces of a lung cut up by consolidation.

8-bit input (display-windowed lung-window pictures such as the Soares or MedSeg sets, ``uint8``,
body mostly cropped): each slice is handled on its own in 2-D, the air threshold is placed between
the dark and bright class means found by Otsu's method (``PICTURE_AIR_POSITION``), the "body" is
the convex hull of all large bright components (a cropped picture often cuts through the lungs and
the chest wall, so hole filling cannot tell room air from lung), dark components mostly outside
that hull are room air, the two largest dark components are kept as in step 3 (in 2-D; this also
drops a separate trachea), and step 5 follows (step 6 needs HU). Then, with ``network`` (the
lung-field network, ``gan.lung_net``, trained on normal pictures with painted lesions; "auto" =
the shipped ``resources/weights/lung_field.safetensors``), its lung field joins the mask where it
touches the lungs found (dense consolidation and effusion against the pleura that no threshold
tells from soft tissue), or where it is at least ``lung_field_stage.FIELD_ALONE_SHARE`` of them (a lung
consolidated whole); it never starts a lung in a slice without one (``viewer.core.lung_field_stage``).
HU input keeps the threshold-based mask (``lung_field_stage.FIELD_ON_PICTURES_ONLY``).

A single HU slice goes through the same steps in 2-D. Segment a whole series at once where
possible: 3-D connectivity tells lungs from bowel gas better than one slice can.

Cost (HU series; the result is the same as the plain steps on whole frames and volumes, see
tests/core/test_lung_mask_fast_paths.py): steps 1-2 run slice by slice; step 3 labels the
candidates' bounding box only, in 16 bits when the components fit, counting and mapping labels
back a few slices at a time; one bool volume holds the candidates, then the lungs kept, then
the result, and the body volume is kept 8 voxels a byte (``Bits``); steps 5-6 run per slice on
the body's bounding box grown by a margin and aligned to the pooled grids (``grid_box``), with
the slab's ribs gathered for that box. On LIDC-IDRI-0001 (133 x 512^2) about 1.4 x less CPU
than before (3.4-3.7 s against 4.6-5.3 s on a loaded machine); on 1,000 slices about 0.6 GiB of
peak memory added instead of 2 GiB (``bench/bench_lung_mask.py --baseline-repo``).

Geometry: ``spacing`` is ``(z, y, x)`` in mm (``(y, x)`` also accepted for a slice). Without it,
the in-plane pixel size is assumed from a typical field of view: ``ASSUMED_FOV_MM`` across the
larger image side for HU input, ``ASSUMED_PICTURE_WIDTH_MM`` for cropped 8-bit pictures.

Modules: steps 1-4 (air inside the body, lung components kept, airways dropped) are in
``viewer.core.lung_components``, step 5 (closing, hole and concavity filling, the convex hull)
in ``viewer.core.lung_outline``, step 6 (the fill against the chest wall) in
``viewer.core.lung_wall_fill``, each with the constants of its step. This module holds
``segment_lungs``, ``HuLungStages`` (the stages' order, the per-slice threads, the body's box),
the input checks, the pixel size, the 8-bit pictures' air threshold and body hull, and the
user-facing defaults (``AIR_HU``, ``CLOSING_MM``, ``WALL_CLOSING_MM``).
"""
from __future__ import annotations

import math
import os
import threading

import numpy as np
from scipy import ndimage as ndi

from viewer.core.lung_components import (
    air_inside_body,
    components_mostly_inside,
    drop_airways,
    keep_lungs_2d,
    keep_lungs_3d,
)
from viewer.core.lung_field_stage import with_field
from viewer.core.lung_outline import (
    CONCAVITY_MAX_DEPTH_MM,
    WALL_ZONE_GRID_MM,
    convex_hull_mask,
    fill_and_close,
    wall_depth,
)
from viewer.core.lung_wall_fill import (
    BONE_HU,
    RIB_SLAB_MM,
    WALL_GRID_MM,
    back_direction,
    fill_against_wall,
)
from viewer.core.mask_ops import grid_box

#: HU below which a voxel counts as air / aerated lung.
AIR_HU = -320.0
#: Radius (mm) of the disk closing that keeps juxtapleural lesions inside the lung.
CLOSING_MM = 15.0
#: Radius (mm) of the rolling ball that fills dense (consolidated, dependent) lung between the
#: aerated lung and the chest wall (HU input; see ``lung_wall_fill.fill_against_wall``).
WALL_CLOSING_MM = 35.0
#: 8-bit pictures: the air threshold sits this far from the dark towards the bright class mean
#: (classes split by Otsu's threshold), so ground-glass opacity still counts as lung.
PICTURE_AIR_POSITION = 0.75
#: 8-bit pictures: bright components at least this fraction of the picture form the body.
PICTURE_BODY_MIN_FRACTION = 0.005
#: In-plane size (mm) assumed across the larger image side of an HU image without spacing.
ASSUMED_FOV_MM = 350.0
#: Width (mm) assumed across the larger side of a body-cropped 8-bit picture.
ASSUMED_PICTURE_WIDTH_MM = 320.0
#: In-plane pieces of the lung mask smaller than this (mm^2) are dropped (threshold specks).
MIN_PIECE_MM2 = 10.0

#: Threads for the per-slice steps of a series (closing, filling, chest-wall fill).
SLICE_THREADS = min(4, os.cpu_count() or 1)


def segment_lungs(
    volume: np.ndarray,
    is_hu: bool,
    spacing: tuple[float, ...] | None = None,
    *,
    air_hu: float = AIR_HU,
    closing_mm: float = CLOSING_MM,
    wall_mm: float = WALL_CLOSING_MM,
    network=False,
) -> np.ndarray:
    """Lung mask of a CT slice ``(y, x)`` or series ``(z, y, x)``; ``bool``, same shape.

    ``volume``: HU (``is_hu=True``, any real dtype) or 8-bit display grey levels 0..255
    (``is_hu=False``). ``spacing``: ``(z, y, x)`` or ``(y, x)`` in mm, optional.
    ``air_hu``: air threshold in HU (HU input only). ``closing_mm``: closing disk radius in mm.
    ``wall_mm``: radius in mm of the rolling ball that fills dense lung against the chest wall
    (HU input only; 0 turns it off). ``network``: the lung-field network for 8-bit pictures
    (False: none; "auto"/True: the shipped one when present; a weights path; a ``LungFieldNet``).
    Raises ValueError on an empty, non-numeric or wrongly shaped input or bad spacing.
    HU input goes through :class:`HuLungStages` (steps 1-4 at once, then 5-6 for every slice).
    """
    if is_hu:
        return HuLungStages(volume, spacing, air_hu=air_hu, closing_mm=closing_mm,
                            wall_mm=wall_mm, network=network).result()
    vol = _validate_volume(volume, is_hu)
    two_d = vol.ndim == 2
    vol3 = vol[None] if two_d else vol
    pix_y, pix_x = _pixel_mm(spacing, vol3.shape, is_hu)
    _, _, radius_px, depth_px = _parameters(closing_mm, air_hu, wall_mm, (pix_y, pix_x))
    keep = np.zeros(vol3.shape, dtype=bool)
    inside = np.zeros(vol3.shape, dtype=bool)
    for k in range(vol3.shape[0]):
        dark = vol3[k] < _picture_air_threshold(vol3[k])
        inside[k] = _picture_body_hull(~dark)
        cand = components_mostly_inside(dark, inside[k])
        keep[k] = keep_lungs_2d(cand, pix_y * pix_x, None)

    out = np.zeros(vol3.shape, dtype=bool)

    def finish(k: int) -> None:  # slice k on its own: the slices are independent here
        if keep[k].any():
            # pictures may come transposed (MedSeg): no left-right middle, no chest-wall fill
            wall = wall_depth(keep[k], inside[k], min(pix_y, pix_x)) if depth_px > 0 else None
            out[k] = fill_and_close(keep[k], radius_px, MIN_PIECE_MM2 / (pix_y * pix_x),
                                    depth_px, None, wall)
            out[k] &= inside[k]

    _for_each_slice(finish, vol3.shape[0])
    return with_field(out, inside, vol3, False, network, pix_y * pix_x, two_d, MIN_PIECE_MM2)


def _parameters(closing_mm, air_hu, wall_mm, pix: tuple[float, float]):
    """``(air_level, wall_mm, radius_px, depth_px)`` from the user's parameters, checked."""
    try:
        closing = float(closing_mm)
        air_level = float(air_hu)
        wall_mm = float(wall_mm)
    except (TypeError, ValueError):
        raise ValueError(f"lung mask: closing_mm, air_hu and wall_mm must be numbers, got "
                         f"{closing_mm!r}, {air_hu!r}, {wall_mm!r}")
    if not math.isfinite(wall_mm) or wall_mm < 0:
        raise ValueError(f"lung mask: wall_mm must be a finite number >= 0, got {wall_mm!r}")
    if not math.isfinite(closing) or closing < 0:
        raise ValueError(f"lung mask: closing_mm must be a finite number >= 0, got {closing_mm!r}")
    radius_px = int(round(closing / min(pix)))
    depth_px = CONCAVITY_MAX_DEPTH_MM / min(pix) if radius_px > 0 else 0.0
    return air_level, wall_mm, radius_px, depth_px


class HuLungStages:
    """The HU lung mask in two stages, so that a series' slices can be finished in any order.

    Made from ``volume`` HU ``(y, x)`` or ``(z, y, x)`` (and ``spacing`` etc. as
    :func:`segment_lungs`), it runs steps 1-4 at once (about a fifth of the cost): the air
    inside the body, the lung components kept in 3-D, the airways dropped. ``front`` is then
    that ``bool (z, y, x)`` mask, ``front_plane`` its in-plane union ``bool (y, x)`` (the
    lungs' extent, which steps 5-6 seldom widen). ``finish(indices)`` runs steps 5-6 for those
    slices (each on its own, from the front of that slice only; threads; already finished
    slices are skipped; thread-safe); ``lungs`` holds the finished slices' masks and the front
    elsewhere, ``finished`` says which. ``result()`` finishes every slice and returns the mask,
    equal to :func:`segment_lungs` (the same code).
    """

    def __init__(self, volume, spacing=None, *, air_hu: float = AIR_HU,
                 closing_mm: float = CLOSING_MM, wall_mm: float = WALL_CLOSING_MM, network=False):
        vol = _validate_volume(volume, True)
        self.two_d = vol.ndim == 2
        hu = vol[None] if self.two_d else vol
        self.hu = hu
        self.pix = _pixel_mm(spacing, hu.shape, True)
        pix_y, pix_x = self.pix
        air_level, self.wall_mm, self.radius_px, self.depth_px = _parameters(
            closing_mm, air_hu, wall_mm, self.pix)
        self.network = network
        # steps 1-4: one bool volume holds the air inside the body, then the lungs kept, then
        # (slice by slice, as they are finished) the result
        keep, self.inside = air_inside_body(hu, np.float32(air_level), _for_each_slice)
        if hu.shape[0] == 1:  # a slice, or a one-slice series: areas, not volumes
            keep = keep_lungs_2d(keep[0], pix_y * pix_x, hu[0])[None]
        else:
            keep_lungs_3d(keep, pix_y * pix_x * _slice_mm(spacing), hu)
        drop_airways(keep, self.inside, hu, pix_y * pix_x, _for_each_slice)
        self.lungs = keep
        self.front_plane = keep.any(axis=0)
        n = hu.shape[0]
        self.finished = np.zeros(n, dtype=bool)
        self._lock = threading.Lock()
        self.back, self.half = 1, 0
        if self.wall_mm > 0:
            self.back = back_direction(hu, self.inside)
            if n > 1:  # bone of the slab around a slice
                self.half = min(int(round(RIB_SLAB_MM / _slice_mm(spacing))), n - 1)
        pix_mm = min(pix_y, pix_x)
        f_wall = max(1, int(round(WALL_GRID_MM / pix_mm)))
        f_zone = max(1, int(round(WALL_ZONE_GRID_MM / pix_mm)))
        self.grid = f_wall * f_zone // math.gcd(f_wall, f_zone)
        self.margin = self.radius_px + 2 + 3 * max(f_wall, f_zone)

    @property
    def front(self) -> np.ndarray:
        """Steps 1-4's mask (z, y, x); valid as a whole only before any slice is finished."""
        return self.lungs

    def finish(self, indices) -> None:
        """Steps 5 and 6 for the slices ``indices`` not finished yet (on ``SLICE_THREADS``)."""
        with self._lock:
            todo = [int(k) for k in dict.fromkeys(int(i) for i in indices)
                    if not self.finished[int(k)]]
            if not todo:
                return
            _for_each_slice(lambda j: self._finish_slice(todo[j]), len(todo))
            self.finished[todo] = True

    def result(self) -> np.ndarray:
        """The finished lung mask: ``bool (z, y, x)``, or ``(y, x)`` for a slice."""
        self.finish(range(self.hu.shape[0]))
        return self.lungs[0] if self.two_d else self.lungs

    def _finish_slice(self, k: int) -> None:
        """Steps 5 and 6 of slice ``k``, written into ``lungs[k]``.

        The slice is worked on its body's bounding box, grown by a margin that no step reaches
        across (the closing's padding, the pooled grids' blocks) and aligned to those grids: the
        distance transforms see the same nearest pixels (the margin is outside the body), the
        pooled blocks are the same blocks, so the result equals the whole frame's. The ribs of
        the slab around the slice (step 6) are gathered for that box only."""
        keep, hu, inside = self.lungs, self.hu, self.inside
        if keep[k].any():
            pix_y, pix_x = self.pix
            pix_mm = min(pix_y, pix_x)
            body = inside[k]
            box = grid_box(body, self.margin, self.grid)
            body, lungs = body[box], keep[k][box]
            xs = np.flatnonzero(body.any(axis=0))
            mid_x = (xs[0] + xs[-1]) / 2.0  # HU series are axial with x = left-right
            wall = wall_depth(lungs, body, pix_mm) if self.depth_px > 0 else None
            res = fill_and_close(lungs, self.radius_px, MIN_PIECE_MM2 / (pix_y * pix_x),
                                 self.depth_px, mid_x, wall)
            res &= body
            if self.wall_mm > 0:
                n = hu.shape[0]
                lo, hi = max(0, k - self.half), min(n, k + self.half + 1)
                ribs = np.any((hu[lo:hi][:, box[0], box[1]] > BONE_HU)
                              & inside[lo:hi][:, box[0], box[1]], axis=0)
                res = fill_against_wall(res, hu[k][box], body, pix_mm, self.wall_mm,
                                        self.back, ribs)
            keep[k][box] = res  # the result lies inside the body, hence inside the box
        # the lung-field network where it applies (not on HU: FIELD_ON_PICTURES_ONLY)
        keep[k] = with_field(keep[k:k + 1], inside[k:k + 1], hu[k:k + 1], True, self.network,
                             self.pix[0] * self.pix[1], True, MIN_PIECE_MM2)


def _for_each_slice(work, n: int) -> None:
    """``work(k)`` for k in 0..n-1, on ``SLICE_THREADS`` threads for a series (scipy.ndimage
    and numpy release the GIL in their loops); each call writes its own slice only, so the
    result does not depend on the order."""
    threads = min(SLICE_THREADS, n)
    if threads <= 1:
        for k in range(n):
            work(k)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(threads) as pool:
        for _ in pool.map(work, range(n)):
            pass


# --------------------------------------------------------------------------- validation


def _validate_volume(volume: np.ndarray, is_hu: bool) -> np.ndarray:
    arr = np.asarray(volume)
    if arr.ndim not in (2, 3):
        raise ValueError(f"lung mask: volume must be (y, x) or (z, y, x), got shape {arr.shape}")
    if arr.size == 0 or min(arr.shape) == 0:
        raise ValueError(f"lung mask: volume is empty, shape {arr.shape}")
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"lung mask: volume must be numeric, got dtype {arr.dtype}")
    if is_hu:
        return arr.astype(np.float32, copy=False)
    if arr.dtype != np.uint8:
        lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
        if lo < 0 or hi > 255:
            raise ValueError(
                f"lung mask: 8-bit picture values must lie in 0..255, got {lo:g}..{hi:g}"
            )
        arr = np.nan_to_num(arr.astype(np.float32)).round().astype(np.uint8)
    return arr


def _pixel_mm(spacing, shape3: tuple[int, int, int], is_hu: bool) -> tuple[float, float]:
    if spacing is None:
        fov = ASSUMED_FOV_MM if is_hu else ASSUMED_PICTURE_WIDTH_MM
        px = fov / max(shape3[1], shape3[2])
        return px, px
    sp = _spacing_tuple(spacing)
    return sp[-2], sp[-1]


def _slice_mm(spacing) -> float:
    if spacing is None:
        return 2.5  # only used for a size floor; a typical chest CT slice
    sp = _spacing_tuple(spacing)
    return sp[0] if len(sp) == 3 else 1.0


def _spacing_tuple(spacing) -> tuple[float, ...]:
    try:
        sp = tuple(float(s) for s in spacing)
    except (TypeError, ValueError):
        raise ValueError(f"lung mask: spacing must be 2 or 3 numbers in mm, got {spacing!r}")
    if len(sp) not in (2, 3) or not all(math.isfinite(s) and s > 0 for s in sp):
        raise ValueError(f"lung mask: spacing must be 2 or 3 positive mm values, got {spacing!r}")
    return sp


# --------------------------------------------------------------------------- 8-bit pictures


def _otsu_threshold(picture: np.ndarray) -> float:
    """Otsu's threshold of an 8-bit picture: pixels ``< t`` are the dark (air) class."""
    hist = np.bincount(picture.ravel(), minlength=256).astype(np.float64)
    total = hist.sum()
    levels = np.arange(256, dtype=np.float64)
    w0 = np.cumsum(hist)
    m0 = np.cumsum(hist * levels)
    w1 = total - w0
    valid = (w0 > 0) & (w1 > 0)
    if not valid.any():
        return 0.0  # a flat picture: no dark class
    mu0 = np.where(valid, m0 / np.where(w0 > 0, w0, 1), 0)
    mu1 = np.where(valid, (m0[-1] - m0) / np.where(w1 > 0, w1, 1), 0)
    between = np.where(valid, w0 * w1 * (mu0 - mu1) ** 2, -1.0)
    return float(np.argmax(between)) + 1.0  # class 0 is levels 0..argmax


def _picture_air_threshold(picture: np.ndarray) -> float:
    """Grey level below which a picture pixel counts as air / aerated lung."""
    t = _otsu_threshold(picture)
    dark = picture[picture < t]
    bright = picture[picture >= t]
    if dark.size == 0 or bright.size == 0:
        return t
    lo, hi = float(dark.mean()), float(bright.mean())
    return lo + PICTURE_AIR_POSITION * (hi - lo)


def _picture_body_hull(bright: np.ndarray) -> np.ndarray:
    """Convex hull (y, x bool) of the bright components that hold at least
    ``PICTURE_BODY_MIN_FRACTION`` of the picture (the largest one at least)."""
    labels, n = ndi.label(bright)
    if n == 0:
        return np.zeros(bright.shape, dtype=bool)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    ok = sizes >= PICTURE_BODY_MIN_FRACTION * bright.size
    ok[int(np.argmax(sizes))] = True
    ok[0] = False
    return convex_hull_mask(ok[labels])

