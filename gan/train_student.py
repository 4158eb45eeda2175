"""Stage 3 (not in the paper): a label-free student segmenter distilled from the GAN's own maps.

    python main.py train student --data SOARES --generator W --out runs/student \\
        --val-images DIR --val-masks DIR [--epochs 10] [--resume]

``--generator`` may also be a student's weights: a further round of self-training on its maps.
The shipped student is such a round: the first student's maps drawn on the 256 grid
(``--teacher-size 256``), learned on that grid starting from the first student (``--init``).

Targets, made once and cached in the run folder (``teacher.npz``):

- COVID training slices: the teacher generator's absolute map (``gan.inference``: canonical
  input, lung frame, smoothed ReLU(x - G(x)) / map_scale, clipped to [0, 1]) at the model grid;
- non-COVID training slices: an empty map. The class label is the only label the GAN itself
  uses, so the student sees no pixel label either; it learns where the teacher is consistently
  hot on COVID slices and that normal slices have no lesion anywhere.

The student is the generator's residual U-Net (``gan.networks.Generator``) whose sigmoid output is
read as the lesion probability (weights ``kind`` "segmenter"; ``gan.inference.Localizer`` loads
it like a generator). Loss: per-pixel binary cross-entropy with the soft targets. Augmentation:
flips, transposes and the GAN's window jitter (``gan.data.jitter_intensity``). Only the seeded
training part of the class-folder set (``gan.data.seeded_split``, 70 %, seed 0 as stage 1) is
used, so that the held-out non-COVID slices stay unseen for ``main.py calibrate``. Model
selection: validation pixel AUC of the maps the product shows (the probabilities, no per-image
min-max; the min-max figures are logged beside them).
"""
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

from .data import jitter_intensity, load_class_folders, load_mask_folders, seeded_split
from .inference import (Localizer, _model_input, _runs, absolute_scale, canonical_inputs,
                        check_inference_size, raw_map, smooth)
from .networks import Generator
from .train_common import (autocast_for, device_for, load_checkpoint, load_keyed_npz, resolve_precision,
                           save_checkpoint, save_keyed_npz, seed_everything)
from .validation import validate_generator
from .weights import read_weights, save_weights

Log = Callable[[str], object]


@dataclass
class StudentConfig:
    data: str
    generator: str
    out: str
    val_images: str | None = None
    val_masks: str | None = None
    width: float = 0.375
    epochs: int = 10
    batch_size: int = 16
    lr: float = 1e-3
    map_sigma: float = 4.5
    train_fraction: float = 0.7
    split_seed: int = 0
    seed: int = 0
    device: str = "auto"
    precision: str = "bf16"
    resume: bool = False
    limit_per_class: int | None = None
    #: end this run after this many epochs (``resume`` continues it): a CPU run across sessions
    stop_after: int | None = None
    #: start from these weights (a student or generator of the same width) instead of at random
    init: str | None = None
    #: the grid (px) the teacher draws its targets on, which is also the student's training grid;
    #: None = the teacher's own (``Localizer.image_size``)
    teacher_size: int | None = None
    #: COVID targets become min(1, gain x teacher map) (not in the paper): > 1 lifts the faint
    #: ground glass that the teacher marks weakly; non-COVID targets stay empty
    target_gain: float = 1.0

    def check(self) -> None:
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1")
        if not (self.lr > 0 and self.width > 0 and self.map_sigma >= 0):
            raise ValueError("--lr and --width must be positive, --map-sigma at least 0")
        if bool(self.val_images) != bool(self.val_masks):
            raise ValueError("--val-images and --val-masks go together")
        if not Path(self.generator).is_file():
            raise ValueError(f"--generator {self.generator}: not a file")
        if self.init is not None and not Path(self.init).is_file():
            raise ValueError(f"--init {self.init}: not a file")
        if not (np.isfinite(self.target_gain) and self.target_gain > 0):
            raise ValueError(f"--target-gain {self.target_gain}: must be a positive number")
        if self.teacher_size is not None:
            check_inference_size(self.teacher_size, "--teacher-size")


