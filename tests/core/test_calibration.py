"""Threshold calibration at both ends (viewer.core.calibration)."""
from __future__ import annotations

import numpy as np
import pytest

from viewer.core.calibration import GRID, choose_threshold, share_curve


def test_share_curve_counts_map_at_or_above_each_threshold_inside_the_lungs():
    m = np.zeros((10, 10), np.float32)
    m[:2, :5] = 0.5            # 10 pixels at 0.5
    m[5, 5] = 0.9              # outside the lungs below
    lungs = np.zeros((10, 10), bool)
    lungs[:5, :] = True        # 50 lung pixels
    c = share_curve(m, lungs)
    assert c[np.searchsorted(GRID, 0.5)] == pytest.approx(20.0)   # 10 / 50, map >= 0.5
    assert c[np.searchsorted(GRID, 0.51)] == pytest.approx(0.0)
    assert np.isnan(share_curve(m, np.zeros_like(lungs))).all()
    with pytest.raises(ValueError, match="differ in shape"):
        share_curve(m, lungs[:5])


def _curve(level: float) -> np.ndarray:
    """A slice whose lesion share is 100 % below ``level`` and 0 above (a step)."""
    return np.where(GRID <= level, 100.0, 0.0)


def test_pictures_and_hu_get_their_own_thresholds():
    # labelled: true shares 0 and 100 %, maps that step at 0.3 -> exact from 0.01 to 0.30
    val = [np.where(GRID <= 0.3, 0.0, 0.0), _curve(0.3)]
    normal_pics = [_curve(0.2), np.zeros(len(GRID))]          # mean 50 % below 0.2
    ramp = np.clip((0.655 - GRID) * 100.0, 0.0, None)         # HU floor falling to 0 at 0.66
    normal_series = {"lidc": ramp}
    res = choose_threshold(val, [0.0, 100.0], normal_pics, normal_series, normal_target=2.0)
    assert res.met and res.hu_met
    assert 0.2 < res.threshold <= 0.3 and res.val_mae_points == pytest.approx(0.0)
    assert res.hu_threshold == pytest.approx(0.64)               # first with <= 2 %
    assert res.normal_picture_mean_pct <= 2.0
    assert res.normal_series_pct["lidc"] == pytest.approx(1.5)  # at the HU threshold
    assert res.tradeoff[-1]["threshold"] > res.hu_threshold  # (the table loop must not clobber it)
    assert res.tradeoff and "threshold" in res.tradeoff[0]
    margin = choose_threshold(val, [0.0, 100.0], normal_pics, normal_series, normal_target=2.0,
                              normal_target_hu=0.6)
    assert margin.threshold == res.threshold and margin.hu_threshold == pytest.approx(0.65)


def test_targets_that_cannot_be_met_are_reported():
    res = choose_threshold([_curve(0.5)], [10.0], [np.full(len(GRID), 50.0)],
                           {"s": np.full(len(GRID), 30.0)}, normal_target=2.0)
    assert not res.met and not res.hu_met
    res2 = choose_threshold([_curve(0.5)], [10.0], [], {}, normal_target=2.0)
    assert res2.met and res2.hu_threshold is None
    with pytest.raises(ValueError, match="labelled"):
        choose_threshold([], [], [], {})
    with pytest.raises(ValueError, match="no labelled slice has a lung"):
        choose_threshold([np.full(len(GRID), np.nan)], [0.0], [], {})
