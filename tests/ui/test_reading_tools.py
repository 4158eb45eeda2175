"""Measurement tools, typed window / user presets, cine, MPR layout and refine visibility,
driven by real mouse and key events (QTest) on the offscreen window. No timing asserts: every
wait is on a condition."""
from __future__ import annotations

import math
import re

import numpy as np
import pytest
from PyQt6 import QtCore, QtGui, QtWidgets
from PyQt6.QtTest import QTest

from ui_phantom import LESION_CENTRE, PIXEL_MM, SLICE_MM
from viewer.core import measure

pytestmark = pytest.mark.gui
K = QtCore.Qt.Key
LEFT = QtCore.Qt.MouseButton.LeftButton
NOMOD = QtCore.Qt.KeyboardModifier.NoModifier


def open_and_wait(qtbot, win, path, complete=True):
    with qtbot.waitSignal(win.seriesShown, timeout=20000):
        win.open_path(path)
    qtbot.waitUntil(lambda: win.store is not None and win.store.has(win.view.index),
                    timeout=20000)
    qtbot.waitUntil(lambda: win.view.overlay_item.image is not None, timeout=10000)
    if complete:
        qtbot.waitUntil(lambda: win.store.is_complete() and win.pipeline is not None,
                        timeout=30000)


def to_widget(item, x: float, y: float, graphics) -> QtCore.QPoint:
    """Image coordinates of ``item`` -> a point of ``graphics``' viewport."""
    p = graphics.mapFromScene(item.mapToScene(QtCore.QPointF(x, y)))
    return QtCore.QPoint(p.x(), p.y())


def send(vp, kind, pos, button=QtCore.Qt.MouseButton.NoButton,
         buttons=QtCore.Qt.MouseButton.NoButton):
    """A mouse event delivered to the viewport ``vp`` (as the window system would)."""
    q = QtCore.QPointF(pos)
    QtWidgets.QApplication.sendEvent(vp, QtGui.QMouseEvent(
        kind, q, QtCore.QPointF(vp.mapToGlobal(q.toPoint())), button, buttons, NOMOD))


def move(vp, pos, buttons=QtCore.Qt.MouseButton.NoButton):
    """A mouse move with ``buttons`` held. pyqtgraph drops moves less than 10 ms after the
    previous one (``mouseRateLimit``), so each move first lets that much time pass (a wait for
    time to pass, not a timing assert)."""
    QTest.qWait(12)
    send(vp, QtCore.QEvent.Type.MouseMove, pos, buttons=buttons)


def click(vp, pos):
    """A single left click (press and release, no double click)."""
    move(vp, pos)
    send(vp, QtCore.QEvent.Type.MouseButtonPress, pos, LEFT, LEFT)
    send(vp, QtCore.QEvent.Type.MouseButtonRelease, pos, LEFT)


def settle(qtbot, item, graphics):
    """Wait until the layout is still: image point (0, 0) stays at the same viewport pixel."""
    last = []

    def still():
        QtWidgets.QApplication.processEvents()
        p = (to_widget(item, 0, 0, graphics), graphics.viewport().size())
        same = bool(last) and last[-1] == p
        last.append(p)
        return same

    qtbot.waitUntil(still, timeout=10000)


def drag(qtbot, view, points):
    """A real left drag through image points ``[(x, y), ...]`` on the slice view."""
    settle(qtbot, view.image_item, view.graphics)
    vp = view.graphics.viewport()
    pts = [to_widget(view.image_item, x, y, view.graphics) for x, y in points]
    move(vp, pts[0])
    send(vp, QtCore.QEvent.Type.MouseButtonPress, pts[0], LEFT, LEFT)
    for p in pts[1:]:
        move(vp, p, LEFT)
    send(vp, QtCore.QEvent.Type.MouseButtonRelease, pts[-1], LEFT)


