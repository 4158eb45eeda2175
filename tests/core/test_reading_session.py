"""The reading session without a display: threshold, lung restriction, edits, slice changes and
severity, and the events the views subscribe to."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from viewer.core.events import EventHub
from viewer.core.lesion_layers import LesionLayers, SeriesCounts
from viewer.core.map_cache import MapCache
from viewer.core.mask_edits import MaskEdits
from viewer.core.reading_session import EVENTS, ReadingSession

Z, Y, X = 4, 32, 32


def _info(kind: str = "dicom"):
    return SimpleNamespace(key="series-1", source_kind=kind, spacing=(2.0, 1.0, 1.0),
                           is_hu=True, series_uid="1.2.3", study_uid="1.2")


def _series():
    """HU voxels (z, y, x): air outside, a lung box of -850 HU, a lesion blob of -500 HU; the
    map is 0.8 on the blob, 0.3 on the rest of the lung box, 0 elsewhere."""
    vox = np.full((Z, Y, X), -1000.0, np.float32)
    lungs = np.zeros((Z, Y, X), bool)
    lungs[:, 4:28, 4:28] = True
    vox[lungs] = -850.0
    maps = np.zeros((Z, Y, X), np.float32)
    maps[lungs] = 0.3
    maps[:, 10:14, 10:14] = 0.8
    vox[:, 10:14, 10:14] = -500.0
    maps[:, 0:2, 0:2] = 0.9  # outside the lungs
    return vox, lungs, maps


class Recorder:
    def __init__(self, session: ReadingSession):
        self.calls: list[tuple] = []
        for name in EVENTS:
            session.events.connect(name, lambda *a, name=name: self.calls.append((name, *a)))

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]


@pytest.fixture()
def session(tmp_path):
    vox, lungs, maps = _series()
    s = ReadingSession()
    s.localizer = SimpleNamespace(notes=[])
    s.open_series(_info(), vox, MaskEdits(vox.shape), index=1)
    store = MapCache(tmp_path / "maps").store("series-1", "feed", vox.shape)
    store.put_lungs(lungs)
    for i in range(Z):
        store.put(i, maps[i])
    s.attach_store(store)
    return s


def test_event_hub_calls_in_order_and_refuses_unknown_names():
    hub, got = EventHub("a"), []
    hub.connect("a", lambda v: got.append(("first", v)))
    hub.connect("a", lambda v: got.append(("second", v)))
    hub.emit("a", 1)
    assert got == [("first", 1), ("second", 1)]
    with pytest.raises(KeyError):
        hub.emit("b")
    hub.clear()
    hub.emit("a", 2)
    assert len(got) == 2


def test_open_series_resets_state_and_emits_series(tmp_path):
    vox, _, _ = _series()
    s = ReadingSession()
    rec = Recorder(s)
    s.open_series(_info(), vox, None, index=2)
    assert s.voxels is vox and s.store is None and s.pipeline is None
    assert isinstance(s.counts, SeriesCounts) and s.index == 2
    assert s.voxel_ml == pytest.approx(2.0 / 1000)
    assert rec.names()[-1] == "series"
    s.open_series(_info("pictures"), vox, None)
    assert s.voxel_ml is None  # pictures: no mm, no ml
    with pytest.raises(ValueError, match="3-D"):
        s.open_series(_info(), vox[0], None)


def test_pipeline_is_built_once_the_lungs_are_in(session):
    assert isinstance(session.pipeline, LesionLayers)
    m, mask = session.layers(1)
    assert m.dtype == np.float32 and m.shape == (Y, X) and mask.dtype == bool
    assert mask[11, 11] and not mask[20, 20] and not mask[0, 0]  # lungs only
    assert m[0, 0] == 0.0


def test_threshold_travels_one_way_and_is_recorded(session):
    rec = Recorder(session)
    session.set_threshold(0.2)
    assert rec.calls == [("threshold", 0.2)]
    assert session.pipeline.threshold == 0.2
    assert session.layers(1)[1][20, 20]  # 0.3 >= 0.2
    assert session.edits.settings["threshold"] == 0.2
    session.set_threshold(0.9, record=False)  # e.g. the model's own threshold
    assert session.edits.settings["threshold"] == 0.2
    assert not session.layers(1)[1][11, 11]


def test_threshold_before_the_localizer_is_not_an_annotator_setting(tmp_path):
    vox, _, _ = _series()
    s = ReadingSession()
    s.open_series(_info(), vox, MaskEdits(vox.shape))
    s.set_threshold(0.4)
    assert "threshold" not in s.edits.settings


def test_saved_settings_are_restored_when_a_series_opens(tmp_path):
    vox, _, _ = _series()
    edits = MaskEdits(vox.shape, journal_dir=tmp_path / "j", series_key="k")
    edits.set_setting("threshold", 0.25)
    edits.set_setting("restrict_to_lungs", False)
    edits.close()
    s = ReadingSession()
    rec = Recorder(s)
    s.open_series(_info(), vox, MaskEdits(vox.shape, journal_dir=tmp_path / "j", series_key="k"))
    assert s.threshold == 0.25 and s.lungs_only is False
    assert ("threshold", 0.25) in rec.calls and ("lungs_only", False) in rec.calls
    s.close()


def test_lung_restriction(session):
    session.set_lungs_only(False)
    assert session.layers(1)[1][0, 0]  # outside the lungs, now kept
    assert session.edits.settings["restrict_to_lungs"] is False


def test_slice_changes_emit_and_move_the_slice_numbers(session):
    rec = Recorder(session)
    session.set_index(3)
    assert rec.calls == [("slice", 3)] and session.index == 3
    s = session.slice_numbers(3)
    assert s["lesion_pct"] == pytest.approx(100.0 * 16 / (24 * 24))
    assert s["category"] == "mild"


def test_edits_paint_undo_redo_and_recount(session):
    rec = Recorder(session)
    session.set_index(2)
    assert not session.layers(2)[1][20, 20]
    assert session.begin_stroke(2)
    assert session.paint(2, 20.0, 20.0, 2.0, True)
    session.end_stroke()
    assert ("edited", 2) in rec.calls
    assert session.layers(2)[1][20, 20]
    painted = session.slice_numbers(2)["lesion_pct"]
    assert painted > 100.0 * 16 / (24 * 24)
    session.undo()
    assert not session.layers(2)[1][20, 20]
    assert session.slice_numbers(2)["lesion_pct"] == pytest.approx(100.0 * 16 / (24 * 24))
    session.redo()
    assert session.layers(2)[1][20, 20]
    assert rec.names().count("edited") == 3


def test_no_stroke_on_a_slice_without_a_map(tmp_path):
    vox, _, _ = _series()
    s = ReadingSession()
    s.open_series(_info(), vox, MaskEdits(vox.shape))
    assert not s.begin_stroke(0)
    assert not s.paint(0, 1.0, 1.0, 1.0, True)


def test_severity_of_the_series_after_a_recount(session):
    job = session.recount_job()
    assert job is not None
    job(lambda d, t: True)
    n = session.series_numbers()
    sev = n["severity"]
    assert n["done"] == n["total"] == Z and n["lung_found"]
    assert sev["lesion_pct"] == pytest.approx(100.0 * 16 / (24 * 24))
    assert sev["category"] == "mild"
    assert sev["lung_ml"] == pytest.approx(Z * 24 * 24 * 2.0 / 1000)
    assert session.severity_category(1) == "mild"


def test_a_newer_recount_stops_the_older_one(session):
    old = session.recount_job()
    session.recount_job()  # replaces the counts
    calls = []
    old(lambda d, t: calls.append(d) or True)
    assert calls == []  # the old job's progress is never reported


def test_close_drops_subscribers_and_closes_the_journal(session):
    rec = Recorder(session)
    session.close()
    session.set_index(0)
    assert rec.calls == []


def test_numbers_of_a_shown_map_and_the_reference_cohort_at_a_fixed_threshold(session):
    """#17: a reader-study item's severity comes from the map shown (not the GAN's), and its
    cohort from the GAN map at the list's threshold, whatever the reader's threshold."""
    _vox, lungs, maps = _series()
    other = np.zeros((Y, X), np.float32)
    other[4:28, 4:16] = 1.0  # half the lung box
    shown = session.map_numbers(1, other)
    assert shown["lesion_pct"] == pytest.approx(50.0)
    gan = session.map_numbers(1, maps[1])
    assert gan["lesion_pct"] == pytest.approx(100.0 * 16 / (24 * 24))
    session.set_threshold(0.2)  # the reader's own threshold: the whole lung box
    assert session.reference_category(1, 0.5) == gan["category"]
    assert session.map_numbers(1, maps[1])["lesion_pct"] == pytest.approx(100.0)
    assert session.reference_category(1, 0.2) == "critical"


def test_a_fixed_threshold_refuses_other_values_and_views_snap_back(session):
    seen = []
    session.events.connect("threshold", seen.append)
    session.fix_threshold(0.35)
    assert session.threshold == 0.35 and seen[-1] == 0.35
    session.set_threshold(0.7)  # a slider moved while a reading list fixes the threshold
    assert session.threshold == 0.35 and seen[-1] == 0.35
    session.fix_threshold(None)
    session.set_threshold(0.7)
    assert session.threshold == 0.7
