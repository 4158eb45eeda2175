"""Loading a 1-channel ResNet-18 classifier (stage-1 F / plain baseline, or LM-ResNet-18 C)
from a safetensors file written by ``gan.weights.save_weights``.

Metadata used: ``kind`` ("classifier" for the stage-1 network on raw slices, "lm_classifier" for
the ResNet-18 on GAN localization maps) and ``image_size`` (square input side in pixels).
Class index 1 is COVID, 0 is non-COVID.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torchvision

from .networks import build_resnet18
from .weights import meta_float, read_weights


@dataclass
class LoadedClassifier:
    net: torchvision.models.ResNet   # eval mode, on ``device``
    image_size: int
    metadata: dict[str, str]
    path: Path
    device: torch.device


def load_classifier(path: str | Path, device: torch.device,
                    kinds: tuple[str, ...] = ("classifier",)) -> LoadedClassifier:
    """Rebuilds the ResNet-18 and loads its weights; ValueError naming the file and the reason
    when the file is missing, unreadable, of another kind, or does not fit a ResNet-18."""
    path = Path(path)
    state, meta = read_weights(path)
    kind = meta.get("kind", "")
    if kind not in kinds:
        raise ValueError(f"{path}: holds a {kind or 'unknown'} network, expected {' or '.join(kinds)}")
    fc = state.get("fc.weight")
    if fc is None or fc.ndim != 2:
        raise ValueError(f"{path}: no ResNet-18 classification head (fc.weight) in the weights")
    net = build_resnet18(num_classes=int(fc.shape[0]))
    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        raise ValueError(f"{path}: weights do not fit a 1-channel ResNet-18 ({str(exc).splitlines()[0]})") from exc
    if int(fc.shape[0]) < 2:
        raise ValueError(f"{path}: classifier has {fc.shape[0]} output, need 2 (non-COVID, COVID)")
    size = int(meta_float(meta, "image_size", 256))
    if size < 32:
        raise ValueError(f"{path}: image_size {size} is too small (at least 32)")
    return LoadedClassifier(net.to(device).eval(), size, meta, path, device)
