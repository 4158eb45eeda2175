"""Reading-room window, offscreen: open, scroll, W/L, overlay, cancel, responsiveness, refine."""
from __future__ import annotations

import threading

import numpy as np
import pytest
from PyQt6 import QtCore, QtGui, QtWidgets

from ui_phantom import LESION_CENTRE, FakeLocalizer

pytestmark = pytest.mark.gui
K = QtCore.Qt.Key


def open_and_wait(qtbot, win, path, slice_index=None, overlay=True):
    with qtbot.waitSignal(win.seriesShown, timeout=20000):
        win.open_path(path, slice_index)
    if overlay:
        qtbot.waitUntil(lambda: win.store is not None and win.store.has(win.view.index),
                        timeout=20000)
        qtbot.waitUntil(lambda: win.view.overlay_item.image is not None, timeout=5000)
        # masks, edits and exports need the series' lungs, which a busy machine may deliver
        # after the first map
        qtbot.waitUntil(lambda: win.pipeline is not None, timeout=30000)


def test_open_series_and_scroll(qtbot, make_window, phantom):
    win = make_window()
    open_and_wait(qtbot, win, phantom)
    v = win.view
    assert v.n_slices == 8 and v.index == 4  # middle slice first
    assert "slice 5 / 8" in v.label_tr.text() and "thickness 2.50 mm" in v.label_tr.text()
    assert "z = -90.0 mm" in v.label_tr.text()
    qtbot.keyClick(win, K.Key_Right)
    assert v.index == 5
    qtbot.keyClick(win, K.Key_Left)
    qtbot.keyClick(win, K.Key_Left)
    assert v.index == 3
    qtbot.keyClick(win, K.Key_End)
    assert v.index == 7
    qtbot.keyClick(win, K.Key_PageUp)
    assert v.index == 0
    qtbot.keyClick(win, K.Key_Home)
    assert v.index == 0
    v.step(1)  # what the wheel does
    assert v.index == 1
    # zoom and fit
    (x0, x1), _ = v.viewbox.viewRange()
    qtbot.keyClick(win, K.Key_Plus)
    (z0, z1), _ = v.viewbox.viewRange()
    assert (z1 - z0) < (x1 - x0) * 0.9
    qtbot.keyClick(win, K.Key_F)
    (f0, f1), _ = v.viewbox.viewRange()
    assert abs((f1 - f0) - (x1 - x0)) < 1e-6
    # radiological orientation: patient's right on the image's left
    assert v.orient["R"].text() == "R" and not v.viewbox.state["xInverted"]
    # HU under the cursor
    scene_pt = v.image_item.mapToScene(QtCore.QPointF(LESION_CENTRE[1] + 0.5, LESION_CENTRE[0] + 0.5))
    v._on_mouse_moved(scene_pt)
    assert "-500 HU" in v.label_br.text()


def test_window_presets_and_right_drag(qtbot, make_window, phantom):
    win = make_window()
    open_and_wait(qtbot, win, phantom, overlay=False)
    v = win.view
    assert (v.width_hu, v.level_hu) == (1500, -600)  # lung window by default for HU
    assert v.image_item.levels is not None and tuple(v.image_item.levels) == (-1350, 150)
    qtbot.keyClick(win, K.Key_2)
    assert (v.width_hu, v.level_hu) == (350, 50) and "mediastinum" in v.label_bl.text()
    qtbot.keyClick(win, K.Key_3)
    assert (v.width_hu, v.level_hu) == (2000, 500)
    qtbot.keyClick(win, K.Key_1)
    v.drag_window(10, -5)
    assert (v.width_hu, v.level_hu) == (1540, -620)
    with pytest.raises(ValueError):
        v.set_window(0, 10)


def test_overlay_toggle_and_controls(qtbot, make_window, phantom):
    win = make_window()
    open_and_wait(qtbot, win, phantom)
    v = win.view
    rgba = v.overlay_item.image
    assert rgba.shape == (64, 64, 4)
    ly, lx = LESION_CENTRE
    assert rgba[ly, lx, 3] > 0 and rgba[5, 5, 3] == 0  # lesion painted, outside transparent
    assert "lungs only" in v.label_bl.text()
    qtbot.keyClick(win, K.Key_H)
    assert v.overlay_item.image is None and not win.overlay_visible
    qtbot.keyClick(win, K.Key_H)
    assert v.overlay_item.image is not None
    before = v.overlay_item.image.copy()
    win.overlay_controls.cmap.setCurrentText("jet")
    assert not np.array_equal(before, v.overlay_item.image)  # another colormap
    win.overlay_controls.opacity.setValue(1000)
    assert v.overlay_item.image[ly, lx, 3] == 255 or tuple(v.overlay_item.image[ly, lx]) == (0, 255, 255, 255)
    # a higher threshold shrinks the lesion share on the severity panel
    pct_before = win.counts.slice_summary(v.index)["lesion_pct"]
    win.refine.threshold.setValue(900)  # the refine dock's slider moves the same threshold
    assert win.overlay_controls.threshold_value() == pytest.approx(0.9)
    pct_after = win.counts.slice_summary(v.index)["lesion_pct"]
    assert 0 < pct_after < pct_before
    assert "Slice 5" in win.severity.slice_label.text()


