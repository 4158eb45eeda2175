"""The one lesion pipeline (viewer.core.lesion_layers): masks, edits, lungs, counts, notes."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from lung_phantom import series, to_picture

from viewer.core import severity
from viewer.core.lesion_layers import (NO_LUNGS_NOTE, LesionLayers, SeriesCounts,
                                       localizer_notes, physical_spacing, series_lungs)
from viewer.core.lung_mask import segment_lungs
from viewer.core.mask_edits import MaskEdits

SHAPE = (3, 20, 20)
SPACING = (2.0, 0.5, 1.0)  # voxel = 1 mm^3 = 0.001 ml


def _case():
    """Lungs: a 10 x 10 square per slice (100 px). Map: 1.0 on a 4 x 5 block inside the lungs
    (20 px, 20 %) and on a 3 x 3 block outside them; 0.3 elsewhere in the lungs, 0.1 outside."""
    lungs = np.zeros(SHAPE, bool)
    lungs[:, 5:15, 5:15] = True
    maps = np.where(lungs, 0.3, 0.1).astype(np.float32)
    maps[:, 6:10, 6:11] = 1.0
    maps[:, 0:3, 0:3] = 1.0
    return lungs, maps


def _layers(maps=None, **kw):
    lungs, m = _case()
    kw.setdefault("threshold", 0.5)
    return LesionLayers(SHAPE, SPACING, False, lungs, m if maps is None else maps, **kw)


def test_known_areas_and_severity():
    lungs, maps = _case()
    p = _layers()
    shown, mask = p.layers(1)
    assert mask.dtype == bool and mask.shape == SHAPE[1:] and shown.dtype == np.float32
    assert np.count_nonzero(mask) == 20 and not mask[0:3, 0:3].any()  # outside the lungs: off
    assert np.all(shown[~lungs[1]] == 0) and shown[7, 7] == 1.0
    assert p.count_slice(1) == (100.0, 20.0, p.count_slice(1)[2], p.count_slice(1)[3])
    s = p.severity()
    assert s["lesion_pct"] == pytest.approx(20.0) and s["category"] == "common"
    assert s["lung_ml"] == pytest.approx(300 * 0.001) and s["lesion_ml"] == pytest.approx(0.06)
    assert s["ggo_share"] is None  # not HU
    # without the restriction the mask keeps the block outside the lungs, severity does not
    p.lungs_only = False
    assert np.count_nonzero(p.mask(1)) == 29 and p.map(1)[1, 1] == 1.0
    assert p.severity()["lesion_pct"] == pytest.approx(20.0)
    # the same numbers as viewer.core.severity on the same masks
    ref = severity.series_severity(p.volume_mask(), lungs, spacing=SPACING)
    assert ref.lesion_pct == pytest.approx(20.0) and ref.lung_ml == pytest.approx(s["lung_ml"])
    np.testing.assert_array_equal(p.volume_map(), maps)


def test_threshold_zero_marks_nothing_outside_the_lungs():
    lungs, _ = _case()
    p = _layers(threshold=0.0)
    np.testing.assert_array_equal(p.volume_mask(), lungs)
    assert p.severity()["lesion_pct"] == pytest.approx(100.0)
    p.lungs_only = False
    assert p.volume_mask().all()


def test_edits_paint_outside_the_lungs_is_clipped_when_lungs_only():
    edits = MaskEdits(SHAPE)
    edits.paint_line(1, [(1.0, 17.0), (1.0, 18.0)], 1.0, True)  # outside the lungs
    edits.paint_line(1, [(12.0, 12.0)], 1.0, True)               # inside, below threshold
    edits.paint_line(1, [(7.0, 7.0)], 0.6, False)                # erase one lesion pixel
    p = _layers(edits=edits)
    mask = p.mask(1)
    assert not mask[0:3, 16:20].any()  # painted, but outside the lungs
    assert mask[12, 12] and not mask[7, 7]
    assert p.count_slice(1)[1] == 20 - 1 + np.count_nonzero(edits.apply(1, np.zeros((20, 20),
                                                                        bool))[5:15, 5:15])
    np.testing.assert_array_equal(p.mask(0), _layers().mask(0))  # other slices untouched
    p.lungs_only = False
    assert p.mask(1)[1, 17]  # unrestricted: the painted pixel stays
    # threshold 0 with paint outside: still nothing outside the lungs
    p.lungs_only, p.threshold = True, 0.0
    assert not (p.mask(1) & ~_case()[0][1]).any()


def test_empty_lungs_give_a_note_and_no_severity():
    _, maps = _case()
    p = LesionLayers(SHAPE, SPACING, False, np.zeros(SHAPE, bool), maps, threshold=0.5)
    assert p.notes == [NO_LUNGS_NOTE] and not p.lung_found
    assert p.severity() is None  # not 0 %
    assert not p.volume_mask().any()
    p.add_notes(["display window could not be estimated", "", NO_LUNGS_NOTE])
    assert p.notes == [NO_LUNGS_NOTE, "display window could not be estimated"]
    q = _layers(notes=["a note"])
    assert q.notes == ["a note"] and q.severity() is not None


def test_maps_provided_lazily_slice_by_slice():
    lungs, maps = _case()
    ready: dict[int, np.ndarray] = {}
    p = _layers(maps=lambda i: ready.get(i))
    assert not p.has(0) and p.layers(0) == (None, None) and p.count_slice(0) is None
    counts = p.count()
    assert not counts.known().any() and p.severity(counts) is None
    with pytest.raises(ValueError, match="slice 0 has no lesion map yet"):
        p.volume_mask()
    ready[2] = maps[2]
    counts = p.count()
    assert counts.known().tolist() == [False, False, True]
    assert p.severity(counts)["done"] == 1
    ready.update({0: maps[0], 1: maps[1]})
    full = _layers()
    np.testing.assert_array_equal(p.volume_mask(), full.volume_mask())
    assert p.severity() == full.severity()

    class Store:  # an object with get_map, like SeriesMapStore
        def get_map(self, i):
            return maps[i]

    np.testing.assert_array_equal(_layers(maps=Store()).volume_mask(), full.volume_mask())


def test_hu_split_and_counts_match_slice_severity():
    lungs, maps = _case()
    hu = np.full(SHAPE, -900.0, np.float32)
    hu[:, 6:8, 6:11] = -500.0   # 10 GGO px in the lesion
    hu[:, 8, 6:11] = 0.0        # 5 consolidation px
    p = LesionLayers(SHAPE, SPACING, True, lungs, maps, threshold=0.5, hu=hu)
    s = p.severity()
    assert s["ggo_share"] == pytest.approx(50.0) and s["cons_share"] == pytest.approx(25.0)
    sev = p.slice_severity(0)
    assert (sev.lung_px, sev.lesion_px, sev.ggo_px) == (100, 20, 10)
    assert sev.lung_mm2 == pytest.approx(100 * 0.5)
    c = SeriesCounts.empty(3)
    p.count([0], c)
    assert c.slice_summary(0)["lesion_pct"] == pytest.approx(20.0) and np.isnan(c.lung[1])


@pytest.mark.parametrize("kwargs, message", [
    ({"lungs": np.zeros((2, 20, 20), bool)}, "lung mask shape"),
    ({"lungs": np.zeros(SHAPE, np.float32)}, "bool or 0/1"),
    ({"maps": np.zeros((3, 20, 21), np.float32)}, "maps shape"),
    ({"maps": None}, "no lesion maps"),
    ({"threshold": 1.5}, r"threshold must lie in \[0, 1\]"),
    ({"threshold": "abc"}, "threshold must be a number"),
    ({"spacing": (1.0, 0.0, 1.0)}, "spacing"),
    ({"shape": (3, 20)}, "shape must be"),
    ({"hu": np.zeros(SHAPE, np.float32)}, "not HU"),
    ({"edits": MaskEdits((2, 20, 20))}, "edits shape"),
])
def test_bad_inputs_are_named(kwargs, message):
    lungs, maps = _case()
    args = {"shape": SHAPE, "spacing": SPACING, "is_hu": False, "lungs": lungs, "maps": maps,
            "threshold": 0.5}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        LesionLayers(args.pop("shape"), args.pop("spacing"), args.pop("is_hu"),
                     args.pop("lungs"), args.pop("maps"), **args)


def test_bad_slice_map_and_index_are_named():
    p = _layers(maps=lambda i: np.zeros((5, 5), np.float32))
    with pytest.raises(ValueError, match="map of slice 0 has shape"):
        p.mask(0)
    with pytest.raises(ValueError, match="slice index 3"):
        _layers().mask(3)


def test_series_lungs_one_mask_per_series():
    ph = series(n_slices=8)
    vol = ph.hu
    np.testing.assert_array_equal(series_lungs(vol, True, ph.spacing),
                                  segment_lungs(vol, True, spacing=ph.spacing))
    one = series_lungs(vol[3:4], True, ph.spacing)  # one slice: 2-D, in-plane spacing
    np.testing.assert_array_equal(one[0], segment_lungs(vol[3], True, spacing=ph.spacing[1:]))
    assert one.any()
    pics = to_picture(vol[:2])
    seen = []
    m = series_lungs(pics, False, None, progress=lambda d, t: seen.append((d, t)))
    np.testing.assert_array_equal(m[1], segment_lungs(pics[1], False, network="auto"))
    assert seen == [(1, 2), (2, 2)]
    with pytest.raises(ValueError, match=r"\(z, y, x\)"):
        series_lungs(vol[0], True, ph.spacing)


def test_physical_spacing_and_localizer_notes():
    assert physical_spacing(SimpleNamespace(spacing=(2, 1, 1), source_kind="dicom")) == (2, 1, 1)
    assert physical_spacing(SimpleNamespace(spacing=(1, 1, 1), source_kind="pictures")) is None
    vol = SimpleNamespace(spacing=(1, 1, 1), info=SimpleNamespace(source_kind="pictures"))
    assert physical_spacing(vol) is None
    assert localizer_notes(SimpleNamespace()) == []
    assert localizer_notes(SimpleNamespace(notes=["window not estimated"])) == [
        "window not estimated"]
    assert localizer_notes(SimpleNamespace(notes=lambda: "x")) == ["x"]


def test_for_volume_segments_once_and_keeps_hu():
    ph = series(n_slices=6)
    info = SimpleNamespace(source_kind="dicom")
    volume = SimpleNamespace(voxels=ph.hu, is_hu=True, spacing=ph.spacing, info=info)
    maps = np.zeros(ph.hu.shape, np.float32)
    maps[ph.lesion] = 0.9
    p = LesionLayers.for_volume(volume, maps, threshold=0.5, notes=["n"])
    np.testing.assert_array_equal(p.lungs(2), segment_lungs(ph.hu, True, spacing=ph.spacing)[2])
    assert p.hu is ph.hu and p.notes == ["n"] and p.voxel_ml == pytest.approx(0.002)
    assert p.severity()["ggo_share"] is not None
