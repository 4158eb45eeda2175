"""Refine model: brush/eraser strokes, bounded delta history, journal persistence and recovery."""
from __future__ import annotations

import json

import numpy as np
import pytest

from viewer.core.edit_journal import adopt_legacy_journal, journal_path, user_edits_dir
from viewer.core.mask_edits import MaskEdits, capsule

SHAPE = (3, 40, 50)


def _blank():
    return np.zeros(SHAPE[1:], dtype=bool)


def test_brush_disk_and_line_without_gaps():
    e = MaskEdits(SHAPE)
    assert e.paint_line(1, [(20, 25)], 3, True) == 1
    m = e.apply(1, _blank())
    yy, xx = np.mgrid[0:40, 0:50]
    assert np.array_equal(m, (yy - 20) ** 2 + (xx - 25) ** 2 <= 9)
    e.paint_line(0, [(5, 2), (5, 45)], 2, True)  # two far points: a continuous bar
    row = e.apply(0, _blank())[5]
    assert row[2:46].all()
    assert not e.apply(2, _blank()).any()


def test_eraser_overrides_map_and_threshold_changes_keep_edits():
    e = MaskEdits(SHAPE)
    lesion_map = np.zeros(SHAPE[1:], dtype=np.float32)
    lesion_map[10:20, 10:20] = 0.8
    e.paint_line(0, [(15, 15)], 2, False)  # erase the middle of the map's lesion
    e.paint_line(0, [(30, 40)], 2, True)  # paint where the map says nothing
    for t in (0.5, 0.9):
        m = e.slice_mask(0, lesion_map, t)
        assert not m[15, 15] and m[30, 40]
    assert e.slice_mask(0, lesion_map, 0.5)[10, 10]
    assert not e.slice_mask(0, lesion_map, 0.9)[10, 10]
    lungs = np.zeros(SHAPE[1:], dtype=bool)
    lungs[:, :25] = True
    restricted = e.slice_mask(0, lesion_map, 0.5, lungs)
    assert restricted[10, 10] and not restricted[30, 40]
    vol = e.volume_mask(np.stack([lesion_map] * 3), 0.5, np.stack([lungs] * 3))
    assert vol.shape == SHAPE and np.array_equal(vol[0], restricted)
    assert e.edited_slices() == [0]


def test_undo_redo_strokes():
    e = MaskEdits(SHAPE)
    e.paint_line(1, [(10, 10)], 3, True)
    first = e.apply(1, _blank())
    e.paint_line(1, [(10, 12), (30, 40)], 3, True)
    both = e.apply(1, _blank())
    assert e.n_edits == 2 and e.can_undo and not e.can_redo
    assert e.undo() == 1
    assert np.array_equal(e.apply(1, _blank()), first)
    assert e.undo() == 1 and not e.apply(1, _blank()).any()
    assert e.undo() is None and not e.can_undo
    assert e.redo() == 1 and e.redo() == 1
    assert np.array_equal(e.apply(1, _blank()), both)
    e.undo()
    e.paint_line(2, [(5, 5)], 1, False)  # a new stroke clears the redo stack
    assert not e.can_redo and e.n_edits == 2


def test_stroke_in_progress_via_paint_calls():
    e = MaskEdits(SHAPE)
    e.begin_stroke(0)
    for x in range(5, 30, 6):
        e.paint(0, 20, x, 2, True)
    assert e.in_stroke and e.apply(0, _blank())[20, 5:30].all()  # live while painting
    assert e.end_stroke() == 0 and not e.in_stroke
    assert e.history_length == 1
    e.paint(0, 5, 5, 2, True)
    e.paint(0, 5, 9, 2, False)  # brush -> eraser ends the stroke and starts another
    e.end_stroke()
    assert e.history_length == 3


def test_history_is_bounded_deltas_not_copies():
    e = MaskEdits((2, 512, 512), max_history=5)
    for k in range(12):
        e.paint_line(0, [(20 + 30 * k, 40)], 4, True)
    assert e.history_length == 5
    assert e.n_edits == 12
    # a disk of radius 4 changes ~50 px: deltas are small, far below one 512x512 slice copy
    assert e.history_bytes < 5 * 60 * (4 + 1 + 1)
    for _ in range(5):
        assert e.undo() == 0
    assert e.undo() is None
    assert e.apply(0, np.zeros((512, 512), bool)).sum() > 0  # forgotten steps stay applied
    small = MaskEdits((1, 100, 100), max_history_bytes=2000)
    for k in range(10):
        small.paint_line(0, [(10 + 8 * k, 50)], 3, True)
    assert small.history_bytes <= 2000 and small.history_length >= 1


def test_journal_round_trip(tmp_path):
    e = MaskEdits(SHAPE, journal_dir=tmp_path, series_key="1.2.840.99")
    e.paint_line(0, [(10, 10), (10, 30)], 3, True)
    e.paint_line(2, [(20, 20)], 5, True)
    e.paint_line(2, [(20, 20)], 2, False)
    e.undo()
    e.set_setting("threshold", 0.42)
    expected = [e.apply(k, _blank()) for k in range(3)]
    assert e.persistent and e.journal_path.exists()
    # no close(): everything is already on disk (fsynced per record), as after a crash
    f = MaskEdits(SHAPE, journal_dir=tmp_path, series_key="1.2.840.99")
    assert f.messages == []
    for k in range(3):
        assert np.array_equal(f.apply(k, _blank()), expected[k])
    assert f.settings == {"threshold": 0.42}
    assert f.can_redo and f.n_edits == 2
    assert f.redo() == 2  # the undo history survives reopening
    f.close()
    g = MaskEdits(SHAPE, journal_dir=tmp_path, series_key="1.2.840.99")
    assert not g.apply(2, _blank())[20, 20]
    g.close()


