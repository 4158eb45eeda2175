"""Stage 1: the ResNet-18 COVID / non-COVID classifier (the frozen feature extractor F, and the
plain ResNet-18 baseline), and the LM-ResNet-18 that classifies GAN localization maps.

Both train on the seeded 70 % part of the class-folder set and report accuracy, sensitivity,
specificity and F1 on the other 30 % (the paper's classification protocol)."""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as Fnn
from tqdm import tqdm

from .data import AugmentedBatcher, load_class_folders, resize_unit, seeded_split
from .inference import Localizer
from .networks import build_resnet18
from .train_common import (autocast_for, device_for, grad_scaler_for, load_checkpoint, resolve_precision,
                           save_checkpoint, scaled_step, seed_everything, setup_distributed,
                           teardown_distributed, unwrap)
from .weights import save_weights


@dataclass
class ClassifierConfig:
    data: str
    out: str
    preset: str = "paper"
    image_size: int = 256
    batch_size: int = 32
    epochs: int = 30
    lr: float = 1e-4
    train_fraction: float = 0.7
    split_seed: int = 0
    seed: int = 0
    precision: str = "auto"
    device: str = "auto"
    resume: bool = False
    on_maps: str | None = None  # generator weights: train LM-ResNet-18 on its maps
    #: the maps' scale for the LM-ResNet-18: "minmax" (per map, as before) or "absolute" (the
    #: product's fixed scale: a normal slice stays cold, as the paper's unnormalised ReLU(x - G(x)))
    map_normalisation: str = "minmax"
    intensity_aug: bool = False  # window (gamma/contrast) jitter of the training slices
    limit_per_class: int | None = None
    # not in the paper (defaults = the paper's recipe): decoupled weight decay (AdamW when > 0),
    # label smoothing of the cross-entropy and the smallest area of the random resized crop
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    crop_min: float = 0.9

    def check(self) -> None:
        """ValueError naming the setting when a value is out of range."""
        if self.map_normalisation not in ("minmax", "absolute"):
            raise ValueError(f"map normalisation must be 'minmax' or 'absolute', got {self.map_normalisation!r}")
        if self.weight_decay < 0:
            raise ValueError(f"weight decay must be >= 0, got {self.weight_decay}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label smoothing must be in [0, 1), got {self.label_smoothing}")
        if not 0.05 <= self.crop_min <= 1.0:
            raise ValueError(f"smallest crop area must be in [0.05, 1], got {self.crop_min}")


def binary_metrics(pred: np.ndarray, truth: np.ndarray) -> dict:
    """accuracy, sensitivity, specificity, F1 with COVID = 1 as the positive class."""
    pred, truth = np.asarray(pred).astype(bool), np.asarray(truth).astype(bool)
    tp = int((pred & truth).sum()); tn = int((~pred & ~truth).sum())
    fp = int((pred & ~truth).sum()); fn = int((~pred & truth).sum())
    acc = (tp + tn) / max(1, len(pred))
    sens = tp / max(1, tp + fn)
    spec = tn / max(1, tn + fp)
    prec = tp / max(1, tp + fp)
    f1 = 2 * prec * sens / max(1e-12, prec + sens)
    return {"accuracy": acc, "sensitivity": sens, "specificity": spec, "f1": f1,
            "tp": tp, "tn": tn, "fp": fp, "fn": fn}


def _inputs(images: list[np.ndarray], localizer: Localizer | None,
            normalise: str = "minmax") -> list[np.ndarray]:
    """Raw pictures, or their GAN maps (``normalise``: see ``Localizer.apply``) as uint8
    pictures for the LM classifier."""
    if localizer is None:
        return images
    maps = [localizer.apply(im, is_hu=False, normalise=normalise)
            for im in tqdm(images, desc="maps", leave=False)]
    return [np.round(m * 255).astype(np.uint8) for m in maps]


@torch.no_grad()
def predict(net: torch.nn.Module, images: list[np.ndarray], size: int, device: torch.device) -> np.ndarray:
    net.eval()
    out = []
    for s in range(0, len(images), 64):
        x = torch.stack([resize_unit(im, size) for im in images[s:s + 64]]).to(device)
        out.append(net(x).float().softmax(1)[:, 1].cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0)


