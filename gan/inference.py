"""Inference: one object from a weights path and a device, one call from slices to lesion maps.

    loc = Localizer("resources/weights/localizer.safetensors", device="auto")
    maps = loc.apply(volume, is_hu=True, lungs=lungs)   # (z, y, x) or (y, x) -> float32 [0, 1]

The input is brought to the canonical grey scale and framing (``gan.canonical``): HU through one
fixed window, pictures remapped by their estimated display window, the model's field of view the
series' lung bounding box. Map = ReLU(x - G(x)), Gaussian sigma = 4.5 px on the paper's 256 x 256
grid, then on ONE ABSOLUTE SCALE: ``clip(residual / map_scale, 0, 1)`` with ``map_scale`` stored
in the weights' metadata, so a normal slice gives a cold map and the operating threshold means
the same on every slice and every kind of input. HU input has its own stored scale
(``map_scale_hu``): normal HU lungs leave a larger residual than normal training pictures, and
``main.py calibrate`` sets both scales so that the one threshold keeps normal lungs of either
kind at about 0 %. The paper's per-slice min-max normalisation is
kept for ``evaluate``'s comparison table (``normalise="minmax"``). The map is put back at the
slice's own size and position (zeros outside the model's field of view).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch
import torch.nn.functional as Fnn

from .networks import Generator
from .canonical import (IDENTITY_WINDOW, WindowEstimate, estimate_picture_window, fallback_frame,
                        hu_reference_notes, lung_frame, to_canonical)
from .lung_field import lung_field
from .preprocess import Crop
from .resources import LOCALIZER_WEIGHTS
from .weights import file_sha256, meta_float, read_weights

DEFAULT_WEIGHTS = LOCALIZER_WEIGHTS
PAPER_GRID = 256
PAPER_SIGMA = 4.5
#: Raw residual (canonical grey units) that maps to 1.0 when the weights carry no ``map_scale``.
DEFAULT_MAP_SCALE = 0.1
NORMALISATIONS = ("absolute", "minmax")
#: What a weights file's network draws. ``generator``: the GAN's G, map = ReLU(x - G(x)) (the
#: paper). ``segmenter``: the label-free second stage (``gan.train_student``), the same residual
#: U-Net whose sigmoid output IS the lesion map; trained only on a generator's own maps of the
#: training slices and on the image-level class labels, never on pixel labels.
MODEL_KINDS = ("generator", "segmenter")

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


def check_inference_size(size, what: str = "inference size") -> int:
    """``size`` as an int when it is a usable model grid (a multiple of 32 from 64 to 1024, as
    the U-Net's five halvings need); ValueError naming ``what`` otherwise."""
    try:
        n = int(size.strip()) if isinstance(size, str) else int(size)
        whole = isinstance(size, str) or n == size
    except (TypeError, ValueError, OverflowError):
        whole = False
    if isinstance(size, bool) or not whole:
        raise ValueError(f"{what} must be a whole number of pixels, got {size!r}")
    if n % 32 or not 64 <= n <= 1024:
        raise ValueError(f"{what} {n}: must be a multiple of 32 from 64 to 1024")
    return n


#: pixels per CPU forward call: larger batches spill the activations out of the CPU caches (on
#: the 2-core machine, per slice: 128 grid 25 ms at batch 4 vs 32 ms at 8; 256 grid 85 ms at
#: batch 1 vs 176 ms at 8)
CPU_BATCH_PIXELS = 4 * 128 * 128
#: slices per forward call on a GPU at least (``Localizer.batch_size_for`` takes more when the
#: device's free memory allows)
GPU_MIN_BATCH = 8


def cpu_batch_size(image_size: int) -> int:
    """Slices per forward call on a CPU for a model grid of ``image_size`` px: as many as
    :data:`CPU_BATCH_PIXELS` holds, at least 1."""
    return max(1, CPU_BATCH_PIXELS // (int(image_size) ** 2))


def _gaussian_kernel(sigma: float) -> torch.Tensor:
    r = int(np.ceil(3 * sigma))
    x = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-(x ** 2) / (2 * sigma ** 2))
    return k / k.sum()


def smooth(raw: torch.Tensor, sigma: float = PAPER_SIGMA, grid: int = PAPER_GRID) -> torch.Tensor:
    """(N, 1, h, w) raw maps -> (N, 1, grid, grid): resize to the paper grid, separable Gaussian
    (reflect padding). Values stay in the residual's own units."""
    m = Fnn.interpolate(raw.float(), size=(grid, grid), mode="bilinear", align_corners=False)
    if sigma > 0:
        k = _gaussian_kernel(sigma).to(m.device)
        r = (k.numel() - 1) // 2
        m = Fnn.conv2d(Fnn.pad(m, (r, r, 0, 0), mode="reflect"), k.view(1, 1, 1, -1))
        m = Fnn.conv2d(Fnn.pad(m, (0, 0, r, r), mode="reflect"), k.view(1, 1, -1, 1))
    return m


def absolute_scale(m: torch.Tensor, map_scale: float) -> torch.Tensor:
    """Smoothed residuals -> [0, 1] on one fixed scale: ``clip(m / map_scale, 0, 1)``."""
    if not (math.isfinite(map_scale) and map_scale > 0):
        raise ValueError(f"map scale must be a positive number, got {map_scale!r}")
    return (m / map_scale).clamp(0.0, 1.0)


def smooth_and_normalise(raw: torch.Tensor, sigma: float = PAPER_SIGMA, grid: int = PAPER_GRID) -> torch.Tensor:
    """The paper's maps: :func:`smooth`, then per-image min-max to [0, 1] (all-zero maps stay
    zero). Every slice, normal or not, then has a pixel at 1.0: use it for comparisons with the
    paper only, never for severity."""
    m = smooth(raw, sigma, grid)
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


def raw_map(gen: torch.nn.Module, x: torch.Tensor, tta: int = 1, kind: str = "generator") -> torch.Tensor:
    """ReLU(x - G(x)) for (N, 1, s, s) inputs in [0, 1] (``kind="segmenter"``: the network's
    output itself); with ``tta`` > 1 the mean of that over
    the first ``tta`` of: identity, transpose, left-right flip, up-down flip (each map turned
    back before averaging). Not in the paper; the weights' metadata say which the model uses."""
    if tta not in TTA_CHOICES:
        raise ValueError(f"test-time augmentation must be one of {TTA_CHOICES}, got {tta}")
    if kind not in MODEL_KINDS:
        raise ValueError(f"model kind must be one of {MODEL_KINDS}, got {kind!r}")
    acc = None
    for fwd, inv in _TTA_TRANSFORMS[:tta]:
        xt = fwd(x)
        out = gen(xt).float()
        m = inv(torch.relu(xt - out) if kind == "generator" else out)
        acc = m if acc is None else acc + m
    return acc / tta


def _runs(boxes: list[Crop], shapes: list[tuple]) -> list[tuple[int, int]]:
    """(start, stop) of the runs of consecutive slices with the same crop and slice shape."""
    runs, start = [], 0
    for i in range(1, len(boxes) + 1):
        if i == len(boxes) or boxes[i] != boxes[start] or shapes[i] != shapes[start]:
            runs.append((start, i))
            start = i
    return runs


def _model_input(chunk: list[np.ndarray], boxes: list[Crop], runs: list[tuple[int, int]],
                 image_size: int) -> torch.Tensor:
    """(N, 1, s, s) float32 model input: each run of slices sharing a crop is cut as one stack
    and resized (bilinear, antialiased) in one call (the same per slice as one call each)."""
    xs = []
    for a, b in runs:
        c = boxes[a]
        crop = np.stack([u[c.y0:c.y1, c.x0:c.x1] for u in chunk[a:b]]).astype(np.float32, copy=False)
        xs.append(Fnn.interpolate(torch.from_numpy(crop)[:, None], size=(image_size, image_size),
                                  mode="bilinear", align_corners=False, antialias=True))
    return xs[0] if len(xs) == 1 else torch.cat(xs)


@torch.no_grad()
def iter_generator_maps(gen: torch.nn.Module, units: list[np.ndarray], image_size: int,
                        device: torch.device, crops: list[Crop] | None = None, batch_size: int = 8,
                        progress: ProgressFn | None = None, tta: int = 1,
                        map_scale: float | None = None, kind: str = "generator",
                        sigma: float = PAPER_SIGMA):
    """Yields ``(index, crop, map)`` for every slice in order: ``map`` float32 (crop height,
    crop width) in [0, 1], the slice's map inside its crop (zero outside it, not yielded).

    Arguments as :func:`generator_maps`. Slices of a batch that share a crop (all slices of a
    series with one frame) are cropped, resized and put back in one call each way.
    """
    total = len(units)
    for start in range(0, total, batch_size):
        chunk = units[start:start + batch_size]
        boxes = crops[start:start + batch_size] if crops else [Crop(0, u.shape[0], 0, u.shape[1]) for u in chunk]
        runs = _runs(boxes, [u.shape for u in chunk])
        x = _model_input(chunk, boxes, runs, image_size).to(device)
        raw = raw_map(gen, x, tta, kind)
        maps = (smooth_and_normalise(raw, sigma) if map_scale is None
                else absolute_scale(smooth(raw, sigma), map_scale)).cpu()
        for a, b in runs:
            c = boxes[a]
            back = Fnn.interpolate(maps[a:b], size=c.shape, mode="bilinear",
                                   align_corners=False)[:, 0].numpy()
            np.clip(back, 0.0, 1.0, out=back)
            for k in range(b - a):
                yield start + a + k, c, back[k]
        if progress is not None and progress(min(start + batch_size, total), total) is False:
            break


def generator_maps(gen: torch.nn.Module, units: list[np.ndarray], image_size: int,
                   device: torch.device, crops: list[Crop] | None = None, batch_size: int = 8,
                   progress: ProgressFn | None = None, tta: int = 1,
                   map_scale: float | None = None, kind: str = "generator",
                   sigma: float = PAPER_SIGMA) -> list[np.ndarray]:
    """Maps for canonical [0, 1] slices (y, x) with a loaded generator (or segmenter, ``kind``);
    each map has its slice's shape, zero outside its crop.

    ``crops``: the model's field of view per slice (None = whole slice). ``tta``, ``kind``: see
    :func:`raw_map`. ``map_scale``: None = the paper's per-slice min-max; a number = the absolute
    scale (:func:`absolute_scale`). ``sigma``: Gaussian smoothing on the 256 grid (px).
    Deterministic for fixed weights. A cancelled ``progress`` returns the maps computed so far.
    """
    out: list[np.ndarray] = []
    for i, c, m in iter_generator_maps(gen, units, image_size, device, crops, batch_size,
                                       progress, tta, map_scale, kind, sigma):
        full = np.zeros(units[i].shape, dtype=np.float32)
        full[c.y0:c.y1, c.x0:c.x1] = m
        out.append(full)
    return out


@dataclass
class InputPlan:
    """How one series is shown to the model: its framing, its grey-scale mapping and the notes
    for an honest readout (empty when the input is within what the model knows).

    ``frame``: the field of view for every slice (None: per-slice body boxes, when no lung was
    found); ``window``: the picture display-window estimate (None for HU input)."""

    is_hu: bool
    frame: Crop | None
    window: WindowEstimate | None
    notes: list[str] = field(default_factory=list)


def plan_input(slices: np.ndarray, is_hu: bool, lungs: np.ndarray | None = None,
               window: WindowEstimate | None = None) -> InputPlan:
    """The :class:`InputPlan` of a slice (y, x) or a whole series (z, y, x).

    ``lungs``: bool lung masks of the same shape (the product passes its one lung segmentation
    of the series); None = :func:`gan.lung_field.lung_field` per slice. The frame is the lungs'
    bounding box over the whole stack (``gan.canonical.lung_frame``). ``window``: pictures only,
    a display-window estimate made over more slices of the same source (e.g. a whole folder,
    :func:`folder_window`); None = estimated from these slices when there are enough."""
    arr = np.asarray(slices)
    stack = arr[None] if arr.ndim == 2 else arr
    if stack.ndim != 3:
        raise ValueError(f"slices must be (y, x) or (z, y, x), got shape {arr.shape}")
    if lungs is None:
        lung_stack = np.stack([lung_field(s, is_hu) for s in stack])
    else:
        lung_stack = np.asarray(lungs, dtype=bool)
        lung_stack = lung_stack[None] if lung_stack.ndim == 2 else lung_stack
        if lung_stack.shape != stack.shape:
            raise ValueError(f"lung mask shape {np.shape(lungs)} != slices shape {arr.shape}")
    notes: list[str] = []
    frame = lung_frame(lung_stack)
    if frame is None:
        notes.append("no lungs found: the model saw the whole body, its map is not calibrated here")
    if is_hu:
        window = None
        if frame is not None:
            notes.extend(hu_reference_notes(stack, lung_stack))
    elif window is None:
        units = [to_canonical(s, False) for s in stack]
        window = estimate_picture_window(units, list(lung_stack)) if frame is not None else \
            WindowEstimate(IDENTITY_WINDOW.air, IDENTITY_WINDOW.tissue, False,
                           "display window could not be estimated (no lungs found); picture used as it is")
    if window is not None and window.note:
        notes.append(window.note)
    return InputPlan(bool(is_hu), frame, window, notes)


def canonical_inputs(stack, is_hu: bool, plan: InputPlan, crop_to_body: bool = True):
    """``(units, crops)`` for :func:`generator_maps`: each slice of ``stack`` (z, y, x) in the
    canonical grey scale (float32 [0, 1]) and its field of view (the plan's frame; per-slice
    body boxes without one; None with ``crop_to_body=False`` and no frame)."""
    units = [to_canonical(s, is_hu, plan.window) for s in stack]
    if plan.frame is not None:
        f = plan.frame
        if f.y1 > units[0].shape[0] or f.x1 > units[0].shape[1]:
            raise ValueError(f"input plan frame {f} does not fit slices of shape {units[0].shape}")
        return units, [f] * len(units)
    if crop_to_body:
        return units, [fallback_frame(u, is_hu) for u in units]
    return units, None


def folder_window(images: list[np.ndarray], lungs: list[np.ndarray] | None = None) -> WindowEstimate:
    """One display-window estimate for a folder of pictures from one source (uint8 or [0, 1]
    (y, x) each; lungs: bool masks, None = :func:`gan.lung_field.lung_field`)."""
    units = [to_canonical(im, False) for im in images]
    lung_list = [lung_field(im, False) for im in images] if lungs is None else list(lungs)
    return estimate_picture_window(units, lung_list)


class Localizer:
    """The GAN lesion localizer behind one call.

    Args:
        weights: path to a generator ``.safetensors`` file written by ``gan.weights.save_weights``.
        device: "auto" (CUDA when present), "cpu" or "cuda[:N]".
        tta: maps averaged over 1, 2 or 4 flips/turns of each slice (see :func:`raw_map`);
            None = the value the weights were validated with (metadata ``tta``, else 1).
        batch_size: slices per forward call; None = :func:`cpu_batch_size` of the grid on a CPU,
            :data:`GPU_MIN_BATCH` on a GPU (where :meth:`batch_size_for` takes more when memory
            allows).
        image_size: the side (px, a multiple of 32) of the square grid the model draws its maps
            on; None = the weights' ``inference_size``, else the grid it was trained on. The
            student draws sharper maps on a finer grid than it was trained on (model card).
    Attributes: ``threshold`` (operating threshold on the absolute [0, 1] map, calibrated so that
    normal lungs read about 0 %), ``map_scale`` (raw residual that maps to 1.0 for pictures),
    ``map_scale_hu`` (the same for HU input; the weights' ``map_scale`` when not calibrated),
    ``weights_hash`` (sha256 hex of the file), ``model_name``, ``device``, ``image_size`` (the
    inference grid), ``train_size`` (the training grid).
    """

    def __init__(self, weights: str | Path | None = None, device: str = "auto", batch_size: int | None = None,
                 tta: int | None = None, image_size: int | None = None):
        path = Path(weights) if weights is not None else DEFAULT_WEIGHTS
        state, meta = read_weights(path)
        self.kind = meta.get("kind", "generator")
        if self.kind not in MODEL_KINDS:
            raise ValueError(f"{path}: holds a {self.kind} network, not a generator or a segmenter "
                             "(a lesion-map model)")
        self.path = path
        self.metadata = meta
        #: Gaussian smoothing of the map on the 256 grid (px): the paper's 4.5 for a generator;
        #: a segmenter stores its own (``map_sigma``).
        self.sigma = meta_float(meta, "map_sigma", PAPER_SIGMA)
        if not (math.isfinite(self.sigma) and self.sigma >= 0):
            raise ValueError(f"{path}: map_sigma in the metadata must be a number >= 0, "
                             f"got {meta.get('map_sigma')!r}")
        #: the grid the network was trained on (metadata ``image_size``)
        self.train_size = int(meta_float(meta, "image_size", 256))
        #: the grid maps are drawn on: ``image_size`` (argument), else the metadata's
        #: ``inference_size`` (set by ``main.py calibrate --inference-size``), else ``train_size``
        if image_size is not None:
            self.image_size = check_inference_size(image_size)
        elif "inference_size" in meta:
            self.image_size = check_inference_size(meta["inference_size"],
                                                   f"{path}: inference_size in the metadata")
        else:
            self.image_size = self.train_size
        self.width = meta_float(meta, "width", 1.0)
        self.threshold = meta_float(meta, "threshold", 0.5)
        self.map_scale = meta_float(meta, "map_scale",
                                    DEFAULT_MAP_SCALE if self.kind == "generator" else 1.0)
        if not (math.isfinite(self.map_scale) and self.map_scale > 0):
            raise ValueError(f"{path}: map_scale in the metadata must be a positive number, "
                             f"got {meta.get('map_scale')!r}")
        self.map_scale_hu = meta_float(meta, "map_scale_hu", self.map_scale)
        if not (math.isfinite(self.map_scale_hu) and self.map_scale_hu > 0):
            raise ValueError(f"{path}: map_scale_hu in the metadata must be a positive number, "
                             f"got {meta.get('map_scale_hu')!r}")
        self.tta = int(meta_float(meta, "tta", 1)) if tta is None else int(tta)
        if self.tta not in TTA_CHOICES:
            raise ValueError(f"test-time augmentation must be one of {TTA_CHOICES}, got {self.tta}")
        self.model_name = meta.get("model_name", "covid-gan-localizer" if self.kind == "generator"
                                   else "covid-gan-student")
        self.weights_hash = file_sha256(path)
        self.device = resolve_device(device)
        if batch_size is None:  # a GPU has no cache to spill: the old default, grown by batch_size_for
            batch_size = cpu_batch_size(self.image_size) if self.device.type == "cpu" else GPU_MIN_BATCH
        self.batch_size = int(batch_size)
        if self.batch_size < 1:
            raise ValueError(f"batch size must be at least 1, got {batch_size!r}")
        gen = Generator(self.width)
        try:
            gen.load_state_dict(state)
        except RuntimeError as exc:
            raise ValueError(f"{path}: weights do not fit a {self.kind} of width {self.width} ({exc})") from exc
        self.generator = gen.to(self.device).eval()

    @property
    def short_name(self) -> str:
        """What drew the map, for on-screen notes: "GAN" (the generator's residual, the paper's
        map) or "GAN student" (the label-free segmenter distilled from a generator's maps)."""
        return "GAN" if self.kind == "generator" else "GAN student"

    def __repr__(self) -> str:
        return (f"Localizer({str(self.path)!r}, device={str(self.device)!r}, kind={self.kind!r}, "
                f"threshold={self.threshold:.3f}, "
                f"map_scale={self.map_scale:.4g}, tta={self.tta})")

    def scale_for(self, is_hu: bool) -> float:
        """The absolute map scale of HU input or of pictures."""
        return self.map_scale_hu if is_hu else self.map_scale

    def plan(self, slices: np.ndarray, is_hu: bool, lungs: np.ndarray | None = None,
             window: WindowEstimate | None = None) -> InputPlan:
        """:func:`plan_input` for a whole series; pass the result to every :meth:`apply` call of
        that series so that all its slices share one framing and one grey-scale mapping."""
        return plan_input(slices, is_hu, lungs, window)

    def apply(self, slices: np.ndarray | Iterable[np.ndarray], is_hu: bool,
              progress: ProgressFn | None = None, crop_to_body: bool = True,
              lungs: np.ndarray | None = None, plan: InputPlan | None = None,
              normalise: str = "absolute") -> np.ndarray:
        """Lesion maps for one slice (y, x) or a stack (z, y, x).

        ``slices``: HU (float, ``is_hu=True``) or 8-bit pictures (uint8 0-255 or float 0-1).
        ``plan``: the series' :class:`InputPlan` (see :meth:`plan`); None = planned from these
        slices (and ``lungs``, bool of the same shape, when given). ``crop_to_body=False`` shows
        the model the whole slice. ``normalise``: "absolute" (default; the product's scale) or
        "minmax" (the paper's per-slice normalisation, for comparisons only).
        Returns float32 maps in [0, 1] of the input's shape. ``progress(done, total)`` may return
        False to cancel; the maps not computed then stay zero.
        """
        if normalise not in NORMALISATIONS:
            raise ValueError(f"normalise must be one of {NORMALISATIONS}, got {normalise!r}")
        arr = np.asarray(slices) if not isinstance(slices, np.ndarray) else slices
        if arr.ndim not in (2, 3):
            raise ValueError(f"slices must be (y, x) or (z, y, x), got shape {arr.shape}")
        if min(arr.shape[-2:]) < 8:
            raise ValueError(f"slice size {arr.shape[-2:]} is too small (at least 8 x 8 pixels)")
        stack = arr[None] if arr.ndim == 2 else arr
        if plan is None:
            plan = self.plan(stack, is_hu, lungs) if crop_to_body else InputPlan(is_hu, None, None)
        elif plan.is_hu != bool(is_hu):
            raise ValueError("the input plan was made for "
                             f"{'HU' if plan.is_hu else 'picture'} input, these slices are "
                             f"{'HU' if is_hu else 'pictures'}")
        units, crops = canonical_inputs(stack, is_hu, plan, crop_to_body)
        out = np.zeros(stack.shape, dtype=np.float32)
        for i, c, m in iter_generator_maps(
                self.generator, units, self.image_size, self.device, crops, self.batch_size,
                progress, tta=self.tta,
                map_scale=None if normalise == "minmax" else self.scale_for(is_hu),
                kind=self.kind, sigma=self.sigma):
            out[i, c.y0:c.y1, c.x0:c.x1] = m
        return out[0] if arr.ndim == 2 else out

    def batch_size_for(self, device: torch.device | None = None) -> int:
        """Slices per forward call on ``device`` (default: the localizer's): ``batch_size`` on
        the CPU; on a CUDA device as many as half its free memory holds (an estimate of the
        generator's activations per slice), between ``batch_size`` and 256."""
        dev = torch.device(device) if device is not None else self.device
        if dev.type != "cuda":
            return self.batch_size
        free, _total = torch.cuda.mem_get_info(dev)
        # about 40 float32 activations of the full-resolution block's width per pixel, x tta
        per_slice = 40 * 4 * self.image_size ** 2 * max(self.generator.channels[:2]) * self.tta
        return int(min(256, max(self.batch_size, free // 2 // per_slice)))

    def frame_maps(self, stack: np.ndarray, is_hu: bool, plan: InputPlan,
                   progress: ProgressFn | None = None, batch_size: int | None = None):
        """The maps of a series in its plan's frame, batch by batch, with the preprocessing on
        the device: yields ``(start, stop, maps)``, ``maps`` float32 ``(stop - start, frame
        height, frame width)`` in [0, 1] (the maps are zero outside the frame).

        The same maps as :meth:`apply` with ``plan`` (within float rounding): the frame is cut
        from the HU slices (a view), the canonical grey scale (``gan.canonical.hu_to_canonical``),
        the antialiased resize, the map and its resize back run in torch on ``self.device``, in
        batches of :meth:`batch_size_for` slices (``batch_size`` overrides). HU input with a
        frame only (``plan.frame`` set); ValueError otherwise (use :meth:`apply`).
        ``progress(done, total)`` returning False stops after the current batch."""
        from .canonical import HU_WINDOW

        if not (is_hu and plan.is_hu and plan.frame is not None):
            raise ValueError("frame_maps: HU input with a framed plan only; use apply()")
        arr = np.asarray(stack)
        if arr.ndim != 3:
            raise ValueError(f"slices must be (z, y, x), got shape {arr.shape}")
        f = plan.frame
        if f.y1 > arr.shape[1] or f.x1 > arr.shape[2]:
            raise ValueError(f"input plan frame {f} does not fit slices of shape {arr.shape[1:]}")
        width, level = HU_WINDOW
        lo, wd = np.float32(level - width / 2.0), np.float32(width)
        n, step = arr.shape[0], int(batch_size or self.batch_size_for())
        scale = self.scale_for(True)
        with torch.no_grad():
            for start in range(0, n, step):
                stop = min(n, start + step)
                crop = np.ascontiguousarray(arr[start:stop, f.y0:f.y1, f.x0:f.x1], dtype=np.float32)
                hu = torch.from_numpy(crop).to(self.device)
                unit = ((hu - lo) / wd).clamp_(0.0, 1.0)[:, None]
                x = Fnn.interpolate(unit, size=(self.image_size, self.image_size), mode="bilinear",
                                    align_corners=False, antialias=True)
                raw = raw_map(self.generator, x, self.tta, self.kind)
                m = absolute_scale(smooth(raw, self.sigma), scale)
                back = Fnn.interpolate(m, size=f.shape, mode="bilinear", align_corners=False)
                yield start, stop, back[:, 0].clamp_(0.0, 1.0).cpu().numpy()
                if progress is not None and progress(stop, n) is False:
                    break

    def iter_apply(self, slices: Iterable[np.ndarray], is_hu: bool, crop_to_body: bool = True,
                   plan: InputPlan | None = None):
        """Generator over maps, one slice at a time (for streaming viewers and exports)."""
        for s in slices:
            yield self.apply(np.asarray(s), is_hu, crop_to_body=crop_to_body, plan=plan)