def test_ruler_ellipse_freehand_and_crosshair(qtbot, make_window, phantom):
    win = make_window()
    win.resize(1300, 900)
    open_and_wait(qtbot, win, phantom, complete=False)
    v, mc = win.view, win.tools.measure
    i = v.index
    assert mc.pixel_spacing == (PIXEL_MM, PIXEL_MM)
    # ruler (R): 30 columns and 40 rows = 150 mm at 3 mm pixels
    qtbot.keyClick(win, K.Key_R)
    assert mc.tool == "ruler" and v.index == i and win.tools.actions["ruler"].isChecked()
    drag(qtbot, v, [(10, 10), (20, 25), (30, 40), (40, 50)])
    assert len(mc.measurements) == 1
    ruler = mc.measurements[0]
    p0, p1 = mc.points(ruler)
    assert p0 == pytest.approx((10, 10), abs=0.3) and p1 == pytest.approx((40, 50), abs=0.3)
    value = float(ruler.text.split()[0])
    assert ruler.text.endswith(" mm") and value == pytest.approx(150.0, abs=1.5)
    assert value == pytest.approx(measure.line_length(p0, p1, (3, 3))[0], abs=0.05)
    assert ruler.label.isVisible() and ruler.label.textItem.toPlainText() == ruler.text
    # editing a handle re-measures: (x1, 10) to (x1, y1) is 40 rows = 120 mm
    ruler.roi.movePoint(ruler.roi.getHandles()[0], QtCore.QPointF(p1[0], 10.0), coords="parent")
    assert float(ruler.text.split()[0]) == pytest.approx(3.0 * (p1[1] - 10.0), abs=0.05)
    # ellipse (O) inside the -500 HU lesion: mean -500, SD 0, area = its pixels x 9 mm²
    qtbot.keyClick(win, K.Key_O)
    ly, lx = LESION_CENTRE
    drag(qtbot, v, [(lx - 3, ly - 3), (lx, ly), (lx + 3, ly + 3)])
    ell = mc.measurements[1]
    assert ell.kind == "ellipse" and "-500.0 ± 0.0 HU" in ell.text
    n = int(mc.roi_mask(ell, (64, 64)).sum())
    area = float(ell.text.split()[0])
    assert area == pytest.approx(n * 9.0) and area == pytest.approx(math.pi * 9 * 9, rel=0.25)
    # freehand (D): a 6 x 16 px box in the mediastinum (40 HU): 96 px = 864 mm²
    qtbot.keyClick(win, K.Key_D)
    drag(qtbot, v, [(29, 24), (32, 24), (35, 24), (35, 30), (35, 36), (35, 40), (32, 40),
                    (29, 40), (29, 32), (29, 25)])
    fh = mc.measurements[2]
    assert fh.kind == "freehand" and "40.0 ± 0.0 HU" in fh.text
    assert float(fh.text.split()[0]) == pytest.approx(864.0, rel=0.08)
    # measurements belong to their slice
    qtbot.keyClick(win, K.Key_Right)
    assert not ruler.roi.isVisible()
    qtbot.keyClick(win, K.Key_Left)
    assert ruler.roi.isVisible()
    # crosshair (C): lines through the mouse with mm and HU
    qtbot.keyClick(win, K.Key_C)
    move(v.graphics.viewport(), to_widget(v.image_item, lx + 0.5, ly + 0.5, v.graphics))
    qtbot.waitUntil(lambda: "HU" in mc.crosshair_text, timeout=5000)
    assert "-500 HU" in mc.crosshair_text and "mm" in mc.crosshair_text
    assert mc.cross_v.isVisible() and mc.cross_v.value() == pytest.approx(lx + 0.5, abs=0.3)
    # the keys are not the window's: no slice or window change; Esc back to pan
    assert v.index == i and (v.width_hu, v.level_hu) == (1500, -600)
    qtbot.keyClick(win, K.Key_Escape)
    assert mc.tool == "none" and v.drag_tool is None
    # a brush turns the measurement tool off (and back)
    qtbot.keyClick(win, K.Key_R)
    qtbot.keyClick(win, K.Key_B)
    assert mc.tool == "none" and win.refine.tool() == "brush"
    qtbot.keyClick(win, K.Key_O)
    assert win.refine.tool() == "none" and mc.tool == "ellipse"


