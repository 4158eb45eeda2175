"""Measurement maths against analytic values on a synthetic phantom with known HU."""
from __future__ import annotations

import math

import numpy as np
import pytest

from viewer.core.measure import (clipped_pixels, ellipse_area, ellipse_mask, line_length,
                                 polygon_area, polygon_mask, radius_px, roi_stats)
from viewer.core.windowing import check_preset_name, parse_window


def test_ruler_length_with_anisotropic_spacing():
    # 30 columns and 40 rows; pixels 0.5 mm wide (x) and 0.8 mm tall (y)
    v, unit = line_length((10, 20), (40, 60), pixel_spacing=(0.8, 0.5))
    assert unit == "mm" and v == pytest.approx(math.hypot(30 * 0.5, 40 * 0.8))
    v, unit = line_length((10, 20), (40, 60), None)
    assert unit == "px" and v == pytest.approx(50.0)
    with pytest.raises(ValueError, match="pixel spacing"):
        line_length((0, 0), (1, 1), (0, 1))


def _phantom():
    """256x256 slice of -1000 HU with a disc of +40 HU (radius 40 px) at (128, 128) and noise
    of SD 10 HU inside it."""
    rng = np.random.default_rng(0)
    img = np.full((256, 256), -1000.0, np.float32)
    yy, xx = np.mgrid[0:256, 0:256]
    disc = (xx + 0.5 - 128) ** 2 + (yy + 0.5 - 128) ** 2 <= 40 ** 2
    img[disc] = 40.0 + rng.normal(0, 10, disc.sum())
    return img, disc


def test_ellipse_roi_area_and_hu_against_analytic_values():
    img, _ = _phantom()
    sp = (0.7, 0.7)
    # an ellipse inside the disc: semi-axes 30 x 20 px
    m = ellipse_mask(img.shape, 128, 128, 30, 20)
    st = roi_stats(img, m, sp, is_hu=True)
    analytic, unit = ellipse_area(30, 20, sp)
    assert unit == "mm²" and st.area_unit == "mm²"
    assert st.area == pytest.approx(analytic, rel=0.02)  # pixel-centre discretisation
    assert st.mean == pytest.approx(40.0, abs=1.5) and st.sd == pytest.approx(10.0, rel=0.1)
    assert "mm²" in st.text() and "HU" in st.text()
    # rotated by 90 degrees: the same area
    r = ellipse_mask(img.shape, 128, 128, 30, 20, angle_deg=90)
    assert abs(int(r.sum()) - int(m.sum())) <= 8
    assert r[128, 128 + 25] == 0 and r[128 + 25, 128] == 1
    # the whole disc and the air around: mean of a known mixture
    big = ellipse_mask(img.shape, 128, 128, 60, 60)
    st2 = roi_stats(img, big, sp)
    n_in = int((big & (img > -500)).sum())
    expected = (n_in * 40.0 + (st2.n_pixels - n_in) * -1000.0) / st2.n_pixels
    assert st2.mean == pytest.approx(expected, abs=2.0)


def test_freehand_polygon_area_with_anisotropic_spacing():
    img, _ = _phantom()
    sp = (0.8, 0.5)  # rows 0.8 mm, cols 0.5 mm
    square = [(100, 100), (160, 100), (160, 140), (100, 140)]  # 60 x 40 px
    m = polygon_mask(img.shape, square)
    assert int(m.sum()) == 60 * 40
    st = roi_stats(img, m, sp)
    assert st.area == pytest.approx(60 * 40 * 0.4)
    assert polygon_area(square, sp) == (pytest.approx(960.0), "mm²")
    # a freehand circle of 64 vertices, radius 35 px, inside the +40 HU disc
    t = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    circle = np.c_[128 + 35 * np.cos(t), 128 + 35 * np.sin(t)]
    st = roi_stats(img, polygon_mask(img.shape, circle), (0.7, 0.7))
    assert st.area == pytest.approx(math.pi * 35 ** 2 * 0.49, rel=0.02)
    assert st.mean == pytest.approx(40.0, abs=1.5)
    # pictures: px² and grey values
    st = roi_stats(img, m, None, is_hu=False)
    assert st.area_unit == "px²" and st.area == 2400 and "grey" in st.text()
    # a concave (L-shaped) polygon
    ell = [(0, 0), (20, 0), (20, 10), (10, 10), (10, 20), (0, 20)]
    assert int(polygon_mask((32, 32), ell).sum()) == 300
    assert polygon_area(ell)[0] == pytest.approx(300)
    assert not polygon_mask((8, 8), [(0, 0), (3, 3)]).any()


def test_roi_stats_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="same"):
        roi_stats(np.zeros((4, 4)), np.zeros((4, 5), bool))
    assert roi_stats(np.zeros((4, 4)), np.zeros((4, 4), bool)).text() == "empty ROI"


def test_brush_radius_in_mm_and_clipping():
    assert radius_px(6.0, (0.75, 0.75)) == pytest.approx(8.0)
    assert radius_px(6.0, None) == 6.0
    with pytest.raises(ValueError, match="brush radius"):
        radius_px(0, (1, 1))
    lungs = np.zeros((10, 10), bool)
    lungs[:, :5] = True
    stroke = np.zeros((10, 10), bool)
    stroke[2:4, 3:8] = True
    assert clipped_pixels(stroke, lungs) == 6
    assert clipped_pixels(stroke, None) == 0


def test_typed_window_values_and_preset_names():
    assert parse_window(" 400 ", "-50") == (400.0, -50.0)
    with pytest.raises(ValueError, match=r"^window width: must be > 0 HU, got -5$"):
        parse_window("-5", "40")
    with pytest.raises(ValueError, match="window width: must be > 0"):
        parse_window("0", "40")
    with pytest.raises(ValueError, match="window level: 'abc' is not a number"):
        parse_window("400", "abc")
    with pytest.raises(ValueError, match="window width: empty"):
        parse_window("", "40")
    assert check_preset_name(" liver ") == "liver"
    with pytest.raises(ValueError, match="built-in"):
        check_preset_name("Lung")
