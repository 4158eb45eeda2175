"""Severity: lesion % of the lung, categories at their boundaries, GGO/consolidation split, ml."""
from __future__ import annotations

import numpy as np
import pytest
from lung_phantom import axial_slice, series

from viewer.core import severity
from viewer.core.lung_mask import segment_lungs
from viewer.core.severity import category, series_severity, slice_severity


@pytest.mark.parametrize(
    "pct, expected",
    [
        (0.0, "mild"), (9.999, "mild"), (10.0, "common"), (29.999, "common"), (30.0, "severe"),
        (50.0, "severe"), (50.0001, "critical"), (100.0, "critical"),
    ],
)
def test_category_boundaries(pct, expected):
    assert category(pct) == expected


@pytest.mark.parametrize("bad", [-0.1, 100.5, float("nan"), "ten", None])
def test_category_rejects_bad_percentages(bad):
    with pytest.raises(ValueError, match="severity"):
        category(bad)


def _lung_with_lesion(lesion_px: int, lung_px: int = 1000):
    lung = np.zeros((50, 50), dtype=bool)
    lung.ravel()[:lung_px] = True
    lesion = np.zeros_like(lung)
    lesion.ravel()[:lesion_px] = True
    return lesion, lung


@pytest.mark.parametrize("lesion_px, expected", [(99, "mild"), (100, "common"), (300, "severe"),
                                                 (500, "severe"), (501, "critical")])
def test_slice_category_from_masks(lesion_px, expected):
    lesion, lung = _lung_with_lesion(lesion_px)
    s = slice_severity(lesion, lung)
    assert s.lesion_pct == pytest.approx(lesion_px / 10.0)
    assert s.category == expected
    assert s.lung_mm2 is None and s.ggo_pct is None


def test_lesion_outside_the_lung_is_not_counted():
    lesion, lung = _lung_with_lesion(100)
    lesion[-1, :] = True  # 50 px outside the lung
    s = slice_severity(lesion, lung, spacing=(0.5, 0.8))
    assert s.lesion_px == 100
    assert s.lesion_mm2 == pytest.approx(100 * 0.4)
    assert s.lung_mm2 == pytest.approx(1000 * 0.4)


def test_map_with_threshold_and_no_lung():
    lung = np.zeros((4, 4), dtype=bool)
    lung[:2] = True
    m = np.zeros((4, 4), dtype=np.float32)
    m[0, :2] = 0.5
    m[0, 2] = 0.49
    assert slice_severity(m, lung, threshold=0.5).lesion_px == 2
    empty = slice_severity(m, np.zeros_like(lung), threshold=0.5)
    assert empty.lesion_pct is None and empty.category is None


def test_ggo_consolidation_split_exact_on_phantom():
    p = axial_slice(noise_hu=0.0)
    s = slice_severity(p.lesion, p.lungs, hu=p.hu, spacing=(1.0, 1.0))
    assert s.ggo_px == int(p.ggo.sum())
    assert s.consolidation_px == int(p.cons.sum())
    assert s.ggo_pct == pytest.approx(100.0 * p.ggo.sum() / p.lesion.sum())
    assert s.consolidation_pct == pytest.approx(100.0 * p.cons.sum() / p.lesion.sum())


def test_density_boundaries():
    hu = np.array([[-751.0, -750.0, -300.1, -300.0, 200.0]], dtype=np.float32)
    lesion = np.ones(hu.shape, dtype=bool)
    s = slice_severity(lesion, lesion.copy(), hu=hu)
    assert (s.ggo_px, s.consolidation_px) == (2, 2)  # -751 is neither
    assert s.ggo_pct == pytest.approx(40.0) and s.consolidation_pct == pytest.approx(40.0)
    assert severity.GGO_HU == (-750.0, -300.0) and severity.CONSOLIDATION_HU == -300.0


def test_series_volumes_in_ml_from_spacing():
    lung = np.zeros((4, 10, 10), dtype=bool)
    lung[:, :, :5] = True  # 200 voxels
    lesion = np.zeros_like(lung)
    lesion[1, :, :3] = True  # 30 voxels
    hu = np.full(lung.shape, -500.0, dtype=np.float32)
    hu[1, :5, :3] = 10.0  # 15 consolidation, 15 GGO
    r = series_severity(lesion, lung, hu=hu, spacing=(2.5, 0.8, 0.5))
    voxel_ml = 2.5 * 0.8 * 0.5 / 1000.0
    assert r.lung_ml == pytest.approx(200 * voxel_ml)
    assert r.lesion_ml == pytest.approx(30 * voxel_ml)
    assert r.lesion_pct == pytest.approx(15.0) and r.category == "common"
    assert r.ggo_ml == pytest.approx(15 * voxel_ml)
    assert r.consolidation_ml == pytest.approx(15 * voxel_ml)
    assert r.ggo_pct == pytest.approx(50.0)
    assert len(r.slices) == 4
    assert r.slices[1].lesion_pct == pytest.approx(60.0) and r.slices[1].category == "critical"
    assert r.slices[0].lesion_pct == 0.0 and r.slices[0].ggo_pct is None
    assert r.slices[1].lung_mm2 == pytest.approx(50 * 0.4)


def test_series_without_spacing_or_hu():
    lesion, lung = _lung_with_lesion(100)
    r = series_severity(lesion[None], lung[None])
    assert r.lung_ml is None and r.lesion_ml is None and r.ggo_ml is None and r.ggo_pct is None
    assert r.lesion_pct == pytest.approx(10.0)


def test_series_severity_on_segmented_phantom_within_one_point():
    p = series()
    lungs = segment_lungs(p.hu, True, spacing=p.spacing)
    got = series_severity(p.lesion, lungs, hu=p.hu, spacing=p.spacing)
    truth = series_severity(p.lesion, p.lungs, spacing=p.spacing)
    assert abs(got.lesion_pct - truth.lesion_pct) <= 1.0
    assert got.lesion_ml == pytest.approx(truth.lesion_ml, rel=0.02)
    for g, t in zip(got.slices, truth.slices):
        if t.lesion_pct is not None:
            assert abs(g.lesion_pct - t.lesion_pct) <= 1.0


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda: slice_severity(np.zeros((4, 4), np.float32), np.ones((4, 4), bool)), "threshold"),
        (lambda: slice_severity(np.zeros((4, 4), bool), np.ones((4, 4), np.uint8)), "bool"),
        (lambda: slice_severity(np.zeros((4, 4), bool), np.ones((4, 5), bool)), "shape"),
        (lambda: slice_severity(np.zeros((2, 4, 4), bool), np.ones((2, 4, 4), bool)), "slice"),
        (lambda: series_severity(np.zeros((4, 4), bool), np.ones((4, 4), bool)), "series"),
        (lambda: slice_severity(np.zeros((4, 4), np.float32), np.ones((4, 4), bool),
                                threshold=1.5), "threshold"),
        (lambda: series_severity(np.zeros((1, 4, 4), bool), np.ones((1, 4, 4), bool),
                                 spacing=(1.0, 1.0)), "spacing"),
        (lambda: slice_severity(np.zeros((4, 4), bool), np.ones((4, 4), bool),
                                hu=np.zeros((3, 3))), "HU shape"),
    ],
)
def test_bad_input_gives_clear_error(call, words):
    with pytest.raises(ValueError, match="severity") as err:
        call()
    assert words in str(err.value)