def train_classifier(cfg: ClassifierConfig, log: Callable[[str], None] = print) -> dict:
    cfg.check()
    device = device_for(cfg.device)
    dd = setup_distributed(device)
    precision = resolve_precision(cfg.precision, device)
    seed_everything(cfg.seed + dd.rank)
    rng = np.random.default_rng(cfg.seed + 1000 * dd.rank)
    out = Path(cfg.out)
    kind = "lm_classifier" if cfg.on_maps else "classifier"
    ckpt_path = out / f"{kind}_checkpoint.pt"

    data = load_class_folders(cfg.data, limit=cfg.limit_per_class)
    tr_idx, te_idx = seeded_split(len(data), cfg.train_fraction, cfg.split_seed)
    localizer = Localizer(cfg.on_maps, device=str(device)) if cfg.on_maps else None
    images = _inputs(data.images, localizer, cfg.map_normalisation)
    labels = data.labels

    net = build_resnet18(2).to(device)
    opt = (torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
           if cfg.weight_decay > 0 else torch.optim.Adam(net.parameters(), lr=cfg.lr))
    steps_per_epoch = max(1, len(tr_idx) // (cfg.batch_size * dd.world_size))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.epochs * steps_per_epoch)
    start_epoch = 0
    if cfg.resume and ckpt_path.exists():
        ck = load_checkpoint(ckpt_path)
        planned = ck["sched"].get("total_steps")
        if planned is not None and planned != cfg.epochs * steps_per_epoch:
            raise ValueError(f"{ckpt_path}: the run was started for {planned // steps_per_epoch} epochs; "
                             f"resume it with the same number of epochs (not {cfg.epochs})")
        net.load_state_dict(ck["net"]); opt.load_state_dict(ck["opt"]); sched.load_state_dict(ck["sched"])
        start_epoch = ck["epoch"]
        rng.bit_generator.state = json.loads(ck["rng"])
        torch.set_rng_state(ck["torch_rng"])
        log(f"resumed {kind} from {ckpt_path} at epoch {start_epoch}")
    if dd.enabled:
        net = torch.nn.parallel.DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
    # maps are already per-image min-max; no flips of the class evidence are lost by augmenting
    batcher = AugmentedBatcher(cfg.image_size, scale=(cfg.crop_min, 1.0), rot90=True,
                               intensity=bool(cfg.intensity_aug))
    scaler = grad_scaler_for(device, precision)
    t0 = time.time()
    for epoch in range(start_epoch, cfg.epochs):
        net.train()
        order = rng.permutation(tr_idx)
        bar = tqdm(range(steps_per_epoch), desc=f"{kind} epoch {epoch + 1}/{cfg.epochs}",
                   disable=not dd.is_main, dynamic_ncols=True)
        for step in bar:
            lo = (step * dd.world_size + dd.rank) * cfg.batch_size
            idx = order[lo:lo + cfg.batch_size]
            if len(idx) == 0:
                idx = order[:cfg.batch_size]
            x = batcher.batch(images, idx, rng).to(device)
            yb = torch.from_numpy(labels[idx]).to(device)
            with autocast_for(device, precision):
                loss = Fnn.cross_entropy(net(x).float(), yb, label_smoothing=cfg.label_smoothing)
            scaled_step(scaler, loss, opt)
            sched.step()
            bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
        if dd.is_main:
            payload = {"net": unwrap(net).state_dict(), "opt": opt.state_dict(),
                       "sched": sched.state_dict(), "epoch": epoch + 1,
                       "rng": json.dumps(rng.bit_generator.state),
                       "torch_rng": torch.get_rng_state()}
            save_checkpoint(ckpt_path, payload)
    result: dict = {"kind": kind, "train": len(tr_idx), "test": len(te_idx), "seconds": time.time() - t0}
    if dd.is_main:
        test_images, truth = [images[i] for i in te_idx], labels[te_idx] == 1
        meta = {"kind": kind, "image_size": cfg.image_size, "preset": cfg.preset,
                "split_seed": str(cfg.split_seed), "train_fraction": str(cfg.train_fraction),
                "config": json.dumps(asdict(cfg))}
        if cfg.on_maps:
            meta["generator_sha256"] = localizer.weights_hash
            meta["map_normalisation"] = cfg.map_normalisation
        prob = predict(unwrap(net), test_images, cfg.image_size, device)
        result["test_metrics"] = binary_metrics(prob >= 0.5, truth)
        path = save_weights(unwrap(net), out / f"{kind}.safetensors",
                            {**meta, "test_metrics": json.dumps(result["test_metrics"])})
        result["weights"] = str(path)
        log(f"{kind}: test {json.dumps({k: round(v, 4) for k, v in result['test_metrics'].items()})}")
    teardown_distributed(dd)
    return result
