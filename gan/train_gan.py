"""Stage 2: train G and D (F frozen; optionally C on the maps), with validation-based selection.

Update order per iteration (authors' code): (1) G step on adversarial + consistency;
(2) D step with the fake from before step 1; (3) recompute G(x), G step on feature match alone.
``joint_g_step`` folds (3) into (1). Checkpoints every few minutes, ``resume`` continues
exactly (model, optimisers, RNG states, iteration). Works under torchrun (DDP).
"""
from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel as DDP
from tqdm import tqdm

from . import losses
from .data import AugmentedBatcher, load_class_folders, load_mask_folders, resize_unit
from .networks import Generator, build_discriminator, build_resnet18, resnet18_taps
from .train_common import (Dist, autocast_for, device_for, grad_scaler_for, load_checkpoint, load_keyed_npz,
                           resolve_precision, save_checkpoint, save_keyed_npz, scaled_step, seed_everything,
                           setup_distributed, teardown_distributed, unwrap)
from .validation import validate_generator
from .weights import read_weights, save_weights


@dataclass
class GanConfig:
    data: str
    classifier_weights: str
    out: str
    val_images: str | None = None
    val_masks: str | None = None
    preset: str = "paper"
    image_size: int = 256
    width: float = 1.0
    d_width: float | None = None  # discriminator width multiplier (None = same as G)
    batch_size: int = 8
    iterations: int = 40000
    lr_g: float = 5e-6
    d_lr_ratio: float = 4.0
    lr_c: float = 1e-4
    alpha: float = 3.0
    beta: float = 1.0
    gamma: float = 0.4
    label_smoothing: bool = False
    halve_d_loss: bool = True
    joint_g_step: bool = False
    rot90: bool = False
    c_mode: str = "joint"  # joint | off
    d_warmup: int = 0  # D-only iterations before the GAN: normal slices real, COVID slices fake
    d_anchor: float = 0.0  # weight of raw COVID slices as extra fakes in D's loss during the GAN (0 = paper)
    d_scales: int = 1  # D at this many input scales (1 = paper; networks.MultiScaleDiscriminator)
    intensity_aug: bool = False  # random gamma/contrast jitter of every batch (not in the paper)
    ema: float = 0.0  # decay of an exponential moving average of G's weights (0 = none; not in the paper)
    lung_restrict: bool = False  # D and F judge G's output inside the lung field only (not in the paper)
    precision: str = "auto"
    val_every: int = 1000
    checkpoint_minutes: float = 10.0
    time_budget_hours: float = 0.0  # 0 = no limit; else stop (and save) when spent
    seed: int = 0
    device: str = "auto"
    resume: bool = False
    limit_per_class: int | None = None
    extra: dict = field(default_factory=dict)


class FeatureExtractor(torch.nn.Module):
    """Frozen stage-1 ResNet-18 giving the five taps."""

    def __init__(self, net: torch.nn.Module):
        super().__init__()
        self.net = net.eval()
        for p in self.net.parameters():
            p.requires_grad_(False)

    def train(self, mode: bool = True):  # stays in eval mode (frozen BN statistics)
        return super().train(False)

    def forward(self, x: torch.Tensor):
        return resnet18_taps(self.net, x).as_tuple()


def load_feature_extractor(path: str) -> tuple[FeatureExtractor, dict]:
    state, meta = read_weights(path)
    if meta.get("kind") != "classifier":
        raise ValueError(f"{path}: expected stage-1 classifier weights (kind 'classifier'), got {meta.get('kind')!r}")
    net = build_resnet18(2)
    net.load_state_dict(state)
    return FeatureExtractor(net), meta


def warmup_discriminator(D, opt_d, train, batcher, rng, device, amp, scaler, cfg: "GanConfig", show: bool) -> None:
    """Not in the paper: D-only steps that teach D to tell normal slices (real) from COVID slices
    (fake) before G is trained, so that G gets a lesion-aware adversarial signal from its first
    iterations instead of after thousands (the CPU preset has only a few thousand)."""
    normal = np.flatnonzero(train.labels == 0)
    covid = np.flatnonzero(train.labels == 1)
    for _ in tqdm(range(cfg.d_warmup), desc="D warm-up", disable=not show, dynamic_ncols=True):
        y = batcher.batch(train.images, normal[rng.integers(0, len(normal), cfg.batch_size)], rng).to(device)
        x = batcher.batch(train.images, covid[rng.integers(0, len(covid), cfg.batch_size)], rng).to(device)
        with amp():
            d_real = D(y).float()
            d_fake = D(x).float()
            target = torch.empty_like(d_real).uniform_(0.8, 1.0) if cfg.label_smoothing else 1.0
            loss = losses.lsgan_d_loss(d_real, d_fake, target, halve=cfg.halve_d_loss)
        scaled_step(scaler, loss, opt_d)


