"""Reader study in the main window: scoring the shown slice, a blinded list, keys 1–5 and N."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from PyQt6 import QtCore

from ui_phantom import FakeLocalizer

pytestmark = pytest.mark.gui
K = QtCore.Qt.Key


@pytest.fixture()
def study_window(qtbot, tmp_path, isolated_settings, phantom):
    """A window with the score panel on a temp database, the phantom open and localized."""
    from viewer.core.map_cache import MapCache
    from viewer.ui.main_window import MainWindow

    loc = FakeLocalizer()
    win = MainWindow(lambda _p=None: loc, cache=MapCache(tmp_path / "maps"),
                     settings=isolated_settings, db_path=tmp_path / "scores.sqlite")
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    with qtbot.waitSignal(win.seriesShown, timeout=20000):
        win.open_path(phantom)
    qtbot.waitUntil(lambda: win.store is not None and win.store.is_complete(), timeout=20000)
    assert win.score_panel.set_reader("r1")
    return win


def test_scoring_the_shown_slice_saves_to_the_given_db(study_window, tmp_path):
    from viewer.study.score_store import ScoreStore

    win = study_window
    assert str(win.score_panel.store.path) == str(tmp_path / "scores.sqlite")
    win.view.set_index(3)
    assert win.score_panel.give_score(4)
    assert "Saved: 4" in win.score_panel.status_label.text()
    rows = ScoreStore(tmp_path / "scores.sqlite").for_reader("r1").all_latest()
    assert len(rows) == 1
    row = rows[0]
    assert row.score == 4 and row.key.slice_index == 3 and row.key.method == "gan"
    assert row.key.series_uid == win.info.series_uid


def test_blinded_list_hides_method_and_severity_and_n_goes_on(qtbot, study_window, tmp_path):
    from viewer.study.reading_list import ReadingList, slice_targets_from_series

    win, panel = study_window, study_window.score_panel
    maps = {}
    for i in (1, 5):  # an imported map: a square in the middle
        m = np.zeros(win.voxels.shape[1:], np.float32)
        m[20:40, 20:40] = 1.0
        np.save(tmp_path / f"slice_{i}.npy", m)
        maps[i] = tmp_path / f"slice_{i}.npy"
    rl = ReadingList.build(slice_targets_from_series(win.info, [1, 5]), ["gan", "import:vendorx"],
                           seed=7, blinded=True, imported_maps={"import:vendorx": maps})
    rl.save(tmp_path / "study.json")
    assert panel.load_reading_list(tmp_path / "study.json")
    first = rl.items[0]
    # item 1 on screen, with its own method's map, the method named nowhere
    assert win.view.index == first.slice_index and win.map_method == first.method
    assert win.score_context()["method"] == first.method
    assert "method hidden" in panel.item_label.text()
    shown = panel.item_label.text() + win.view.overlay_note + win.windowTitle() \
        + win.statusBar().currentMessage()
    for name in ("GAN", "vendorx", "import", "Grad-CAM"):
        assert name not in shown
    # severity hidden until scored (the dock stays and says why)
    assert win.docks["severity"].isVisible()
    assert "hidden until you score this item" in win.severity.slice_label.text()
    assert panel.give_score(3)
    assert "Severity hidden" not in win.severity.slice_label.text()
    # N (the panel's key, over the window's next-series key) goes to the next unscored item
    win.docks["scores"].raise_()
    win.activateWindow()
    qtbot.waitUntil(lambda: panel.score_keys_active(), timeout=3000)
    qtbot.waitUntil(lambda: QtCore.QCoreApplication.instance().activeWindow() is win, timeout=3000)
    opened_before = win.info
    qtbot.keyClick(win.view, K.Key_N)
    second = rl.items[1]
    assert win.info is opened_before  # not the next series
    assert (win.view.index, win.map_method) == (second.slice_index, second.method)
    assert "Severity hidden" in win.severity.slice_label.text()
    qtbot.keyClick(win.view, K.Key_2)  # the panel's score key, not the mediastinum preset
    latest = panel._reader.latest(second.key)
    assert latest is not None and latest.score == 2
    assert "2 / 4" in panel.progress_label.text()


def test_cam_item_shows_the_classifier_map(qtbot, study_window):
    from gan.resources import CLASSIFIER_WEIGHTS

    if not CLASSIFIER_WEIGHTS.is_file():
        pytest.skip("resources/weights/classifier.safetensors is missing")
    win = study_window
    win.open_item({"series_uid": win.info.series_uid, "slice_index": 2, "method": "gradcam",
                   "blinded": False, "code": "R001"})
    assert win.score_context() == {}  # computed in the background: no score meanwhile
    assert "computing the Grad-CAM map" in win.statusBar().currentMessage()
    qtbot.waitUntil(lambda: win._cam_request is None, timeout=60000)
    assert win.view.index == 2 and win.map_method == "gradcam"
    assert win.score_context()["method"] == "gradcam"
    m, mask = win.shown_layers(2)
    assert m.shape == win.voxels.shape[1:] and 0.0 <= m.min() and m.max() <= 1.0
    assert not np.array_equal(m, win.lesion_layers(2)[0])
    assert "Grad-CAM" in win.view.overlay_note
    win.view.set_index(3)  # another slice: back to the GAN map
    assert win.map_method == "gan" and win.score_context()["method"] == "gan"


def test_help_lists_the_reader_study_keys():
    from viewer.ui.help_dialog import SHORTCUTS

    text = " ".join(k + " " + a for k, a in SHORTCUTS)
    assert "1–5 / N" in text and "next unscored" in text


def test_item_in_another_series_is_not_scored_while_it_is_read(qtbot, make_window, tmp_path):
    from ui_phantom import write_phantom

    write_phantom(tmp_path / "two" / "a", n=3)
    write_phantom(tmp_path / "two" / "b", n=3)
    win = make_window(score_panel=False)
    with qtbot.waitSignal(win.seriesShown, timeout=20000):
        win.open_path(tmp_path / "two")
    other = next(s for s in win.browser.series() if s is not win.info)
    with qtbot.waitSignal(win.seriesShown, timeout=20000):
        win.open_item({"series_uid": other.series_uid, "slice_index": 1, "method": "gan"})
        assert win.score_context() == {}  # the old slice must not get the item's score
    ctx = win.score_context()
    assert win.info is other and ctx["slice_index"] == 1 and ctx["method"] == "gan"


def _slow_cam(monkeypatch, seconds: float, gate: threading.Event | None = None):
    """Replace the CAM computation by a synthetic one (no weights needed): a square whose value
    is 0.9, after ``seconds``; ``gate`` (when given) holds it until set."""
    from viewer.core.cam_maps import CamMapComputer

    calls = []

    def compute(self, sl, is_hu, method, progress=None):
        calls.append(method)
        if gate is not None:
            gate.wait(60)
        time.sleep(seconds)
        m = np.zeros(np.asarray(sl).shape, np.float32)
        m[10:30, 10:30] = 0.9
        return m

    monkeypatch.setattr(CamMapComputer, "compute", compute)
    return calls


def _cam_item(win, i, method="smoothgrad", blinded=False):
    return {"series_uid": win.info.series_uid, "slice_index": i, "method": method,
            "blinded": blinded, "code": "R007"}


def test_gui_thread_keeps_ticking_while_a_cam_map_is_computed(qtbot, study_window, monkeypatch):
    """A CAM map is computed off the GUI thread: ``open_item`` returns while the computation is
    still held (a gate, so nothing depends on the machine's speed), no score is taken for the map
    not yet on screen, and the event loop keeps running until the map arrives."""
    win = study_window
    gate = threading.Event()
    calls = _slow_cam(monkeypatch, 0.0, gate)
    ticks = []
    timer = QtCore.QTimer()
    timer.setInterval(20)
    timer.timeout.connect(lambda: ticks.append(1))
    try:
        win.open_item(_cam_item(win, 2))   # returns with the computation held by the gate
        assert win._cam_request is not None
        assert win.score_context() == {} and win.shown_layers(2) == (None, None)
        assert "computing the SmoothGrad map" in win.statusBar().currentMessage()
        assert not win.score_panel.give_score(3)  # no score for a map not on screen
        timer.start()
        qtbot.waitUntil(lambda: len(ticks) >= 10, timeout=30000)   # the GUI runs meanwhile
        assert win._cam_request is not None
    finally:
        gate.set()
    qtbot.waitUntil(lambda: win._cam_request is None, timeout=30000)
    timer.stop()
    assert win.map_method == "smoothgrad" and win.score_context()["method"] == "smoothgrad"
    assert win.shown_layers(2)[0].max() == pytest.approx(0.9)
    assert not win._cam_busy_label.isVisible()
    # cached: showing the item again computes nothing
    win.view.set_index(3)
    win.open_item(_cam_item(win, 2))
    assert win.map_method == "smoothgrad" and win.score_context() != {} and calls == ["smoothgrad"]


def test_late_cam_map_is_dropped_after_moving_on_and_blinded_hides_the_method(
        qtbot, study_window, monkeypatch):
    win = study_window
    gate = threading.Event()
    _slow_cam(monkeypatch, 0.0, gate)
    win.open_item(_cam_item(win, 2, "gradcam", blinded=True))
    msg = win.statusBar().currentMessage()
    assert "computing the item's map" in msg and "Grad" not in msg
    assert "Grad" not in win._cam_busy_label.text() and "Grad" not in win.view.overlay_note
    win.view.set_index(4)  # the reader moves on before the map is in
    assert win.map_method == "gan" and win.score_context()["slice_index"] == 4
    gate.set()
    qtbot.waitUntil(lambda: (win.info.key, 2, "gradcam") in win._cam_cache, timeout=10000)
    qtbot.wait(50)
    assert win.view.index == 4 and win.map_method == "gan"  # the late map is not shown
    assert win.score_context()["method"] == "gan"


def test_failed_cam_map_falls_back_to_the_gan_map(qtbot, study_window, monkeypatch):
    from viewer.core.cam_maps import CamMapComputer

    win = study_window

    def broken(self, sl, is_hu, method, progress=None):
        raise FileNotFoundError("classifier.safetensors: file not found")

    monkeypatch.setattr(CamMapComputer, "compute", broken)
    win.open_item(_cam_item(win, 1, "gradcam"))
    qtbot.waitUntil(lambda: win._cam_request is None, timeout=10000)
    assert "could not be shown" in win.statusBar().currentMessage()
    assert win.map_method == "gan" and win.score_context()["method"] == "gan"
