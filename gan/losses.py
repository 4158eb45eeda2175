"""Losses of the paper: LSGAN, consistency (L1), feature match (weighted L1 on F's taps), CE."""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as Fnn

from .networks import FEATURE_WEIGHTS


def lsgan_d_loss(d_real: torch.Tensor, d_fake: torch.Tensor, real_target: torch.Tensor | float = 1.0,
                 halve: bool = True) -> torch.Tensor:
    """D minimises (D(y) - t)^2 + D(G(x))^2 (means). ``real_target`` may be a tensor broadcast
    to d_real (label smoothing, U[0.8, 1] in the authors' code). ``halve``: the code's 0.5 factor."""
    loss = ((d_real - real_target) ** 2).mean() + (d_fake ** 2).mean()
    return 0.5 * loss if halve else loss


def lsgan_g_loss(d_fake: torch.Tensor) -> torch.Tensor:
    """G minimises (D(G(x)) - 1)^2 (mean)."""
    return ((d_fake - 1.0) ** 2).mean()


def consistency_loss(gx: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """|G(x) - x|_1, mean-reduced."""
    return (gx - x).abs().mean()


def feature_match_loss(feats_gx: Sequence[torch.Tensor], feats_x: Sequence[torch.Tensor],
                       weights: Sequence[float] = FEATURE_WEIGHTS) -> torch.Tensor:
    """sum_i w_i |F_i(G(x)) - F_i(x)|_1 with mean-reduced L1 per tap."""
    if not (len(feats_gx) == len(feats_x) == len(weights)):
        raise ValueError("feature lists and weights must have the same length")
    return sum(w * (a - b).abs().mean() for w, a, b in zip(weights, feats_gx, feats_x))


def classifier_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of C on localization maps."""
    return Fnn.cross_entropy(logits, labels)


def localization_map(x: torch.Tensor, gx: torch.Tensor) -> torch.Tensor:
    """phi(x - G(x)) with phi = ReLU: the raw lesion map (before smoothing and min-max)."""
    return torch.relu(x - gx)
