"""Training of the lung-field network (``gan.lung_net``) on normal slices with painted lesions.

    python main.py lungs train --data SOARES --out runs/lungs [--series LIDC ...] [--epochs 12]

Examples (``make_examples``): each slice framed as the network sees it (``gan.lung_net.frame_box``:
the body box made square, resized to ``image_size``), with its lung mask on the same grid. The
masks come from a caller-given function (the product's threshold-based lung mask, which is
reliable on aerated lungs: the CLI passes ``viewer.core.lung_mask.segment_lungs``; ``gan`` never
imports the viewer). Only slices whose mask is plausible are kept (``plausible_mask``).

Training: each batch paints synthetic lesions into the lungs (``gan.synthetic_lesions``, the target
stays the whole lung), then random left-right flips, 90-degree turns and transposes (the MedSeg
slices are stored transposed), a random zoom and shift, and the display-window jitter of the GAN
(``gan.data.jitter_intensity``). Loss: binary cross-entropy plus soft Dice. One-cycle learning
rate; ``resume`` continues from the per-epoch checkpoint; the last epoch is shipped.

Arrays: slices (y, x); HU float or 8-bit pictures; examples uint8 (N, s, s).
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch
import torch.nn.functional as Fnn
from tqdm import tqdm

from .data import jitter_intensity
from .lung_net import KIND, cut_box, frame_box, to_grid
from .networks import Generator
from .preprocess import to_unit
from .synthetic_lesions import paint_lesions
from .train_common import load_checkpoint, save_checkpoint, seed_everything
from .weights import save_weights

Log = Callable[[str], object]


@dataclass
class LungNetConfig:
    out: str
    width: float = 0.25
    image_size: int = 128
    epochs: int = 12
    batch_size: int = 16
    lr: float = 2e-3
    seed: int = 0
    device: str = "cpu"
    resume: bool = False
    stop_after: int | None = None
    #: probability at which the shipped mask is cut (stored in the weights; the default was chosen
    #: on the MedSeg validation slices: lesion coverage against agreement on normal slices)
    threshold: float = 0.3

    def check(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("--epochs and --batch-size must be at least 1")
        if self.image_size % 32 or self.image_size < 64:
            raise ValueError(f"--image-size {self.image_size}: must be a multiple of 32, at least 64")
        if not (self.lr > 0 and self.width > 0):
            raise ValueError("--lr and --width must be positive")
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"--threshold {self.threshold}: must lie between 0 and 1")


def plausible_mask(lungs: np.ndarray, min_share: float = 0.08, max_share: float = 0.8) -> bool:
    """A lung mask worth learning from: it covers ``min_share``-``max_share`` of the framed slice."""
    share = float(lungs.mean())
    return min_share <= share <= max_share


def make_examples(slices: Iterable[tuple[np.ndarray, bool, np.ndarray]], size: int,
                  keep_empty: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` uint8 (N, size, size): framed slices (0-255) and lung masks (0/1).

    ``slices`` yields ``(slice, is_hu, lungs)``; a slice whose framed mask is implausible is
    skipped (``keep_empty`` keeps slices without lung as empty examples)."""
    xs, ys = [], []
    for sl, is_hu, lungs in slices:
        unit = to_unit(sl, is_hu)
        box = frame_box(unit, is_hu)
        m = to_grid(cut_box(lungs.astype(np.float32), box), size) >= 0.5
        if not plausible_mask(m) and not (keep_empty and not m.any()):
            continue
        xs.append(np.round(to_grid(cut_box(unit, box), size) * 255).astype(np.uint8))
        ys.append(m.astype(np.uint8))
    if not xs:
        return np.zeros((0, size, size), np.uint8), np.zeros((0, size, size), np.uint8)
    return np.stack(xs), np.stack(ys)


