"""Shared test fixtures. No test needs ../shared; those that use it skip when it is absent."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

try:  # keep tests light on the 2-core machine
    import torch

    torch.set_num_threads(1)
except Exception:  # pragma: no cover - torch is a hard dependency
    pass


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to ../shared/data; skips the test when the folder is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"../shared/data not present at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture()
def shared_subdir(shared_data):
    def get(name: str) -> Path:
        p = shared_data / name
        if not p.exists():
            pytest.skip(f"{p} not present")
        return p

    return get
