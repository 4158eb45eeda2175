"""``view --screenshot``: renders offscreen once the slice's overlay is ready, writes a PNG."""
from __future__ import annotations

import pytest
from PyQt6 import QtGui

pytestmark = pytest.mark.gui


def test_run_writes_screenshot_without_weights(qapp, phantom, tmp_path, isolated_settings,
                                               monkeypatch):
    from viewer.ui import app, main_window

    # no weights: the window says so and the screenshot is still taken
    monkeypatch.setattr(main_window, "default_localizer_factory",
                        lambda w, d: (lambda _p=None: (_ for _ in ()).throw(
                            FileNotFoundError("localizer.safetensors: file not found"))))
    out = tmp_path / "shot.png"
    code = app.run(phantom, slice_index=2, screenshot=str(out))
    assert code == 0 and out.is_file()
    img = QtGui.QImage(str(out))
    assert img.width() >= 800 and img.height() >= 500


def test_run_with_localizer_waits_for_the_overlay(qapp, phantom, tmp_path, isolated_settings,
                                                  monkeypatch):
    from ui_phantom import FakeLocalizer
    from viewer.ui import app, main_window

    loc = FakeLocalizer(delay=0.05)
    monkeypatch.setattr(main_window, "default_localizer_factory", lambda w, d: (lambda _p=None: loc))
    seen = {}
    real_save = app.save_screenshot

    def spy(win, path):
        seen["has_map"] = win.store is not None and win.store.has(win.view.index)
        seen["index"] = win.view.index
        return real_save(win, path)

    monkeypatch.setattr(app, "save_screenshot", spy)
    out = tmp_path / "shot.png"
    assert app.run(phantom, slice_index=6, screenshot=str(out)) == 0
    assert out.is_file() and seen == {"has_map": True, "index": 6}


def test_screenshot_must_be_png(qapp, phantom, tmp_path, capsys):
    from viewer.ui import app

    assert app.run(phantom, screenshot=str(tmp_path / "shot.jpg")) == 2
    assert "must be a .png" in capsys.readouterr().err


def _fake_localizer(monkeypatch):
    from ui_phantom import FakeLocalizer
    from viewer.ui import main_window

    loc = FakeLocalizer()
    monkeypatch.setattr(main_window, "default_localizer_factory", lambda w, d: (lambda _p=None: loc))


def test_screenshot_fails_fast_when_the_scan_raises(qapp, phantom, tmp_path, isolated_settings,
                                                    monkeypatch, capsys):
    """Issue #13: a scan that raises ends the screenshot at once (no 600 s wait)."""
    import viewer.io
    from viewer.ui import app

    _fake_localizer(monkeypatch)
    monkeypatch.setattr(app, "SCREENSHOT_TIMEOUT_S", 3600)  # a wait would hit the test timeout

    def boom(path, progress=None):
        raise OSError("disk on fire")

    monkeypatch.setattr(viewer.io, "scan_path", boom)
    out = tmp_path / "shot.png"
    assert app.run(phantom, screenshot=str(out)) == 1
    err = capsys.readouterr().err
    assert "disk on fire" in err and "error: screenshot: nothing to show" in err
    assert not out.exists()


def test_screenshot_fails_fast_when_nothing_loads(qapp, tmp_path, isolated_settings,
                                                  monkeypatch, capsys):
    from viewer.ui import app

    _fake_localizer(monkeypatch)
    monkeypatch.setattr(app, "SCREENSHOT_TIMEOUT_S", 3600)
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "a.dcm").write_bytes(b"not dicom at all" * 20)
    assert app.run(junk, screenshot=str(tmp_path / "shot.png")) == 1
    err = capsys.readouterr().err
    assert "no CT series or pictures found" in err and "not a DICOM file" in err


def test_slice_out_of_range_warns_and_shows_the_last(qapp, phantom, tmp_path,
                                                       isolated_settings, monkeypatch, capsys):
    from viewer.ui import app

    _fake_localizer(monkeypatch)
    out = tmp_path / "shot.png"
    seen = {}
    real_save = app.save_screenshot

    def spy(win, path):
        seen["index"] = win.view.index
        return real_save(win, path)

    monkeypatch.setattr(app, "save_screenshot", spy)
    assert app.run(phantom, slice_index=99999, screenshot=str(out)) == 0
    err = capsys.readouterr().err
    assert "warning: --slice 99999: outside 0..7; showing slice 7 (the last)" in err
    assert out.is_file() and seen["index"] == 7


def test_whole_series_screenshot_shows_the_drawn_maps_note(qapp, phantom, tmp_path,
                                                           isolated_settings, monkeypatch):
    """#17 item 6: once the overlay is drawn the note names the map, never "localizing…"
    (also after a whole-series screenshot, `view --screenshot-when series`)."""
    from ui_phantom import FakeLocalizer
    from viewer.ui import app, main_window

    loc = FakeLocalizer(delay=0.02)
    monkeypatch.setattr(main_window, "default_localizer_factory", lambda w, d: (lambda _p=None: loc))
    seen = {}
    real_save = app.save_screenshot

    def spy(win, path):
        seen["note"] = win.view.overlay_note
        seen["drawn"] = win.view.overlay_item.image is not None
        return real_save(win, path)

    monkeypatch.setattr(app, "save_screenshot", spy)
    out = tmp_path / "series.png"
    assert app.run(phantom, slice_index=3, screenshot=str(out), screenshot_when="series") == 0
    assert seen["drawn"] and "localizing" not in seen["note"] and "map" in seen["note"]
