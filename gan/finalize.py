"""Turning a training run's best generator into shippable weights, reproducibly.

``python main.py train finalize --weights runs/X/best_generator.safetensors --out W
--val-images DIR --val-masks DIR [--tta 4]`` measures the generator on the labelled validation
set with the chosen test-time augmentation and writes a copy of the weights whose metadata
carry what the reading room needs:

- ``tta``: how many flips/turns :class:`gan.inference.Localizer` averages by default;
- ``threshold``: a first operating threshold on the absolute [0, 1] map that minimises the mean
  absolute error of each slice's lesion share of the lung (lungs from
  :func:`gan.lung_field.lung_field`). The shipped threshold is then set by ``main.py calibrate``
  (viewer/cli/calibrate.py), which also makes normal lungs read about 0 %, with the product's
  own lung masks;
- ``threshold_basis`` and ``validation``: both thresholds, the errors, AUC and Dice, as JSON.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from . import metrics as M
from .data import load_mask_folders
from .inference import TTA_CHOICES, Localizer
from .lung_field import lung_field
from .networks import Generator
from .weights import read_weights, save_weights

GRID = np.round(np.linspace(0.01, 1.0, 100), 2)


def lesion_share_errors(maps: Sequence[np.ndarray], masks: Sequence[np.ndarray],
                        lungs: Sequence[np.ndarray], grid: np.ndarray = GRID) -> tuple[np.ndarray, float]:
    """Mean absolute error (percentage points) of the lesion share of the lung, per threshold.

    maps: [0, 1] (y, x); masks, lungs: bool (y, x), same shapes. Slices whose lung field is empty
    are left out. Returns (errors per grid threshold, error of always answering 0 %).
    """
    if not (len(maps) == len(masks) == len(lungs)) or not maps:
        raise ValueError("maps, masks and lungs must be non-empty lists of the same length")
    errs, zero = np.zeros(len(grid)), []
    n = 0
    for m, y, lung in zip(maps, masks, lungs):
        if m.shape != y.shape or m.shape != lung.shape:
            raise ValueError(f"map {m.shape}, mask {y.shape} and lung {lung.shape} differ in shape")
        area = int(lung.sum())
        if area == 0:
            continue
        true_pct = 100.0 * float((y & lung).sum()) / area
        vals = np.sort(m[lung].ravel())
        above = area - np.searchsorted(vals, grid, side="left")  # pixels with map >= t
        errs += np.abs(100.0 * above / area - true_pct)
        zero.append(true_pct)
        n += 1
    if n == 0:
        raise ValueError("no validation slice has a lung field")
    return errs / n, float(np.mean(zero))


def finalize(weights: str | Path, out: str | Path, val_images: str | Path, val_masks: str | Path,
             tta: int = 1, device: str = "auto", log: Callable[[str], None] = print) -> dict:
    """Writes ``out`` (the generator with finalised metadata) and returns the figures."""
    if tta not in TTA_CHOICES:
        raise ValueError(f"test-time augmentation must be one of {TTA_CHOICES}, got {tta}")
    state, meta = read_weights(weights)
    if meta.get("kind", "generator") != "generator":
        raise ValueError(f"{weights}: holds a {meta.get('kind')} network, not a generator")
    val = load_mask_folders(val_images, val_masks)
    for msg in val.skipped:
        log(f"skipped: {msg}")
    loc = Localizer(weights, device=device, tta=tta)
    maps = [loc.apply(im, is_hu=False) for im in val.images]
    lungs = [lung_field(im, is_hu=False) for im in val.images]
    auc = M.pixel_auc(maps, val.masks)
    dice_thr, dice = M.best_threshold(maps, val.masks)
    errs, zero_err = lesion_share_errors(maps, val.masks, lungs)
    k = int(np.argmin(errs))
    threshold = float(GRID[k])
    at_op = M.binary_metrics([m * lg for m, lg in zip(maps, lungs)], val.masks, threshold)
    figures = {"auc": auc, "dice_optimal_threshold": float(dice_thr), "dice_at_dice_optimal": float(dice),
               "operating_threshold": threshold, "lesion_share_mae_points": float(errs[k]),
               "lesion_share_mae_if_zero_points": zero_err, "lung_restricted_at_operating": at_op,
               "tta": tta, "n_slices": len(val), "val_images": str(val_images)}
    gen = Generator(float(meta.get("width", 1.0)))
    gen.load_state_dict(state)
    new_meta = {k2: v for k2, v in meta.items() if k2 != "format"}
    new_meta.update(threshold=f"{threshold:.4f}", tta=str(tta), validation=json.dumps(figures),
                    threshold_basis=json.dumps({
                        "operating": threshold,
                        "how": "minimises the mean absolute error of the lesion share of the lung "
                               "(gan.lung_field) on the validation set",
                        "mae_points": round(float(errs[k]), 2), "mae_if_zero_points": round(zero_err, 2),
                        "dice_optimal": float(dice_thr)}))
    save_weights(gen, out, new_meta)
    log(f"{out}: AUC {auc:.4f}; operating threshold {threshold:.2f} (lesion-share error "
        f"{errs[k]:.1f} points, {zero_err:.1f} for answering 0 %); Dice-optimal {dice_thr:.2f} "
        f"(Dice {dice:.4f}); tta {tta}")
    return figures
