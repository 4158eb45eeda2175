"""The two-stage series lung mask (issue #16): front first, slices finished in any order, the
same mask as the one-stage ``series_lungs``; the plan check that catches a finished mask that
reaches further than its front."""
from __future__ import annotations

import numpy as np
import pytest
from lung_phantom import SIZE, _ellipse, axial_slice, chest_series, series, to_picture

from gan.canonical import lung_frame
from gan.inference import plan_input
from viewer.core.lesion_layers import series_lungs
from viewer.core.lung_mask import HuLungStages, segment_lungs
from viewer.core.staged_lungs import SeriesLungs, same_plan


def consolidated_backs(n: int = 10) -> tuple[np.ndarray, tuple]:
    """``chest_series`` with both lungs' backs consolidated (-50 HU) in every slice: the front
    (aerated lung) stops short of them, the finished mask (dense lung against the ribs) does
    not, so the lungs' frame grows once the slices are finished."""
    ph = chest_series(n)
    yy = np.mgrid[0:SIZE, 0:SIZE][0]
    band = (_ellipse(132, 74, 66, 38) | _ellipse(132, 182, 66, 38)) & (yy >= 176)
    hu = ph.hu.copy()
    rng = np.random.default_rng(3)
    for k in range(n):
        hu[k][band] = -50.0 + rng.normal(0.0, 15.0, int(band.sum()))
    return hu, ph.spacing


def test_stages_in_any_order_equal_the_one_stage_mask():
    ph = chest_series(12)
    whole = segment_lungs(ph.hu, True, spacing=ph.spacing)
    st = HuLungStages(ph.hu, ph.spacing)
    assert st.front.shape == ph.hu.shape and not st.finished.any()
    st.finish([7])
    assert st.finished.tolist() == [k == 7 for k in range(12)]
    assert np.array_equal(st.lungs[7], whole[7])
    st.finish([11, 0, 7, 3, 3])  # repeats and finished slices are skipped
    assert np.array_equal(st.result(), whole)


def test_series_lungs_object_hu_and_pictures():
    ph = series(10)
    sp = ph.spacing
    expected = series_lungs(ph.hu, True, sp)
    lungs = SeriesLungs(ph.hu, True, sp)
    assert lungs.staged and not lungs.is_finished(4)
    front = lungs.front()
    assert front.shape == ph.hu.shape and front.dtype == bool
    assert np.array_equal(lungs.get(4), expected[4]) and lungs.is_finished(4)
    with pytest.raises(ValueError, match="front"):
        lungs.front()  # no longer the front once a slice is finished
    with pytest.raises(ValueError, match="outside"):
        lungs.finish([10])
    assert not lungs.all_finished()
    assert np.array_equal(lungs.result(), expected) and lungs.all_finished()

    pictures = np.stack([to_picture(s) for s in ph.hu[:3]])
    pic = SeriesLungs(pictures, False, None, network=False)
    assert not pic.staged and pic.all_finished()
    assert np.array_equal(pic.front(), series_lungs(pictures, False, None, network=False))
    assert np.array_equal(pic.result(), pic.front())


def test_one_slice_series_is_made_whole():
    ph = series(10)
    one = ph.hu[3:4]
    lungs = SeriesLungs(one, True, ph.spacing)
    assert not lungs.staged
    assert np.array_equal(lungs.result(), series_lungs(one, True, ph.spacing))


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="non-empty"):
        SeriesLungs(np.zeros((0, 8, 8), np.float32), True, None)
    with pytest.raises(ValueError, match="spacing"):
        SeriesLungs(np.zeros((3, 32, 32), np.float32), True, (1.0, -1.0, 1.0))


def test_the_front_plans_the_same_frame_on_a_lesion_free_chest():
    hu = np.stack([axial_slice(seed=k, lesions=False).hu for k in range(8)])
    lungs = SeriesLungs(hu, True, (2.0, 1.0, 1.0))
    provisional = plan_input(hu, True, lungs.front())
    final = plan_input(hu, True, lungs.result())
    assert provisional.frame is not None and same_plan(provisional, final)


def test_a_finished_mask_that_reaches_further_changes_the_plan():
    hu, sp = consolidated_backs()
    lungs = SeriesLungs(hu, True, sp)
    provisional = plan_input(hu, True, lungs.front())
    final_mask = lungs.result()
    final = plan_input(hu, True, final_mask)
    assert final.frame == lung_frame(series_lungs(hu, True, sp))
    assert final.frame.y1 > provisional.frame.y1  # the dense backs joined the lungs
    assert not same_plan(provisional, final)
    assert same_plan(None, None) and not same_plan(provisional, None)
