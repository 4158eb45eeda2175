"""Series browser: a folder of 1-slice series from several patients, recent items, drops."""
from __future__ import annotations

from pathlib import Path

import pytest
from PyQt6 import QtCore, QtGui

from viewer.ui.help_dialog import SHORTCUTS, HelpDialog
from viewer.ui.series_browser import MAX_RECENT, RecentItems, SeriesBrowser

pytestmark = pytest.mark.gui
SAMPLES = Path(__file__).resolve().parents[2] / "resources" / "samples"


def test_bundled_sample_lists_one_patient_per_slice(qtbot):
    from viewer.io import scan_path

    result = scan_path(SAMPLES)
    b = SeriesBrowser()
    qtbot.addWidget(b)
    b.set_scan(result.series, result.skipped, str(SAMPLES))
    assert b.tree.topLevelItemCount() == 6 == len(b.series())
    assert "1 non-image file(s) ignored" in b.info_label.text()  # the README
    assert "could not be read" not in b.info_label.text()
    first = b.tree.topLevelItem(0).child(0).child(0)
    assert "1 slice," in first.text(0) and "512×512" in first.text(0)
    with qtbot.waitSignal(b.seriesActivated) as sig:
        b.tree.itemClicked.emit(first, 0)
    assert sig.args[0].n_slices == 1
    b.select(b.series()[2])
    assert b.select_offset(1) is b.series()[3]
    assert b.select_offset(10) is b.series()[-1]


def test_recent_items_most_recent_first_and_bounded(tmp_path):
    s = QtCore.QSettings(str(tmp_path / "r.ini"), QtCore.QSettings.Format.IniFormat)
    r = RecentItems(s)
    for k in range(MAX_RECENT + 3):
        r.add(tmp_path / f"p{k}")
    r.add(tmp_path / "p5")
    paths = RecentItems(QtCore.QSettings(str(tmp_path / "r.ini"),
                                         QtCore.QSettings.Format.IniFormat)).paths()
    assert len(paths) == MAX_RECENT and paths[0].endswith("p5") and paths.count(paths[0]) == 1


def test_drop_of_a_folder_asks_to_open_it(qtbot, tmp_path):
    b = SeriesBrowser()
    qtbot.addWidget(b)
    mime = QtCore.QMimeData()
    mime.setUrls([QtCore.QUrl.fromLocalFile(str(tmp_path))])
    ev = QtGui.QDropEvent(QtCore.QPointF(5, 5), QtCore.Qt.DropAction.CopyAction, mime,
                          QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(b.openRequested) as sig:
        b.dropEvent(ev)
    assert sig.args[0] == str(tmp_path)


def test_help_lists_every_shortcut(qtbot):
    d = HelpDialog()
    qtbot.addWidget(d)
    from PyQt6 import QtWidgets

    table = d.findChild(QtWidgets.QTableWidget)
    assert table.rowCount() == len(SHORTCUTS)
    keys = " ".join(k for k, _ in SHORTCUTS)
    for needed in ("PgUp", "Home", "H", "Right drag", "Ctrl+Z", "F1"):
        assert needed in keys


def test_unreadable_files_are_reported(qtbot, tmp_path):
    from viewer.io import scan_path

    (tmp_path / "broken.dcm").write_bytes(b"DICM" * 10)
    result = scan_path(tmp_path)
    b = SeriesBrowser()
    qtbot.addWidget(b)
    b.set_scan(result.series, result.skipped, str(tmp_path))
    assert "0 series" in b.info_label.text() and "could not be read" in b.info_label.text()
    assert "broken.dcm" in b.info_label.toolTip()
