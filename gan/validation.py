"""Validation during training: pixel ROC AUC and best-Dice threshold of the GAN maps on an
image + mask set (the paper selects its model on the 50 MedSeg validation slices)."""
from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from .data import MaskSet
from .inference import PAPER_SIGMA, canonical_inputs, folder_window, generator_maps, plan_input


def pixel_auc_and_threshold(maps: list[np.ndarray], masks: list[np.ndarray],
                            grid: np.ndarray | None = None) -> tuple[float, float, float]:
    """(pooled pixel AUC, Dice-maximising threshold on ``grid``, that Dice)."""
    y = np.concatenate([m.ravel() for m in masks]).astype(bool)
    s = np.concatenate([m.ravel() for m in maps]).astype(np.float32)
    auc = float(roc_auc_score(y, s)) if 0 < y.sum() < y.size else float("nan")
    grid = np.linspace(0.0, 1.0, 101) if grid is None else grid
    bins = np.clip(np.searchsorted(grid, s, side="right") - 1, 0, len(grid) - 1)
    pos = np.bincount(bins[y], minlength=len(grid))[::-1].cumsum()[::-1]  # positives with s >= grid[k]
    allc = np.bincount(bins, minlength=len(grid))[::-1].cumsum()[::-1]
    tp = pos
    fp = allc - pos
    fn = y.sum() - tp
    dice = 2 * tp / np.maximum(2 * tp + fp + fn, 1)
    k = int(np.argmax(dice))
    return auc, float(grid[k]), float(dice[k])


@torch.no_grad()
def validate_generator(gen: torch.nn.Module, val: MaskSet, image_size: int, device: torch.device,
                       kind: str = "generator", sigma: float = PAPER_SIGMA,
                       map_scale: float | None = None) -> dict:
    """Pooled pixel AUC, best-Dice threshold and Dice of the maps of ``gen`` (a generator, or a
    segmenter with ``kind="segmenter"``) on ``val``, canonical input. ``map_scale``: None = the
    paper's per-image min-max maps; a number = absolute maps on that scale (a segmenter's
    probabilities: 1.0)."""
    was_training = gen.training
    gen.eval()
    # the same canonical input as Localizer.apply: each picture's lung frame and display window
    plans = getattr(val, "_plans", None)
    if plans is None:
        window = folder_window(val.images)
        plans = [plan_input(im, False, window=window) for im in val.images]
        try:
            val._plans = plans  # the validation set does not change during a run
        except AttributeError:
            pass
    inputs = [canonical_inputs(im[None], False, p) for im, p in zip(val.images, plans)]
    units = [u for us, _ in inputs for u in us]
    crops = [c for _, cs in inputs for c in cs]
    maps = generator_maps(gen, units, image_size, device, crops=crops, batch_size=8, kind=kind, sigma=sigma,
                          map_scale=map_scale)
    gen.train(was_training)
    auc, thr, dice = pixel_auc_and_threshold(maps, val.masks)
    return {"auc": auc, "threshold": thr, "dice": dice}
