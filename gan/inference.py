"""Inference: one object from a weights path and a device, one call from slices to lesion maps.

    loc = Localizer("resources/weights/localizer.safetensors", device="auto")
    maps = loc.apply(volume, is_hu=True)   # (z, y, x) or (y, x) -> float32 in [0, 1], same shape

Map = ReLU(x - G(x)), Gaussian sigma = 4.5 px on the paper's 256 x 256 grid, per-slice min-max to
[0, 1], put back at the slice's own size and position (zeros outside the body crop).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch
import torch.nn.functional as Fnn

from .networks import Generator
from .preprocess import Crop, body_crop, to_unit
from .weights import file_sha256, meta_float, read_weights

DEFAULT_WEIGHTS = Path(__file__).resolve().parents[1] / "resources" / "weights" / "localizer.safetensors"
PAPER_GRID = 256
PAPER_SIGMA = 4.5

ProgressFn = Callable[[int, int], object]


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """'auto' -> cuda when available else cpu; 'cuda' without a GPU -> ValueError."""
    name = str(device)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {name!r}: CUDA is not available on this machine")
    if not (name == "cpu" or name.startswith("cuda")):
        raise ValueError(f"device {name!r}: use auto, cpu or cuda")
    return torch.device(name)


def _gaussian_kernel(sigma: float) -> torch.Tensor:
    r = int(np.ceil(3 * sigma))
    x = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-(x ** 2) / (2 * sigma ** 2))
    return k / k.sum()


def smooth_and_normalise(raw: torch.Tensor, sigma: float = PAPER_SIGMA, grid: int = PAPER_GRID) -> torch.Tensor:
    """(N, 1, h, w) raw maps -> (N, 1, grid, grid): resize to the paper grid, separable Gaussian
    (reflect padding), per-image min-max to [0, 1] (all-zero maps stay zero)."""
    m = Fnn.interpolate(raw.float(), size=(grid, grid), mode="bilinear", align_corners=False)
    if sigma > 0:
        k = _gaussian_kernel(sigma).to(m.device)
        r = (k.numel() - 1) // 2
        m = Fnn.conv2d(Fnn.pad(m, (r, r, 0, 0), mode="reflect"), k.view(1, 1, 1, -1))
        m = Fnn.conv2d(Fnn.pad(m, (0, 0, r, r), mode="reflect"), k.view(1, 1, -1, 1))
    lo = m.amin(dim=(2, 3), keepdim=True)
    hi = m.amax(dim=(2, 3), keepdim=True)
    span = hi - lo
    return torch.where(span > 1e-8, (m - lo) / span.clamp_min(1e-8), torch.zeros_like(m))


# Test-time augmentation: (forward, inverse) pairs on (N, 1, y, x) tensors, in the order used.
# The transpose comes second: it brings most of the gain on the (transposed) MedSeg slices.
_TTA_TRANSFORMS = (
    (lambda t: t, lambda t: t),
    (lambda t: t.transpose(-1, -2), lambda t: t.transpose(-1, -2)),
    (lambda t: t.flip(-1), lambda t: t.flip(-1)),
    (lambda t: t.flip(-2), lambda t: t.flip(-2)),
)
TTA_CHOICES = (1, 2, 4)


def raw_map(gen: torch.nn.Module, x: torch.Tensor, tta: int = 1) -> torch.Tensor:
    """ReLU(x - G(x)) for (N, 1, s, s) inputs in [0, 1]; with ``tta`` > 1 the mean of that over
    the first ``tta`` of: identity, transpose, left-right flip, up-down flip (each map turned
    back before averaging). Not in the paper; the weights' metadata say which the model uses."""
    if tta not in TTA_CHOICES:
        raise ValueError(f"test-time augmentation must be one of {TTA_CHOICES}, got {tta}")
    acc = None
    for fwd, inv in _TTA_TRANSFORMS[:tta]:
        xt = fwd(x)
        m = inv(torch.relu(xt - gen(xt).float()))
        acc = m if acc is None else acc + m
    return acc / tta


