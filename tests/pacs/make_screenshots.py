"""Make docs/pacs_search.png and docs/pacs_opened.png (not a test; run by hand, offscreen):

    QT_QPA_PLATFORM=offscreen python tests/pacs/make_screenshots.py [OUT_DIR]

Starts the test Orthanc (tests/pacs/orthanc_server.py) in a temporary folder, uploads the bundled
samples (resources/samples, COVID-19-NY-SBU, CC BY 4.0), points a temporary PACS config at it,
opens File → Open from PACS… in the reading room with the shipped localizer, searches for CT,
grabs the dialog, retrieves one study, waits for its lesion map and grabs the window.
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(Path(__file__).resolve().parent)]
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs"
    tmp = Path(tempfile.mkdtemp(prefix="pacs-shots-"))
    os.environ["COVID_CT_PACS_CONFIG"] = str(tmp / "pacs.json")
    os.environ["COVID_CT_PACS_CACHE"] = str(tmp / "cache")
    os.environ["COVID_CT_CACHE_DIR"] = str(tmp / "maps")
    import orthanc_server
    from PyQt6 import QtCore, QtWidgets

    from viewer.pacs.config import PacsServer, save_servers

    server = orthanc_server.start_orthanc(tmp / "orthanc")
    try:
        server.upload(sorted((REPO / "resources" / "samples").glob("*.dcm")))
        save_servers([PacsServer("Orthanc (test)", server.dicomweb)])
        app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
        from viewer.core.map_cache import MapCache
        from viewer.ui.main_window import MainWindow, default_localizer_factory

        settings = QtCore.QSettings(str(tmp / "s.ini"), QtCore.QSettings.Format.IniFormat)
        win = MainWindow(default_localizer_factory(None, "cpu"), cache=MapCache(tmp / "maps"),
                         settings=settings, score_panel=False)
        win.resize(1400, 860)
        win.show()
        from viewer.ui.pacs_dialog import open_from_pacs

        dlg = open_from_pacs(win)

        def wait(cond, seconds=120):
            timer = QtCore.QElapsedTimer()
            timer.start()
            while not cond():
                app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 50)
                if timer.elapsed() > seconds * 1000:
                    raise TimeoutError("screenshot: waited too long")

        done = []
        dlg.searched.connect(lambda s: done.append(s))
        dlg.search_button.click()
        wait(lambda: done)
        dlg.tree.setCurrentItem(dlg.tree.topLevelItem(1).child(0))
        app.processEvents()
        dlg.grab().save(str(out / "pacs_search.png"))
        for label in win.browser.findChildren(QtWidgets.QLabel):  # long cache paths
            label.setWordWrap(True)
        win.browser.setMaximumWidth(360)
        win.docks["browser"].setMaximumWidth(360)
        shown = []
        win.seriesShown.connect(lambda info: shown.append(info))
        dlg.retrieve_button.click()
        wait(lambda: shown)
        wait(lambda: win.store is not None and win.store.is_complete())
        wait(lambda: win.view.overlay_item.image is not None)
        for _ in range(40):
            app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 20)
        win.grab().save(str(out / "pacs_opened.png"))
        win.close()
        print(f"wrote {out / 'pacs_search.png'} and {out / 'pacs_opened.png'}")
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