def test_typed_window_and_user_presets(qtbot, make_window, phantom, isolated_settings,
                                       monkeypatch):
    win = make_window()
    open_and_wait(qtbot, win, phantom, complete=False)
    box, v = win.tools.window_box, win.view
    qtbot.keyClick(win, K.Key_W)  # focus the width field
    qtbot.waitUntil(box.width_edit.hasFocus, timeout=5000)
    box.width_edit.clear()
    qtbot.keyClicks(box.width_edit, "-5")
    qtbot.keyClick(box.width_edit, K.Key_Return)
    assert win.statusBar().currentMessage() == "error: window width: must be > 0 HU, got -5"
    assert (v.width_hu, v.level_hu) == (1500, -600)
    box.level_edit.clear()
    qtbot.keyClicks(box.level_edit, "abc")
    qtbot.mouseClick(box.apply_button, LEFT)
    assert "window" in win.statusBar().currentMessage()
    box.width_edit.clear()
    qtbot.keyClicks(box.width_edit, "400")
    box.level_edit.clear()
    qtbot.keyClicks(box.level_edit, "40")
    qtbot.keyClick(box.level_edit, K.Key_Return)
    assert (v.width_hu, v.level_hu) == (400, 40) and "W 400  L 40" in v.label_bl.text()
    # save as a user preset (the name dialog answered), stored in the settings
    monkeypatch.setattr(QtWidgets.QInputDialog, "getText",
                        lambda *a, **k: ("soft tissue", True))
    qtbot.mouseClick(box.save_button, LEFT)
    assert "soft tissue" in str(isolated_settings.value("window/user_presets"))
    # a built-in name is refused with a one-line message
    assert not box.save_preset("Lung")
    assert "preset name: 'Lung' is a built-in preset" in win.statusBar().currentMessage()
    qtbot.keyClick(win, K.Key_1)  # lung preset by key
    assert (v.width_hu, v.level_hu) == (1500, -600)
    # a new window (same settings) lists the preset; choosing it with the keyboard applies it
    win2 = make_window()
    open_and_wait(qtbot, win2, phantom, complete=False)
    box2 = win2.tools.window_box
    row = box2.presets.findData("user:soft tissue")
    assert row == box2.presets.count() - 1
    box2.presets.showPopup()  # pick it from the open list with the mouse
    lv = box2.presets.view()
    qtbot.waitUntil(lv.isVisible, timeout=5000)
    qtbot.mouseClick(lv.viewport(), LEFT, NOMOD, lv.visualRect(lv.model().index(row, 0)).center())
    assert (win2.view.width_hu, win2.view.level_hu) == (400, 40)
    assert "soft tissue" in win2.view.label_bl.text()
    qtbot.mouseClick(box2.delete_button, LEFT)
    assert box2.presets.findData("user:soft tissue") == -1


def test_cine_plays_pauses_and_stops_when_the_window_closes(qtbot, make_window, phantom):
    win = make_window(managed=False)
    open_and_wait(qtbot, win, phantom, complete=False)
    v, cine = win.view, win.tools.cine
    cine.fps.setValue(30)
    seen = set()
    v.indexChanged.connect(seen.add)
    qtbot.keyClick(win, K.Key_Space)
    assert cine.playing and cine.button.text().endswith("Pause")
    qtbot.waitUntil(lambda: len(seen) >= 3, timeout=20000)
    qtbot.keyClick(win, K.Key_Space)
    assert not cine.playing
    stopped_at = v.index
    qtbot.mouseClick(cine.button, LEFT)  # the button plays too
    qtbot.waitUntil(lambda: v.index != stopped_at, timeout=20000)
    # it loops: every slice comes round
    qtbot.waitUntil(lambda: len(seen) == v.n_slices, timeout=30000)
    ticks = []
    cine.timer.timeout.connect(lambda: ticks.append(1))
    win.close()
    assert not cine.timer.isActive() and not cine.playing
    cine.play()  # refused after close
    assert not cine.timer.isActive()
    qtbot.wait(300)
    assert ticks == []
    win.deleteLater()


