"""Benchmark: evaluation metrics on a test set of the paper's size (50 maps of about 400 x 400).

    python bench/bench_metrics.py [--images 50] [--size 400]

Times gan.metrics (exact pooled AUC, the 101-point threshold grid search, the Inf-Net
256-threshold means) beside scikit-learn's roc_auc_score and a plain loop over the 256
thresholds, all measured in this run, and checks that the AUCs agree.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gan import metrics as M  # noqa: E402


def timed(fn, *args, **kw):
    t0 = time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t0


def loop_infnet(maps, masks, thresholds):
    """Reference: one comparison per image and threshold."""
    dice = np.zeros((len(maps), len(thresholds)))
    for i, (m, g) in enumerate(zip(maps, masks)):
        for j, t in enumerate(thresholds):
            p = m >= t
            tp = np.sum(p & g)
            den = p.sum() + g.sum()
            dice[i, j] = 2 * tp / den if den else 1.0
    return float(dice.mean(axis=0).mean())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=50)
    ap.add_argument("--size", type=int, default=400)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    masks = [rng.random((a.size, a.size)) > 0.85 for _ in range(a.images)]
    maps = [np.clip(0.3 * g + 0.7 * rng.random(g.shape), 0, 1).astype(np.float32) for g in masks]

    from sklearn.metrics import roc_auc_score

    auc, t_auc = timed(M.pixel_auc, maps, masks)
    y = np.concatenate([g.ravel() for g in masks])
    s = np.concatenate([m.ravel() for m in maps])
    ref, t_ref = timed(roc_auc_score, y, s)
    (_, _), t_grid = timed(M.best_threshold, maps, masks)
    inf, t_inf = timed(M.infnet_means, maps, masks)
    ref_dice, t_loop = timed(loop_infnet, maps, masks, M.INFNET_THRESHOLDS)

    print(f"{a.images} maps of {a.size} x {a.size} ({y.size / 1e6:.1f} M pixels)")
    print(f"pooled AUC, gan.metrics:        {t_auc:7.2f} s  (AUC {auc:.6f})")
    print(f"pooled AUC, sklearn:            {t_ref:7.2f} s  (AUC {ref:.6f})  ratio {t_ref / t_auc:.2f}x")
    print(f"threshold grid (101 points):    {t_grid:7.2f} s")
    print(f"Inf-Net means (256 thresholds): {t_inf:7.2f} s  (Dice {inf['dice']:.6f})")
    print(f"same, loop over thresholds:     {t_loop:7.2f} s  (Dice {ref_dice:.6f})  ratio {t_loop / t_inf:.1f}x")
    return 0 if abs(auc - ref) < 1e-9 and abs(inf["dice"] - ref_dice) < 1e-9 else 1


if __name__ == "__main__":
    sys.exit(main())
