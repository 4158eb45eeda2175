"""CLI tests: the per-user folders (measurements, edits, caches) live under the test's tmp_path,
never in the real user data directory."""
from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def isolated_user_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "user-data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "user-config"))
    monkeypatch.setenv("COVID_CT_CACHE_DIR", str(tmp_path / "user-cache"))