def augment(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """One training batch from uint8 examples (N, s, s): painted lesions, flips, turns, zoom and
    shift, window jitter. Returns float (N, 1, s, s) inputs in [0, 1] and targets in {0, 1}."""
    ins, tgs = [], []
    for xi, yi in zip(x, y):
        unit = xi.astype(np.float32) / 255.0
        lungs = yi.astype(bool)
        unit = paint_lesions(unit, lungs, rng)  # image bottom = posterior, before any turn
        t_in, t_y = torch.from_numpy(unit)[None], torch.from_numpy(lungs.astype(np.float32))[None]
        if rng.random() < 0.5:
            t_in, t_y = t_in.flip(-1), t_y.flip(-1)
        if rng.random() < 0.3:
            t_in, t_y = t_in.transpose(-1, -2), t_y.transpose(-1, -2)
        if rng.random() < 0.2:
            t_in, t_y = t_in.flip(-2), t_y.flip(-2)
        ins.append(jitter_intensity(t_in, rng))
        tgs.append(t_y)
    xb, yb = torch.stack(ins), torch.stack(tgs)
    n = xb.shape[0]
    scale = torch.from_numpy(np.exp(rng.uniform(np.log(0.85), np.log(1.2), n))).float()
    shift = torch.from_numpy(rng.uniform(-0.08, 0.08, (n, 2))).float()
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = scale
    theta[:, 1, 1] = scale
    theta[:, :, 2] = shift
    grid = Fnn.affine_grid(theta, list(xb.shape), align_corners=False)
    xb = Fnn.grid_sample(xb, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    yb = (Fnn.grid_sample(yb, grid, mode="bilinear", padding_mode="zeros", align_corners=False) >= 0.5).float()
    return xb.contiguous(), yb.contiguous()


def _loss(p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    p = p.float().clamp(1e-5, 1 - 1e-5)
    bce = Fnn.binary_cross_entropy(p, y)
    inter = (p * y).sum((1, 2, 3))
    dice = 1 - (2 * inter + 1) / (p.sum((1, 2, 3)) + y.sum((1, 2, 3)) + 1)
    return bce + dice.mean()


def train_lung_net(cfg: LungNetConfig, x: np.ndarray, y: np.ndarray, provenance: dict | None = None,
                   log: Log = print) -> dict:
    """Trains on examples ``x``, ``y`` (``make_examples``); writes ``lung_field.safetensors`` (the
    last epoch), ``history.json`` and a per-epoch checkpoint that ``resume`` continues from
    (resuming a finished run only writes the weights again, e.g. with another ``threshold``)."""
    cfg.check()
    if x.shape[0] == 0 or x.shape != y.shape or x.shape[-1] != cfg.image_size:
        raise ValueError(f"lung-field training needs examples (N, {cfg.image_size}, {cfg.image_size}); "
                         f"got {x.shape} and {y.shape}")
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    seed_everything(cfg.seed)
    device = torch.device(cfg.device)
    net = Generator(cfg.width).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    per_epoch = max(x.shape[0] // cfg.batch_size, 1)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=cfg.epochs * per_epoch)
    rng = np.random.default_rng(cfg.seed)
    start, history = 0, []
    ckpt = out / "lung_checkpoint.pt"
    if cfg.resume and ckpt.exists():
        ck = load_checkpoint(ckpt)
        if ck.get("epochs") != cfg.epochs:
            raise ValueError(f"{ckpt}: the run was planned for {ck.get('epochs')} epochs; resume with "
                             f"--epochs {ck.get('epochs')}")
        net.load_state_dict(ck["net"]); opt.load_state_dict(ck["opt"]); sched.load_state_dict(ck["sched"])
        start, history = ck["epoch"], ck["history"]
        rng.bit_generator.state = json.loads(ck["rng"])
        torch.set_rng_state(ck["torch_rng"])
        log(f"resumed from {ckpt} at epoch {start}")
    t0 = time.time()
    end = cfg.epochs if cfg.stop_after is None else min(cfg.epochs, start + cfg.stop_after)
    for epoch in range(start, end):
        net.train()
        perm = rng.permutation(x.shape[0])
        total = 0.0
        bar = tqdm(range(per_epoch), desc=f"lung field epoch {epoch + 1}/{cfg.epochs}", dynamic_ncols=True)
        for b in bar:
            idx = perm[b * cfg.batch_size:(b + 1) * cfg.batch_size]
            xb, yb = augment(x[idx], y[idx], rng)
            loss = _loss(net(xb.to(device)), yb.to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.item())
            bar.set_postfix(loss=f"{loss.item():.4f}", refresh=False)
        bar.close()
        history.append({"epoch": epoch + 1, "loss": round(total / per_epoch, 5),
                        "elapsed_s": round(time.time() - t0, 1)})
        log(f"epoch {epoch + 1}: mean loss {total / per_epoch:.4f}")
        save_checkpoint(ckpt, {"net": net.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                               "epoch": epoch + 1, "epochs": cfg.epochs, "history": history,
                               "rng": json.dumps(rng.bit_generator.state), "torch_rng": torch.get_rng_state()})
    done = max(end, start)
    meta = {"kind": KIND, "width": cfg.width, "image_size": cfg.image_size, "threshold": f"{cfg.threshold:.3f}",
            "model_name": "lung field (trained on normal slices with painted lesions)",
            "epoch": str(done), "examples": str(int(x.shape[0])), "config": json.dumps(asdict(cfg)),
            "provenance": json.dumps(provenance or {})}
    path = save_weights(net, out / "lung_field.safetensors", meta)
    with open(out / "history.json", "w") as f:
        json.dump({"history": history, "epochs_done": done}, f, indent=1)
    return {"weights": str(path), "epochs": done, "history": history}
