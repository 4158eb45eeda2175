"""Lung segmentation on synthetic phantoms (HU and 8-bit) and, when present, on real data."""
from __future__ import annotations

import numpy as np
import pytest
from lung_phantom import axial_slice, chest_series, series, to_picture
from scipy import ndimage as ndi

from viewer.core.lung_mask import segment_lungs


def _pct(lesion, lungs):
    return 100.0 * np.count_nonzero(lesion & lungs) / np.count_nonzero(lungs)


def test_hu_slice_phantom_lungs_and_lesions():
    p = axial_slice()
    m = segment_lungs(p.hu, True, spacing=(1.0, 1.0, 1.0))
    assert m.shape == p.hu.shape and m.dtype == bool
    true_area = p.lungs.sum()
    assert abs(int(m.sum()) - int(true_area)) <= 0.02 * true_area
    assert np.count_nonzero(m & ~p.lungs) <= 0.01 * true_area  # nothing outside the lungs
    assert not (m & p.trachea).any()
    labels, n = ndi.label(m)
    assert n == 2
    # lesions inside the lung (fill holes + closing), the juxtapleural one too
    assert np.count_nonzero(m & p.lesion) >= 0.98 * p.lesion.sum()
    # severity % from the segmented lungs equals the true one within 1 point
    assert abs(_pct(p.lesion, m) - _pct(p.lesion, p.lungs)) <= 1.0


def test_closing_keeps_juxtapleural_lesion():
    p = axial_slice()
    juxta = p.cons & (np.arange(256)[None, :] > 200)  # the lesion on the lateral pleura
    assert juxta.sum() > 150
    without = segment_lungs(p.hu, True, spacing=(1.0, 1.0), closing_mm=0.0)
    with_closing = segment_lungs(p.hu, True, spacing=(1.0, 1.0))
    assert np.count_nonzero(without & juxta) < 0.1 * juxta.sum()
    assert np.count_nonzero(with_closing & juxta) >= 0.95 * juxta.sum()


def test_hu_series_phantom_drops_trachea_and_outside_air():
    p = series()
    m = segment_lungs(p.hu, True, spacing=p.spacing)
    assert m.shape == p.hu.shape
    z = m.shape[0]
    bronchi_slice = z - 6
    for k in range(z):
        if k == bronchi_slice:
            continue  # trachea joined to the lungs in-plane: kept there (documented)
        assert not (m[k] & p.trachea[k]).any(), f"trachea kept in slice {k}"
        truth = p.lungs[k]
        assert abs(int(m[k].sum()) - int(truth.sum())) <= 0.02 * max(truth.sum(), 1) + 1
    assert not m[z - 4:].any()  # only the trachea above the lungs
    assert abs(_pct(p.lesion, m) - _pct(p.lesion, p.lungs)) <= 1.0


def test_liver_dome_and_heart_stay_out_posterior_consolidation_stays_in():
    """Regression (LIDC-IDRI-0001 read as diseased): the wall fill and the hole filling took in
    the liver dome under a basal lung crescent and the heart between lungs that touch at the
    junction lines (before: liver 100 %, heart 100 %, consolidation 33 % inside the mask)."""
    p = chest_series()
    m = segment_lungs(p.hu, True, spacing=p.spacing)

    def inside(part):
        return np.count_nonzero(m & part) / np.count_nonzero(part)

    assert inside(p.liver) <= 0.2
    assert np.count_nonzero(m[:4] & p.liver[:4]) <= 0.05 * p.liver[:4].sum()  # the wide dome
    assert inside(p.heart) <= 0.02
    assert inside(p.cons) >= 0.7  # posterior subpleural consolidation against the ribs
    assert inside(p.lungs) >= 0.95


def test_gas_below_the_lungs_is_not_lung():
    p = series(n_slices=12)
    hu = p.hu.copy()
    # a stomach bubble: 3 slices of a 20 mm air disk inside the body, away from the lungs
    yy, xx = np.mgrid[0:256, 0:256]
    bubble = (yy - 205) ** 2 + (xx - 150) ** 2 <= 10 ** 2
    hu[:3][:, bubble] = -1000.0
    m = segment_lungs(hu, True, spacing=p.spacing)
    assert not m[:, bubble].any()


def test_picture_phantom_full_and_cropped():
    p = axial_slice()
    pic = to_picture(p.hu)
    m = segment_lungs(pic, False)
    assert abs(_pct(p.lesion, m) - _pct(p.lesion, p.lungs)) <= 1.0
    assert np.count_nonzero(m & ~p.lungs) <= 0.01 * p.lungs.sum()
    # cropped so that the left lung touches the picture border, as in the MedSeg pictures
    crop = (slice(40, 220), slice(50, 250))
    lungs_c, lesion_c = p.lungs[crop], p.lesion[crop]
    assert lungs_c[:, 0].any()
    # the phantom chest is small (244 mm): give its pixel size instead of the assumed one
    mc = segment_lungs(pic[crop], False, spacing=(1.0, 1.0))
    assert abs(int(mc.sum()) - int(lungs_c.sum())) <= 0.03 * lungs_c.sum()
    assert abs(_pct(lesion_c, mc) - _pct(lesion_c, lungs_c)) <= 1.0


def test_picture_stack_and_non_uint8_grey_levels():
    pic = to_picture(axial_slice().hu)
    stack = np.stack([pic, pic[:, ::-1]])
    m = segment_lungs(stack, False)
    assert m.shape == stack.shape
    assert np.array_equal(m[1], segment_lungs(pic[:, ::-1], False))
    m16 = segment_lungs(pic.astype(np.int16), False)
    assert np.array_equal(m16, segment_lungs(pic, False))


