"""Offscreen screenshots of the reading tools for docs/: the MPR layout, a ROI measurement and a
refined (filled) mask, on one real series with the shipped localizer.

    QT_QPA_PLATFORM=offscreen python scripts/capture_reading_tools.py SERIES_FOLDER docs/

The map cache, settings and edit journal go to a temporary folder (``--work``; reuse it to skip
the localization on a second run). The slice shown is the one with the most lesion pixels among the
slices well inside the lungs, the MPR cursor its map's hottest lung pixel.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("series")
    ap.add_argument("out_dir")
    ap.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "reading-tools-shots"))
    ap.add_argument("--timeout", type=float, default=1800)
    args = ap.parse_args()
    work = Path(args.work)
    for var, sub in (("XDG_DATA_HOME", "data"), ("XDG_CONFIG_HOME", "config"),
                     ("COVID_CT_CACHE_DIR", "cache")):
        os.environ[var] = str(work / sub)
    import numpy as np
    from PyQt6 import QtCore, QtWidgets

    from viewer.ui.app import build_window, make_app, save_screenshot

    app = make_app()
    settings = QtCore.QSettings(str(work / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    win = build_window(device="cpu", settings=settings)
    win.resize(1600, 1000)
    win.show()
    win.open_path(args.series)
    t0 = time.time()
    last = 0.0
    while True:
        app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 100)
        st = win.store
        if st is not None and win.pipeline is not None and st.is_complete() \
                and not win.pool.busy("loc"):
            break
        if time.time() - last > 20:
            done = 0 if st is None else sum(st.has(i) for i in range(win.voxels.shape[0]))
            print(f"{time.time() - t0:.0f} s: {done} slices localized", flush=True)
            last = time.time()
        if time.time() - t0 > args.timeout:
            print("error: localization did not finish", file=sys.stderr)
            return 1
    n = win.voxels.shape[0]
    lung_px = np.array([win.pipeline.lungs(i).sum() for i in range(n)], float)
    lesion_px = np.array([win.lesion_layers(i)[1].sum() for i in range(n)], float)
    lesion_px[lung_px < 0.3 * lung_px.max()] = -1  # slices well inside the lungs only
    z = int(np.argmax(lesion_px))
    win.view.set_index(z)
    lesion_map, mask = win.lesion_layers(z)
    y, x = np.unravel_index(int(np.argmax(lesion_map)), lesion_map.shape)
    print(f"slice {z}: {lesion_px[z]:.0f} lesion px of {lung_px[z]:.0f} lung px, hottest pixel "
          f"(row {y}, col {x})")
    out = Path(args.out_dir)

    def settle(n=30):
        for _ in range(n):
            app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 30)

    # 1. MPR layout, cursor on the hottest pixel
    win.tools.set_mpr(True)
    settle()
    win.tools.mpr.set_cursor(z, int(y), int(x))
    settle()
    save_screenshot(win, out / "mpr_layout.png")
    win.tools.set_mpr(False)
    settle()

    # 2. measurements: ruler across the chest, ellipse on the lesion, freehand in the lungs
    mc = win.tools.measure
    lungs = win.pipeline.lungs(z)
    rows, cols = np.nonzero(lungs)
    mid = int(np.median(rows))

    def draw(tool, points):
        mc.set_tool(tool)
        mc._drag("start", *points[0])
        for p in points[1:-1]:
            mc._drag("move", *p)
        mc._drag("finish", *points[-1])

    lc = cols[rows == mid]
    draw("ruler", [(float(lc.min()), mid + 0.5), (float(lc.max()), mid + 0.5)])
    ys, xs = np.nonzero(mask) if mask.any() else (np.array([y]), np.array([x]))
    near = (abs(ys - y) < 25) & (abs(xs - x) < 25)
    ys, xs = ys[near], xs[near]
    draw("ellipse", [(xs.min() - 2.0, ys.min() - 2.0), (xs.max() + 3.0, ys.max() + 3.0)])
    from scipy import ndimage

    other = lungs.copy()  # the lung on the other side of the lesion, its deepest point
    half = lungs.shape[1] // 2
    if x >= half:
        other[:, half:] = False
    else:
        other[:, :half] = False
    depth = ndimage.distance_transform_edt(other)
    cy, cx = np.unravel_index(int(np.argmax(depth)), depth.shape)
    r = 0.6 * float(depth[cy, cx])
    t = np.linspace(0, 2 * np.pi, 40)
    draw("freehand", [(cx + r * np.cos(a) + 0.15 * r * np.sin(3 * a), cy + 0.8 * r * np.sin(a))
                      for a in t])
    mc.set_tool("none")
    settle()
    for m in mc.measurements:
        print(f"{m.kind}: {m.text!r}")
    save_screenshot(win, out / "roi_measurement.png")
    mc.clear()

    # 3. refined mask: filled, a brush stroke from the lung across the chest wall (clipped)
    win.overlay_controls.fill_box.setChecked(True)
    win.refine.set_tool("brush")
    win.refine.radius.setValue(5.0)
    r0 = mid
    edge = int(lc.max())
    pts = [(edge - 25.0 + k, r0 + 0.5) for k in range(0, 45, 3)]
    win.refine_ctl.paint_start(*pts[0])
    for p in pts[1:]:
        win.refine_ctl.paint_move(*p)
    win.refine_ctl.paint_end()
    settle()
    v = win.view
    v._on_mouse_moved(v.image_item.mapToScene(QtCore.QPointF(edge + 22.0, r0 + 20.0)))
    settle()
    print("refine note:", win.refine_ctl.clip_note)
    save_screenshot(win, out / "refined_mask.png")
    win.session.undo()  # leave no edit behind in the work folder's journal
    win.close()
    QtWidgets.QApplication.processEvents()
    return 0


if __name__ == "__main__":
    sys.exit(main())
