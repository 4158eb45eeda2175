"""Window/level presets and the HU -> display mapping."""
from __future__ import annotations

import numpy as np
import pytest

from viewer.core.windowing import (
    BONE,
    LUNG,
    MEDIASTINUM,
    PRESETS,
    apply_preset,
    apply_window,
    preset,
    validate_window,
    window_to_uint8,
)


def test_presets_are_the_named_constants():
    assert (LUNG.width, LUNG.level) == (1500.0, -600.0)
    assert (MEDIASTINUM.width, MEDIASTINUM.level) == (350.0, 50.0)
    assert (BONE.width, BONE.level) == (2000.0, 500.0)
    assert list(PRESETS) == ["lung", "mediastinum", "bone"]
    assert preset("Lung") is LUNG
    assert (LUNG.low, LUNG.high) == (-1350.0, 150.0)


def test_apply_window_maps_the_window_linearly_and_clips():
    hu = np.array([[-2000, -1350, -600, 150, 3000]], dtype=np.int16)
    out = apply_window(hu, 1500, -600)
    assert out.dtype == np.float32 and out.shape == hu.shape
    np.testing.assert_allclose(out, [[0.0, 0.0, 0.5, 1.0, 1.0]], atol=1e-6)
    np.testing.assert_allclose(apply_preset(hu, "lung"), out)


def test_window_to_uint8():
    hu = np.array([-1350.0, -600.0, 150.0, np.nan], dtype=np.float32).reshape(2, 2)
    out = window_to_uint8(hu, *(LUNG.width, LUNG.level))
    assert out.dtype == np.uint8
    assert out.ravel().tolist() == [0, 128, 255, 0]


def test_volume_shape_kept():
    vol = np.zeros((3, 4, 5), dtype=np.float32)
    assert apply_window(vol, 350, 50).shape == (3, 4, 5)


@pytest.mark.parametrize("width, level", [(0, 0), (-10, 0), (float("inf"), 0), (100, float("nan")),
                                          ("wide", 0)])
def test_bad_window_gives_clear_error(width, level):
    with pytest.raises(ValueError, match="window"):
        validate_window(width, level)
    with pytest.raises(ValueError, match="window"):
        apply_window(np.zeros(3), width, level)


def test_unknown_preset_and_non_numeric_input():
    with pytest.raises(ValueError, match="unknown, choose one of lung, mediastinum, bone"):
        preset("brain")
    with pytest.raises(ValueError, match="numeric"):
        apply_window(np.array(["a"]), 100, 0)
