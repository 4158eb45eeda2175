"""Shipped weights as safetensors (never pickle), with the settings needed to rebuild the model.

Metadata keys (strings): ``format`` = "covid-gan-localizer/1", ``kind`` (generator | classifier),
``width``, ``image_size``, ``threshold`` (operating threshold from validation), ``model_name``,
plus free-form provenance (preset, command, iterations, validation metrics as JSON).
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from safetensors import safe_open

from .file_hash import file_sha256  # noqa: F401  (re-exported: gan.weights.file_sha256)

FORMAT = "covid-gan-localizer/1"


def save_weights(module: torch.nn.Module, path: str | Path, metadata: dict, half: bool = True) -> Path:
    """Saves ``module``'s state dict (fp16 floats when ``half``) with string metadata."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {}
    for k, v in module.state_dict().items():
        v = v.detach().cpu().contiguous()
        if half and v.is_floating_point():
            v = v.half()
        state[k] = v
    meta = {"format": FORMAT}
    meta.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()})
    tmp = path.with_suffix(path.suffix + ".tmp")
    save_file(state, str(tmp), metadata=meta)
    tmp.replace(path)
    return path


def read_weights(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Returns (state dict in float32, metadata). Raises ValueError with the file and the reason."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path}: weights file does not exist")
    if path.is_dir():
        raise ValueError(f"{path}: is a folder, expected a .safetensors weights file")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = dict(f.metadata() or {})
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ValueError(f"{path}: not a readable safetensors weights file ({exc})") from exc
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: not a localizer weights file (format {meta.get('format')!r})")
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()}
    return state, meta


def meta_float(meta: dict[str, str], key: str, default: float) -> float:
    try:
        return float(meta[key])
    except (KeyError, ValueError):
        return default
