"""Classifier-explanation maps (Grad-CAM, multi-scale Grad-CAM, SmoothGrad) of single slices,
as a Qt-free callable the viewer runs off the GUI thread.

The explainer (:class:`gan.cams.ClassifierExplainer`) is built from the weights file on first
use and reused; calls are serialized by a lock, so workers started one after the other (a
reader jumping between items) never run the network at the same time.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable

import numpy as np

from gan.map_methods import CAM_METHODS


class CamMapComputer:
    """``compute(slice, is_hu, method)`` -> float32 (y, x) map in [0, 1].

    Args:
        weights: the stage-1 classifier ``.safetensors`` file.
        device: "auto", "cpu" or "cuda[:N]".
    """

    def __init__(self, weights: str | Path, device: str = "auto"):
        self.weights = Path(weights)
        self.device = device
        self._explainer = None
        self._lock = threading.Lock()

    def compute(self, sl: np.ndarray, is_hu: bool, method: str,
                progress: Callable[[int, int], bool] | None = None) -> np.ndarray:
        """Map of ``sl`` ((y, x): HU when ``is_hu``, else an 8-bit picture) for ``method``
        (one of ``CAM_METHODS``): float32 (y, x) in [0, 1], the shape of ``sl``.

        Raises ValueError for an unknown method or a slice that is not 2-D, FileNotFoundError
        when the weights file is missing.
        """
        if method not in CAM_METHODS:
            raise ValueError(f"unknown CAM method {method!r}; choose from {', '.join(CAM_METHODS)}")
        sl = np.asarray(sl)
        if sl.ndim != 2:
            raise ValueError(f"CAM map: expected one (y, x) slice, got shape {sl.shape}")
        with self._lock:
            if self._explainer is None:
                if not self.weights.is_file():
                    raise FileNotFoundError(f"{self.weights}: file not found")
                from gan.cams import ClassifierExplainer

                self._explainer = ClassifierExplainer(self.weights, device=self.device)
            out = self._explainer.maps([sl], is_hu, method, progress=progress)
        if not out:
            raise RuntimeError("CAM map: cancelled")
        return np.asarray(out[0], dtype=np.float32)