@pytest.mark.parametrize("fill", [-1000.0, 40.0])
def test_no_lungs_gives_empty_mask(fill):
    hu = np.full((64, 64), fill, dtype=np.float32)
    assert not segment_lungs(hu, True).any()
    assert not segment_lungs(np.full((64, 64), 128, np.uint8), False).any()


@pytest.mark.parametrize(
    "volume, is_hu, kwargs, words",
    [
        (np.zeros(10), True, {}, "(y, x) or (z, y, x)"),
        (np.zeros((2, 2, 2, 2)), True, {}, "(y, x) or (z, y, x)"),
        (np.zeros((0, 8, 8)), True, {}, "empty"),
        (np.array([["a", "b"], ["c", "d"]]), True, {}, "numeric"),
        (np.full((8, 8), 300), False, {}, "0..255"),
        (np.zeros((8, 8)), True, {"spacing": (1.0, -1.0)}, "spacing"),
        (np.zeros((8, 8)), True, {"spacing": "abc"}, "spacing"),
        (np.zeros((8, 8)), True, {"closing_mm": float("nan")}, "closing_mm"),
    ],
)
def test_bad_input_gives_clear_error(volume, is_hu, kwargs, words):
    with pytest.raises(ValueError, match="lung mask") as err:
        segment_lungs(volume, is_hu, **kwargs)
    assert words in str(err.value)


# ------------------------------------------------------------------ real data (skipped if absent)


def test_lidc_two_lungs_and_volume(shared_subdir):
    from viewer.io import load_series, scan_path

    result = scan_path(shared_subdir("lidc-idri-0001"))
    info = max(result.series, key=lambda s: s.n_slices)
    vol = load_series(info)
    assert vol.is_hu
    m = segment_lungs(vol.voxels, True, spacing=vol.spacing)
    litres = m.sum() * float(np.prod(vol.spacing)) / 1e6
    assert 2.0 <= litres <= 8.0, litres
    # two lungs: on most lung slices, two large in-plane components, one each side of the middle
    lung_slices = [k for k in range(m.shape[0]) if m[k].sum() > 0.2 * m.sum(axis=(1, 2)).max()]
    two = 0
    mid = m.shape[2] / 2.0
    for k in lung_slices:
        labels, n = ndi.label(m[k])
        sizes = np.bincount(labels.ravel())[1:]
        big = [i + 1 for i in np.argsort(sizes)[::-1][:2] if sizes[i] > 0.15 * sizes.max()]
        if len(big) == 2:
            xs = [ndi.center_of_mass(labels == i)[1] for i in big]
            two += min(xs) < mid < max(xs)
    assert two >= 0.8 * len(lung_slices)


def test_medseg_picture_lungs_cover_the_lesions(shared_subdir):
    from PIL import Image

    root = shared_subdir("medseg-covid19-val")
    covers = []
    for img in sorted((root / "images").glob("*.jpg")):
        pic = np.asarray(Image.open(img).convert("L"))
        lesion = np.asarray(Image.open(root / "masks" / f"{img.stem}.png").convert("L")) > 127
        if not lesion.any():
            continue
        lungs = segment_lungs(pic, False)
        covers.append(np.count_nonzero(lungs & lesion) / np.count_nonzero(lesion))
    assert len(covers) >= 40
    mean = float(np.mean(covers))
    print(f"medseg-covid19-val: lung mask covers {100 * mean:.1f} % of lesion pixels on average "
          f"({len(covers)} pictures)")
    assert mean >= 0.90


def test_abdominal_slice_with_bowel_gas_has_no_lungs():
    yy, xx = np.mgrid[0:256, 0:256]
    hu = np.where(((yy - 128) / 100.0) ** 2 + ((xx - 128) / 122.0) ** 2 <= 1, 40.0, -1000.0)
    for cy, cx, r in ((90, 100, 25), (150, 170, 18)):  # gas-filled bowel loops
        hu[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = -1000.0
    hu = hu + np.random.default_rng(3).normal(0.0, 15.0, hu.shape)
    assert not segment_lungs(hu.astype(np.float32), True, spacing=(1.0, 1.0)).any()


def test_heart_notch_is_not_filled_with_a_straight_chord():
    """The concavity fill (``_fill_shallow_concavities``) only closes bites whose hull chord
    lies against the chest wall: a notch on the mediastinal side (the heart in front of the
    left lung) keeps the lung's own outline. Before #17 the chord was filled: 232 heart pixels
    inside the mask (HU and picture alike)."""
    from lung_phantom import heart_bite_slice

    p = heart_bite_slice()
    heart = p.heart[0]
    for m in (segment_lungs(p.hu[0], True, spacing=(1.0, 1.0)),
              segment_lungs(to_picture(p.hu[0]), False)):
        assert np.count_nonzero(m & p.lungs[0]) >= 0.97 * np.count_nonzero(p.lungs[0])
        assert np.count_nonzero(m & heart) <= 0.02 * np.count_nonzero(heart)


def test_pleural_bite_against_the_wall_is_still_filled():
    """A wide, shallow dense bite of the lateral pleura (subpleural consolidation) is filled:
    its mouth lies against the chest wall."""
    from lung_phantom import _ellipse

    p = axial_slice(lesions=False, noise_hu=0.0)
    hu = p.hu.copy()
    bite = _ellipse(132, 182 + 38, 30, 12) & p.lungs  # 60 mm long, 12 mm deep, lateral
    hu[bite] = -50.0
    for m in (segment_lungs(hu, True, spacing=(1.0, 1.0)), segment_lungs(to_picture(hu), False)):
        assert np.count_nonzero(m & bite) >= 0.9 * np.count_nonzero(bite)
