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
     ``CONCAVITY_WALL_DEPTH_SHARE`` of the body's depth; ``_wall_depth``), not notches on the
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
     air: the trachea ringed by touching lungs) (``_fill_against_wall``).

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
"""
from __future__ import annotations

import math
import os
import threading

import numpy as np
from scipy import ndimage as ndi

from viewer.core.lung_field_stage import with_field

from viewer.core.mask_ops import Bits, box_3d, chunks, fill_holes, grid_box, or_shifted, pool_any

#: HU below which a voxel counts as air / aerated lung.
AIR_HU = -320.0
#: Radius (mm) of the disk closing that keeps juxtapleural lesions inside the lung.
CLOSING_MM = 15.0
#: Radius (mm) of the rolling ball that fills dense (consolidated, dependent) lung between the
#: aerated lung and the chest wall (HU input; see ``_fill_against_wall``).
WALL_CLOSING_MM = 35.0
#: Bone threshold (HU); the convex hull of the bone in a slice outlines the rib cage.
BONE_HU = 200.0
#: A slice needs this much bone (mm^2) for its rib cage to bound the fill against the wall.
MIN_BONE_MM2 = 200.0
#: Thickness (mm) of ribs and pleura inside the bone hull, and of the soft tissue inside the
#: body outline, that are never lung.
RIB_MM = 10.0
#: Pixels added against the chest wall must lie below this HU (no bone, no calcification).
WALL_FILL_MAX_HU = 150.0
#: Chest wall thickness: this percentile of the depth below the body outline of the aerated
#: lung's outline pixels (the lowest ones are where the lung touches the ribs).
WALL_PERCENTILE = 25.0
#: Below this HU (ground glass; fat, muscle, blood, liver and spleen are all denser) the wall
#: fill adds lung inside ``_mirror_hull`` without the ray test (``_between_lung_and_wall``).
WALL_GGO_HU = -200.0
#: Holes left inside a lung grown against the wall are filled when at most this large (mm^2),
#: at most ``WALL_HOLE_SHARE`` of the lung's area in the slice, or mostly inside the added
#: region; a larger hole is an organ (liver dome, heart) ringed by lung and added pixels.
WALL_HOLE_MM2 = 100.0
WALL_HOLE_SHARE = 0.1
#: The rays of ``_between_lung_and_wall`` end on bone within this many mm above or below the
#: slice (ribs run obliquely: a slab closes the gaps between them in one slice).
RIB_SLAB_MM = 5.0
#: Gaps up to this wide (mm) between ribs in a slice are closed before the rays test.
RIB_GAP_MM = 60.0
#: Bone within this many mm of the body's left-right middle (the vertebral body) is no rib for
#: the rays of ``_between_lung_and_wall``.
SPINE_HALF_MM = 20.0
#: Grid (mm) on which the rolling ball runs (speed; the result is cut to full-resolution pixels).
WALL_GRID_MM = 2.0
#: Concavities of a lung outline (between the outline and its convex hull) at most this deep
#: (mm) and at most ``CONCAVITY_MAX_RATIO`` times as deep as their mouth is wide are filled:
#: wide, shallow bites left by subpleural consolidation that the closing cannot bridge.
CONCAVITY_MAX_DEPTH_MM = 15.0
CONCAVITY_MAX_RATIO = 0.5
#: ... and at most this fraction of the lung component's area (a thin basal crescent over the
#: liver dome has a wide, shallow but large concavity that is not lung).
CONCAVITY_MAX_AREA_RATIO = 0.3
#: ... and with at least this share of their mouth (hull chord) near the chest wall
#: (``_wall_depth``): concavities on the mediastinal side (heart, hilum) stay open.
CONCAVITY_WALL_SHARE = 0.8
#: ... or within this share of the body's largest depth below its outline (the back's
#: chest wall is thick; the heart and the hilum lie deeper).
CONCAVITY_WALL_DEPTH_SHARE = 0.4
#: Grid (mm) on which that chest-wall zone is found (speed).
WALL_ZONE_GRID_MM = 3.0
#: 8-bit pictures: the air threshold sits this far from the dark towards the bright class mean
#: (classes split by Otsu's threshold), so ground-glass opacity still counts as lung.
PICTURE_AIR_POSITION = 0.75
#: 8-bit pictures: bright components at least this fraction of the picture form the body.
PICTURE_BODY_MIN_FRACTION = 0.005
#: Single HU slices: further aerated pieces at least this fraction of the largest are lung too
#: (at most ``MAX_FRAGMENTS`` of them).
FRAGMENT_RATIO = 0.1
MAX_FRAGMENTS = 4
#: A lung component with at least this share of its pixels on each side of the body's middle
#: holds both lungs (touching at the junction lines) and is closed and filled per half.
SPLIT_MIN_SHARE = 0.2
#: Second lung component kept when its size is at least this fraction of the largest.
SECOND_LUNG_RATIO = 0.15
#: In-plane size (mm) assumed across the larger image side of an HU image without spacing.
ASSUMED_FOV_MM = 350.0
#: Width (mm) assumed across the larger side of a body-cropped 8-bit picture.
ASSUMED_PICTURE_WIDTH_MM = 320.0
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
#: In-plane pieces of the lung mask smaller than this (mm^2) are dropped (threshold specks).
MIN_PIECE_MM2 = 10.0

#: Threads for the per-slice steps of a series (closing, filling, chest-wall fill).
SLICE_THREADS = min(4, os.cpu_count() or 1)

_CROSS = ndi.generate_binary_structure(2, 1)
_SQUARE = ndi.generate_binary_structure(2, 2)
#: Directions (rows towards the back, columns) of the rays from a lung to its chest wall along
#: which dense lung is added (``_between_lung_and_wall``): sideways and backwards, not forwards.
_RAY_STEPS = ((0, 1), (1, 2), (1, 1), (2, 1), (1, 0), (2, -1), (1, -1), (1, -2), (0, -1))
#: ... of which these (within about 27 degrees of straight back) also reach beyond the hull of
#: the lung and the mirrored other lung (``_mirror_hull``).
_BACK_STEPS = ((2, 1), (1, 0), (2, -1))


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
        cand = _components_mostly_inside(dark, inside[k])
        keep[k] = _keep_lungs_2d(cand, pix_y * pix_x, None)

    out = np.zeros(vol3.shape, dtype=bool)

    def finish(k: int) -> None:  # slice k on its own: the slices are independent here
        if keep[k].any():
            # pictures may come transposed (MedSeg): no left-right middle, no chest-wall fill
            wall = _wall_depth(keep[k], inside[k], min(pix_y, pix_x)) if depth_px > 0 else None
            out[k] = _fill_and_close(keep[k], radius_px, MIN_PIECE_MM2 / (pix_y * pix_x),
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
        keep, self.inside = _air_inside_body(hu, np.float32(air_level))
        if hu.shape[0] == 1:  # a slice, or a one-slice series: areas, not volumes
            keep = _keep_lungs_2d(keep[0], pix_y * pix_x, hu[0])[None]
        else:
            _keep_lungs_3d(keep, pix_y * pix_x * _slice_mm(spacing), hu)
        _drop_airways(keep, self.inside, hu, pix_y * pix_x)
        self.lungs = keep
        self.front_plane = keep.any(axis=0)
        n = hu.shape[0]
        self.finished = np.zeros(n, dtype=bool)
        self._lock = threading.Lock()
        self.back, self.half = 1, 0
        if self.wall_mm > 0:
            self.back = _back_direction(hu, self.inside)
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
            wall = _wall_depth(lungs, body, pix_mm) if self.depth_px > 0 else None
            res = _fill_and_close(lungs, self.radius_px, MIN_PIECE_MM2 / (pix_y * pix_x),
                                  self.depth_px, mid_x, wall)
            res &= body
            if self.wall_mm > 0:
                n = hu.shape[0]
                lo, hi = max(0, k - self.half), min(n, k + self.half + 1)
                ribs = np.any((hu[lo:hi][:, box[0], box[1]] > BONE_HU)
                              & inside[lo:hi][:, box[0], box[1]], axis=0)
                res = _fill_against_wall(res, hu[k][box], body, pix_mm, self.wall_mm,
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


def _back_direction(hu: np.ndarray, body: np.ndarray) -> int:
    """+1 when image rows run towards the patient's back (the usual axial orientation), -1 when
    the picture is upside down: the spine makes the bone's centre lie behind the body's."""
    rows = np.arange(hu.shape[1], dtype=np.float64)
    # pixels per row: the row sums are exact integers, as were the old per-pixel float sums
    bone_rows = np.zeros(hu.shape[1], dtype=np.int64)
    body_rows = np.zeros(hu.shape[1], dtype=np.int64)
    for z in chunks(hu.shape[0]):  # no volume-sized temporaries
        bone_rows += np.count_nonzero((hu[z] > BONE_HU) & body[z], axis=(0, 2))
        body_rows += np.count_nonzero(body[z], axis=(0, 2))
    bone_rows = bone_rows.astype(np.float64)
    body_rows = body_rows.astype(np.float64)
    nb, nt = int(bone_rows.sum()), int(body_rows.sum())
    if nb == 0 or nt == 0:
        return 1
    bone_y = float(bone_rows @ rows) / nb
    body_y = float(body_rows @ rows) / nt
    return 1 if bone_y >= body_y else -1


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


# --------------------------------------------------------------------------- body


def _air_inside_body(hu: np.ndarray, air_level: np.float32) -> tuple[np.ndarray, np.ndarray]:
    """Steps 1 and 2, slice by slice (no volume-sized temporaries): the air inside the body,
    a (z, y, x) bool volume, and the body (``_body_slice``), 8 voxels a byte (``Bits``)."""
    cand = np.zeros(hu.shape, dtype=bool)
    inside = Bits(hu.shape)

    def work(k: int) -> None:
        air = hu[k] < air_level
        body = np.zeros(air.shape, dtype=bool)
        _body_slice(~air, body)
        inside[k] = body
        np.logical_and(air, body, out=cand[k])

    _for_each_slice(work, hu.shape[0])
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
    return _convex_hull_mask(ok[labels])


def _convex_hull_mask(mask: np.ndarray, corners: bool = True) -> np.ndarray:
    """Filled convex hull of a 2-D mask (y, x bool), built from its edge pixels' corners
    (``corners=True``: covers every pixel of the mask) or centres (no pixel outside the mask's
    outline is added along straight or convex stretches)."""
    from scipy.spatial import ConvexHull, QhullError

    # A mask of 3 pixels or more has 3 edge pixels or more (with an inner pixel, the first edge
    # pixel up, down, left and right of it), and the hull of the edge pixels is the hull of
    # the first and last pixel of each row (edge pixels: a row's pixels lie between them).
    if np.count_nonzero(mask) < 3:
        return mask.copy()
    ys = np.flatnonzero(mask.any(axis=1))
    first = np.argmax(mask[ys], axis=1)
    last = mask.shape[1] - 1 - np.argmax(mask[ys, ::-1], axis=1)
    if corners:  # the outer corners of a row's end pixels (its inner ones lie between them)
        ys2 = np.concatenate([ys - 0.5, ys + 0.5])
        pts = np.concatenate([np.stack([ys2, np.concatenate([first, first]) - 0.5], axis=1),
                              np.stack([ys2, np.concatenate([last, last]) + 0.5], axis=1)])
    else:
        pts = np.concatenate([np.stack([ys, first], axis=1), np.stack([ys, last], axis=1)])
    pts = pts.astype(np.float64)
    try:
        hull = ConvexHull(pts)
    except QhullError:
        return mask.copy()
    # Scan-convert the convex polygon: per row, the x interval between its edges. Only the
    # rows and columns of the hull's bounding box can be inside (the others stay False).
    verts = pts[hull.vertices]
    p0 = verts
    p1 = np.roll(verts, -1, axis=0)
    r0 = max(0, int(math.ceil(verts[:, 0].min() - 1e-6)))
    r1 = min(mask.shape[0], int(math.floor(verts[:, 0].max() + 1e-6)) + 1)
    c0 = max(0, int(math.ceil(verts[:, 1].min() - 1e-6)))
    c1 = min(mask.shape[1], int(math.floor(verts[:, 1].max() + 1e-6)) + 1)
    out = mask.copy()
    if r1 <= r0 or c1 <= c0:
        return out
    rows = np.arange(r0, r1, dtype=np.float64)[:, None]
    ylo = np.minimum(p0[:, 0], p1[:, 0])[None, :]
    yhi = np.maximum(p0[:, 0], p1[:, 0])[None, :]
    dy = p1[:, 0] - p0[:, 0]
    t = np.where(dy != 0, (rows - p0[:, 0]) / np.where(dy != 0, dy, 1.0), 0.0)
    x = p0[:, 1] + t * (p1[:, 1] - p0[:, 1])
    hit = (rows >= ylo - 1e-9) & (rows <= yhi + 1e-9)
    xs_lo = np.where(hit, np.where(dy != 0, x, np.minimum(p0[:, 1], p1[:, 1])), np.inf).min(1)
    xs_hi = np.where(hit, np.where(dy != 0, x, np.maximum(p0[:, 1], p1[:, 1])), -np.inf).max(1)
    cols = np.arange(c0, c1, dtype=np.float64)[None, :]
    out[r0:r1, c0:c1] |= (cols >= xs_lo[:, None] - 1e-9) & (cols <= xs_hi[:, None] + 1e-9)
    return out


def _components_mostly_inside(dark: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Dark components (y, x) with more than half of their pixels inside ``region``."""
    labels, n = ndi.label(dark)
    if n == 0:
        return np.zeros(dark.shape, dtype=bool)
    total = np.bincount(labels.ravel(), minlength=n + 1)
    inner = np.bincount(labels[region].ravel(), minlength=n + 1)
    ok = inner * 2 > total
    ok[0] = False
    return ok[labels]


