"""Fixtures for the reading-room UI tests (offscreen Qt, synthetic phantom, fake localizer)."""
from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")
from PyQt6 import QtCore  # noqa: E402

from ui_phantom import FakeLocalizer, write_phantom  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def _gui_thread_gc(qapp):
    """As in the product (``viewer.ui.app.make_app``): cyclic garbage is collected on the GUI
    thread only, never by a worker thread in the middle of a paint."""
    from viewer.ui import gc_guard

    gc_guard.install(qapp)
    yield
    gc_guard.uninstall()


@pytest.fixture()
def phantom(tmp_path):
    return write_phantom(tmp_path / "phantom", n=8)


@pytest.fixture()
def isolated_settings(tmp_path, monkeypatch):
    """QSettings in a temp ini file; user data/cache dirs under tmp_path."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("COVID_CT_CACHE_DIR", str(tmp_path / "cache"))
    return QtCore.QSettings(str(tmp_path / "settings.ini"), QtCore.QSettings.Format.IniFormat)


@pytest.fixture()
def make_window(qtbot, tmp_path, isolated_settings):
    """Build a MainWindow with a fake localizer (or none) and a map cache under tmp_path."""
    from viewer.core.map_cache import MapCache
    from viewer.ui.main_window import MainWindow

    def make(localizer=None, cache_dir=None, factory="fake", score_panel=False, managed=True):
        """``managed=False``: the test closes and deletes the window itself (qtbot does not)."""
        if factory == "fake":
            loc = localizer or FakeLocalizer()
            fac = lambda _progress=None: loc  # noqa: E731
        else:
            fac = factory
        win = MainWindow(fac, cache=MapCache(cache_dir or tmp_path / "maps"),
                         settings=isolated_settings, score_panel=score_panel)
        if managed:
            qtbot.addWidget(win)
        win.resize(1000, 700)
        win.show()
        return win

    return make