@torch.no_grad()
def generator_maps(gen: torch.nn.Module, units: list[np.ndarray], image_size: int,
                   device: torch.device, crops: list[Crop] | None = None, batch_size: int = 8,
                   progress: ProgressFn | None = None, tta: int = 1) -> list[np.ndarray]:
    """Maps for [0, 1] slices (y, x) with a loaded generator; each map has its slice's shape.

    ``crops``: body boxes per slice (None = whole slice). ``tta``: see :func:`raw_map`.
    Deterministic for fixed weights.
    """
    out: list[np.ndarray] = []
    total = len(units)
    for start in range(0, total, batch_size):
        chunk = units[start:start + batch_size]
        boxes = crops[start:start + batch_size] if crops else [Crop(0, u.shape[0], 0, u.shape[1]) for u in chunk]
        xs = []
        for u, c in zip(chunk, boxes):
            t = torch.from_numpy(np.ascontiguousarray(u[c.y0:c.y1, c.x0:c.x1], dtype=np.float32))[None, None]
            xs.append(Fnn.interpolate(t, size=(image_size, image_size), mode="bilinear",
                                      align_corners=False, antialias=True))
        x = torch.cat(xs).to(device)
        maps = smooth_and_normalise(raw_map(gen, x, tta)).cpu()
        for m, u, c in zip(maps, chunk, boxes):
            full = np.zeros(u.shape, dtype=np.float32)
            full[c.y0:c.y1, c.x0:c.x1] = Fnn.interpolate(m[None], size=c.shape, mode="bilinear",
                                                         align_corners=False)[0, 0].numpy()
            out.append(np.clip(full, 0.0, 1.0))
        if progress is not None and progress(min(start + batch_size, total), total) is False:
            break
    return out


class Localizer:
    """The GAN lesion localizer behind one call.

    Args:
        weights: path to a generator ``.safetensors`` file written by ``gan.weights.save_weights``.
        device: "auto" (CUDA when present), "cpu" or "cuda[:N]".
        tta: maps averaged over 1, 2 or 4 flips/turns of each slice (see :func:`raw_map`);
            None = the value the weights were validated with (metadata ``tta``, else 1).
    Attributes: ``threshold`` (operating threshold on the [0, 1] map, from validation),
    ``weights_hash`` (sha256 hex of the file), ``model_name``, ``device``, ``image_size``.
    """

    def __init__(self, weights: str | Path | None = None, device: str = "auto", batch_size: int = 8,
                 tta: int | None = None):
        path = Path(weights) if weights is not None else DEFAULT_WEIGHTS
        state, meta = read_weights(path)
        if meta.get("kind", "generator") != "generator":
            raise ValueError(f"{path}: holds a {meta.get('kind')} network, not a generator")
        self.path = path
        self.metadata = meta
        self.image_size = int(meta_float(meta, "image_size", 256))
        self.width = meta_float(meta, "width", 1.0)
        self.threshold = meta_float(meta, "threshold", 0.5)
        self.tta = int(meta_float(meta, "tta", 1)) if tta is None else int(tta)
        if self.tta not in TTA_CHOICES:
            raise ValueError(f"test-time augmentation must be one of {TTA_CHOICES}, got {self.tta}")
        self.model_name = meta.get("model_name", "covid-gan-localizer")
        self.weights_hash = file_sha256(path)
        self.device = resolve_device(device)
        self.batch_size = batch_size
        gen = Generator(self.width)
        try:
            gen.load_state_dict(state)
        except RuntimeError as exc:
            raise ValueError(f"{path}: weights do not fit a generator of width {self.width} ({exc})") from exc
        self.generator = gen.to(self.device).eval()

    def __repr__(self) -> str:
        return (f"Localizer({str(self.path)!r}, device={str(self.device)!r}, threshold={self.threshold:.3f}, "
                f"tta={self.tta})")

    def apply(self, slices: np.ndarray | Iterable[np.ndarray], is_hu: bool,
              progress: ProgressFn | None = None, crop_to_body: bool = True) -> np.ndarray:
        """Lesion maps for one slice (y, x) or a stack (z, y, x).

        ``slices``: HU (float, ``is_hu=True``) or 8-bit pictures (uint8 0-255 or float 0-1).
        Returns float32 maps in [0, 1] of the input's shape. ``progress(done, total)`` may return
        False to cancel; the maps not computed then stay zero.
        """
        arr = np.asarray(slices) if not isinstance(slices, np.ndarray) else slices
        if arr.ndim not in (2, 3):
            raise ValueError(f"slices must be (y, x) or (z, y, x), got shape {arr.shape}")
        if min(arr.shape[-2:]) < 8:
            raise ValueError(f"slice size {arr.shape[-2:]} is too small (at least 8 x 8 pixels)")
        stack = arr[None] if arr.ndim == 2 else arr
        units = [to_unit(s, is_hu) for s in stack]
        crops = [body_crop(u, is_hu) for u in units] if crop_to_body else None
        maps = generator_maps(self.generator, units, self.image_size, self.device, crops,
                              self.batch_size, progress, tta=self.tta)
        out = np.zeros(stack.shape, dtype=np.float32)
        for i, m in enumerate(maps):
            out[i] = m
        return out[0] if arr.ndim == 2 else out

    def iter_apply(self, slices: Iterable[np.ndarray], is_hu: bool, crop_to_body: bool = True):
        """Generator over maps, one slice at a time (for streaming viewers and exports)."""
        for s in slices:
            yield self.apply(np.asarray(s), is_hu, crop_to_body=crop_to_body)