# --------------------------------------------------------------------------- lungs


def _keep_lungs_3d(cand: np.ndarray, voxel_mm3: float, hu: np.ndarray) -> None:
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


def _keep_lungs_2d(cand: np.ndarray, pixel_mm2: float, hu: np.ndarray | None) -> np.ndarray:
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


def _drop_airways(keep: np.ndarray, inside: np.ndarray, hu: np.ndarray,
                  pixel_mm2: float) -> np.ndarray:
    """Drop in-plane airway components (trachea, main bronchi) from a (z, y, x) lung mask, in
    place (also returned).

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

    _for_each_slice(work, keep.shape[0])
    return out


def _fill_and_close(mask: np.ndarray, radius_px: int, min_px: float,
                    max_depth_px: float = 0.0, mid_x: float | None = None,
                    wall: tuple[np.ndarray, float, float] | None = None) -> np.ndarray:
    """Per in-plane component of at least ``min_px`` pixels: close with a disk of ``radius_px``,
    fill holes, fill concavities up to ``max_depth_px`` deep. (y, x) bool.

    ``wall``: ``_wall_depth`` of the slice, which limits the concavity fill to bites against
    the chest wall (``_fill_shallow_concavities``).

    A component with at least ``SPLIT_MIN_SHARE`` of its pixels on each side of column
    ``mid_x`` (the two lungs touching at the anterior junction line) is handled as its two
    halves: together, the hole filling would take in the whole mediastinum between them.
    """
    labels, n = ndi.label(mask)
    out = np.zeros(mask.shape, dtype=bool)
    sizes = np.bincount(labels.ravel())
    for i, sl in enumerate(ndi.find_objects(labels), start=1):
        if sl is None or sizes[i] < min_px:
            continue
        pad = radius_px + 1
        y0, y1 = sl[0].start, sl[0].stop
        x0, x1 = sl[1].start, sl[1].stop
        comp = labels[y0:y1, x0:x1] == i
        parts = [comp]
        if mid_x is not None and x0 < mid_x < x1:
            left = comp & (np.arange(x0, x1)[None, :] < mid_x)
            share = np.count_nonzero(left) / sizes[i]
            if SPLIT_MIN_SHARE <= share <= 1.0 - SPLIT_MIN_SHARE:
                parts = [left, comp & ~left]
        for part in parts:
            part = np.pad(part, pad)
            closed = _close_disk(part, radius_px) if radius_px > 0 else part
            closed = fill_holes(closed)
            if max_depth_px > 0:
                box_wall = None
                if wall is not None:
                    box_wall = (_padded_box(wall[0], y0, y1, x0, x1, pad), wall[1], wall[2])
                closed = _fill_shallow_concavities(closed, max_depth_px, box_wall)
            # the box with its padding (a bite's fill beyond its chord may reach into it)
            ys0, ys1 = max(0, y0 - pad), min(mask.shape[0], y1 + pad)
            xs0, xs1 = max(0, x0 - pad), min(mask.shape[1], x1 + pad)
            out[ys0:ys1, xs0:xs1] |= closed[ys0 - y0 + pad: ys1 - y0 + pad,
                                            xs0 - x0 + pad: xs1 - x0 + pad]
    return out


def _padded_box(a: np.ndarray, y0: int, y1: int, x0: int, x1: int, pad: int) -> np.ndarray:
    """``a[y0 - pad: y1 + pad, x0 - pad: x1 + pad]`` of a (y, x) array, zero beyond its edges."""
    out = np.zeros((y1 - y0 + 2 * pad, x1 - x0 + 2 * pad), dtype=a.dtype)
    ys0, ys1 = max(0, y0 - pad), min(a.shape[0], y1 + pad)
    xs0, xs1 = max(0, x0 - pad), min(a.shape[1], x1 + pad)
    out[ys0 - y0 + pad: ys1 - y0 + pad, xs0 - x0 + pad: xs1 - x0 + pad] = a[ys0:ys1, xs0:xs1]
    return out


def _wall_depth(lungs: np.ndarray, body: np.ndarray,
                pix_mm: float) -> tuple[np.ndarray, float, float]:
    """Depth (px, float (y, x)) of each pixel below the body's outline, the chest wall's
    thickness (px): the ``WALL_PERCENTILE`` of that depth over the lung's outline pixels (as in
    ``_thoracic_cavity``), and the body's largest depth (px). The body is padded, so that a
    picture cropped through the chest wall has its wall at the picture's edge. On a grid of
    about ``WALL_ZONE_GRID_MM``, interpolated (speed; it only places the chest wall's inner
    surface, to a few mm).
    """
    f = max(1, int(round(WALL_ZONE_GRID_MM / pix_mm)))
    body_s = pool_any(body | lungs, f)
    lungs_s = pool_any(lungs, f)
    depth = ndi.distance_transform_edt(np.pad(body_s, 1))[1:-1, 1:-1].astype(np.float32) * f
    edge = lungs_s & ~ndi.binary_erosion(lungs_s)
    wall = float(np.percentile(depth[edge], WALL_PERCENTILE)) if edge.any() else 0.0
    if f > 1:  # bilinear, so that depth levels are smooth curves, not blocks
        depth = ndi.zoom(depth, f, order=1, grid_mode=True, mode="nearest")
        depth = np.pad(depth, ((0, max(0, body.shape[0] - depth.shape[0])),
                               (0, max(0, body.shape[1] - depth.shape[1]))), mode="edge")
    return depth[: body.shape[0], : body.shape[1]], wall, float(depth.max())


def _fill_shallow_concavities(mask: np.ndarray, max_depth_px: float,
                              wall: tuple[np.ndarray, float, float] | None = None) -> np.ndarray:
    """Fill the concavities of one component (y, x bool, padded by >= 1 px) that are at most
    ``max_depth_px`` deep, at most ``CONCAVITY_MAX_RATIO`` times their mouth width deep and at
    most ``CONCAVITY_MAX_AREA_RATIO`` of the component's area.

    Depth: the largest distance of a concavity pixel from outside the convex hull. Mouth: the
    number of concavity pixels next to the outside of the hull.

    With ``wall`` (``_wall_depth``: depth below the body outline, same shape as ``mask``, the
    chest wall's thickness and the body's largest depth), only concavities with at least
    ``CONCAVITY_WALL_SHARE`` of their mouth within the wall's thickness plus ``max_depth_px``
    of the body outline, or within ``CONCAVITY_WALL_DEPTH_SHARE`` of the body's largest depth,
    are filled (tiny ones, no larger than their mouth, always): a bite against the chest wall,
    not the heart or hilum between a lung's tips (whose hull chord runs through the
    mediastinum). Such a bite, with a mouth at least ``max_depth_px`` wide, is filled beyond
    its chord too: pixels outside the hull whose nearest hull pixel is on the bite's mouth, at
    most ``max_depth_px`` from it, less deep below the body outline than that hull pixel and no
    less deep than where the lung meets the wall at the bite's ends (the pleura is curved, not
    straight, and the dense lesion that made the bite lies against it).
    """
    hull = _convex_hull_mask(mask, corners=False)
    conc = hull & ~mask
    labels, n = ndi.label(conc)
    if n == 0:
        return mask
    outside = ~hull
    mouth_px = ndi.binary_dilation(outside, _SQUARE) & conc
    mouth = np.bincount(labels[mouth_px], minlength=n + 1)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    ok = np.zeros(n + 1, dtype=bool)
    # A concavity of area A and mouth w is at least A / w deep on average; tiny ones need no EDT.
    tiny = sizes <= np.maximum(mouth, 1) * 1.0
    ok[tiny] = True
    big = np.flatnonzero(~tiny)
    big = big[big > 0]
    if big.size:
        depth_map = ndi.distance_transform_edt(hull)
        depth = np.zeros(n + 1)
        inner = labels > 0
        np.maximum.at(depth, labels[inner], depth_map[inner])
        ok[big] = (
            (depth[big] <= max_depth_px)
            & (depth[big] <= CONCAVITY_MAX_RATIO * np.maximum(mouth[big], 1))
            & (sizes[big] <= CONCAVITY_MAX_AREA_RATIO * np.count_nonzero(mask))
        )
    if wall is None:
        ok[0] = False
        return mask | ok[labels]
    depth_map, wall_px, depth_max = wall
    # the chest wall is thicker at the back (muscles) than at the side: also allow mouths in
    # the outer CONCAVITY_WALL_DEPTH_SHARE of the body's depth (the heart and hilum lie deeper)
    zone = depth_map <= max(wall_px + max_depth_px, CONCAVITY_WALL_DEPTH_SHARE * depth_max)
    on_wall = np.bincount(labels[mouth_px & zone], minlength=n + 1)
    ok &= tiny | (on_wall >= CONCAVITY_WALL_SHARE * np.maximum(mouth, 1))
    ok[0] = False
    out = mask | ok[labels]
    bites = ok & (on_wall >= CONCAVITY_WALL_SHARE * np.maximum(mouth, 1))
    bites &= mouth >= max_depth_px  # a bite, not a notch of the outline's pixel steps
    bites[0] = False
    if not bites.any():
        return out
    # beyond the chord: the pleura continues between the bite's ends at their depth below the
    # body outline (the chest wall's local thickness)
    dist, (iy, ix) = ndi.distance_transform_edt(outside, return_indices=True)
    # the bite whose mouth is nearest; the hull's edge pixels next to a mouth count as mouth
    # (a chord touches the outline here and there: no stripes)
    mouth_lab = ndi.grey_dilation(np.where(mouth_px, labels, 0), size=(5, 5)) * hull
    nearest = mouth_lab[iy, ix]
    edge = mask & ~ndi.binary_erosion(mask)
    for b in np.flatnonzero(bites):
        ends = edge & ndi.binary_dilation(mouth_px & (labels == b), _SQUARE, iterations=2)
        if not ends.any():
            continue
        wall_b = float(np.min(depth_map[ends]))
        out |= outside & (nearest == b) & (dist <= max_depth_px) & (depth_map >= wall_b) \
            & (depth_map < depth_map[iy, ix] + 2.0)  # towards the wall, not away from it
    return out


def _close_disk(mask: np.ndarray, radius_px: int) -> np.ndarray:
    """Closing with an octagon of radius ``radius_px`` (disk approximation, error < 8 %).

    The octagon is the Minkowski sum of ``a`` 4-connected (cross) and ``b`` 8-connected (square)
    unit steps, ``a + b = r`` along the axes and ``a/sqrt2 + b*sqrt2 ~ r`` along the diagonals.
    ``mask`` must be padded by at least ``radius_px`` so that nothing reaches its edge.
    """
    a = int(round(radius_px * (2.0 - math.sqrt(2.0))))
    b = radius_px - a
    out = mask
    if a:
        out = ndi.binary_dilation(out, _CROSS, iterations=a)
    if b:
        out = ndi.binary_dilation(out, _SQUARE, iterations=b)
    if a:
        out = ndi.binary_erosion(out, _CROSS, iterations=a, border_value=1)
    if b:
        out = ndi.binary_erosion(out, _SQUARE, iterations=b, border_value=1)
    return out | mask


# --------------------------------------------------------------------------- chest wall


def _thoracic_cavity(body: np.ndarray, bone: np.ndarray, lungs: np.ndarray,
                     pix_mm: float) -> np.ndarray:
    """Inside of the chest wall of one slice (y, x bool; masks on a grid of ``pix_mm``).

    Two limits: the body shrunk by the chest wall's thickness, taken as the
    ``WALL_PERCENTILE`` of the depth below the body outline of the aerated lung's outline pixels
    (where the lung touches the ribs), and the convex hull of the bone (contrast-filled vessels
    inside the rib cage do not widen it) shrunk by ``RIB_MM``.
    """
    rib_px = max(1.0, RIB_MM / pix_mm)
    depth = ndi.distance_transform_edt(body)
    edge = lungs & ~ndi.binary_erosion(lungs)
    wall_px = float(np.percentile(depth[edge], WALL_PERCENTILE)) if edge.any() else rib_px
    cavity = depth > max(wall_px, rib_px)
    cavity &= ndi.distance_transform_edt(_convex_hull_mask(bone)) > rib_px
    return cavity | lungs


def _mirror_hull(own: np.ndarray, other: np.ndarray, body: np.ndarray) -> np.ndarray:
    """Convex hull (y, x bool) of one aerated lung together with the mirror image of the other
    lung about the body's left-right middle: a lung consolidated at the back is bounded by the
    other lung's shape; the hull stays on its own side of the mediastinum, and the scapulae and
    arms widen the bone hull but not this one."""
    xs = np.flatnonzero(body.any(axis=0))
    if not own.any() or xs.size == 0:
        return own.copy()
    flip = xs[0] + xs[-1] - np.arange(own.shape[1])
    ok = (flip >= 0) & (flip < own.shape[1])
    mirrored = np.zeros_like(other)
    mirrored[:, ok] = other[:, flip[ok]]
    return _convex_hull_mask(own | mirrored)


def _between_lung_and_wall(lungs: np.ndarray, wall: np.ndarray, back: int,
                           reach_px: float) -> tuple[np.ndarray, np.ndarray]:
    """Pixels (y, x bool) that lie on a straight line from the lung to the chest wall, the wall
    behind or beside them: along one of ``_RAY_STEPS`` (pointing to the patient's back, ``back``
    = +1 when rows run towards it, or sideways), the wall is reached without crossing lung and,
    the other way, the lung is reached without crossing the wall, each within ``reach_px``.

    Dependent and subpleural consolidation lies so. The liver and spleen under a basal lung
    crescent and the heart do not: the lung lies behind or beside them, between them and the
    wall, and in front of them is the anterior chest wall. Returns these pixels and those found
    along ``_BACK_STEPS`` only.
    """
    free = ~lungs & ~wall
    out = np.zeros(lungs.shape, dtype=bool)
    out_back = np.zeros(lungs.shape, dtype=bool)
    for step in _RAY_STEPS:
        dy, dx = step
        dy *= back
        n = max(1, int(math.ceil(reach_px / math.hypot(dy, dx))))
        to_wall, to_lung = wall.copy(), lungs.copy()
        for _ in range(n):
            or_shifted(to_wall, dy, dx, free)  # the wall lies at +step
            or_shifted(to_lung, -dy, -dx, free)  # the lung lies at -step
        hit = to_wall & to_lung & free
        out |= hit
        if step in _BACK_STEPS:
            out_back |= hit
    return out, out_back


def _fill_against_wall(lungs: np.ndarray, hu: np.ndarray, body: np.ndarray, pix_mm: float,
                       radius_mm: float, back: int = 1,
                       ribs: np.ndarray | None = None) -> np.ndarray:
    """Add dense lung lying between each aerated lung and the chest wall. (y, x) bool.

    Per lung (the pieces on each side of the body's left-right middle): a closing with a ball
    of ``radius_mm`` of the lung together with everything outside the thoracic cavity
    (``_thoracic_cavity``), so that a gap narrower than the ball between the lung and the
    chest wall (a dependent or subpleural consolidation) is filled, while the mediastinum,
    bounded by the lung on one side only and wider than the ball at the heart, stays out. A lung
    only gains pixels nearer to it than to the other lung, connected to it, below
    ``WALL_FILL_MAX_HU`` and on a ray from the lung to a rib behind them or, inside
    ``_mirror_hull``, beside them (``_between_lung_and_wall``; ``back``: +1 when rows run
    towards the patient's back;
    ``ribs``: bone of a slab around the slice, default this slice's), or, ground glass lighter
    than ``WALL_GGO_HU``, inside ``_mirror_hull`` without the ray test. Holes left inside are
    filled only up to ``WALL_HOLE_MM2`` or ``WALL_HOLE_SHARE`` of the lung, or where mostly
    added: a basal lung crescent and a few
    added pixels can ring the liver dome. A slice with less than ``MIN_BONE_MM2`` of bone
    (``BONE_HU``) gains nothing: no rib cage, no limit to trust. The geometry runs on a grid of
    about ``WALL_GRID_MM`` (speed); the result is cut to full-resolution pixels.
    """
    bone = (hu > BONE_HU) & body
    if not lungs.any() or np.count_nonzero(bone) < MIN_BONE_MM2 / pix_mm**2:
        return lungs
    f = max(1, int(round(WALL_GRID_MM / pix_mm)))
    grid_mm = pix_mm * f
    lungs_s, body_s = pool_any(lungs, f), pool_any(body, f)
    labels, n = ndi.label(lungs_s)
    xs = np.flatnonzero(body_s.any(axis=0))
    mid = (xs[0] + xs[-1]) / 2.0
    centres = ndi.center_of_mass(lungs_s, labels, range(1, n + 1))
    side_of = np.array([False] + [c[1] >= mid for c in centres])
    sides = [(lungs_s & (side_of[labels] == right), right) for right in (False, True)]
    sides = [(m, right) for m, right in sides if m.any()]
    cavity = _thoracic_cavity(body_s, pool_any(bone, f), lungs_s, grid_mm)
    wall = ~(ndi.binary_erosion(cavity) | lungs_s)
    if len(sides) == 2:  # each lung's side: nearer to it than to the other lung
        gap = ndi.distance_transform_edt(~sides[1][0]) - ndi.distance_transform_edt(~sides[0][0])
        near = (gap > 1.0, gap < -1.0)  # a seam keeps the two lungs apart
    r = radius_mm / grid_mm
    # ribs: bone outside the hull of the lungs (not contrast-filled heart and vessels, not spine)
    ribs_s = pool_any(bone if ribs is None else ribs & body, f) & ~_convex_hull_mask(lungs_s)
    gap_px = int(round(RIB_GAP_MM / 2.0 / grid_mm))  # close the gaps between ribs
    ribs_s = _close_disk(np.pad(ribs_s, gap_px + 1), gap_px)[gap_px + 1: -gap_px - 1,
                                                              gap_px + 1: -gap_px - 1]
    ribs_s = ndi.binary_dilation(ribs_s, _SQUARE)
    # not the vertebral body: rays sideways from a lung's back to the spine would take in the
    # paravertebral soft tissue, aorta and oesophagus between them
    ribs_s &= (np.abs(np.arange(ribs_s.shape[1]) - mid) > SPINE_HALF_MM / grid_mm)[None, :]
    between, behind = _between_lung_and_wall(lungs_s, ribs_s & ~lungs_s, back, 2.0 * r)
    # not pure air either: air outside the lung mask is an airway (trachea) or the oesophagus
    dense_ok = (hu < WALL_FILL_MAX_HU) & (hu >= AIRWAY_AIR_HU) & body
    ggo = (hu < WALL_GGO_HU) & (hu >= AIRWAY_AIR_HU) & body
    ggo_s = pool_any(ggo, f)
    side_full = np.repeat(np.repeat(side_of[labels], f, axis=0), f, axis=1)[
        : lungs.shape[0], : lungs.shape[1]]
    out = lungs.copy()
    for j, (own_s, right) in enumerate(sides):
        solid = own_s | wall
        grown = ndi.distance_transform_edt(~solid) <= r
        added_s = (ndi.distance_transform_edt(grown) > r) & cavity & ~own_s
        if len(sides) == 2:
            added_s &= near[j]
        hull = _mirror_hull(own_s, lungs_s & ~own_s, body_s)
        loose_s = added_s & hull  # ground glass here is lung whatever lies around it
        # sideways only within the hull of this lung and the mirrored other one (keeps the
        # chest wall outside the ribs out where a rib gap lets a ray through); straight back
        # beyond it (consolidation at the back of both lungs)
        added_s &= (between & hull) | behind
        added_s = ndi.binary_opening(added_s, _SQUARE)  # rays through gaps between ribs
        added_s |= loose_s & ggo_s
        lab, _ = ndi.label(added_s | own_s)
        ids = np.unique(lab[own_s])
        added_s &= np.isin(lab, ids[ids > 0])  # connected to this lung
        if not added_s.any():
            continue
        added = np.repeat(np.repeat(added_s, f, axis=0), f, axis=1)
        added = added[: lungs.shape[0], : lungs.shape[1]]
        loose = np.repeat(np.repeat(loose_s, f, axis=0), f, axis=1)
        loose = loose[: lungs.shape[0], : lungs.shape[1]]
        # dense pixels on the rays; ground glass (no organ is that light) anywhere in the hull
        grown_lung = (added & dense_ok) | (added & loose & ggo)
        own = lungs & (side_full == right)
        grown_lung |= own
        sl = ndi.find_objects(grown_lung.astype(np.uint8))[0]
        lab, _ = ndi.label(grown_lung[sl])  # full-resolution pieces joined to the lung
        ids = np.unique(lab[own[sl]])
        joined = np.isin(lab, ids[ids > 0])
        # holes only within the added region (bone specks, calcification): a ring of lung and
        # added pixels around the liver dome or the heart must not fill them in
        holes = fill_holes(joined) & ~joined
        hl, nh = ndi.label(holes)
        if nh:
            size = np.bincount(hl.ravel(), minlength=nh + 1)
            inner = np.bincount(hl[added[sl]].ravel(), minlength=nh + 1)
            small = np.maximum(WALL_HOLE_MM2 / pix_mm**2,
                               WALL_HOLE_SHARE * np.count_nonzero(own[sl]))
            ok = (size <= small) | (inner * 2 >= size)
            # a hole holding a lumen of pure air (a quarter of it or more) is an airway, the
            # trachea ringed by the lungs where they touch in front of and behind it: not lung
            air = np.bincount(hl[hu[sl] < AIRWAY_AIR_HU], minlength=nh + 1)
            ok &= air * 4 < size
            ok[0] = False
            joined |= ok[hl]
        out[sl] |= joined
    return out