def training_lung_fields(images: list[np.ndarray], names: list[str], cache: Path, show: bool,
                         write: bool = True) -> list[np.ndarray]:
    """The lung field (``gan.lung_field``, bool (y, x)) of every training picture; a picture
    without one gets a full field. Cached in ``cache`` (keyed by the pictures' names and shapes,
    made anew when they differ or the file is unreadable; ``write``: this process writes it)."""
    from .lung_field import lung_field

    key = json.dumps([[n, *im.shape] for n, im in zip(names, images)])
    cached = load_keyed_npz(cache, key)
    if cached is not None:
        flat, shapes = cached["fields"], cached["shapes"]
        ends = np.cumsum(shapes.prod(axis=1))
        return [flat[b - int(np.prod(sh)):b].reshape(sh) for b, sh in zip(ends, shapes)]
    fields = []
    for im in tqdm(images, desc="lung fields", disable=not show, dynamic_ncols=True):
        f = lung_field(im, False)
        fields.append(f if f.any() else np.ones_like(f))
    if write:
        save_keyed_npz(cache, key, compress=True, shapes=np.array([f.shape for f in fields]),
                       fields=np.concatenate([f.ravel() for f in fields]))
    return fields


def _in_field(gx: torch.Tensor, x: torch.Tensor, field: torch.Tensor | None) -> torch.Tensor:
    """G's output inside the lung field, the input outside it (``field`` None: G's output)."""
    return gx if field is None else field * gx + (1.0 - field) * x


def _rng_state(rng: np.random.Generator) -> dict:
    return {"np": json.dumps(rng.bit_generator.state), "torch": torch.get_rng_state()}


