"""Baseline localization maps from the stage-1 ResNet-18 classifier: Grad-CAM, multi-scale
Grad-CAM and SmoothGrad (the paper's comparison methods), target class COVID (index 1).

Preprocessing is the GAN's (``gan.inference``): slice -> [0, 1] (``gan.preprocess.to_unit``: HU
through the lung window, 8-bit / 255), body bounding-box crop, bilinear antialiased resize to the
classifier's ``image_size`` (weights metadata). Each map is min-max normalised to [0, 1] on the
model grid and put back at the slice's own size and position (zeros outside the crop), so maps
are float32 (y, x) like the input slice.

* ``gradcam``: Grad-CAM (Selvaraju et al. 2017) on ``layer4`` (last conv block, 1/32 scale),
  via the ``grad-cam`` package.
* ``msgradcam``: multi-scale Grad-CAM: Grad-CAMs of ``layer2``, ``layer3`` and ``layer4`` (1/8,
  1/16, 1/32 scale), each ReLU'd, min-max normalised and resized to the input grid, then averaged
  and normalised again (the ``grad-cam`` package's multi-layer mean).
* ``smoothgrad``: SmoothGrad (Smilkov et al. 2017): mean over ``n_samples`` noisy copies
  (Gaussian noise, sigma = 15 % of the slice's value range, seeded) of the absolute input
  gradient of the COVID logit.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as Fnn

from .classifier_weights import LoadedClassifier, load_classifier
from .inference import resolve_device
from .map_methods import CAM_METHODS
from .preprocess import Crop, body_crop, to_unit

COVID_CLASS = 1
SMOOTHGRAD_SAMPLES = 25
SMOOTHGRAD_NOISE = 0.15

ProgressFn = Callable[[int, int], object]


def _minmax(t: torch.Tensor) -> torch.Tensor:
    """Per-image min-max of (N, H, W) to [0, 1]; constant maps become zeros."""
    lo = t.amin(dim=(1, 2), keepdim=True)
    span = t.amax(dim=(1, 2), keepdim=True) - lo
    return torch.where(span > 1e-12, (t - lo) / span.clamp_min(1e-12), torch.zeros_like(t))


def gradcam_batch(net: torch.nn.Module, x: torch.Tensor, layers: Sequence[torch.nn.Module],
                  target: int = COVID_CLASS) -> torch.Tensor:
    """Grad-CAM of ``target`` for a batch (N, 1, S, S) -> (N, S, S) in [0, 1]; several layers are
    averaged after per-layer normalisation (multi-scale)."""
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    cam = GradCAM(model=net, target_layers=list(layers))
    try:
        out = cam(input_tensor=x, targets=[ClassifierOutputTarget(target)] * x.shape[0])
    finally:
        cam.activations_and_grads.release()
    net.zero_grad(set_to_none=True)
    return _minmax(torch.from_numpy(np.asarray(out, dtype=np.float32)))


def smoothgrad_batch(net: torch.nn.Module, x: torch.Tensor, target: int = COVID_CLASS,
                     n_samples: int = SMOOTHGRAD_SAMPLES, noise: float = SMOOTHGRAD_NOISE,
                     seed: int = 0) -> torch.Tensor:
    """SmoothGrad of ``target`` for a batch (N, 1, S, S) -> (N, S, S) in [0, 1]."""
    if n_samples < 1:
        raise ValueError(f"SmoothGrad needs at least one sample, got {n_samples}")
    gen = torch.Generator().manual_seed(seed)
    span = (x.amax(dim=(1, 2, 3), keepdim=True) - x.amin(dim=(1, 2, 3), keepdim=True)).clamp_min(1e-6)
    sigma = noise * span
    total = torch.zeros_like(x)
    for _ in range(n_samples):
        eps = torch.randn(x.shape, generator=gen).to(x.device)
        xn = (x + sigma * eps).detach().requires_grad_(True)
        score = net(xn)[:, target].sum()
        (grad,) = torch.autograd.grad(score, xn)
        total += grad.abs()
    return _minmax((total / n_samples)[:, 0].detach().cpu())


def model_inputs(units: Sequence[np.ndarray], crops: Sequence[Crop], size: int) -> torch.Tensor:
    """[0, 1] slices (y, x) and their crops -> (N, 1, size, size) float32 (bilinear, antialiased)."""
    xs = []
    for u, c in zip(units, crops):
        t = torch.from_numpy(np.ascontiguousarray(u[c.y0:c.y1, c.x0:c.x1], dtype=np.float32))[None, None]
        xs.append(Fnn.interpolate(t, size=(size, size), mode="bilinear", align_corners=False, antialias=True))
    return torch.cat(xs)


def paste_back(m: torch.Tensor, shape: tuple[int, int], crop: Crop) -> np.ndarray:
    """(S, S) map on the model grid -> float32 (y, x) of ``shape``, zeros outside ``crop``."""
    full = np.zeros(shape, dtype=np.float32)
    full[crop.y0:crop.y1, crop.x0:crop.x1] = Fnn.interpolate(
        m[None, None].float(), size=crop.shape, mode="bilinear", align_corners=False)[0, 0].numpy()
    return np.clip(full, 0.0, 1.0)


class ClassifierExplainer:
    """Grad-CAM / multi-scale Grad-CAM / SmoothGrad maps from a stage-1 classifier weights file.

    Args:
        weights: ``.safetensors`` with metadata ``kind`` = "classifier" and ``image_size``.
        device: "auto", "cpu" or "cuda[:N]".
    """

    def __init__(self, weights: str | Path, device: str = "auto", batch_size: int = 8,
                 smoothgrad_samples: int = SMOOTHGRAD_SAMPLES):
        self.device = resolve_device(device)
        self.model: LoadedClassifier = load_classifier(weights, self.device, kinds=("classifier",))
        self.image_size = self.model.image_size
        self.batch_size = max(1, int(batch_size))
        self.smoothgrad_samples = smoothgrad_samples

    def _batch(self, method: str, x: torch.Tensor) -> torch.Tensor:
        net = self.model.net
        if method == "gradcam":
            return gradcam_batch(net, x, [net.layer4])
        if method == "msgradcam":
            return gradcam_batch(net, x, [net.layer2, net.layer3, net.layer4])
        if method == "smoothgrad":
            return smoothgrad_batch(net, x, n_samples=self.smoothgrad_samples)
        raise ValueError(f"unknown CAM method {method!r}; choose from {', '.join(CAM_METHODS)}")

    def maps(self, slices: Sequence[np.ndarray], is_hu: bool, method: str,
             crop_to_body: bool = True, progress: ProgressFn | None = None) -> list[np.ndarray]:
        """Maps for a list of slices (y, x) (sizes may differ): float32 (y, x) in [0, 1] each.

        ``slices``: HU (``is_hu=True``) or 8-bit pictures (uint8 0-255 / float 0-1).
        ``progress(done, total)`` may return False to stop early (the rest is not returned).
        """
        if method not in CAM_METHODS:
            raise ValueError(f"unknown CAM method {method!r}; choose from {', '.join(CAM_METHODS)}")
        units = [to_unit(np.asarray(s), is_hu) for s in slices]
        crops = [body_crop(u, is_hu) if crop_to_body else Crop(0, u.shape[0], 0, u.shape[1]) for u in units]
        out: list[np.ndarray] = []
        for start in range(0, len(units), self.batch_size):
            u_b, c_b = units[start:start + self.batch_size], crops[start:start + self.batch_size]
            x = model_inputs(u_b, c_b, self.image_size).to(self.device)
            cams = self._batch(method, x)
            out += [paste_back(m, u.shape, c) for m, u, c in zip(cams, u_b, c_b)]
            if progress is not None and progress(len(out), len(units)) is False:
                break
        return out