def test_mpr_layout_linked_cursor_overlay_in_three_planes(qtbot, make_window, phantom,
                                                           tmp_path):
    win = make_window()
    win.resize(1400, 900)
    open_and_wait(qtbot, win, phantom)
    t, v = win.tools, win.view
    assert t.mpr_action.isEnabled() and not t.mpr_panel.isVisible()
    qtbot.keyClick(win, K.Key_M)
    assert t.mpr.enabled and t.mpr_panel.isVisible() and t.mpr_action.isChecked()
    # the axial view now shares the window: wait for its new size before aiming at it
    qtbot.waitUntil(lambda: v.graphics.viewport().width() < 0.7 * t.splitter.width(),
                    timeout=5000)
    settle(qtbot, v.image_item, v.graphics)
    cor, sag = t.mpr_panel.views["coronal"], t.mpr_panel.views["sagittal"]
    qtbot.waitUntil(lambda: cor.image_item.image is not None, timeout=5000)
    # geometry: coronal (z, x) = (8, 64) pixels drawn 2.5 mm tall and 3 mm wide
    assert cor.image_item.image.shape == (8, 64) and sag.image_item.image.shape == (8, 64)
    r = cor.image_item.mapRectToParent(cor.image_item.boundingRect())
    assert r.height() == pytest.approx(8 * SLICE_MM) and r.width() == pytest.approx(64 * PIXEL_MM)
    # click on the lesion in the axial view: the coronal and sagittal planes go through it
    ly, lx = LESION_CENTRE
    click(v.graphics.viewport(), to_widget(v.image_item, lx + 0.5, ly + 0.5, v.graphics))
    qtbot.waitUntil(lambda: t.mpr.cursor[1:] == (ly, lx), timeout=5000)
    assert "coronal 31 / 64" in cor.label.text() and "sagittal 23 / 64" in sag.label.text()
    np.testing.assert_array_equal(cor.image_item.image, win.voxels[:, ly, :])
    np.testing.assert_array_equal(sag.image_item.image, win.voxels[:, :, lx])
    # the lesion overlay in both reformats (the phantom's lesion is on every slice)
    for pv, col in ((cor, lx), (sag, ly)):
        ov = pv.overlay_item.image
        assert ov is not None and ov.shape == (8, 64, 4)
        assert ov[:, col, 3].min() > 0  # every slice has the lesion at the cursor
    assert cor.line_v.value() == pytest.approx((lx + 0.5) * PIXEL_MM)
    # click in the coronal plane at slice 2, column 40: axial goes to 2, sagittal to x = 40
    settle(qtbot, cor.image_item, cor.graphics)
    click(cor.graphics.viewport(), to_widget(cor.image_item, 40.5, 2.5, cor.graphics))
    qtbot.waitUntil(lambda: v.index == 2, timeout=5000)
    assert t.mpr.cursor == (2, ly, 40) and "sagittal 41 / 64" in sag.label.text()
    assert t.mpr.axial_v.value() == pytest.approx(40.5)
    # click in the sagittal plane: row (y) 20 of slice 5
    settle(qtbot, sag.image_item, sag.graphics)
    click(sag.graphics.viewport(), to_widget(sag.image_item, 20.5, 5.5, sag.graphics))
    qtbot.waitUntil(lambda: v.index == 5, timeout=5000)
    assert t.mpr.cursor == (5, 20, 40) and "coronal 21 / 64" in cor.label.text()
    # back to the single view (View menu action)
    t.mpr_action.trigger()
    assert not t.mpr.enabled and not t.mpr_panel.isVisible()


def test_mpr_refused_for_pictures_with_a_reason(qtbot, make_window, tmp_path):
    img = QtGui.QImage(48, 48, QtGui.QImage.Format.Format_Grayscale8)
    img.fill(90)
    folder = tmp_path / "pics"
    folder.mkdir()
    img.save(str(folder / "slice.png"))
    win = make_window()
    with qtbot.waitSignal(win.seriesShown, timeout=20000):
        win.open_path(folder / "slice.png")
    t = win.tools
    assert not t.mpr_action.isEnabled() and "pictures have no slice spacing" in t.mpr_action.text()
    qtbot.keyClick(win, K.Key_M)
    assert not t.mpr.enabled and not t.mpr_panel.isVisible()
    assert "MPR layout: unavailable: pictures have no slice spacing" in \
        win.statusBar().currentMessage()
    # pictures measure in px and grey values
    assert t.measure.pixel_spacing is None and win.refine.radius_unit == "px"
    qtbot.keyClick(win, K.Key_R)
    drag(qtbot, win.view, [(5, 5), (10, 5), (25, 5)])
    assert re.fullmatch(r"\d+\.\d px", t.measure.measurements[0].text)
    qtbot.keyClick(win, K.Key_O)
    drag(qtbot, win.view, [(10, 10), (15, 15), (30, 30)])
    assert "grey 90.0 ± 0.0" in t.measure.measurements[1].text
    assert "px²" in t.measure.measurements[1].text


