"""CamMapComputer: clear errors for bad input (no weights or network needed)."""
from __future__ import annotations

import numpy as np
import pytest

from viewer.core.cam_maps import CamMapComputer


def test_unknown_method_is_named(tmp_path):
    with pytest.raises(ValueError, match="unknown CAM method 'lime'"):
        CamMapComputer(tmp_path / "w.safetensors").compute(np.zeros((8, 8)), True, "lime")


def test_a_volume_is_not_a_slice(tmp_path):
    with pytest.raises(ValueError, match=r"one \(y, x\) slice"):
        CamMapComputer(tmp_path / "w.safetensors").compute(np.zeros((2, 8, 8)), True, "gradcam")


def test_missing_weights_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="w.safetensors: file not found"):
        CamMapComputer(tmp_path / "w.safetensors").compute(np.zeros((8, 8)), True, "gradcam")
