"""Metrics against values worked out by hand on tiny arrays."""
from __future__ import annotations

import numpy as np
import pytest

from gan import metrics as M


def test_auc_with_ties_hand_computed():
    # positives score 0.9, 0.5; negatives 0.5, 0.1, 0.1
    # pairs (pos, neg): (0.9 > all) = 3 wins; (0.5 vs 0.5 tie = 0.5, > 0.1, > 0.1) = 2.5 -> 5.5/6
    maps = [np.array([[0.9, 0.5, 0.5, 0.1, 0.1]])]
    masks = [np.array([[1, 1, 0, 0, 0]], dtype=bool)]
    assert M.pixel_auc(maps, masks) == pytest.approx(5.5 / 6)


def test_auc_pools_images_and_matches_sklearn():
    rng = np.random.default_rng(0)
    maps = [np.round(rng.random((7, 5)), 1), np.round(rng.random((4, 6)), 1)]
    masks = [rng.random((7, 5)) > 0.6, rng.random((4, 6)) > 0.5]
    from sklearn.metrics import roc_auc_score

    ref = roc_auc_score(np.concatenate([m.ravel() for m in masks]),
                        np.concatenate([m.ravel() for m in maps]))
    curve = M.roc_curve(maps, masks)
    assert curve.auc == pytest.approx(ref)
    assert curve.fpr[0] == 0 and curve.tpr[0] == 0 and curve.fpr[-1] == 1 and curve.tpr[-1] == 1
    thin = curve.thinned(3)
    assert thin.fpr.size <= 3 and thin.auc == curve.auc


def test_auc_perfect_and_degenerate():
    assert M.pixel_auc([np.array([[0.0, 1.0]])], [np.array([[False, True]])]) == 1.0
    with pytest.raises(ValueError, match="both lesion and background"):
        M.pixel_auc([np.zeros((2, 2))], [np.zeros((2, 2), bool)])
    with pytest.raises(ValueError, match="shape"):
        M.pixel_auc([np.zeros((2, 2))], [np.zeros((2, 3), bool)])


def test_binary_metrics_hand_computed():
    # image 1: tp=2 fp=1 fn=1 tn=4 at threshold 0.5 (>= counts)
    m1 = np.array([[0.5, 0.9, 0.7, 0.1], [0.2, 0.0, 0.49, 0.3]])
    g1 = np.array([[1, 1, 0, 0], [0, 0, 1, 0]], dtype=bool)
    # image 2: tp=0 fp=0 fn=2 tn=2
    m2 = np.array([[0.1, 0.2], [0.3, 0.4]])
    g2 = np.array([[1, 1], [0, 0]], dtype=bool)
    r = M.binary_metrics([m1, m2], [g1, g2], 0.5)
    # pooled: tp=2 fp=1 fn=3 tn=6
    assert r["accuracy"] == pytest.approx(8 / 12)
    assert r["sensitivity"] == pytest.approx(2 / 5)
    assert r["specificity"] == pytest.approx(6 / 7)
    assert r["precision"] == pytest.approx(2 / 3)
    assert r["f1"] == pytest.approx(2 * 2 / (2 * 2 + 1 + 3))
    assert r["dice_pooled"] == pytest.approx(r["f1"])
    # per-image dice: 4/6 and 0 -> mean 1/3
    assert r["dice"] == pytest.approx((4 / 6 + 0.0) / 2)


def test_empty_truth_and_prediction_counts_as_perfect():
    r = M.binary_metrics([np.zeros((3, 3))], [np.zeros((3, 3), bool)], 0.5)
    assert r["dice"] == 1.0 and r["sensitivity"] == 1.0 and r["specificity"] == 1.0


def test_threshold_counts_match_direct_loop():
    rng = np.random.default_rng(1)
    maps = [rng.random((9, 8)).astype(np.float32), np.round(rng.random((5, 5)), 2)]
    masks = [rng.random((9, 8)) > 0.5, rng.random((5, 5)) > 0.3]
    thr = M.INFNET_THRESHOLDS
    counts = M.threshold_counts(maps, masks, thr)
    assert counts.shape == (2, 256, 4)
    for i, (m, g) in enumerate(zip(maps, masks)):
        for j in (0, 1, 77, 128, 254, 255):
            p = m >= thr[j]
            assert tuple(counts[i, j]) == (np.sum(p & g), np.sum(p & ~g), np.sum(~p & g), np.sum(~p & ~g))
    with pytest.raises(ValueError, match="ascending"):
        M.threshold_counts(maps, masks, [0.5, 0.2])


def test_grid_search_picks_known_best_threshold():
    # lesion pixels score 0.62..0.70, background <= 0.60: any threshold in (0.60, 0.62] is
    # perfect; the grid's lowest perfect point is 0.61
    m = np.array([[0.62, 0.70, 0.60, 0.30], [0.65, 0.10, 0.55, 0.0]])
    g = np.array([[1, 1, 0, 0], [1, 0, 0, 0]], dtype=bool)
    thr, dice = M.best_threshold([m], [g])
    assert thr == pytest.approx(0.61)
    assert dice == 1.0


def test_infnet_means_hand_computed():
    # one image, map is 1 on the lesion pixel and 0 elsewhere: at t=0 everything is predicted
    # (dice 2/(2+3)=0.4, sens 1, spec 0); at every t>0 exactly the lesion (all 1.0).
    m = np.array([[1.0, 0.0], [0.0, 0.0]])
    g = np.array([[1, 0], [0, 0]], dtype=bool)
    r = M.infnet_means([m], [g])
    assert r["dice"] == pytest.approx((0.4 + 255 * 1.0) / 256)
    assert r["sensitivity"] == pytest.approx(1.0)
    assert r["specificity"] == pytest.approx(255 / 256)


def test_infnet_means_average_images_first():
    m1, g1 = np.array([[1.0, 0.0]]), np.array([[True, False]])
    m2, g2 = np.array([[0.0, 0.0]]), np.array([[True, False]])  # never found (dice 0 at t>0)
    r = M.infnet_means([m1, m2], [g1, g2], thresholds=[0.5, 1.0])
    assert r["dice"] == pytest.approx(0.5)
    assert r["sensitivity"] == pytest.approx(0.5)


def test_classification_metrics():
    r = M.classification_metrics([1, 1, 1, 0, 0], [1, 0, 1, 0, 1])
    assert r["accuracy"] == pytest.approx(3 / 5)
    assert r["sensitivity"] == pytest.approx(2 / 3)
    assert r["specificity"] == pytest.approx(1 / 2)
    assert r["precision"] == pytest.approx(2 / 3)
    assert r["f1"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="labels"):
        M.classification_metrics([2], [1])
    with pytest.raises(ValueError, match="predictions"):
        M.classification_metrics([1, 0], [1])


def test_grid_search_never_returns_the_trivial_all_lesion_threshold():
    # an uninformative map: predicting everything would maximise Dice, but 0.00 is not on the grid
    m = np.full((4, 4), 0.5)
    m[0, 0] = 0.0
    g = np.ones((4, 4), dtype=bool)
    g[3, 3] = False
    thr, _ = M.best_threshold([m], [g])
    assert thr >= 0.01
    assert M.GRID_THRESHOLDS[0] == 0.01 and M.GRID_THRESHOLDS[-1] == 1.0 and M.GRID_THRESHOLDS.size == 100
