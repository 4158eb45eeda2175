"""The lung-field network: a small U-Net that outlines the lung field, dense lung included.

``LungFieldNet(weights, device).probabilities(volume, is_hu)`` -> float32 lung probability, the
same shape as ``volume``: a slice ``(y, x)`` or a stack ``(z, y, x)``; HU (``is_hu``) or 8-bit
pictures (uint8 0-255 or float 0-1).

Why: threshold-based lung masks (``viewer.core.lung_mask``) find aerated lung; dense consolidation
and effusion against the chest wall look like soft tissue to them and fall outside. The network
is trained (``gan.train_lung_net``, ``python main.py lungs train``) on normal slices with their
threshold-based lung masks and synthetic lesions painted into the lungs
(``gan.synthetic_lesions``), the target staying the whole lung: it learns the lung field from the
chest wall, ribs and mediastinum around it. No pixel label of a diseased lung is used.

Input framing (``frame_box``): the body bounding box (``gan.preprocess.body_crop``) made square
about its centre (outside the slice counts as 0, air), resized to the model grid
(``image_size``, metadata) with area averaging; HU through the lung window W1500/L-600. The
probability is resized back (bilinear) into the body box; outside it is 0.

Weights: safetensors with ``kind`` = "lung-field" and ``width``, ``image_size`` (the network is
``gan.networks.Generator`` with a sigmoid head read as the lung probability).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as Fnn

from .networks import Generator
from .preprocess import body_crop, to_unit
from .weights import file_sha256, meta_float, read_weights

KIND = "lung-field"
#: Slices per forward pass.
BATCH = 16


def frame_box(unit: np.ndarray, is_hu: bool) -> tuple[int, int, int, int]:
    """``(y0, y1, x0, x1)``: the square box about the body bounding box of ``unit`` (y, x); it may
    reach outside the slice."""
    c = body_crop(unit, is_hu)
    h, w = c.y1 - c.y0, c.x1 - c.x0
    side = max(h, w)
    y0 = c.y0 - (side - h) // 2
    x0 = c.x0 - (side - w) // 2
    return y0, y0 + side, x0, x0 + side


def cut_box(a: np.ndarray, box: tuple[int, int, int, int], fill: float = 0.0) -> np.ndarray:
    """The (y, x) array ``a`` cut to ``box``, padded with ``fill`` where the box leaves it."""
    y0, y1, x0, x1 = box
    out = np.full((y1 - y0, x1 - x0), fill, dtype=a.dtype)
    sy0, sy1 = max(y0, 0), min(y1, a.shape[0])
    sx0, sx1 = max(x0, 0), min(x1, a.shape[1])
    if sy1 > sy0 and sx1 > sx0:
        out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = a[sy0:sy1, sx0:sx1]
    return out


def to_grid(square: np.ndarray, size: int, mode: str = "area") -> np.ndarray:
    """A square (s, s) float array resized to (size, size)."""
    t = torch.from_numpy(np.ascontiguousarray(square, dtype=np.float32))[None, None]
    if mode == "area":
        t = Fnn.interpolate(t, size=(size, size), mode="area") if t.shape[-1] >= size else \
            Fnn.interpolate(t, size=(size, size), mode="bilinear", align_corners=False)
    else:
        t = Fnn.interpolate(t, size=(size, size), mode=mode)
    return t[0, 0].numpy()


class LungFieldNet:
    """A trained lung-field network on ``device`` (module docstring). Raises ``ValueError`` naming
    the file for a missing, unreadable or wrong-kind weights file."""

    def __init__(self, weights: str | Path, device: str = "cpu"):
        state, meta = read_weights(weights)
        if meta.get("kind") != KIND:
            raise ValueError(f"{weights}: not lung-field weights (kind {meta.get('kind')!r})")
        self.path = Path(weights)
        self.meta = meta
        self.image_size = int(meta_float(meta, "image_size", 160))
        self.threshold = meta_float(meta, "threshold", 0.5)
        self.device = torch.device(device)
        self.net = Generator(meta_float(meta, "width", 0.25))
        try:
            self.net.load_state_dict(state)
        except RuntimeError as exc:
            raise ValueError(f"{weights}: weights do not fit the lung-field network ({exc})") from exc
        self.net.eval().to(self.device)
        self._hash: str | None = None

    @property
    def weights_hash(self) -> str:
        if self._hash is None:
            self._hash = file_sha256(self.path)
        return self._hash

    @torch.no_grad()
    def probabilities(self, volume: np.ndarray, is_hu: bool) -> np.ndarray:
        """Lung probability, float32 in [0, 1], the shape of ``volume`` ((y, x) or (z, y, x))."""
        vol = np.asarray(volume)
        if vol.ndim not in (2, 3):
            raise ValueError(f"lung field: expected (y, x) or (z, y, x), got shape {vol.shape}")
        stack = vol[None] if vol.ndim == 2 else vol
        s = self.image_size
        out = np.zeros(stack.shape, np.float32)
        for start in range(0, stack.shape[0], BATCH):
            units = [to_unit(stack[k], is_hu) for k in range(start, min(start + BATCH, stack.shape[0]))]
            boxes = [frame_box(u, is_hu) for u in units]
            x = np.stack([to_grid(cut_box(u, b), s) for u, b in zip(units, boxes)])
            p = self.net(torch.from_numpy(x)[:, None].to(self.device)).float().cpu()
            for j, (b, pk) in enumerate(zip(boxes, p)):
                side = b[1] - b[0]
                full = Fnn.interpolate(pk[None], size=(side, side), mode="bilinear",
                                       align_corners=False)[0, 0].numpy()
                out[start + j] = _paste(full, b, stack.shape[1:])
        return out[0] if vol.ndim == 2 else out

    def mask(self, volume: np.ndarray, is_hu: bool) -> np.ndarray:
        """``probabilities(...) >= threshold`` (bool, the shape of ``volume``)."""
        return self.probabilities(volume, is_hu) >= self.threshold


def _paste(square: np.ndarray, box: tuple[int, int, int, int], shape: tuple[int, int]) -> np.ndarray:
    y0, y1, x0, x1 = box
    out = np.zeros(shape, np.float32)
    sy0, sy1 = max(y0, 0), min(y1, shape[0])
    sx0, sx1 = max(x0, 0), min(x1, shape[1])
    if sy1 > sy0 and sx1 > sx0:
        out[sy0:sy1, sx0:sx1] = square[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0]
    return out