def test_severity_numbers_on_phantom(qtbot, make_window, phantom):
    win = make_window()
    open_and_wait(qtbot, win, phantom)
    qtbot.waitUntil(lambda: win.store.is_complete(), timeout=20000)
    win.overlay_controls.set_threshold(0.5)
    qtbot.waitUntil(lambda: np.isfinite(win.counts.lung).all(), timeout=10000)
    i = win.view.index
    _, mask = win.lesion_layers(i)
    lungs = win.store.get_lungs(i)
    expect = 100.0 * np.count_nonzero(mask & lungs) / np.count_nonzero(lungs)
    s = win.counts.slice_summary(i)
    assert abs(s["lesion_pct"] - expect) < 1e-9 and s["category"] == "mild"
    hu = win.voxels[i][mask & lungs]
    assert s["ggo_share"] == pytest.approx(100.0 * np.mean((hu >= -750) & (hu < -300)))
    assert s["cons_share"] == pytest.approx(0.0)  # nothing denser than -300 HU in the lesion
    ser = win.counts.series_summary(win._series_voxel_ml)
    assert ser["lung_ml"] == pytest.approx(np.nansum(win.counts.lung) * 3.0 * 3.0 * 2.5 / 1000)
    # lungs found and no localizer notes: no note line under the numbers
    assert win.pipeline.notes == [] and win.severity.notes_label.isHidden()


def test_cancel_stops_the_worker(qtbot, make_window, tmp_path):
    from ui_phantom import write_phantom

    path = write_phantom(tmp_path / "long", n=30)
    loc = FakeLocalizer(delay=0.1)
    win = make_window(loc)
    open_and_wait(qtbot, win, path)
    worker = win.loc_worker
    assert worker is not None and worker.isRunning()
    qtbot.keyClick(win, K.Key_Escape)
    qtbot.waitUntil(worker.isFinished, timeout=5000)
    assert win.loc_worker is None
    assert win.store.n_done() < 30
    assert not win.progress.isVisible()


def test_gui_thread_stays_responsive_while_localizing(qtbot, make_window, tmp_path):
    """Localization runs off the GUI thread: while the localizer is held mid-series (a gate, so
    nothing depends on the machine's speed), the window's event loop keeps running."""
    from ui_phantom import write_phantom

    path = write_phantom(tmp_path / "resp", n=24)
    gate = threading.Event()
    loc = FakeLocalizer(gate=gate, gate_after=2)
    win = make_window(loc)
    ticks = []
    timer = QtCore.QTimer()
    timer.setInterval(20)
    timer.timeout.connect(lambda: ticks.append(1))
    try:
        with qtbot.waitSignal(win.seriesShown, timeout=20000):
            win.open_path(path)
        qtbot.waitUntil(loc.held.is_set, timeout=30000)   # a slice is being localized, held
        timer.start()
        qtbot.waitUntil(lambda: len(ticks) >= 10, timeout=30000)   # the GUI runs meanwhile
        assert not win.store.is_complete()
    finally:
        gate.set()
        timer.stop()
    qtbot.waitUntil(lambda: win.store.is_complete(), timeout=30000)


def test_cache_makes_reopening_instant(qtbot, make_window, phantom, tmp_path):
    loc = FakeLocalizer()
    win = make_window(loc, cache_dir=tmp_path / "shared-cache")
    open_and_wait(qtbot, win, phantom)
    qtbot.waitUntil(lambda: win.store.is_complete(), timeout=20000)
    win.close()
    loc2 = FakeLocalizer()
    win2 = make_window(loc2, cache_dir=tmp_path / "shared-cache")
    open_and_wait(qtbot, win2, phantom)
    assert win2.store.is_complete() and loc2.calls == 0


