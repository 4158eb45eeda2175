"""Score panel (offscreen Qt): reader remembered, keys 1–5, saved-after-commit, blinded list."""
from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")
from PyQt6 import QtCore, QtGui, QtWidgets  # noqa: E402

from viewer.study.reading_list import METHOD_LABELS, ReadingList, SliceTarget  # noqa: E402
from viewer.study.score_store import ScoreStore, ScoreStoreError  # noqa: E402
from viewer.ui.score_panel import ScorePanel  # noqa: E402

pytestmark = pytest.mark.gui
SEV = ["mild", "common", "severe"]


class FakeViewer:
    """Stands in for the main window: what is on screen, and the requestItem slot."""

    def __init__(self):
        self.ctx = {"study_uid": "1.2", "series_uid": "1.2.3", "sop_instance_uid": "1.2.3.0",
                    "image_hash": "", "slice_index": 0, "method": "gan",
                    "severity_category": "mild"}
        self.requests = []
        self.severity_shown = []

    def context(self):
        return dict(self.ctx) if self.ctx else None

    def show_item(self, d):
        self.requests.append(d)
        i = d["slice_index"]
        self.ctx.update(slice_index=i, method=d["method"], sop_instance_uid=f"1.2.3.{i}",
                        severity_category=SEV[i % 3])


@pytest.fixture()
def settings(tmp_path):
    return QtCore.QSettings(str(tmp_path / "settings.ini"), QtCore.QSettings.Format.IniFormat)


@pytest.fixture()
def make_panel(qtbot, tmp_path, settings):
    def make(viewer, db=None, register=True):
        panel = ScorePanel(viewer.context, db_path=db or tmp_path / "scores.sqlite",
                           settings=settings)
        panel.requestItem.connect(viewer.show_item)
        panel.severityVisibilityChanged.connect(viewer.severity_shown.append)
        if register:  # not when a host window owns it
            qtbot.addWidget(panel)
        return panel
    return make


def reading_list(seed=3):
    slices = [SliceTarget(i, "1.2", "1.2.3", f"1.2.3.{i}") for i in range(3)]
    return ReadingList.build(slices, ["gan", "gradcam"], seed=seed, name="t")


def test_reader_identifies_once_and_is_remembered(make_panel):
    v = FakeViewer()
    p = make_panel(v)
    assert p.reader_id is None and not p.score_buttons[3].isEnabled()
    assert not p.give_score(3)
    assert "reader id" in p.status_label.text()
    assert not p.set_reader("   ")
    assert p.set_reader(" alice ") and p.reader_id == "alice"
    p2 = make_panel(v)
    assert p2.reader_id == "alice" and p2.reader_box.isHidden()


def test_keys_save_score_with_comment_and_unsure(make_panel, qtbot, tmp_path):
    v = FakeViewer()
    p = make_panel(v, register=False)
    p.set_reader("alice")
    host = QtWidgets.QMainWindow()  # docked as in the viewer; keys work anywhere in the window
    qtbot.addWidget(host)
    view = QtWidgets.QWidget()  # stands in for the slice view, which has the focus
    view.setFocusPolicy(QtCore.Qt.FocusPolicy.StrongFocus)
    host.setCentralWidget(view)
    dock = QtWidgets.QDockWidget("Reader study", host)
    dock.setWidget(p)
    host.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, dock)
    window_keys = []  # the viewer's own shortcuts on the same keys (W/L presets, next series)
    for k in ("4", "2", "N"):
        sc = QtGui.QShortcut(QtGui.QKeySequence(k), host)
        sc.activated.connect(lambda k=k: window_keys.append(k))
    with qtbot.waitActive(host):
        host.show()
        host.activateWindow()
    p.comment_edit.setText("left lower lobe missed")
    p.unsure_check.setChecked(True)
    view.setFocus()
    qtbot.keyClick(view, QtCore.Qt.Key.Key_4)
    assert p.status_label.text().startswith("Saved: 4")
    with ScoreStore(tmp_path / "scores.sqlite") as s:
        (row,) = s.for_reader("alice").all_latest()
    assert (row.score, row.comment, row.unsure, row.severity_category) == (
        4, "left lower lobe missed", True, "mild")
    assert p.score_buttons[4].isChecked() and not p.score_buttons[3].isChecked()
    # typing digits into the comment field writes text, it does not score
    p.comment_edit.setFocus()
    qtbot.keyClicks(p.comment_edit, " 2")
    assert p.comment_edit.text().endswith(" 2") and p.status_label.text().startswith("Saved: 4")
    qtbot.keyClick(p.comment_edit, QtCore.Qt.Key.Key_Return)  # Enter leaves the field
    assert not p.comment_edit.hasFocus()
    assert window_keys == [] and p.score_keys_active()
    view.setFocus()
    qtbot.keyClick(view, QtCore.Qt.Key.Key_2)  # a re-score is held: asked, not saved
    assert "press 2 again" in p.status_label.text().lower()
    with ScoreStore(tmp_path / "scores.sqlite") as s:
        assert s.for_reader("alice").latest(row.key).score == 4
    assert p.score_buttons[4].isChecked() and not p.score_buttons[2].isChecked()
    qtbot.keyClick(view, QtCore.Qt.Key.Key_2)  # the same key again: an edit, latest wins
    with ScoreStore(tmp_path / "scores.sqlite") as s:
        latest = s.for_reader("alice").latest(row.key)
    assert latest.score == 2 and latest.n_versions == 2 and "(edit 2)" in p.status_label.text()
    assert window_keys == []
    p.keys_check.setChecked(False)  # keys go back to the viewer
    qtbot.keyClick(view, QtCore.Qt.Key.Key_4)
    assert window_keys == ["4"]
    with ScoreStore(tmp_path / "scores.sqlite") as s:
        assert s.for_reader("alice").latest(row.key).score == 2


