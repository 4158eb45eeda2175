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
