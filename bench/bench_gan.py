"""Benchmark: per-slice localization time of the shipped model vs a bare forward of the
paper-size generator, and seconds per training iteration for each preset.

    python bench/bench_gan.py [--weights W] [--slices 16] [--iters 2] [--skip-train]

Prints one table; every ratio compares numbers measured in this run on this machine.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gan.inference import DEFAULT_WEIGHTS, Localizer  # noqa: E402
from gan.networks import Generator  # noqa: E402


def synthetic_hu(n: int, size: int = 512) -> np.ndarray:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size] / size
    vol = np.full((n, size, size), -1000.0, np.float32)
    body = ((yy - 0.5) / 0.42) ** 2 + ((xx - 0.5) / 0.47) ** 2 < 1
    vol[:, body] = 40.0
    for cx in (0.32, 0.68):
        vol[:, ((yy - 0.5) / 0.3) ** 2 + ((xx - cx) / 0.14) ** 2 < 1] = -850.0
    return vol + rng.normal(0, 20, vol.shape).astype(np.float32)


def timeit(fn, repeat: int) -> float:
    fn()  # warm-up
    t = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t) / repeat


def bench_localization(weights: Path, n: int, device: str) -> dict:
    loc = Localizer(weights, device=device)
    vol = synthetic_hu(n)
    per_slice = timeit(lambda: loc.apply(vol, is_hu=True), 1) / n
    plan = loc.plan(vol, True)
    framed = None
    if plan.frame is not None:  # the `localize` path: preprocessing in torch on the device
        framed = timeit(lambda: list(loc.frame_maps(vol, True, plan)), 1) / n
    one = timeit(lambda: loc.apply(vol[0], is_hu=True), 3)
    single = Localizer(weights, device=device, tta=1)
    per_slice_tta1 = timeit(lambda: single.apply(vol, is_hu=True), 1) / n
    g = Generator(1.0).to(loc.device).eval()
    x = torch.rand(1, 1, 256, 256, device=loc.device)
    with torch.no_grad():
        bare = timeit(lambda: g(x), 3)
    return {"device": str(loc.device), "shipped_per_slice_batched": per_slice, "shipped_single_slice": one,
            "frame_maps_per_slice": framed, "frame_maps_batch": loc.batch_size_for(),
            "tta": loc.tta, "single_pass_per_slice": per_slice_tta1,
            "paper_G_bare_forward": bare, "model": f"width {loc.width}, {loc.image_size} px"}


def bench_training(preset: str, iters: int, device: str) -> float:
    from PIL import Image

    from gan.networks import build_resnet18
    from gan.presets import GAN_PRESETS
    from gan.train_gan import GanConfig, train_gan
    from gan.weights import save_weights

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rng = np.random.default_rng(0)
        for name in ("COVID", "non-COVID"):
            (tmp / "data" / name).mkdir(parents=True)
            for i in range(8):
                Image.fromarray(rng.integers(0, 255, (300, 260), dtype=np.uint8)).save(tmp / "data" / name / f"{i}.png")
        clf = save_weights(build_resnet18(2), tmp / "c.safetensors", {"kind": "classifier"})
        p = dict(GAN_PRESETS[preset])
        p.update(iterations=1, val_every=10 ** 9, checkpoint_minutes=10 ** 6, time_budget_hours=0, d_warmup=0)
        cfg = dict(data=str(tmp / "data"), classifier_weights=str(clf), device=device, preset=preset)
        train_gan(GanConfig(out=str(tmp / "warm"), **cfg, **p))  # warm-up, data loading
        p["iterations"] = iters
        t = time.perf_counter()
        train_gan(GanConfig(out=str(tmp / "run"), **cfg, **p))
        return (time.perf_counter() - t) / iters


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", default=str(DEFAULT_WEIGHTS))
    ap.add_argument("--slices", type=int, default=16)
    ap.add_argument("--iters", type=int, default=2)
    ap.add_argument("--skip-train", action="store_true")
    ap.add_argument("--device", default="auto")
    a = ap.parse_args()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, cuda {torch.cuda.is_available()}")
    devices = [a.device] if a.device != "auto" else (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    for dev in devices:
        r = bench_localization(Path(a.weights), a.slices, dev)
        print(f"\n[{r['device']}] localization, 512x512 HU slices, shipped model ({r['model']}):")
        print(f"  per slice, batched over {a.slices}: {r['shipped_per_slice_batched'] * 1000:8.1f} ms "
              "(window + body crop + resize + G + smoothing + put back)")
        if r["frame_maps_per_slice"] is not None:
            print(f"  per slice, frame_maps (localize; torch preprocessing, batch "
                  f"{r['frame_maps_batch']}): {r['frame_maps_per_slice'] * 1000:8.1f} ms")
        print(f"  one slice alone:              {r['shipped_single_slice'] * 1000:8.1f} ms")
        if r["tta"] > 1:
            print(f"  (the weights average {r['tta']} flips/turns per slice; a single pass, tta=1: "
                  f"{r['single_pass_per_slice'] * 1000:.1f} ms per slice batched, "
                  f"{r['shipped_per_slice_batched'] / r['single_pass_per_slice']:.1f}x less)")
        print(f"  bare paper-size G forward (256x256, width 1.0): {r['paper_G_bare_forward'] * 1000:8.1f} ms")
        print(f"  ratio paper-G-forward / shipped-per-slice: {r['paper_G_bare_forward'] / r['shipped_per_slice_batched']:.1f}x")
    if not a.skip_train:
        for dev in devices:
            times = {p: bench_training(p, a.iters, dev) for p in ("cpu", "paper")}
            print(f"\n[{dev}] seconds per training iteration (batch 8, full update order):")
            for p, s in times.items():
                print(f"  preset {p:6s}: {s:7.2f} s/it")
            print(f"  ratio paper / cpu: {times['paper'] / times['cpu']:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
