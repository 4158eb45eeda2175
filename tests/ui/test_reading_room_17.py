"""Issue #17 items 1, 2, 3, 6 and 7 in the window, driven by real key and mouse events:
scoring keys only with the Reader study tab in front and an item on screen, re-scoring asks,
"Saved" on the image; blinded items with the list's display settings and cohorts, neutral
texts, severity of the shown map; statistics reachable and fitting 1280×720; no stale text;
Help and Export dialogs."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PyQt6 import QtCore, QtGui, QtWidgets
from PyQt6.QtTest import QTest

from ui_phantom import FakeLocalizer, write_phantom

pytestmark = pytest.mark.gui
K = QtCore.Qt.Key
LEFT = QtCore.Qt.MouseButton.LeftButton


@pytest.fixture()
def room(qtbot, tmp_path, isolated_settings, phantom):
    """A 1280×720 window with the score panel on a temp database, the phantom localized."""
    from viewer.core.map_cache import MapCache
    from viewer.ui.main_window import MainWindow

    loc = FakeLocalizer()
    win = MainWindow(lambda _p=None: loc, cache=MapCache(tmp_path / "maps"),
                     settings=isolated_settings, db_path=tmp_path / "scores.sqlite")
    qtbot.addWidget(win)
    win.resize(1280, 720)
    win.show()
    with qtbot.waitSignal(win.seriesShown, timeout=20000):
        win.open_path(phantom)
    qtbot.waitUntil(lambda: win.store is not None and win.store.is_complete(), timeout=20000)
    qtbot.waitUntil(lambda: win.view.overlay_item.image is not None, timeout=20000)
    assert win.score_panel.set_reader("r1")
    return win


def _list(win, tmp_path, *, display=None, blinded=True):
    from viewer.study.reading_list import ReadingList, slice_targets_from_series

    maps = {}
    for i in (1, 5):  # an imported map: a square in the middle
        m = np.zeros(win.voxels.shape[1:], np.float32)
        m[20:44, 16:48] = 1.0
        np.save(tmp_path / f"slice_{i}.npy", m)
        maps[i] = tmp_path / f"slice_{i}.npy"
    rl = ReadingList.build(slice_targets_from_series(win.info, [1, 5]), ["gan", "import:vendorx"],
                           seed=7, blinded=blinded, imported_maps={"import:vendorx": maps},
                           display=display)
    return rl.save(tmp_path / "study.json"), rl


def _click_tab(qtbot, win, title: str) -> None:
    """Click the dock tab named ``title`` with the mouse."""
    for bar in win.findChildren(QtWidgets.QTabBar):
        for k in range(bar.count()):
            if bar.tabText(k) == title and bar.isVisible():
                QTest.mouseClick(bar, LEFT, QtCore.Qt.KeyboardModifier.NoModifier,
                                 bar.tabRect(k).center())
                qtbot.waitUntil(lambda: bar.currentIndex() == k, timeout=3000)
                return
    raise AssertionError(f"no tab {title!r}")


def _activate(qtbot, win):
    win.activateWindow()
    qtbot.waitUntil(lambda: QtWidgets.QApplication.activeWindow() is win, timeout=3000)
    win.view.setFocus()


def _latest(win, item):
    return win.score_panel._reader.latest(item.key)


# ------------------------------------------------------------------------------ item 1
def test_keys_score_only_with_the_reader_tab_in_front_and_rescoring_asks(qtbot, room, tmp_path):
    win, panel = room, room.score_panel
    win.session.set_threshold(0.8)  # the reader's own threshold
    path, rl = _list(win, tmp_path, blinded=False)
    assert panel.load_reading_list(path)
    first = rl.items[0]
    assert win.view.index == first.slice_index
    _activate(qtbot, win)
    # the Series tab in front: the Reader study dock is behind it, keys are the viewer's
    _click_tab(qtbot, win, "Series")
    qtbot.waitUntil(lambda: not panel.is_raised(), timeout=3000)
    qtbot.keyClick(win.view, K.Key_2)
    assert win.view.window_name == "mediastinum" and _latest(win, first) is None
    # the Reader study tab in front: 2 scores the item, "Saved: 2" on the image
    _click_tab(qtbot, win, "Reader study")
    qtbot.waitUntil(panel.is_raised, timeout=3000)
    _activate(qtbot, win)
    qtbot.keyClick(win.view, K.Key_2)
    assert _latest(win, first).score == 2
    assert _latest(win, first).severity_category == win.session.reference_category(
        first.slice_index, float(win.localizer.threshold))
    assert _latest(win, first).display["threshold"] == 0.8  # what the reader saw, recorded
    note = win.study.canvas_note
    assert note.isVisible() and note.text() == "Saved: 2" and note.parent() is win.view
    # a second score never overwrites silently: asked first, the same key again changes it
    qtbot.keyClick(win.view, K.Key_4)
    assert _latest(win, first).score == 2
    assert "press 4 again" in note.text() and "press 4 again" in panel.status_label.text().lower()
    qtbot.keyClick(win.view, K.Key_4)
    assert _latest(win, first).score == 4 and note.text() == "Saved: 4"
    # a slice that is not an item of the list: keys are the viewer's again
    other = 3 if first.slice_index != 3 else 2
    win.view.set_index(other)
    qtbot.keyClick(win.view, K.Key_3)
    assert win.view.window_name == "bone"
    assert panel._reader.all_latest()[-1].key.slice_index == first.slice_index
    assert len(panel._reader.all_latest()) == 1
    # a list without display settings: the cohort is the GAN map's at the localizer's
    # threshold, not at the reader's own
    assert win.study.cohort_threshold() == float(win.localizer.threshold)
    # N goes to the next unscored item (the list is open, the tab in front)
    qtbot.keyClick(win.view, K.Key_N)
    assert (win.view.index, win.map_method) == (rl.items[1].slice_index, rl.items[1].method)


def test_help_text_tells_the_key_rule():
    from viewer.ui.help_dialog import SHORTCUTS

    keys, action = SHORTCUTS[0]
    assert "1–5 / N" in keys and "in front" in keys
    assert "press the new score again" in action and "Saved: 4" in action
    assert "window presets" in action


# ------------------------------------------------------------------------------ item 2
def test_blinded_items_show_only_what_the_list_allows(qtbot, room, tmp_path):
    from viewer.study.display_settings import DisplaySettings

    win, panel = room, room.score_panel
    win.session.set_threshold(0.9)  # the reader's own threshold before the list
    fixed = DisplaySettings(threshold=0.35, opacity=0.6, colormap="jet", window_width=1200,
                            window_level=-500)
    path, rl = _list(win, tmp_path, display=fixed)
    assert panel.load_reading_list(path)
    oc = win.overlay_controls
    # display fixed by the list: threshold, opacity, colormap, window, controls locked
    assert win.session.threshold == 0.35 and oc.cmap.currentText() == "jet"
    assert oc.style().opacity == pytest.approx(0.6)
    assert (win.view.width_hu, win.view.level_hu) == (1200, -500)
    assert not oc.threshold.isEnabled() and not oc.cmap.isEnabled() and not oc.opacity.isEnabled()
    assert "fixed by the reading list" in oc.fixed_label.text()
    assert not win.refine.threshold.isEnabled()
    win.refine.threshold.setValue(800)  # the refine panel's threshold slider: refused
    assert win.session.threshold == 0.35
    _activate(qtbot, win)
    _click_tab(qtbot, win, "Series")
    qtbot.keyClick(win.view, K.Key_1)  # a window preset key: refused while the list fixes it
    assert (win.view.width_hu, win.view.level_hu) == (1200, -500)
    # the typed W/L box is locked too, and a window set by any other way is put back
    assert not win.tools.window_box.isEnabled()
    win.view.set_window(400, 40)
    assert (win.view.width_hu, win.view.level_hu) == (1200, -500)
    # neutral texts everywhere, for the GAN item as for the imported one
    sev_geom = win.docks["severity"].geometry()
    for k, item in enumerate(rl.items[:2]):
        if k:
            panel.next_unscored()
        shown = (win.view.overlay_note + panel.item_label.text() + win.windowTitle()
                 + win.statusBar().currentMessage() + win.severity.slice_label.text())
        assert "method hidden" in win.view.overlay_note
        for name in ("GAN", "vendorx", "import", "Grad-CAM"):
            assert name not in shown
        # severity: the dock stays where it was and says why the numbers are hidden
        assert win.docks["severity"].isVisible() and win.docks["severity"].geometry() == sev_geom
        assert "hidden until you score this item" in win.severity.slice_label.text()
    # score the imported item with the key (Reader study tab in front)
    item = rl.items[1]
    assert item.method == "import:vendorx"
    _click_tab(qtbot, win, "Reader study")
    qtbot.waitUntil(panel.is_raised, timeout=3000)
    _activate(qtbot, win)
    qtbot.keyClick(win.view, K.Key_3)
    row = _latest(win, item)
    assert row.score == 3 and row.display == fixed.to_json()
    # the cohort: the GAN map at the list's threshold, not the reader's 0.9
    assert row.severity_category == win.session.reference_category(item.slice_index, 0.35)
    assert row.severity_category is not None
    # after scoring: the severity of the map on screen (not the GAN's), no series numbers
    expected = win.session.map_numbers(item.slice_index, np.load(item.map_path))
    assert f"{expected['lesion_pct']:.1f} %" in win.severity.slice_label.text()
    assert "hidden during blinded reading" in win.severity.series_label.text()
    # a slice outside the list: the dock stays and says why
    other = next(i for i in range(win.view.n_slices) if i not in (1, 5))
    win.view.set_index(other)
    assert win.docks["severity"].isVisible()
    assert "not one of its items" in win.severity.slice_label.text()
    assert win.docks["severity"].geometry() == sev_geom
    # the list closed: the reader's own settings and every number come back
    panel.set_reading_list(None)
    win.study.refresh_score_panel()
    assert win.session.threshold == 0.9 and oc.cmap.isEnabled() and oc.threshold.isEnabled()
    assert "Severity hidden" not in win.severity.slice_label.text()
    assert "hidden" not in win.severity.series_label.text()


# ------------------------------------------------------------------------------ item 3
def _fill_db(path: Path) -> None:
    from viewer.study.score_store import ItemKey, ScoreStore

    cohorts = ("mild", "common", "severe", "critical")
    with ScoreStore(path) as s:
        for reader in ("r1", "r2", "a_reader_with_a_long_name"):
            r = s.for_reader(reader)
            for i in range(16):
                for m, base in (("gan", 4), ("gradcam", 2), ("msgradcam", 3),
                                ("smoothgrad", 1)):
                    r.save(ItemKey.make(sop_instance_uid=f"1.{i}", slice_index=i, method=m),
                           min(5, base + (i + len(reader)) % 2),
                           severity_category=cohorts[i % 4])


def test_statistics_from_the_reader_tab_and_the_view_menu_fit_1280x720(qtbot, room, tmp_path):
    win, panel = room, room.score_panel
    _fill_db(tmp_path / "scores.sqlite")
    _click_tab(qtbot, win, "Reader study")
    QTest.mouseClick(panel.stats_button, LEFT)
    from viewer.ui.stats_panel import StatsDialog

    dlg = win.stats_dialog
    qtbot.waitUntil(dlg.isVisible, timeout=5000)
    assert dlg.width() <= 1280 and dlg.height() <= 720
    dlg.resize(StatsDialog.FIT)  # its size on a 1280×720 screen (the offscreen one is 800×800)
    qtbot.waitUntil(lambda: dlg.size() == StatsDialog.FIT, timeout=3000)
    text = dlg.panel.text
    assert "By severity cohort" in text.toPlainText() and "critical" in text.toPlainText()
    qtbot.waitUntil(lambda: text.viewport().width() > 0, timeout=3000)
    longest = max(text.toPlainText().splitlines(), key=len)
    assert text.fontMetrics().horizontalAdvance(longest) <= text.viewport().width()
    assert text.horizontalScrollBar().maximum() == 0  # no clipped column
    dlg.panel.tabs.setCurrentIndex(1)
    for lab in (dlg.panel.method_plot, dlg.panel.cohort_plot):
        assert lab.pixmap().width() <= dlg.panel.tabs.width()
    dlg.close()
    assert not dlg.isVisible()
    win.stats_action.trigger()  # View → Reader study statistics…
    assert dlg.isVisible()
    assert win.stats_action in win.menuBar().actions()[1].menu().actions()


# ------------------------------------------------------------------------------ item 6
def test_hu_readout_cleared_on_series_switch_and_no_stale_localizing(qtbot, room, tmp_path):
    win = room
    assert "localizing" not in win.view.overlay_note and "segmenting" not in win.view.overlay_note
    vp = win.view.graphics.viewport()
    QTest.mouseMove(vp, vp.rect().center())
    qtbot.waitUntil(lambda: "HU" in win.view.label_br.text(), timeout=3000)
    other = write_phantom(tmp_path / "other", n=5)
    with qtbot.waitSignal(win.seriesShown, timeout=20000):
        win.open_path(other)
    assert win.view.label_br.text() == ""
    qtbot.waitUntil(lambda: win.store is not None and win.store.is_complete(), timeout=20000)
    qtbot.waitUntil(lambda: "localizing" not in win.view.overlay_note
                    and "map" in win.view.overlay_note, timeout=20000)


# ------------------------------------------------------------------------------ item 7
def test_help_fits_1280x720_with_the_reader_keys_in_view(qtbot, room):
    from viewer.ui.help_dialog import READER_KEYS

    seen = {}

    def inspect():
        dlg = QtWidgets.QApplication.activeModalWidget()
        if dlg is None:
            return
        t = dlg.table
        seen.update(size=dlg.size(), first=t.item(0, 0).text(),
                    reader_bottom=t.visualItemRect(t.item(0, 1)).bottom(),
                    last_bottom=t.visualItemRect(t.item(t.rowCount() - 1, 1)).bottom(),
                    reader_height=t.rowHeight(0), line=t.fontMetrics().height(),
                    viewport=t.viewport().size(), header=t.horizontalHeader().length(),
                    col0=t.columnWidth(0), col0_need=t.sizeHintForColumn(0))
        dlg.reject()

    _activate(qtbot, room)
    QtCore.QTimer.singleShot(0, inspect)  # runs inside the dialog's own event loop
    qtbot.keyClick(room.view, K.Key_F1)
    assert seen, "F1 did not open the help"
    assert seen["size"].width() <= 1280 and seen["size"].height() <= 720
    assert seen["first"] == READER_KEYS
    assert seen["reader_bottom"] <= seen["viewport"].height()  # no scrolling to find them
    assert seen["last_bottom"] <= seen["viewport"].height()  # every row, in fact
    assert seen["reader_height"] <= 8 * seen["line"]  # rows fit their wrapped text
    assert seen["header"] <= seen["viewport"].width()  # no cut column
    assert seen["col0"] >= seen["col0_need"]


def test_export_says_what_it_exports_and_shows_the_files(qtbot, room, monkeypatch, tmp_path):
    from viewer.ui import export_dialog

    win = room
    out = tmp_path / "out"

    def run_dialog(dlg):  # the user looks, then clicks Export
        dlg.dir_edit.setText(str(out))
        dlg.show()
        seen.update(button=dlg.export_button.text(), mask=dlg.mask_label.text())
        QTest.mouseClick(dlg.export_button, LEFT)
        return dlg.result()

    seen = {}
    monkeypatch.setattr(export_dialog.ExportDialog, "exec", run_dialog)
    with qtbot.waitSignal(win.exportFinished, timeout=30000) as sig:
        _activate(qtbot, win)
        qtbot.keyClick(win.view, K.Key_E, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert seen["button"] == "Export"
    assert f"threshold {win.session.threshold:.3f}" in seen["mask"]
    assert "no brush / eraser edits" in seen["mask"]
    report = sig.args[0]
    res = win.exporter.result_dialog
    assert res.isVisible() and res.files.count() == len(report.written) > 0
    assert f"Wrote {len(report.written)} file(s) to {out}" in res.summary.text()
    opened = []
    monkeypatch.setattr(QtGui.QDesktopServices, "openUrl",
                        staticmethod(lambda url: opened.append(url.toLocalFile()) or True))
    QTest.mouseClick(res.open_button, LEFT)
    assert opened == [str(out)]


def test_export_dialog_counts_edits(qtbot, tmp_path):
    from viewer.ui.export_dialog import ExportDialog

    d = ExportDialog(tmp_path, dicom_source=True, series_complete=True, threshold=0.42,
                     n_edits=3, n_edited_slices=2)
    qtbot.addWidget(d)
    assert "threshold 0.420" in d.mask_label.text()
    assert "3 brush / eraser edit(s) on 2 slice(s)" in d.mask_label.text()


def test_no_stale_localizing_note_when_the_shown_slice_is_cached(qtbot, make_window, phantom):
    """#17 item 6: a series partly in the cache (the shown slice done, the rest not) shows the
    drawn map's note while the rest is localized, never "localizing…" over a drawn overlay."""
    win = make_window(localizer=FakeLocalizer(delay=0.3))
    with qtbot.waitSignal(win.seriesShown, timeout=20000):
        win.open_path(phantom)
    shown = win.view.index
    qtbot.waitUntil(lambda: win.store is not None and win.store.has(shown), timeout=20000)
    win.cancel_work()  # the rest is left for later: the cache holds part of the series
    qtbot.waitUntil(lambda: not win.pool.busy("loc"), timeout=20000)
    assert not win.store.is_complete()
    with qtbot.waitSignal(win.seriesShown, timeout=20000):
        win.open_path(phantom)  # scanned and read again: the maps come from the cache
    qtbot.waitUntil(lambda: win.store is not None and win.store.has(win.view.index),
                    timeout=20000)
    assert win.view.overlay_item.image is not None
    assert "localizing" not in win.view.overlay_note and "map" in win.view.overlay_note
    qtbot.waitUntil(lambda: win.store.is_complete(), timeout=30000)
    assert "localizing" not in win.view.overlay_note


def test_a_list_with_bad_display_settings_is_refused_in_one_line(qtbot, room, tmp_path):
    import json

    from viewer.study.display_settings import DisplaySettings

    win, panel = room, room.score_panel
    path, _rl = _list(win, tmp_path, display=DisplaySettings())
    data = json.loads(path.read_text())
    data["display"]["colormap"] = "rainbow"
    path.write_text(json.dumps(data))
    assert not panel.load_reading_list(path)
    text = panel.status_label.text()
    assert text.startswith(f"reading list {path}: display: colormap: expected one of")
    assert "\n" not in text and panel.reading_list is None
    assert win.overlay_controls.cmap.isEnabled()  # nothing fixed by a refused list
