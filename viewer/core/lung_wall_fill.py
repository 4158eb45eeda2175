"""Step 6 of the lung mask (``viewer.core.lung_mask``, HU input): dense lung between the
aerated lung and the chest wall.

``fill_against_wall`` adds, per slice and per lung, the dependent or subpleural consolidation
that lies between the aerated lung and the ribs (a rolling ball against the thoracic cavity,
limited to rays from the lung to a rib); ``back_direction`` says which way the image rows run
towards the patient's back.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import ndimage as ndi

from viewer.core.lung_components import AIRWAY_AIR_HU
from viewer.core.lung_outline import WALL_PERCENTILE, close_disk, convex_hull_mask
from viewer.core.mask_ops import chunks, fill_holes, or_shifted, pool_any

#: Bone threshold (HU); the convex hull of the bone in a slice outlines the rib cage.
BONE_HU = 200.0
#: A slice needs this much bone (mm^2) for its rib cage to bound the fill against the wall.
MIN_BONE_MM2 = 200.0
#: Thickness (mm) of ribs and pleura inside the bone hull, and of the soft tissue inside the
#: body outline, that are never lung.
RIB_MM = 10.0
#: Pixels added against the chest wall must lie below this HU (no bone, no calcification).
WALL_FILL_MAX_HU = 150.0
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

_SQUARE = ndi.generate_binary_structure(2, 2)
#: Directions (rows towards the back, columns) of the rays from a lung to its chest wall along
#: which dense lung is added (``_between_lung_and_wall``): sideways and backwards, not forwards.
_RAY_STEPS = ((0, 1), (1, 2), (1, 1), (2, 1), (1, 0), (2, -1), (1, -1), (1, -2), (0, -1))
#: ... of which these (within about 27 degrees of straight back) also reach beyond the hull of
#: the lung and the mirrored other lung (``_mirror_hull``).
_BACK_STEPS = ((2, 1), (1, 0), (2, -1))


def back_direction(hu: np.ndarray, body: np.ndarray) -> int:
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
    cavity &= ndi.distance_transform_edt(convex_hull_mask(bone)) > rib_px
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
    return convex_hull_mask(own | mirrored)


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


def fill_against_wall(lungs: np.ndarray, hu: np.ndarray, body: np.ndarray, pix_mm: float,
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
    ribs_s = pool_any(bone if ribs is None else ribs & body, f) & ~convex_hull_mask(lungs_s)
    gap_px = int(round(RIB_GAP_MM / 2.0 / grid_mm))  # close the gaps between ribs
    ribs_s = close_disk(np.pad(ribs_s, gap_px + 1), gap_px)[gap_px + 1: -gap_px - 1,
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
