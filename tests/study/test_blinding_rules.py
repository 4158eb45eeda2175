"""#17 items 1-2, Qt-free: display settings in reading lists (version 2, version 1 still
loads), cohorts fixed per item, display settings stored with scores (migration 4), the key
and re-score rules."""
from __future__ import annotations

import json
import sqlite3

import pytest

from viewer.study.display_settings import COLORMAPS, DisplaySettings
from viewer.study.reading_list import ReadingList, SliceTarget
from viewer.study.score_store import ItemKey, ScoreStore, migrate
from viewer.study.scoring_rules import RescoreGuard, score_keys_allowed

DISPLAY = DisplaySettings(threshold=0.35, opacity=0.6, colormap="jet", window_width=1200,
                          window_level=-500)


def _list(**kw):
    targets = [SliceTarget(i, "1.2", "1.2.3", f"1.2.3.{i}") for i in range(3)]
    return ReadingList.build(targets, ["gan", "gradcam"], seed=3, **kw)


def test_display_settings_round_trip_and_old_lists_load(tmp_path):
    rl = _list(display=DISPLAY)
    back = ReadingList.load(rl.save(tmp_path / "v2.json"))
    assert back.display == DISPLAY and back.reference_method == "gan"
    data = json.loads((tmp_path / "v2.json").read_text())
    assert data["version"] == 2 and data["display"]["colormap"] == "jet"
    # a version-1 list (no display, no reference method) still loads: the reader's settings
    for k in ("display", "reference_method"):
        data.pop(k)
    data["version"] = 1
    (tmp_path / "v1.json").write_text(json.dumps(data))
    old = ReadingList.load(tmp_path / "v1.json")
    assert old.display is None and old.reference_method == "gan" and old.items == rl.items


@pytest.mark.parametrize("bad, message", [
    ({"opacity": 1.5}, r"display: opacity: must be in \[0, 1\], got 1.5"),
    ({"threshold": "high"}, r"display: threshold: expected a number in \[0, 1\]"),
    ({"colormap": "rainbow"}, r"display: colormap: expected one of inferno"),
    ({"window_width": 0}, r"display: window width: must be > 0 HU"),
    ({"window_level": float("nan")}, r"display: window level: expected a finite number"),
    ({"gamma": 2}, r"display: unknown setting 'gamma'"),
    ("dark", r"display: expected an object"),
])
def test_bad_display_settings_are_one_clear_line(tmp_path, bad, message):
    data = _list(display=DISPLAY).to_json()
    data["display"] = {**DISPLAY.to_json(), **bad} if isinstance(bad, dict) else bad
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=message) as err:
        ReadingList.load(p)
    assert str(err.value).startswith(f"reading list {p}: ") and "\n" not in str(err.value)


def test_bad_reference_method(tmp_path):
    data = _list().to_json()
    data["reference_method"] = "magic"
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="reference_method: method 'magic'"):
        ReadingList.load(p)


def test_cohort_fixed_per_item_from_the_lists_threshold():
    seen = []

    def category_of(item, threshold):
        seen.append(threshold)
        return "severe" if item.slice_index == 1 else "mild"

    rl = _list(display=DISPLAY).with_cohorts(category_of)
    assert set(seen) == {0.35}  # the list's threshold, never a reader's
    assert {(it.slice_index, it.severity_category) for it in rl.items} == {
        (0, "mild"), (1, "severe"), (2, "mild")}
    assert len(rl) == 6  # every item, both methods: the cohort belongs to the slice
    with pytest.raises(ValueError, match="severity category"):
        _list().with_cohorts(lambda it, t: "terrible")


def test_scores_store_their_display_settings_and_v3_databases_migrate(tmp_path):
    path = tmp_path / "v3.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn, target=3) == 3
    conn.execute("INSERT INTO scores (reader_id, sop_instance_uid, slice_index, method, score, "
                 "saved_at) VALUES ('r1', '1.2.3.0', 0, 'gan', 3, '2026-01-01T00:00:00+00:00')")
    conn.close()
    with ScoreStore(path) as s:
        assert s.version == 4
        r = s.for_reader("r1")
        key = ItemKey.make(sop_instance_uid="1.2.3.0", slice_index=0, method="gan")
        assert r.latest(key).display is None  # the old row: nothing recorded
        r.save(key, 4, display=DISPLAY.to_json())
        assert r.latest(key).display == DISPLAY.to_json()
        assert s.aggregate_latest()[0].display["colormap"] == "jet"
        with pytest.raises(ValueError, match="display: expected a dict"):
            r.save(key, 4, display="jet")
        with pytest.raises(ValueError, match="display: not storable as JSON"):
            r.save(key, 4, display={"threshold": float("nan")})


def test_score_keys_only_with_the_panel_raised_and_an_item_on_screen():
    ok = dict(panel_raised=True, reader_ready=True, keys_enabled=True, item_on_screen=True,
              list_open=True)
    assert score_keys_allowed("2", **ok) and score_keys_allowed("N", **ok)
    assert not score_keys_allowed("2", **{**ok, "panel_raised": False})
    assert not score_keys_allowed("N", **{**ok, "panel_raised": False})
    assert not score_keys_allowed("2", **{**ok, "item_on_screen": False})
    assert score_keys_allowed("N", **{**ok, "item_on_screen": False})  # N finds the items
    assert not score_keys_allowed("N", **{**ok, "list_open": False})
    assert not score_keys_allowed("5", **{**ok, "keys_enabled": False})


def test_rescoring_needs_the_same_score_twice():
    g = RescoreGuard()
    assert g.decide("k", 3, None) == "save"  # first score
    assert g.decide("k", 4, 3) == "confirm"  # never silently replaced
    assert g.decide("k", 5, 3) == "confirm"  # another value: ask again for that one
    assert g.decide("other", 5, 2) == "confirm"
    assert g.decide("other", 5, 2) == "save"  # the same score again confirms
    assert g.pending is None
    assert COLORMAPS[0] == "inferno"