def train_gan(cfg: GanConfig, log: Callable[[str], None] = print) -> dict:
    """Runs stage 2 and returns a summary dict (best validation AUC, paths)."""
    device = device_for(cfg.device)
    dd: Dist = setup_distributed(device)
    precision = resolve_precision(cfg.precision, device)
    if cfg.image_size % 32:
        raise ValueError(f"image size must be a multiple of 32, got {cfg.image_size}")
    if isinstance(cfg.d_scales, bool) or not isinstance(cfg.d_scales, int) or not 1 <= cfg.d_scales <= 4:
        raise ValueError(f"--d-scales {cfg.d_scales!r}: must be a whole number from 1 to 4")
    if cfg.image_size % (16 * 2 ** (cfg.d_scales - 1)):
        raise ValueError(f"--d-scales {cfg.d_scales}: the image size {cfg.image_size} must be a multiple of "
                         f"{16 * 2 ** (cfg.d_scales - 1)}")
    out = Path(cfg.out)
    ckpt_path = out / "checkpoint.pt"
    seed_everything(cfg.seed + dd.rank)
    rng = np.random.default_rng(cfg.seed + 1000 * dd.rank)

    train = load_class_folders(cfg.data, limit=cfg.limit_per_class)
    for msg in train.skipped:
        log(f"skipped: {msg}")
    normal_idx = np.flatnonzero(train.labels == 0)
    fields = None
    if cfg.lung_restrict:
        fields = training_lung_fields(train.images, [f"{Path(p).parent.name}/{Path(p).name}" for p in train.paths],
                                      out / "lung_fields.npz", dd.is_main, write=dd.is_main)
    val = load_mask_folders(cfg.val_images, cfg.val_masks) if cfg.val_images and cfg.val_masks else None
    feat, _ = load_feature_extractor(cfg.classifier_weights)
    feat = feat.to(device)

    G = Generator(cfg.width).to(device)
    D = build_discriminator(cfg.d_width or cfg.width, cfg.d_scales).to(device)
    C = build_resnet18(2).to(device) if cfg.c_mode == "joint" else None
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr_g * cfg.d_lr_ratio, betas=(0.5, 0.999))
    opt_c = torch.optim.Adam(C.parameters(), lr=cfg.lr_c, betas=(0.5, 0.999)) if C is not None else None

    if not 0.0 <= cfg.ema < 1.0:
        raise ValueError(f"EMA decay must be in [0, 1), got {cfg.ema}")
    G_ema = copy.deepcopy(G).eval().requires_grad_(False) if cfg.ema > 0 else None

    start_iter, best, history, elapsed_before = 0, {"auc": -1.0}, [], 0.0
    scaler_state = None
    if cfg.resume and ckpt_path.exists():
        ck = load_checkpoint(ckpt_path)
        G.load_state_dict(ck["G"])
        try:
            D.load_state_dict(ck["D"])
        except RuntimeError:
            raise ValueError(f"{ckpt_path}: its discriminator does not fit --d-scales {cfg.d_scales}; "
                             "resume with the run's own --d-scales") from None
        if G_ema is not None:
            G_ema.load_state_dict(ck.get("G_ema", ck["G"]))
        opt_g.load_state_dict(ck["opt_g"]); opt_d.load_state_dict(ck["opt_d"])
        if C is not None and "C" in ck:
            C.load_state_dict(ck["C"]); opt_c.load_state_dict(ck["opt_c"])
        start_iter, best, history = ck["iteration"], ck["best"], ck["history"]
        elapsed_before = ck.get("elapsed", 0.0)
        scaler_state = ck.get("scaler")
        rs = ck["rng"][str(dd.rank)] if str(dd.rank) in ck["rng"] else None
        if rs is not None:
            rng.bit_generator.state = json.loads(rs["np"])
            torch.set_rng_state(rs["torch"])
        log(f"resumed from {ckpt_path} at iteration {start_iter}")
    elif cfg.resume:
        log(f"no checkpoint at {ckpt_path}: starting from scratch")

    if dd.enabled:
        G = DDP(G, device_ids=[device.index] if device.type == "cuda" else None, broadcast_buffers=False)
        D = DDP(D, device_ids=[device.index] if device.type == "cuda" else None, broadcast_buffers=False)
        if C is not None:
            C = DDP(C, device_ids=[device.index] if device.type == "cuda" else None)

    batcher = AugmentedBatcher(cfg.image_size, rot90=cfg.rot90, intensity=cfg.intensity_aug)
    covid_idx = np.flatnonzero(train.labels == 1)
    amp = lambda: autocast_for(device, precision)  # noqa: E731
    scaler = grad_scaler_for(device, precision)
    if scaler_state and scaler.is_enabled():
        scaler.load_state_dict(scaler_state)
    budget_s = cfg.time_budget_hours * 3600.0
    t0 = time.time()
    last_ckpt = t0
    meta_base = {"kind": "generator", "width": cfg.width, "image_size": cfg.image_size,
                 "model_name": f"covid-gan-localizer ({cfg.preset} preset)", "preset": cfg.preset,
                 "config": {k: v for k, v in asdict(cfg).items() if k not in ("extra",)}}

    def save_state(iteration: int) -> None:
        if not dd.is_main:
            return
        rng_states = {str(dd.rank): _rng_state(rng)}
        payload = {"G": unwrap(G).state_dict(), "D": unwrap(D).state_dict(), "opt_g": opt_g.state_dict(),
                   "opt_d": opt_d.state_dict(), "iteration": iteration, "best": best, "history": history,
                   "rng": rng_states, "elapsed": elapsed_before + time.time() - t0}
        if C is not None:
            payload["C"] = unwrap(C).state_dict(); payload["opt_c"] = opt_c.state_dict()
        if G_ema is not None:
            payload["G_ema"] = G_ema.state_dict()
        if scaler.is_enabled():
            payload["scaler"] = scaler.state_dict()
        save_checkpoint(ckpt_path, payload)

    if start_iter == 0 and cfg.d_warmup > 0:
        warmup_discriminator(D, opt_d, train, batcher, rng, device, amp, scaler, cfg, dd.is_main)

    bar = tqdm(range(start_iter, cfg.iterations), initial=start_iter, total=cfg.iterations,
               desc="train gan", disable=not dd.is_main, dynamic_ncols=True)
    it = start_iter
    stop_reason = "iterations done"
    for it in bar:
        xi = rng.integers(0, len(train), cfg.batch_size)
        yi = normal_idx[rng.integers(0, len(normal_idx), cfg.batch_size)]
        if fields is None:
            x, fx_field = batcher.batch(train.images, xi, rng).to(device), None
        else:
            x, fx_field = (t.to(device) for t in batcher.batch_with_masks(train.images, fields, xi, rng))
        y = batcher.batch(train.images, yi, rng).to(device)
        labels = torch.from_numpy(train.labels[xi]).to(device)

        # (1) G: adversarial + consistency (+ feature match when joint)
        # (with lung_restrict, D and F see G's output inside the lung field and the input
        # outside it; the consistency loss still keeps G's whole output near its input)
        with amp():
            gx = G(x)
            gf = _in_field(gx, x, fx_field)
            adv = losses.lsgan_g_loss(D(gf).float())
            cons = losses.consistency_loss(gx.float(), x)
            g_loss = adv + cfg.alpha * cons
            if cfg.joint_g_step:
                fm = losses.feature_match_loss(feat(gf.float()), feat(x))
                g_loss = g_loss + cfg.beta * fm
        scaled_step(scaler, g_loss, opt_g)

        # (2) D: real normal slices vs the fake from before step 1
        with amp():
            d_real = D(y).float()
            d_fake = D(gf.detach()).float()
            target = (torch.empty_like(d_real).uniform_(0.8, 1.0) if cfg.label_smoothing else 1.0)
            d_loss = losses.lsgan_d_loss(d_real, d_fake, target, halve=cfg.halve_d_loss)
            if cfg.d_anchor > 0:
                # not in the paper: raw COVID slices stay "fake" for D, so D keeps looking for
                # lesions instead of only for G's artefacts, and an identity G cannot fool it
                xc = batcher.batch(train.images, covid_idx[rng.integers(0, len(covid_idx), cfg.batch_size)], rng)
                d_anchor = D(xc.to(device)).float()
                d_loss = d_loss + cfg.d_anchor * (0.5 if cfg.halve_d_loss else 1.0) * (d_anchor ** 2).mean()
        scaled_step(scaler, d_loss, opt_d)

        # (3) G again on the feature-match loss alone
        if not cfg.joint_g_step:
            with amp():
                gx2 = _in_field(G(x), x, fx_field)
                with torch.no_grad():
                    fx = feat(x)
                fm = losses.feature_match_loss(feat(gx2.float()), fx)
                g2 = cfg.beta * fm
            scaled_step(scaler, g2, opt_g)

        if G_ema is not None:  # average after both G steps of this iteration
            with torch.no_grad():
                for pe, p in zip(G_ema.parameters(), unwrap(G).parameters()):
                    pe.lerp_(p.detach(), 1.0 - cfg.ema)

        # C on the maps (the map is a constant for C's update)
        c_loss = torch.zeros(())
        if C is not None:
            with amp():
                m = losses.localization_map(x, gx.detach())
                c_loss = cfg.gamma * losses.classifier_loss(C(m).float(), labels)
            scaled_step(scaler, c_loss, opt_c)

        done = it + 1
        if dd.is_main:
            bar.set_postfix(adv=f"{adv.item():.3f}", cons=f"{cons.item():.3f}", fm=f"{fm.item():.3f}",
                            d=f"{d_loss.item():.3f}", best_auc=f"{best['auc']:.3f}", refresh=False)
        if val is not None and dd.is_main and (done % cfg.val_every == 0 or done == cfg.iterations):
            candidates = [("generator", unwrap(G))] + ([("ema", G_ema)] if G_ema is not None else [])
            for source, net in candidates:
                r = validate_generator(net, val, cfg.image_size, device)
                r["iteration"] = done
                r["source"] = source
                history.append(r)
                log(f"iteration {done} ({source}): validation AUC {r['auc']:.4f}, Dice {r['dice']:.4f} "
                    f"at threshold {r['threshold']:.2f}")
                if r["auc"] > best["auc"]:
                    best = r
                    meta = dict(meta_base, threshold=f"{r['threshold']:.4f}", iteration=str(done),
                                weights_source=source, validation=json.dumps(r))
                    save_weights(net, out / "best_generator.safetensors", meta)
                    if C is not None:
                        save_weights(unwrap(C), out / "best_lm_classifier.safetensors",
                                     {"kind": "lm_classifier", "image_size": cfg.image_size,
                                      "generator_iteration": str(done)})
        now = time.time()
        if now - last_ckpt > cfg.checkpoint_minutes * 60:
            save_state(done)
            last_ckpt = now
        if budget_s and elapsed_before + now - t0 > budget_s:
            stop_reason = "time budget spent"
            break
    final_iter = it + 1 if cfg.iterations > start_iter else start_iter
    save_state(final_iter)
    if dd.is_main:
        save_weights(unwrap(G), out / "last_generator.safetensors",
                     dict(meta_base, threshold=f"{best.get('threshold', 0.5):.4f}", iteration=str(final_iter)))
        if G_ema is not None:
            save_weights(G_ema, out / "last_generator_ema.safetensors",
                         dict(meta_base, threshold=f"{best.get('threshold', 0.5):.4f}", iteration=str(final_iter),
                              weights_source="ema"))
        with open(out / "history.json", "w") as f:
            json.dump({"best": best, "history": history, "stop": stop_reason}, f, indent=1)
    teardown_distributed(dd)
    return {"best": best, "iterations": final_iter, "stop": stop_reason, "out": str(out)}