@torch.no_grad()
def teacher_targets(loc: Localizer, images: list[np.ndarray], labels: np.ndarray,
                    progress: Callable[[int, int], object] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(x, t)``: float16 (N, s, s) each, s = the teacher's model grid. ``x`` is every picture in
    the canonical input the product shows the model (each picture planned on its own, as the
    generator was trained); ``t`` the teacher's absolute map of it on the same grid for COVID
    pictures (label 1), zeros for the others. ``images``: uint8 (y, x) pictures. The teacher is
    a generator (stage 3) or a student itself (a further round of self-training)."""
    s = loc.image_size
    xs = np.zeros((len(images), s, s), np.float16)
    ts = np.zeros((len(images), s, s), np.float16)
    for i, im in enumerate(images):
        units, crops = canonical_inputs(im[None], False, loc.plan(im, False))
        x = _model_input(units, crops, _runs(crops, [u.shape for u in units]), s).to(loc.device)
        xs[i] = x[0, 0].cpu().numpy()
        if labels[i] == 1:
            m = absolute_scale(smooth(raw_map(loc.generator, x, loc.tta, loc.kind), loc.sigma),
                               loc.map_scale)
            ts[i] = Fnn.interpolate(m, size=(s, s), mode="area")[0, 0].cpu().numpy()
        if progress is not None:
            progress(i + 1, len(images))
    return xs, ts


def gained_targets(ts: np.ndarray, gain: float) -> np.ndarray:
    """``min(1, gain * ts)`` in ``ts``'s dtype, (N, s, s) in [0, 1]; ``ts`` itself for gain 1.
    Empty (non-COVID) targets stay empty."""
    if gain == 1.0:
        return ts
    out = np.empty_like(ts)
    for i in range(len(ts)):   # one slice at a time: no float32 copy of the whole set
        out[i] = np.minimum(ts[i].astype(np.float32) * gain, 1.0)
    return out


def _augment(x: torch.Tensor, t: torch.Tensor, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """The same random flips / transpose on (N, 1, s, s) inputs and targets; window jitter on the
    inputs only."""
    if rng.random() < 0.5:
        x, t = x.flip(-1), t.flip(-1)
    if rng.random() < 0.5:
        x, t = x.flip(-2), t.flip(-2)
    if rng.random() < 0.5:
        x, t = x.transpose(-1, -2), t.transpose(-1, -2)
    x = torch.stack([jitter_intensity(xi, rng) for xi in x])
    return x.contiguous(), t.contiguous()


def _load_or_make_targets(cfg: StudentConfig, out: Path, log: Log) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    data = load_class_folders(cfg.data, limit=cfg.limit_per_class)
    for reason in data.skipped:
        log(f"skipped: {reason}")
    teacher = Localizer(cfg.generator, device=cfg.device, image_size=cfg.teacher_size)
    cache = out / "teacher.npz"
    key = f"{teacher.weights_hash}:{len(data)}:{teacher.image_size}"
    cached = load_keyed_npz(cache, key)
    if cached is not None:
        log(f"teacher maps from {cache}")
        return cached["x"], cached["t"], data.labels, {"hash": teacher.weights_hash, "path": str(cfg.generator)}
    bar = tqdm(total=len(data), desc="teacher maps", dynamic_ncols=True)
    x, t = teacher_targets(teacher, data.images, data.labels,
                           progress=lambda d, n: bar.update(d - bar.n))
    bar.close()
    save_keyed_npz(cache, key, x=x, t=t)
    return x, t, data.labels, {"hash": teacher.weights_hash, "path": str(cfg.generator)}


def train_student(cfg: StudentConfig, log: Log = print) -> dict:
    """Trains the student (module docstring); writes ``best_student.safetensors`` (by validation
    AUC when a validation set is given, else the last epoch), ``last_student.safetensors``,
    ``history.json`` and a per-epoch checkpoint that ``resume`` continues from."""
    cfg.check()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    seed_everything(cfg.seed)
    device = device_for(cfg.device)
    precision = resolve_precision(cfg.precision, device)
    xs, ts, labels, teacher = _load_or_make_targets(cfg, out, log)
    train_idx, _ = seeded_split(len(labels), cfg.train_fraction, cfg.split_seed)
    val = load_mask_folders(cfg.val_images, cfg.val_masks) if cfg.val_images else None
    size = xs.shape[-1]

    net = Generator(cfg.width)
    if cfg.init is not None:
        state, _meta = read_weights(cfg.init)
        try:
            net.load_state_dict(state)
        except RuntimeError as exc:
            raise ValueError(f"--init {cfg.init}: weights do not fit a student of width {cfg.width} "
                             f"({str(exc).splitlines()[0]})") from exc
        log(f"starting from {cfg.init}")
    net = net.to(device)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    per_epoch = max(len(train_idx) // cfg.batch_size, 1)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=cfg.epochs * per_epoch)
    rng = np.random.default_rng(cfg.seed)
    start_epoch, best, history = 0, {"auc": -1.0}, []
    ckpt_path = out / "student_checkpoint.pt"
    if cfg.resume and ckpt_path.exists():
        ck = load_checkpoint(ckpt_path)
        if ck.get("epochs", cfg.epochs) != cfg.epochs:
            raise ValueError(f"{ckpt_path}: the run was planned for {ck['epochs']} epochs (its learning-rate "
                             f"schedule depends on it); resume with --epochs {ck['epochs']}")
        net.load_state_dict(ck["net"]); opt.load_state_dict(ck["opt"]); sched.load_state_dict(ck["sched"])
        start_epoch, best, history = ck["epoch"], ck["best"], ck["history"]
        rng.bit_generator.state = json.loads(ck["rng"])
        torch.set_rng_state(ck["torch_rng"])
        log(f"resumed from {ckpt_path} at epoch {start_epoch}")
    elif cfg.resume:
        log(f"no checkpoint at {ckpt_path}: starting from scratch")

    meta_base = {"kind": "segmenter", "width": cfg.width, "image_size": size, "map_scale": 1.0,
                 "map_sigma": cfg.map_sigma, "tta": 1,
                 "model_name": "covid-gan-student (label-free, distilled from the GAN's maps)",
                 "teacher_sha256": teacher["hash"], "teacher": teacher["path"],
                 "config": json.dumps(asdict(cfg))}
    X = torch.from_numpy(xs)
    T = torch.from_numpy(gained_targets(ts, cfg.target_gain))
    t0 = time.time()
    end = cfg.epochs if cfg.stop_after is None else min(cfg.epochs, start_epoch + cfg.stop_after)
    for epoch in range(start_epoch, end):
        net.train()
        perm = rng.permutation(train_idx)
        bar = tqdm(range(per_epoch), desc=f"student epoch {epoch + 1}/{cfg.epochs}", dynamic_ncols=True)
        for b in bar:
            idx = perm[b * cfg.batch_size:(b + 1) * cfg.batch_size]
            x, t = _augment(X[idx][:, None].float(), T[idx][:, None].float(), rng)
            with autocast_for(device, precision):
                p = net(x.to(device))
            p = p.float().clamp(1e-5, 1 - 1e-5)
            loss = Fnn.binary_cross_entropy(p, t.to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.set_postfix(loss=f"{loss.item():.4f}", best_auc=f"{best.get('auc', -1.0):.3f}", refresh=False)
        bar.close()
        r = {"epoch": epoch + 1, "loss": float(loss.item()), "elapsed_s": round(time.time() - t0, 1)}
        if val is not None:
            # selection on the maps the product shows: the student's probabilities as they are
            r.update(validate_generator(net, val, size, device, kind="segmenter", sigma=cfg.map_sigma,
                                        map_scale=1.0))
            mm = validate_generator(net, val, size, device, kind="segmenter", sigma=cfg.map_sigma)
            r.update(minmax_auc=mm["auc"], minmax_dice=mm["dice"], minmax_threshold=mm["threshold"])
            log(f"epoch {epoch + 1}: validation AUC {r['auc']:.4f}, Dice {r['dice']:.4f} at {r['threshold']:.2f}")
        history.append(r)
        if val is None or r["auc"] > best.get("auc", -1.0):
            best = r
            save_weights(net, out / "best_student.safetensors",
                         dict(meta_base, epoch=str(epoch + 1), validation=json.dumps(r),
                              threshold=f"{r.get('threshold', 0.5):.4f}"))
        save_checkpoint(ckpt_path, {"net": net.state_dict(), "opt": opt.state_dict(),
                                    "sched": sched.state_dict(), "epoch": epoch + 1, "epochs": cfg.epochs, "best": best,
                                    "history": history, "rng": json.dumps(rng.bit_generator.state),
                                    "torch_rng": torch.get_rng_state()})
    done = max(end, start_epoch)
    save_weights(net, out / "last_student.safetensors", dict(meta_base, epoch=str(done)))
    with open(out / "history.json", "w") as f:
        json.dump({"best": best, "history": history}, f, indent=1)
    return {"best": best, "epochs": done, "out": str(out)}