def test_corrupt_and_torn_journal_lines_are_skipped(tmp_path):
    e = MaskEdits(SHAPE, journal_dir=tmp_path, series_key="s")
    e.paint_line(0, [(10, 10)], 3, True)
    e.paint_line(1, [(10, 10)], 3, True)
    e.close()
    path = e.journal_path
    lines = path.read_text().splitlines()
    lines.insert(2, "{not json")
    lines.append(json.dumps({"kind": "stroke", "slice": 99, "value": 1, "runs": [[0, 3]]}))
    lines.append(json.dumps({"kind": "stroke", "slice": 0, "value": 1, "runs": [[10**9, 3]]}))
    lines.append(json.dumps({"kind": "stroke", "slice": 0, "value": 1, "runs": "x"}))
    lines.append(json.dumps([1, 2]))
    lines.append(json.dumps({"kind": "teleport"}))
    path.write_text("\n".join(lines) + '\n{"kind": "stroke", "sli')  # torn last line
    f = MaskEdits(SHAPE, journal_dir=tmp_path, series_key="s")
    assert len(f.messages) == 7
    assert all(str(path) in m for m in f.messages)
    assert f.apply(0, _blank())[10, 10] and f.apply(1, _blank())[10, 10]
    f.paint_line(2, [(5, 5)], 2, True)  # appended after the torn line, on a line of its own
    f.close()
    g = MaskEdits(SHAPE, journal_dir=tmp_path, series_key="s")
    assert g.apply(2, _blank())[5, 5]
    assert len(g.messages) == 7  # the same bad lines, nothing new broken
    g.close()


def test_journal_for_another_shape_is_moved_aside(tmp_path):
    e = MaskEdits(SHAPE, journal_dir=tmp_path, series_key="s")
    e.paint_line(0, [(10, 10)], 3, True)
    e.close()
    f = MaskEdits((4, 40, 50), journal_dir=tmp_path, series_key="s")
    assert any("moved aside" in m for m in f.messages)
    assert not f.apply(0, _blank()).any()
    aside = [p for p in tmp_path.iterdir() if "other-shape" in p.name]
    assert len(aside) == 1 and "stroke" in aside[0].read_text()
    f.close()


def test_unwritable_journal_keeps_edits_in_memory(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    e = MaskEdits(SHAPE, journal_dir=blocker / "sub", series_key="s")
    assert not e.persistent
    assert any("cannot write" in m and "in memory" in m for m in e.messages)
    e.paint_line(0, [(10, 10)], 3, True)
    assert e.apply(0, _blank())[10, 10]


def test_journal_names_and_default_dir(tmp_path):
    a = journal_path(tmp_path, "1.2.3/../x y")
    b = journal_path(tmp_path, "1.2.3/../x_y")
    assert a != b and a.parent == tmp_path and "/" not in a.name[:-1]
    assert user_edits_dir().name == "edits"
    with pytest.raises(ValueError, match="series key"):
        journal_path(tmp_path, " ")


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda: MaskEdits((3, 4)), "shape"),
        (lambda: MaskEdits(SHAPE, max_history=0), "max_history"),
        (lambda: MaskEdits(SHAPE, series_key="s"), "both"),
        (lambda: MaskEdits(SHAPE).paint(5, 1, 1, 2, True), "slice 5"),
        (lambda: MaskEdits(SHAPE).paint(0, 1, 1, 0, True), "radius"),
        (lambda: MaskEdits(SHAPE).paint(0, float("nan"), 1, 2, True), "finite"),
        (lambda: MaskEdits(SHAPE).apply(0, np.zeros((3, 3), bool)), "shape"),
        (lambda: MaskEdits(SHAPE).slice_mask(0, np.zeros(SHAPE[1:]), 2.0), "threshold"),
    ],
)
def test_bad_input_gives_clear_error(call, words):
    with pytest.raises(ValueError, match="mask edits") as err:
        call()
    assert words in str(err.value)


def test_capsule_clips_to_the_slice():
    assert capsule((10, 10), (-50, -50), (-40, -40), 2) is None
    sl, sub = capsule((10, 10), (0, 0), (0, 0), 1.5)
    assert sub.sum() == 4  # (0,0), (0,1), (1,0), (1,1)


def test_journal_is_created_by_the_first_edit_only(tmp_path):
    d = tmp_path / "journals"
    e = MaskEdits(SHAPE, journal_dir=d, series_key="1.2.3")
    assert e.persistent and not d.exists()  # opening writes nothing
    e.close()
    assert not d.exists()
    e = MaskEdits(SHAPE, journal_dir=d, series_key="1.2.3")
    e.paint_line(1, [(20, 25)], 3, True)
    e.close()
    assert journal_path(d, "1.2.3").is_file()
    again = MaskEdits(SHAPE, journal_dir=d, series_key="1.2.3")
    assert again.n_edits == 1 and again.apply(1, _blank())[20, 25]
    again.close()


def test_legacy_journal_beside_the_study_is_adopted(tmp_path):
    study = tmp_path / "study"
    study.mkdir()
    e = MaskEdits(SHAPE, journal_dir=tmp_path / "study.edits", series_key="9.9")
    e.paint_line(0, [(5, 5)], 2, True)
    e.close()
    new_dir = tmp_path / "user" / "edits"
    assert adopt_legacy_journal(study, new_dir, "9.9")
    assert not adopt_legacy_journal(study, new_dir, "9.9")  # the new one is kept
    e = MaskEdits(SHAPE, journal_dir=new_dir, series_key="9.9")
    assert e.n_edits == 1
    e.close()
