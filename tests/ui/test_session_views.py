"""The panels are views of the window's ReadingSession: a setting travels one way, view ->
session -> every view, and is journalled once."""
from __future__ import annotations

import pytest

from test_main_window import open_and_wait

pytestmark = pytest.mark.gui


def test_threshold_goes_view_session_views(qtbot, make_window, phantom):
    win = make_window()
    open_and_wait(qtbot, win, phantom)
    s, seen = win.session, []
    s.events.connect("threshold", seen.append)
    win.refine.threshold.setValue(700)  # the refine dock's slider
    assert seen == [pytest.approx(0.7)]  # one event, no echo from the other slider
    assert s.threshold == win.threshold == pytest.approx(0.7)
    assert win.overlay_controls.threshold_value() == pytest.approx(0.7)
    assert s.pipeline is None or s.pipeline.threshold == pytest.approx(0.7)
    assert s.edits.settings["threshold"] == pytest.approx(0.7)
    win.overlay_controls.threshold.setValue(300)  # the overlay dock's slider
    assert seen[-1] == pytest.approx(0.3) and len(seen) == 2
    assert win.refine.threshold.value() == 300 and "0.300" in win.refine.threshold_label.text()


def test_session_settings_show_in_the_views(qtbot, make_window, phantom):
    win = make_window()
    open_and_wait(qtbot, win, phantom)
    s = win.session
    s.set_lungs_only(False)
    assert not win.refine.restrict.isChecked() and win.severity.note_label.isHidden()
    s.set_overlay_visible(False)
    assert not win.overlay_controls.visible_box.isChecked()
    assert win.view.overlay_item.image is None
    s.set_threshold(0.42)
    assert win.overlay_controls.threshold_value() == pytest.approx(0.42)
    assert win.refine.threshold.value() == 420


def test_the_window_names_the_model_that_drew_the_map(qtbot, make_window, phantom):
    """The status bar names the localizer (the same whatever map is on screen, so it cannot
    unblind a reader) and the overlay note names the model behind the product's map."""
    from ui_phantom import FakeLocalizer

    loc = FakeLocalizer()
    loc.short_name, loc.model_name = "GAN student", "covid-gan-student (label-free)"
    win = make_window(localizer=loc)
    open_and_wait(qtbot, win, phantom)
    qtbot.waitUntil(lambda: "GAN student" in win.device_label.text(), timeout=10000)
    assert win.device_label.text() == "localizer: GAN student on cpu"
    assert "covid-gan-student (label-free)" in win.device_label.toolTip()
    qtbot.waitUntil(lambda: "GAN student map" in win.view.overlay_note, timeout=10000)