def test_refine_fill_brush_cursor_mm_radius_and_clip_note(qtbot, make_window, phantom):
    win = make_window()
    win.resize(1300, 900)
    open_and_wait(qtbot, win, phantom)
    v, oc, ref = win.view, win.overlay_controls, win.refine
    i = v.index
    _, mask = win.lesion_layers(i)
    inside = tuple(np.argwhere(mask & ~np.roll(mask, 1, 0) == 0)[0])  # any mask pixel
    ly, lx = LESION_CENTRE
    before = v.overlay_item.image[ly, lx].copy()
    # filled, semi-transparent mask
    qtbot.mouseClick(oc.fill_box, LEFT)
    qtbot.waitUntil(lambda: not np.array_equal(v.overlay_item.image[ly, lx], before),
                    timeout=5000)
    px = v.overlay_item.image[ly, lx]
    assert 0 < px[3] < 255 and px[2] > px[0]  # cyan-ish, not opaque
    assert inside is not None
    # radius in mm: 4 mm default = 1.33 px at 3 mm pixels; typed 9 mm = 3 px
    assert ref.radius_unit == "mm" and ref.radius.suffix() == " mm"
    ref.radius.selectAll()
    qtbot.keyClicks(ref.radius, "9")
    qtbot.keyClick(ref.radius, K.Key_Return)
    assert win.refine_ctl.radius_pixels() == pytest.approx(3.0)
    # the brush cursor: a 3 px circle under the mouse while the brush is on
    qtbot.keyClick(win, K.Key_B)
    move(v.graphics.viewport(), to_widget(v.image_item, 32, 12, v.graphics))
    qtbot.waitUntil(v.brush_cursor.isVisible, timeout=5000)
    rect = v.brush_cursor.rect()
    assert rect.width() == pytest.approx(6.0) and rect.center().x() == pytest.approx(32, abs=0.3)
    # a stroke across the body wall (outside the lungs) with "Restrict to lungs" on: clipped
    assert win.restrict_to_lungs
    drag(qtbot, v, [(30, 8), (32, 8), (34, 8), (36, 8)])
    qtbot.waitUntil(lambda: "clipped" in win.statusBar().currentMessage(), timeout=5000)
    assert "outside the lungs not added" in ref.status.text()
    assert not win.lesion_layers(i)[1][8, 32]
    # inside the lung: no note
    drag(qtbot, v, [(40, 30), (41, 30), (42, 30)])
    qtbot.waitUntil(lambda: win.lesion_layers(i)[1][30, 41], timeout=5000)
    assert win.refine_ctl.clip_note == "" and "clipped" not in ref.status.text()
    qtbot.keyClick(win, K.Key_Escape)
    assert not v.brush_cursor.isVisible()


def test_tool_keys_are_new_and_in_the_help(qtbot, make_window):
    from viewer.ui.help_dialog import SHORTCUTS

    win = make_window()
    keys = [s.key().toString() for s in win.findChildren(QtGui.QShortcut)]
    assert sorted({k for k in keys if keys.count(k) > 1}) == []  # no key bound twice
    for k in ("R", "O", "D", "C", "W", "Space", "M"):
        assert keys.count(k) == 1
    help_keys = " ".join(k for k, _ in SHORTCUTS)
    assert "R / O / D / C" in help_keys and "Space" in help_keys and "M" in help_keys


