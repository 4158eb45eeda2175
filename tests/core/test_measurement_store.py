"""viewer.core.measurement_store: a series' measurements on disk; bad content never raises
and nothing readable is lost."""
from __future__ import annotations

import json

import pytest

from viewer.core import measurement_store as ms
from viewer.io import atomic

RULER = {"kind": "ruler", "index": 2, "points": [[10.0, 10.0], [40.0, 50.0]], "text": "150.0 mm"}
ELLIPSE = {"kind": "ellipse", "index": 0, "ellipse": {"cx": 20.5, "cy": 30.0, "a": 4.0, "b": 2.5, "angle": 30.0},
           "text": "31.4 mm²"}
FREEHAND = {"kind": "freehand", "index": 7, "points": [[1, 1], [5, 1], [5, 6]], "text": ""}


def test_save_then_load_gives_the_same_measurements(tmp_path):
    p = ms.measurements_path(tmp_path, "1.2.840.113619/series 3")
    assert p.parent == tmp_path and p.name.endswith(".measurements.json") and " " not in p.name
    ms.save_measurements(p, "1.2.840.113619/series 3", [RULER, ELLIPSE, FREEHAND])
    got, messages = ms.load_measurements(p, n_slices=8)
    assert messages == []
    assert got[0] == RULER and got[1] == ELLIPSE
    assert got[2]["points"] == [[1.0, 1.0], [5.0, 1.0], [5.0, 6.0]]
    data = json.loads(p.read_text())
    assert data["series_key"] == "1.2.840.113619/series 3" and data["version"] == ms.VERSION
    assert [f.name for f in tmp_path.iterdir()] == [p.name]    # no temporary file left over


def test_keys_that_differ_only_in_unsafe_characters_get_their_own_files(tmp_path):
    assert ms.measurements_path(tmp_path, "a/b") != ms.measurements_path(tmp_path, "a:b")
    with pytest.raises(ValueError, match="series key is empty"):
        ms.measurements_path(tmp_path, "  ")


def test_missing_file_is_no_measurements(tmp_path):
    assert ms.load_measurements(tmp_path / "none.measurements.json") == ([], [])


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"measurements": 3}', "\udcff"])
def test_an_unreadable_file_is_moved_aside_not_lost(tmp_path, content):
    p = ms.measurements_path(tmp_path, "s")
    p.write_bytes(content.encode("utf-8", "surrogateescape"))
    got, messages = ms.load_measurements(p)
    assert got == [] and len(messages) == 1
    assert p.name in messages[0] and "unreadable" in messages[0] and "starting empty" in messages[0]
    aside = p.with_name(p.name + ".unreadable-1")
    assert aside.read_bytes() == content.encode("utf-8", "surrogateescape") and not p.exists()
    p.write_text("{again")                     # a second bad file goes beside the first
    ms.load_measurements(p)
    assert p.with_name(p.name + ".unreadable-2").exists() and aside.exists()


@pytest.mark.parametrize("bad,why", [
    ({"kind": "angle", "index": 0}, "kind"),
    ({"kind": "ruler", "index": -1, "points": [[0, 0], [1, 1]]}, "slice index"),
    ({"kind": "ruler", "index": True, "points": [[0, 0], [1, 1]]}, "slice index"),
    ({"kind": "ruler", "index": 9, "points": [[0, 0], [1, 1]]}, "beyond the series' 8 slices"),
    ({"kind": "ruler", "index": 0, "points": [[0, 0]]}, "exactly 2"),
    ({"kind": "ruler", "index": 0, "points": [[0, 0], [1, float("nan")]]}, "finite"),
    ({"kind": "freehand", "index": 0, "points": [[0, 0], [1, 1]]}, "at least 3"),
    ({"kind": "ellipse", "index": 0, "ellipse": {"cx": 1, "cy": 1, "a": 0, "b": 1, "angle": 0}}, "semi-axes"),
    ({"kind": "ellipse", "index": 0, "ellipse": {"cx": 1}}, "finite cx"),
    ("ruler", "not an object"),
])
def test_a_bad_measurement_is_skipped_and_named_the_rest_kept(tmp_path, bad, why):
    p = ms.measurements_path(tmp_path, "s")
    p.write_text(json.dumps({"version": 1, "measurements": [RULER, bad, FREEHAND]}, allow_nan=True))
    got, messages = ms.load_measurements(p, n_slices=8)
    assert [m["kind"] for m in got] == ["ruler", "freehand"]
    assert len(messages) == 1 and "measurement 2 skipped" in messages[0] and why in messages[0]
    if "beyond" not in why:                        # saving does not know the series' length
        with pytest.raises(ValueError, match=f"measurement 1: .*{why}"):
            ms.save_measurements(p, "s", [bad])
        assert ms.load_measurements(p, 8)[0] == got    # a refused save writes nothing


def test_a_failed_write_is_an_oserror_and_the_old_set_stays(tmp_path, monkeypatch):
    p = ms.save_measurements(ms.measurements_path(tmp_path, "s"), "s", [RULER])
    blocked = tmp_path / ".part-blocked"
    blocked.mkdir()                                # the temporary file cannot be written
    monkeypatch.setattr(atomic, "temp_name", lambda final: blocked)
    with pytest.raises(OSError):
        ms.save_measurements(p, "s", [])
    assert ms.load_measurements(p)[0] == [RULER]


def test_the_user_folder_is_the_platform_data_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert ms.user_measurements_dir() == tmp_path / "covid-ct-reading-room" / "measurements"
