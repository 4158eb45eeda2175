"""``PlaneLayers`` keeps a bounded number of axial slices (issue 17: a 1000-slice series must not
keep every slice's map in memory), and its planes equal the unbounded ones."""
from __future__ import annotations

import numpy as np

from viewer.core.reformat import PLANE_CACHE_BYTES, PlaneLayers


def _layers(shape, calls, missing=()):
    rng = np.random.default_rng(3)
    maps = rng.random(shape).astype(np.float32)

    def layers(z):
        calls.append(z)
        if z in missing:
            return None, None
        return maps[z], maps[z] >= 0.5

    return layers


def test_cache_holds_at_most_the_budget_and_planes_stay_the_same():
    shape = (60, 16, 12)
    per_slice = 2 * 16 * 12
    calls_all, calls_small = [], []
    full = PlaneLayers(shape, _layers(shape, calls_all))
    small = PlaneLayers(shape, _layers(shape, calls_small), max_bytes=10 * per_slice)
    assert small.max_slices == 10
    for plane, idx in (("coronal", 3), ("sagittal", 5), ("axial", 40), ("coronal", 7)):
        m1, k1 = full.plane(plane, idx)
        m2, k2 = small.plane(plane, idx)
        assert np.array_equal(m1, m2) and np.array_equal(k1, k2)
        assert small.n_cached <= 10
    assert full.n_cached == 60 and small.n_cached == 10
    # the last plane of each orientation is kept: drawing it again fetches nothing
    n = len(calls_small)
    small.plane("coronal", 7)
    small.plane("sagittal", 5)
    assert len(calls_small) == n
    # a new index fetches again only the slices beyond the budget
    small.plane("coronal", 8)
    assert sorted(calls_small[n:]) == list(range(10, 60))


def test_a_1000_slice_series_stays_within_the_default_budget():
    shape = (1000, 512, 512)
    pl = PlaneLayers(shape, lambda z: (np.zeros((512, 512), np.float32), np.zeros((512, 512), bool)))
    assert pl.max_slices * 2 * 512 * 512 <= PLANE_CACHE_BYTES < 1000 * 2 * 512 * 512
    pl.plane("sagittal", 100)
    assert pl.n_cached == pl.max_slices < 1000 and pl.complete


def test_missing_maps_are_asked_again_and_complete_says_so():
    shape = (8, 6, 6)
    calls = []
    missing = {2, 5}
    pl = PlaneLayers(shape, _layers(shape, calls, missing), max_bytes=3 * 2 * 36)
    pl.plane("coronal", 1)
    assert not pl.complete
    missing.clear()
    n = len(calls)
    m, k = pl.plane("coronal", 1)
    assert sorted(calls[n:]) == [2, 5] and pl.complete
    pl.invalidate(4)
    assert not pl.complete
    pl.plane("coronal", 1)
    assert calls[-1] == 4 and pl.complete


def test_two_planes_at_once_fetch_each_slice_once():
    shape = (30, 10, 10)
    calls = []
    pl = PlaneLayers(shape, _layers(shape, calls), max_bytes=5 * 2 * 100)
    ref = PlaneLayers(shape, _layers(shape, []))
    got = pl.planes({"coronal": 4, "sagittal": 7})
    assert sorted(calls) == list(range(30))  # once each, not once per plane
    for plane, idx in (("coronal", 4), ("sagittal", 7)):
        m, k = ref.plane(plane, idx)
        assert np.array_equal(got[plane][0], m) and np.array_equal(got[plane][1], k)