def test_measurements_are_saved_and_come_back_with_the_series(qtbot, make_window, phantom, tmp_path):
    """Drawn, edited and cleared measurements are on disk the moment the status bar says
    saved; opening the series again (a new window) draws them on their slices with the same
    numbers; a bad saved file is named and kept aside."""
    from viewer.core import measurement_store as ms

    win = make_window()
    win.resize(1300, 900)
    open_and_wait(qtbot, win, phantom, complete=False)
    v, mc = win.view, win.tools.measure
    assert mc.store_path is not None and mc.store_path.parent == ms.user_measurements_dir()
    assert str(tmp_path) in str(mc.store_path)            # the test's own data folder
    i = v.index
    qtbot.keyClick(win, K.Key_R)
    drag(qtbot, v, [(10, 10), (25, 30), (40, 50)])
    assert "1 measurement(s) of this series saved" in win.statusBar().currentMessage()
    assert len(ms.load_measurements(mc.store_path)[0]) == 1
    qtbot.keyClick(win, K.Key_O)
    ly, lx = LESION_CENTRE
    drag(qtbot, v, [(lx - 3, ly - 2), (lx + 3, ly + 2)])
    ell = mc.measurements[1]
    ell.roi.setAngle(25.0)                                 # a turned ellipse (finish: saved)
    qtbot.keyClick(win, K.Key_Right)
    qtbot.keyClick(win, K.Key_D)
    drag(qtbot, v, [(29, 24), (35, 24), (35, 40), (29, 40), (29, 25)])
    # a click with the freehand tool is no outline: nothing kept
    drag(qtbot, v, [(5, 5)])
    assert [m.kind for m in mc.measurements] == ["ruler", "ellipse", "freehand"]
    # an edited handle is saved when the drag ends
    ruler = mc.measurements[0]
    ruler.roi.movePoint(ruler.roi.getHandles()[0], QtCore.QPointF(12.0, 10.0), coords="parent")
    saved, _ = ms.load_measurements(mc.store_path)
    assert saved == [mc.record(m) for m in mc.measurements]
    assert saved[0]["points"][0] == pytest.approx([12.0, 10.0], abs=1e-6)
    assert saved[1]["ellipse"]["angle"] == pytest.approx(25.0)
    assert [m["index"] for m in saved] == [i, i, i + 1]
    texts = [m.text for m in mc.measurements]
    path = mc.store_path
    win.close()

    win2 = make_window()
    win2.resize(1300, 900)
    open_and_wait(qtbot, win2, phantom, complete=False)
    mc2 = win2.tools.measure
    qtbot.waitUntil(lambda: len(mc2.measurements) == 3, timeout=10000)
    assert [m.text for m in mc2.measurements] == texts
    for a, b in zip(saved, (mc2.record(m) for m in mc2.measurements)):
        assert a["kind"] == b["kind"] and a["index"] == b["index"]
        if a["kind"] == "ellipse":
            assert [b["ellipse"][k] for k in ("cx", "cy", "a", "b", "angle")] == pytest.approx(
                [a["ellipse"][k] for k in ("cx", "cy", "a", "b", "angle")], abs=1e-6)
        else:
            assert np.allclose(a["points"], b["points"], atol=1e-6)
    assert mc2.measurements[0].roi.isVisible() and not mc2.measurements[2].roi.isVisible()
    assert ms.load_measurements(path)[0] == saved         # showing them wrote nothing new
    # Clear removes them from the saved set too
    win2.tools.actions["clear"].trigger()
    assert mc2.measurements == [] and ms.load_measurements(path)[0] == []
    assert "cleared" in win2.statusBar().currentMessage()
    win2.close()

    path.write_text("{torn")
    win3 = make_window()
    with qtbot.waitSignal(win3.seriesShown, timeout=20000):
        win3.open_path(phantom)
    assert win3.tools.measure.measurements == []
    assert path.with_name(path.name + ".unreadable-1").read_text() == "{torn"


def test_a_measurement_that_cannot_be_saved_stays_on_screen_and_says_so(qtbot, make_window, phantom,
                                                                       monkeypatch):
    from viewer.io import atomic

    win = make_window()
    win.resize(1300, 900)
    open_and_wait(qtbot, win, phantom, complete=False)
    mc = win.tools.measure
    mc.store_path.parent.mkdir(parents=True, exist_ok=True)
    blocked = mc.store_path.with_name(".part-blocked-" + mc.store_path.name)
    blocked.mkdir()                                                # the write fails
    real_temp_name = atomic.temp_name
    monkeypatch.setattr(atomic, "temp_name",
                        lambda final: blocked if final == mc.store_path else real_temp_name(final))
    qtbot.keyClick(win, K.Key_R)
    drag(qtbot, win.view, [(10, 10), (40, 50)])
    assert len(mc.measurements) == 1 and mc.measurements[0].roi.isVisible()
    msg = win.statusBar().currentMessage()
    assert "not saved" in msg and mc.series_key in msg
