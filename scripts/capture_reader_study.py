"""Offscreen screenshots of blinded reading for docs/: a blinded Grad-CAM item of a reading list
made from the bundled samples, before and after scoring it 4, with the shipped weights.

    QT_QPA_PLATFORM=offscreen python scripts/capture_reader_study.py docs/

Writes ``reader_blinded_before.png`` and ``reader_blinded_after.png`` (1280 x 720). The list
(``scores make-list resources/samples --methods gan,gradcam --seed 2026`` with the display fixed
at threshold 0.5, opacity 0.45, inferno, W1500/L-600), the score database, the map cache and the
settings go to a temporary folder (``--work``), never beside the samples.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--work", default=str(Path(tempfile.mkdtemp(prefix="reader-study-shots-"))))
    ap.add_argument("--timeout", type=float, default=900)
    args = ap.parse_args()
    out, work = Path(args.out_dir), Path(args.work)
    if not out.is_dir():
        print(f"error: {out}: not a folder", file=sys.stderr)
        return 2
    for var, sub in (("XDG_DATA_HOME", "data"), ("XDG_CONFIG_HOME", "config"),
                     ("COVID_CT_CACHE_DIR", "cache")):
        os.environ[var] = str(work / sub)
    samples = ROOT / "resources" / "samples"
    listing = work / "list.json"
    r = subprocess.run([sys.executable, str(ROOT / "main.py"), "scores", "make-list", str(samples),
                        "--out", str(listing), "--methods", "gan,gradcam", "--seed", "2026",
                        "--display", "threshold=0.5,opacity=0.45,colormap=inferno,window=1500/-600"],
                       capture_output=True, text=True)
    if r.returncode:
        print(r.stderr, file=sys.stderr)
        return 1
    from PyQt6 import QtCore, QtWidgets

    from viewer.ui.app import build_window, make_app, save_screenshot

    app = make_app()
    settings = QtCore.QSettings(str(work / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    win = build_window(device="cpu", settings=settings, db_path=work / "scores.sqlite")
    win.resize(1280, 720)
    win.show()
    t0 = time.time()

    def settle(n: int = 30) -> None:
        for _ in range(n):
            app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 30)

    def wait(what: str, ready) -> None:
        while not ready():
            app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 100)
            if time.time() - t0 > args.timeout:
                raise TimeoutError(f"{what} did not happen within {args.timeout:.0f} s")

    win.open_path(str(samples))
    wait("the first series", lambda: win.store is not None and win.pipeline is not None)
    panel = win.score_panel
    panel.set_reader("reader1")
    if not panel.load_reading_list(listing, go_next=False):
        print("error: the reading list did not load", file=sys.stderr)
        return 1
    items = panel.reading_list.items
    k = next(i for i, it in enumerate(items) if it.method == "gradcam")
    win.open_item(items[k].request(blinded=True))
    wait("the Grad-CAM map", lambda: win.score_context().get("method") == "gradcam"
         and win.pipeline is not None)
    dock = panel
    while dock is not None and not isinstance(dock, QtWidgets.QDockWidget):
        dock = dock.parentWidget()
    if dock is not None:
        dock.raise_()   # the Reader study tab in front of the Series tab, as while reading
    panel.refresh()
    settle()
    print(f"item {items[k].code} ({k + 1} of {len(items)}): {win.info.key}")
    save_screenshot(win, out / "reader_blinded_before.png")
    if not panel.give_score(4):
        print("error: the score was not saved", file=sys.stderr)
        return 1
    settle()
    save_screenshot(win, out / "reader_blinded_after.png")
    win.close()
    QtWidgets.QApplication.processEvents()
    return 0


if __name__ == "__main__":
    sys.exit(main())
