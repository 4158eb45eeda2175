"""Step 5 of the lung mask (``viewer.core.lung_mask``): each lung's outline, closed and filled.

``fill_and_close`` closes each lung component with a disk (``close_disk``), fills its holes
and the shallow concavities of its outline that lie against the chest wall (``wall_depth``
places the chest wall), so that juxtapleural lesions stay inside the lung.
``convex_hull_mask`` is the filled convex hull of a 2-D mask.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import ndimage as ndi

from viewer.core.mask_ops import fill_holes, pool_any

#: Chest wall thickness: this percentile of the depth below the body outline of the aerated
#: lung's outline pixels (the lowest ones are where the lung touches the ribs).
WALL_PERCENTILE = 25.0
#: Concavities of a lung outline (between the outline and its convex hull) at most this deep
#: (mm) and at most ``CONCAVITY_MAX_RATIO`` times as deep as their mouth is wide are filled:
#: wide, shallow bites left by subpleural consolidation that the closing cannot bridge.
CONCAVITY_MAX_DEPTH_MM = 15.0
CONCAVITY_MAX_RATIO = 0.5
#: ... and at most this fraction of the lung component's area (a thin basal crescent over the
#: liver dome has a wide, shallow but large concavity that is not lung).
CONCAVITY_MAX_AREA_RATIO = 0.3
#: ... and with at least this share of their mouth (hull chord) near the chest wall
#: (``wall_depth``): concavities on the mediastinal side (heart, hilum) stay open.
CONCAVITY_WALL_SHARE = 0.8
#: ... or within this share of the body's largest depth below its outline (the back's
#: chest wall is thick; the heart and the hilum lie deeper).
CONCAVITY_WALL_DEPTH_SHARE = 0.4
#: Grid (mm) on which that chest-wall zone is found (speed).
WALL_ZONE_GRID_MM = 3.0
#: A lung component with at least this share of its pixels on each side of the body's middle
#: holds both lungs (touching at the junction lines) and is closed and filled per half.
SPLIT_MIN_SHARE = 0.2

_CROSS = ndi.generate_binary_structure(2, 1)
_SQUARE = ndi.generate_binary_structure(2, 2)


def fill_and_close(mask: np.ndarray, radius_px: int, min_px: float,
                   max_depth_px: float = 0.0, mid_x: float | None = None,
                   wall: tuple[np.ndarray, float, float] | None = None) -> np.ndarray:
    """Per in-plane component of at least ``min_px`` pixels: close with a disk of ``radius_px``,
    fill holes, fill concavities up to ``max_depth_px`` deep. (y, x) bool.

    ``wall``: ``wall_depth`` of the slice, which limits the concavity fill to bites against
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
            closed = close_disk(part, radius_px) if radius_px > 0 else part
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


def wall_depth(lungs: np.ndarray, body: np.ndarray,
               pix_mm: float) -> tuple[np.ndarray, float, float]:
    """Depth (px, float (y, x)) of each pixel below the body's outline, the chest wall's
    thickness (px): the ``WALL_PERCENTILE`` of that depth over the lung's outline pixels (as in
    ``lung_wall_fill._thoracic_cavity``), and the body's largest depth (px). The body is padded,
    so that a picture cropped through the chest wall has its wall at the picture's edge. On a
    grid of about ``WALL_ZONE_GRID_MM``, interpolated (speed; it only places the chest wall's
    inner surface, to a few mm).
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

    With ``wall`` (``wall_depth``: depth below the body outline, same shape as ``mask``, the
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
    hull = convex_hull_mask(mask, corners=False)
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


def close_disk(mask: np.ndarray, radius_px: int) -> np.ndarray:
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


def convex_hull_mask(mask: np.ndarray, corners: bool = True) -> np.ndarray:
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
