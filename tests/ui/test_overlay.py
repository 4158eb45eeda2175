"""Overlay RGBA of one slice: floor transparency, opacity, contour of the mask, bad styles."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from viewer.ui.overlay import CONTOUR_RGBA, OverlayStyle, contour_of, overlay_rgba


def test_floor_opacity_and_contour():
    m = np.zeros((32, 32), np.float32)
    m[8:24, 8:24] = 0.8
    m[0, 0] = 0.1  # below the floor
    style = OverlayStyle(colormap="hot", opacity=0.5, floor=0.2)
    rgba = overlay_rgba(m, m >= 0.5, style)
    assert rgba.shape == (32, 32, 4) and rgba.dtype == np.uint8
    assert rgba[0, 0, 3] == 0 and rgba[31, 31, 3] == 0
    assert rgba[16, 16, 3] == round(0.5 * 255)
    assert tuple(rgba[8, 16]) == CONTOUR_RGBA and tuple(rgba[16, 16]) != CONTOUR_RGBA
    no_contour = overlay_rgba(m, m >= 0.5, OverlayStyle(show_contour=False))
    assert tuple(no_contour[8, 16]) != CONTOUR_RGBA


def test_contour_is_the_inner_border():
    rng = np.random.default_rng(1)
    mask = ndimage.binary_opening(rng.random((40, 50)) > 0.4)
    expect = mask & ~ndimage.binary_erosion(mask, border_value=0)
    np.testing.assert_array_equal(contour_of(mask), expect)


def test_bad_styles_and_shapes():
    with pytest.raises(ValueError, match="colormap"):
        OverlayStyle(colormap="rainbowish")
    with pytest.raises(ValueError, match="opacity"):
        OverlayStyle(opacity=1.5)
    with pytest.raises(ValueError, match="2-D"):
        overlay_rgba(np.zeros((2, 4, 4), np.float32), None, OverlayStyle())
    assert overlay_rgba(None, None, OverlayStyle()) is None


def test_lung_outline_on_request():
    from viewer.ui.overlay import LUNG_RGBA

    lungs = np.zeros((20, 20), bool)
    lungs[4:16, 4:16] = True
    m = np.zeros((20, 20), np.float32)
    assert tuple(overlay_rgba(m, None, OverlayStyle(), lungs)[4, 10]) != LUNG_RGBA
    rgba = overlay_rgba(m, None, OverlayStyle(show_lungs=True), lungs)
    assert tuple(rgba[4, 10]) == LUNG_RGBA and rgba[10, 10, 3] == 0


def test_filled_mask_is_semi_transparent_and_keeps_the_contour():
    from viewer.ui.overlay import CONTOUR_RGBA, FILL_ALPHA, OverlayStyle, overlay_rgba

    m = np.zeros((20, 20), np.float32)
    mask = np.zeros((20, 20), bool)
    mask[5:15, 5:15] = True
    plain = overlay_rgba(m, mask, OverlayStyle(show_heatmap=False))
    filled = overlay_rgba(m, mask, OverlayStyle(show_heatmap=False, fill_mask=True))
    assert plain[10, 10, 3] == 0  # outline only: the inside is empty
    assert filled[10, 10, 3] == round(FILL_ALPHA * 255)
    assert tuple(filled[10, 10, :3]) == CONTOUR_RGBA[:3]
    assert tuple(filled[5, 10]) == CONTOUR_RGBA  # the 1-px contour stays on top
    assert filled[2, 2, 3] == 0  # outside untouched
    # over a heatmap, the fill blends (the heat colour still shows through)
    hot = np.full((20, 20), 0.9, np.float32)
    style = OverlayStyle(opacity=0.5, fill_mask=True, show_contour=False)
    heat = overlay_rgba(hot, None, style)[10, 10]
    both = overlay_rgba(hot, mask, style)[10, 10]
    assert heat[3] < both[3] < 255 and both[2] > heat[2]
