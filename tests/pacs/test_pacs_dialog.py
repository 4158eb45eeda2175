"""File → Open from PACS… against a real Orthanc, offscreen: the server comes from the user
config, the search fills the results table, retrieving opens the series in the reading room
(voxels equal to the source), Cancel stops a retrieve, bad servers give one line.

With $COVID_CT_SCREENSHOT_DIR set, the dialog and the opened window are saved there as
pacs_search.png and pacs_opened.png (docs/ screenshots)."""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")
from PyQt6 import QtCore  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ui"))
from ui_phantom import FakeLocalizer, write_phantom  # noqa: E402

from viewer.pacs.config import PacsServer, save_servers  # noqa: E402

pytestmark = pytest.mark.gui


@pytest.fixture()
def window(qtbot, tmp_path, monkeypatch, pacs_config):
    from viewer.core.map_cache import MapCache
    from viewer.ui.main_window import MainWindow

    for var in ("XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME"):
        monkeypatch.setenv(var, str(tmp_path / var.lower()))
    monkeypatch.setenv("COVID_CT_CACHE_DIR", str(tmp_path / "maps"))
    monkeypatch.setenv("COVID_CT_PACS_CACHE", str(tmp_path / "pacs-cache"))
    settings = QtCore.QSettings(str(tmp_path / "s.ini"), QtCore.QSettings.Format.IniFormat)
    loc = FakeLocalizer()
    win = MainWindow(lambda _p=None: loc, cache=MapCache(tmp_path / "maps"), settings=settings,
                     score_panel=False)
    qtbot.addWidget(win)
    win.resize(1100, 720)
    win.show()
    return win


def _open_dialog(win):
    (action,) = [a for a in win.menuBar().actions()[0].menu().actions()
                 if a.text() == "Open from PACS…"]
    action.trigger()
    return win._pacs_dialog


def _grab(widget, name):
    folder = os.environ.get("COVID_CT_SCREENSHOT_DIR")
    if folder:
        widget.grab().save(str(Path(folder) / name))


def test_search_retrieve_open(qtbot, window, fresh_orthanc, tmp_path):
    from viewer.io import load_series, scan_path

    phantom = write_phantom(tmp_path / "phantom", n=6)
    fresh_orthanc.upload(sorted(phantom.glob("*.dcm")))
    save_servers([PacsServer("test orthanc", fresh_orthanc.dicomweb)])
    dlg = _open_dialog(window)
    qtbot.addWidget(dlg)
    assert dlg.server_combo.currentText() == "test orthanc"
    assert dlg.url_edit.text() == fresh_orthanc.dicomweb
    with qtbot.waitSignal(dlg.searched, timeout=20000):
        dlg.search_button.click()
    assert dlg.tree.topLevelItemCount() == 1
    study = dlg.tree.topLevelItem(0)
    assert study.text(2) == "PHANTOM-1" and study.childCount() == 1
    assert study.child(0).text(3) == "CT" and study.child(0).text(4) == "6"
    _grab(dlg, "pacs_search.png")
    with qtbot.waitSignal(window.seriesShown, timeout=30000):
        dlg.retrieve_button.click()
    (info,) = scan_path(phantom).series
    np.testing.assert_array_equal(window.voxels, load_series(info).voxels)
    assert str(tmp_path / "pacs-cache") in str(window.opened_path)
    qtbot.waitUntil(lambda: window.store is not None and window.store.is_complete(),
                    timeout=30000)
    # results back to the PACS from the viewer: SEG + SR of the whole series, sent by STOW-RS
    from viewer.export.series_export import ExportRequest

    request = ExportRequest(tmp_path / "export", ["seg", "sr"], model_name="fake-gan",
                            weights_hash="feed" * 16, threshold=window.threshold,
                            send_to="test orthanc")
    with qtbot.waitSignal(window.exportFinished, timeout=60000) as blocker:
        window.run_export(request)
    report = blocker.args[0]
    assert report.errors == [] and len(report.sent) == 3
    modalities = sorted(fresh_orthanc.rest("GET", f"/series/{sid}")["MainDicomTags"]["Modality"]
                        for sid in fresh_orthanc.rest("GET", "/series"))
    assert modalities == ["CT", "SEG", "SEG", "SR"]


def test_cancel_and_errors(qtbot, window, orthanc, monkeypatch):
    from viewer.pacs.client import PacsClient, RetrieveCancelled
    from viewer.ui import pacs_dialog

    class SlowClient(PacsClient):
        def retrieve(self, study_uid, series_uid, out_dir, progress=None):
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if progress(0, 5) is False:
                    raise RetrieveCancelled("retrieve cancelled after 0 of 5 instances")
                time.sleep(0.02)
            raise AssertionError("never cancelled")

    dlg = _open_dialog(window)
    qtbot.addWidget(dlg)
    dlg.url_edit.setText("not a url")
    dlg.search_button.click()
    assert dlg.status.text() == "error: URL not a url: not an http:// or https:// address"
    from orthanc_server import free_port

    down = f"http://127.0.0.1:{free_port()}/dicom-web"
    dlg.url_edit.setText(down)
    with qtbot.waitSignal(dlg.failed, timeout=20000):
        dlg.search_button.click()
    assert dlg.status.text().startswith(f"error: PACS {down}: cannot connect: ")
    assert "\n" not in dlg.status.text()
    monkeypatch.setattr(pacs_dialog, "PacsClient", SlowClient)
    dlg.url_edit.setText(orthanc.dicomweb)
    dlg.retrieve("1.2.3", None)
    qtbot.waitUntil(lambda: dlg.progress.isVisible(), timeout=10000)
    dlg.cancel_button.click()
    qtbot.waitUntil(lambda: dlg.status.text() == "cancelled", timeout=10000)
    assert dlg.worker is None and dlg.search_button.isEnabled()


def test_save_server_keeps_password_out_of_view(qtbot, window, pacs_config):
    dlg = _open_dialog(window)
    qtbot.addWidget(dlg)
    dlg.url_edit.setText("http://127.0.0.1:9/dicom-web")
    dlg.name_edit.setText("hospital")
    dlg.user_edit.setText("reader")
    dlg.password_edit.setText("pw-123")
    dlg.save_server()
    assert "pw-123" not in dlg.status.text() and "hospital" in dlg.status.text()
    from viewer.pacs.config import load_servers

    (s,) = load_servers()
    assert (s.name, s.auth, s.username, s.password) == ("hospital", "basic", "reader", "pw-123")
    assert dlg.password_edit.text() == "" and dlg.password_edit.placeholderText() == "(saved)"
    assert dlg.current_server().password == "pw-123"