def test_refine_brush_undo_redo_and_persistence(qtbot, make_window, phantom):
    win = make_window()
    open_and_wait(qtbot, win, phantom)
    i = win.view.index
    win.refine.set_tool("brush")
    assert win.view.paint_mode
    _, before = win.lesion_layers(i)
    assert not before[30, 40]
    win.view.paintStarted.emit(40.0, 30.0)  # (x, y) inside the other lung
    win.view.paintMoved.emit(42.0, 30.0)
    win.view.paintFinished.emit()
    _, after = win.lesion_layers(i)
    assert after[30, 40] and after[30, 42]
    assert win.refine.undo_button.isEnabled()
    qtbot.keyClick(win, K.Key_Z, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert not win.lesion_layers(i)[1][30, 40]
    assert win.refine.redo_button.isEnabled()
    win.refine.redo_button.click()
    assert win.lesion_layers(i)[1][30, 40]
    win.refine.set_tool("eraser")
    ly, lx = LESION_CENTRE
    win.view.paintStarted.emit(float(lx), float(ly))
    win.view.paintFinished.emit()
    assert not win.lesion_layers(i)[1][ly, lx]
    win.close()
    # edits are saved as they are made and come back on reopening
    win2 = make_window()
    open_and_wait(qtbot, win2, phantom)
    m = win2.lesion_layers(i)[1]
    assert m[30, 40] and not m[ly, lx] and win2.edits.n_edits == 2


def test_missing_weights_says_overlay_off(qtbot, make_window, phantom, capsys):
    def no_weights(_progress=None):
        raise FileNotFoundError("resources/weights/localizer.safetensors: file not found")

    win = make_window(factory=no_weights)
    qtbot.waitUntil(lambda: "no localizer weights" in win.device_label.text(), timeout=5000)
    assert "localizer.safetensors: file not found" in capsys.readouterr().err
    with qtbot.waitSignal(win.overlayReady, timeout=20000):
        win.open_path(phantom)
    assert "no localizer weights: overlay off" in win.view.label_bl.text()
    assert win.view.overlay_item.image is None


def test_bad_path_and_empty_folder_keep_the_window(qtbot, make_window, tmp_path):
    win = make_window()
    win.open_path(tmp_path / "nope")
    assert "no such file or folder" in win.statusBar().currentMessage()
    empty = tmp_path / "empty"
    empty.mkdir()
    win.open_path(empty)
    qtbot.waitUntil(lambda: "error" in win.statusBar().currentMessage(), timeout=10000)
    assert win.voxels is None


def test_score_panel_docked_with_context_and_item_requests(qtbot, make_window, phantom):
    win = make_window(score_panel=True)
    assert "scores" in win.docks and win.score_panel is not None
    open_and_wait(qtbot, win, phantom)
    ctx = win.score_context()
    assert ctx["slice_index"] == 4 and ctx["method"] == "gan" and ctx["sop_instance_uid"]
    assert ctx["series_uid"] == win.info.series_uid and ctx["severity_category"] == "mild"
    win.score_panel.requestItem.emit({"series_uid": win.info.series_uid, "slice_index": 2,
                                      "method": "gan"})
    assert win.view.index == 2
    win.score_panel.severityVisibilityChanged.emit(False)
    # #17: the dock stays (the docks do not jump) and says why the numbers are hidden
    assert win.docks["severity"].isVisible()
    assert "Severity hidden" in win.severity.slice_label.text()
    win.open_item({"series_uid": "1.2.3.unknown", "slice_index": 0})
    assert "not open" in win.statusBar().currentMessage()


def test_lesion_plot_click_jumps_to_slice(qtbot, make_window, phantom):
    win = make_window()
    open_and_wait(qtbot, win, phantom)
    qtbot.waitUntil(lambda: win.store.is_complete(), timeout=20000)
    win._refresh_series_numbers()
    vb = win.severity.plot.getPlotItem().vb
    target = vb.mapViewToScene(QtCore.QPointF(7.0, 1.0))  # x = slice number (1-based)

    class Click:
        def scenePos(self):
            return target

    win.severity._clicked(Click())
    assert win.view.index == 6


def test_switching_series_while_localizing(qtbot, make_window, tmp_path):
    from ui_phantom import write_phantom

    write_phantom(tmp_path / "two" / "a", n=20)
    write_phantom(tmp_path / "two" / "b", n=6)
    loc = FakeLocalizer(delay=0.05)
    win = make_window(loc)
    open_and_wait(qtbot, win, tmp_path / "two")
    first, old_worker = win.info, win.loc_worker
    other = next(s for s in win.browser.series() if s is not first)
    with qtbot.waitSignal(win.seriesShown, timeout=20000):
        win.open_series(other)
    qtbot.waitUntil(old_worker.isFinished, timeout=5000)
    qtbot.waitUntil(lambda: win.store.is_complete(), timeout=20000)
    assert win.info is other and win.store.shape[0] == other.n_slices
    assert "error" not in win.statusBar().currentMessage()


def test_mouse_wheel_scrolls_and_ctrl_wheel_zooms(qtbot, make_window, phantom):
    from PyQt6 import QtGui, QtWidgets

    win = make_window()
    open_and_wait(qtbot, win, phantom, overlay=False)
    v = win.view
    vp = v.graphics.viewport()
    centre = QtCore.QPointF(vp.width() / 2, vp.height() / 2)

    def wheel(dy, mods=QtCore.Qt.KeyboardModifier.NoModifier):
        ev = QtGui.QWheelEvent(centre, vp.mapToGlobal(centre), QtCore.QPoint(0, 0),
                               QtCore.QPoint(0, dy), QtCore.Qt.MouseButton.NoButton, mods,
                               QtCore.Qt.ScrollPhase.NoScrollPhase, False)
        QtWidgets.QApplication.sendEvent(vp, ev)

    start = v.index
    wheel(-120)
    assert v.index == start + 1
    wheel(120)
    wheel(120)
    assert v.index == start - 1
    (x0, x1), _ = v.viewbox.viewRange()
    wheel(120, QtCore.Qt.KeyboardModifier.ControlModifier)
    (z0, z1), _ = v.viewbox.viewRange()
    assert v.index == start - 1 and (z1 - z0) != (x1 - x0)


def test_small_model_threshold_is_kept(qtbot, make_window, phantom):
    loc = FakeLocalizer()
    loc.threshold = 0.035
    win = make_window(loc)
    qtbot.waitUntil(lambda: win.localizer is not None, timeout=5000)
    assert win.threshold == pytest.approx(0.035)
    assert "0.035" in win.overlay_controls.reset_threshold.text()


def test_unreadable_weights_file_is_named(qtbot, make_window, tmp_path):
    from viewer.ui.main_window import default_localizer_factory

    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not safetensors at all")
    win = make_window(factory=default_localizer_factory(str(bad), "cpu"))
    qtbot.waitUntil(lambda: win.localizer_error != "", timeout=30000)
    assert "bad.safetensors" in win.localizer_error and win.localizer is None



def test_export_current_slice_and_whole_series(qtbot, make_window, phantom, tmp_path):
    import SimpleITK as sitk

    from viewer.export.series_export import ExportRequest

    win = make_window()
    open_and_wait(qtbot, win, phantom)
    i = win.view.index
    win.refine.set_tool("brush")  # an edit must reach the exported mask
    win.view.paintStarted.emit(40.0, 30.0)
    win.view.paintFinished.emit()
    from viewer.core import measurement_store as ms   # a saved ruler on this slice goes along
    key = win.session.info.key
    ms.save_measurements(ms.measurements_path(ms.user_measurements_dir(), key), key,
                         [{"kind": "ruler", "index": i, "points": [[1, 1], [4, 5]], "text": "15.0 mm"}])
    out = tmp_path / "export"
    with qtbot.waitSignal(win.exportFinished, timeout=30000) as sig:
        win.run_export(ExportRequest(out, ["png", "npy"], indices=[i], threshold=win.threshold))
    report = sig.args[0]
    assert not report.errors
    assert out / "measurements.csv" in report.written
    assert "15.0 mm" in (out / "measurements.csv").read_text(encoding="utf-8")
    mask = np.load(out / f"mask_z{i:04d}.npy")
    assert mask.shape == (1, 64, 64) and mask[0, 30, 40]
    np.testing.assert_array_equal(mask[0], win.lesion_layers(i)[1])
    assert (out / "png" / f"mask_{i:04d}.png").is_file() or any((out / "png").iterdir())
    qtbot.waitUntil(lambda: win.store.is_complete(), timeout=20000)
    with qtbot.waitSignal(win.exportFinished, timeout=60000) as sig:
        win.run_export(ExportRequest(out / "all", ["nifti", "sr"], threshold=win.threshold))
    assert not sig.args[0].errors
    import highdicom as hd   # the saved ruler is in the series' SR too, on its own slice
    (ruler,) = hd.sr.srread(out / "all" / "sr.dcm").content.get_planar_roi_measurement_groups()
    assert ruler.tracking_identifier == f"Reader ruler 1 (slice {i + 1})"
    assert ruler.get_measurements()[0].value == pytest.approx(15.0, abs=0.01)   # 3 x 4 px at 3 mm
    img = sitk.ReadImage(str(out / "all" / "mask.nii.gz"))
    arr = sitk.GetArrayFromImage(img)
    assert arr.shape == (8, 64, 64) and arr[i, 30, 40] == 1
    assert img.GetSpacing() == pytest.approx((3.0, 3.0, 2.5))


def test_whole_series_export_waits_for_localization(qtbot, make_window, tmp_path):
    from ui_phantom import write_phantom
    from viewer.export.series_export import ExportRequest

    path = write_phantom(tmp_path / "slow", n=20)
    win = make_window(FakeLocalizer(delay=0.1))
    open_and_wait(qtbot, win, path)
    win.run_export(ExportRequest(tmp_path / "out", ["npy"]))
    assert "localization not finished" in win.statusBar().currentMessage()
    assert not (tmp_path / "out").exists()


def test_right_drag_with_the_mouse_changes_the_window(qtbot, make_window, phantom):
    from PyQt6 import QtTest

    win = make_window()
    open_and_wait(qtbot, win, phantom, overlay=False)
    v = win.view
    vp = v.graphics.viewport()
    c = QtCore.QPoint(vp.width() // 2, vp.height() // 2)
    R = QtCore.Qt.MouseButton.RightButton
    QtTest.QTest.mousePress(vp, R, QtCore.Qt.KeyboardModifier.NoModifier, c)
    for dx in range(5, 55, 5):
        ev = QtGui.QMouseEvent(QtCore.QEvent.Type.MouseMove, QtCore.QPointF(c.x() + dx, c.y()),
                               QtCore.QPointF(vp.mapToGlobal(QtCore.QPoint(c.x() + dx, c.y()))),
                               QtCore.Qt.MouseButton.NoButton, R,
                               QtCore.Qt.KeyboardModifier.NoModifier)
        QtWidgets.QApplication.sendEvent(vp, ev)
    QtTest.QTest.mouseRelease(vp, R, QtCore.Qt.KeyboardModifier.NoModifier,
                              QtCore.QPoint(c.x() + 50, c.y()))
    assert v.width_hu > 1500 and v.level_hu == -600
    (x0, x1), _ = v.viewbox.viewRange()
    v.fit()
    (f0, f1), _ = v.viewbox.viewRange()
    assert (x1 - x0) == pytest.approx(f1 - f0)  # right-drag did not zoom


def test_brush_paints_with_a_real_left_drag(qtbot, make_window, phantom):
    from PyQt6 import QtTest

    win = make_window()
    open_and_wait(qtbot, win, phantom)
    v = win.view
    win.refine.set_tool("brush")
    vp = v.graphics.viewport()
    # viewport position of image pixel (row 30, col 40), inside the other lung
    scene = v.image_item.mapToScene(QtCore.QPointF(40.5, 30.5))
    p = v.graphics.mapFromScene(scene)
    L = QtCore.Qt.MouseButton.LeftButton
    QtTest.QTest.mousePress(vp, L, QtCore.Qt.KeyboardModifier.NoModifier, p)
    for dx in range(3, 15, 3):
        q = QtCore.QPointF(p.x() + dx, p.y())
        QtWidgets.QApplication.sendEvent(vp, QtGui.QMouseEvent(
            QtCore.QEvent.Type.MouseMove, q, QtCore.QPointF(vp.mapToGlobal(q.toPoint())),
            QtCore.Qt.MouseButton.NoButton, L, QtCore.Qt.KeyboardModifier.NoModifier))
    QtTest.QTest.mouseRelease(vp, L, QtCore.Qt.KeyboardModifier.NoModifier,
                              QtCore.QPoint(p.x() + 12, p.y()))
    assert win.edits.n_edits == 1 and win.lesion_layers(v.index)[1][30, 40]


def test_export_before_the_lungs_are_in_says_so(qtbot, make_window, phantom, tmp_path):
    """The masks follow the lungs-only rule, so an export asked for before the series' lungs are
    segmented is refused with one line that says why (not "no lesion map"), and writes nothing."""
    from viewer.export.series_export import ExportRequest

    win = make_window()
    open_and_wait(qtbot, win, phantom)
    qtbot.waitUntil(lambda: win.pipeline is not None and win.store.is_complete(), timeout=30000)
    win.session.pipeline = None          # as in the moments before the lungs arrive
    win.run_export(ExportRequest(tmp_path / "out", ["npy"], indices=[win.view.index]))
    assert "lungs of this series are still being segmented" in win.statusBar().currentMessage()
    assert not (tmp_path / "out").exists()
