"""Synthetic class-folder and image + mask data for the gan tests (no ../shared needed)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def _phantom(rng: np.random.Generator, size: int, lesion: bool) -> tuple[np.ndarray, np.ndarray]:
    """A lung-window-like picture: bright body, two dark lungs, optional bright blob in a lung."""
    yy, xx = np.mgrid[:size, :size] / size
    img = np.full((size, size), 20.0)
    body = ((yy - 0.5) / 0.45) ** 2 + ((xx - 0.5) / 0.48) ** 2 < 1
    img[body] = 200
    for cx in (0.3, 0.7):
        lung = ((yy - 0.5) / 0.3) ** 2 + ((xx - cx) / 0.15) ** 2 < 1
        img[lung] = 40
    mask = np.zeros((size, size), bool)
    if lesion:
        cy, cx = rng.uniform(0.4, 0.6), rng.choice([0.3, 0.7])
        mask = ((yy - cy) / 0.08) ** 2 + ((xx - cx) / 0.06) ** 2 < 1
        img[mask] = 150
    img += rng.normal(0, 5, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8), mask


@pytest.fixture(scope="session")
def class_folders(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("trainset")
    rng = np.random.default_rng(0)
    for name, lesion in (("COVID", True), ("non-COVID", False)):
        (root / name).mkdir()
        for i in range(6):
            img, _ = _phantom(rng, 72 + 4 * i, lesion)
            Image.fromarray(img).save(root / name / f"{name} ({i + 1}).png")
    return root


@pytest.fixture(scope="session")
def mask_folders(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("valset")
    (root / "images").mkdir(); (root / "masks").mkdir()
    rng = np.random.default_rng(1)
    for i in range(4):
        img, m = _phantom(rng, 80, True)
        Image.fromarray(img).save(root / "images" / f"{i}.jpg")
        Image.fromarray((m * 255).astype(np.uint8)).save(root / "masks" / f"{i}.png")
    return root / "images", root / "masks"
