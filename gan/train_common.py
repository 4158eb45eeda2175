"""Shared training plumbing: device and precision, torchrun/DDP set-up, seeding, checkpoints."""
from __future__ import annotations

import contextlib
import os
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from .inference import resolve_device


@dataclass
class Dist:
    """Process-group facts; world_size 1 when not launched by torchrun."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def setup_distributed(device: torch.device) -> Dist:
    """Initialises the process group when launched by torchrun (WORLD_SIZE > 1): NCCL on CUDA,
    gloo on CPU. Multi-node works the same way through torchrun's rendezvous variables."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    backend = "nccl" if device.type == "cuda" else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    d = Dist(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))
    if device.type == "cuda":
        torch.cuda.set_device(d.local_rank)
    return d


def device_for(name: str) -> torch.device:
    dev = resolve_device(name)
    if dev.type == "cuda" and dev.index is None and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return dev


def teardown_distributed(d: Dist) -> None:
    if d.enabled and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)


def autocast_for(device: torch.device, precision: str):
    """Autocast context for 'fp32' (none), 'bf16' or 'fp16' (CUDA only)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    if precision == "fp16":
        if device.type != "cuda":
            raise ValueError("precision fp16 needs CUDA; use bf16 or fp32 on the CPU")
        return torch.autocast(device_type="cuda", dtype=torch.float16)
    raise ValueError(f"precision {precision!r}: use fp32, bf16 or fp16")


def grad_scaler_for(device: torch.device, precision: str) -> "torch.amp.GradScaler":
    """Loss scaler, active only for fp16 on CUDA (bf16 and fp32 need none)."""
    return torch.amp.GradScaler("cuda", enabled=precision == "fp16" and device.type == "cuda")


def scaled_step(scaler: "torch.amp.GradScaler", loss: torch.Tensor, opt: torch.optim.Optimizer) -> None:
    """zero_grad, backward, step and scale update for one optimizer (a plain step when the scaler
    is disabled). Updating after every step lets one scaler serve several optimizers and an
    optimizer stepped twice per iteration."""
    opt.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(opt)
    scaler.update()


def resolve_precision(precision: str, device: torch.device) -> str:
    """'auto' -> bf16 mixed precision on CUDA, fp32 on the CPU."""
    if precision == "auto":
        return "bf16" if device.type == "cuda" else "fp32"
    return precision


def save_checkpoint(path: Path, payload: dict) -> None:
    """Atomic torch.save (internal resume files only; shipped weights are safetensors)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def save_keyed_npz(path: Path, key: str, compress: bool = False, **arrays: np.ndarray) -> None:
    """Write a derived-data cache (``arrays`` plus the ``key`` it was made for) atomically;
    ``compress`` for sparse data such as masks."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part.npz")
    (np.savez_compressed if compress else np.savez)(tmp, key=np.array(key), **arrays)
    os.replace(tmp, path)


def load_keyed_npz(path: Path, key: str) -> dict[str, np.ndarray] | None:
    """The arrays of a cache written by :func:`save_keyed_npz` for ``key``; None when it is
    absent, made for another key, or unreadable (partly written, another version)."""
    import zipfile

    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["key"]) != key:
                return None
            return {k: z[k] for k in z.files if k != "key"}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None


def load_checkpoint(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt or foreign file
        raise ValueError(f"{path}: cannot resume from this checkpoint ({exc})") from exc


def unwrap(module: torch.nn.Module) -> torch.nn.Module:
    return module.module if hasattr(module, "module") else module