def test_saved_shown_only_after_commit(make_panel, monkeypatch):
    v = FakeViewer()
    p = make_panel(v)
    p.set_reader("alice")

    def failing_save(*a, **k):
        raise ScoreStoreError("score database x: score not saved (database is locked)")

    monkeypatch.setattr(p._reader, "save", failing_save)
    assert not p.give_score(5)
    assert p.status_label.text().startswith("Not saved:") and "locked" in p.status_label.text()
    assert not p.score_buttons[5].isChecked()
    v.ctx = None
    assert not p.give_score(5)
    assert "no slice on screen" in p.status_label.text()
    v.ctx = FakeViewer().ctx
    v.ctx["slice_index"] = -2
    assert not p.give_score(5) and "slice index" in p.status_label.text()


def test_blinded_list_navigation_severity_and_progress(make_panel, tmp_path, qtbot):
    v = FakeViewer()
    p = make_panel(v)
    p.set_reader("bob")
    rl = reading_list()
    path = rl.save(tmp_path / "list.json")
    assert p.load_reading_list(path)
    first = v.requests[-1]
    assert first["blinded"] and (first["slice_index"], first["method"]) == (
        rl.items[0].slice_index, rl.items[0].method)
    label = p.item_label.text()
    assert "R001" in label and "hidden" in label
    assert not any(name in label for name in METHOD_LABELS.values())
    assert v.severity_shown[-1] is False
    assert p.progress_label.text() == "0 / 6 scored"
    with qtbot.waitSignal(p.severityVisibilityChanged) as sig:
        p.give_score(3)
    assert sig.args == [True]
    assert p.progress_label.text() == "1 / 6 scored"
    p.next_unscored()
    assert (v.requests[-1]["slice_index"], v.requests[-1]["method"]) == (
        rl.items[1].slice_index, rl.items[1].method)
    assert v.severity_shown[-1] is False and "R002" in p.item_label.text()
    # severity stored from the viewer's readout
    with ScoreStore(tmp_path / "scores.sqlite") as s:
        (row,) = s.for_reader("bob").all_latest()
    assert row.severity_category == SEV[rl.items[0].slice_index % 3]
    p.advance_check.setChecked(True)
    for _ in range(5):
        p.give_score(4)
    assert p.progress_label.text() == "6 / 6 scored"
    p.next_unscored()
    assert "All 6 items are scored" in p.status_label.text()
    # the list is remembered for the next session
    p2 = make_panel(v)
    assert p2.reading_list is not None and p2.progress_label.text() == "6 / 6 scored"


def test_reader_sees_only_own_scores(make_panel):
    v = FakeViewer()
    p = make_panel(v)
    p.set_reader("alice")
    p.give_score(5)
    p.set_reader("bob")
    assert p.status_label.text() == "Not scored yet."
    assert not any(b.isChecked() for b in p.score_buttons.values())
    p.give_score(1)
    p.set_reader("alice")
    assert p.score_buttons[5].isChecked() and not p.score_buttons[1].isChecked()


def test_bad_list_and_bad_database(make_panel, tmp_path):
    v = FakeViewer()
    p = make_panel(v)
    p.set_reader("alice")
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2")
    assert not p.load_reading_list(bad)
    assert "not valid JSON" in p.status_label.text() and p.reading_list is None
    corrupt = tmp_path / "corrupt.sqlite"
    corrupt.write_bytes(b"garbage" * 300)
    p2 = make_panel(v, db=corrupt)
    assert p2.store is None and "not a usable SQLite" in p2.status_label.text()
    assert not p2.score_buttons[4].isEnabled()
    assert not p2.give_score(4)


def _damage(db):
    import numpy as np

    store = ScoreStore(db)
    r = store.for_reader("alice")
    from viewer.study.score_store import ItemKey

    for i in range(400):
        r.save(ItemKey.make(study_uid="1.2", series_uid="1.2.3", sop_instance_uid=f"9.{i}",
                            slice_index=i, method="gan"), 3, comment="x" * 40)
    store.close()
    with open(db, "r+b") as f:
        f.seek(2 * 4096)
        f.write(np.random.default_rng(5).integers(0, 256, 200, dtype=np.uint8).tobytes())
    return db.read_bytes()


@pytest.mark.parametrize("open_check", [True, False])
def test_damaged_database_disables_the_panel_until_another_is_chosen(
        make_panel, tmp_path, settings, monkeypatch, open_check):
    """Issue #13: 200 random bytes after page 2. The panel says so, stays up, disabled; choosing
    another database brings it back. ``open_check=False``: damage the open check misses, found
    while reading (set_reader -> progress); it must not escape into Qt."""
    db = tmp_path / "damaged.sqlite"
    damaged = _damage(db)
    if not open_check:
        monkeypatch.setattr(ScoreStore, "_quick_check", lambda self: None)
    settings.setValue("score_panel/reader_id", "alice")  # set_reader at start
    v = FakeViewer()
    p = make_panel(v, db=db)
    p.set_reader("alice")
    assert p.store is None
    assert "damaged" in p.status_label.text() and "damaged" in p.db_label.text()
    assert not p.score_buttons[4].isEnabled() and not p.give_score(4)
    p.refresh()
    p.next_unscored()
    assert db.read_bytes() == damaged  # nothing written into the damaged file
    assert p.set_db_path(tmp_path / "fresh.sqlite")
    assert p.set_reader("alice") and p.score_buttons[4].isEnabled()
    assert p.give_score(4)
