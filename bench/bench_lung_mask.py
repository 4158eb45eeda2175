"""Benchmark: lung segmentation of a 133×512² series (target < 3 s on the project CPU).

    python bench/bench_lung_mask.py [--repeat 3] [--slices 133] [--skip-lidc]

Times ``segment_lungs`` on a synthetic chest series (body, two lung ellipsoids, trachea, lesions,
noise) and on ../shared/data/lidc-idri-0001 when present, plus an 8-bit picture stack. Prints
wall and CPU seconds (best of ``--repeat``), the ratio to the 3 s target, and the ratio to a bare
threshold + 3-D labelling pass measured in the same run (a machine-independent yardstick).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from viewer.core.lung_mask import segment_lungs  # noqa: E402
from viewer.core.windowing import LUNG, window_to_uint8  # noqa: E402

TARGET_S = 3.0
SPACING = (2.5, 0.7, 0.7)


def synthetic_series(n: int, size: int = 512) -> np.ndarray:
    """HU float32 (n, size, size): lungs as ellipsoids over the middle 80 % of the slices."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size] / size
    vol = np.full((n, size, size), -1000.0, np.float32)
    body = ((yy - 0.5) / 0.40) ** 2 + ((xx - 0.5) / 0.46) ** 2 < 1
    trachea = ((yy - 0.42) / 0.025) ** 2 + ((xx - 0.5) / 0.025) ** 2 < 1
    for k in range(n):
        vol[k][body] = 40.0
        zc = (k / max(n - 1, 1) - 0.5) / 0.4  # -1..1 over the lung span
        if abs(zc) < 1:
            s = np.sqrt(1 - zc * zc)
            for cx in (0.31, 0.69):
                lung = ((yy - 0.52) / (0.28 * s)) ** 2 + ((xx - cx) / (0.15 * s)) ** 2 < 1
                vol[k][lung] = -850.0
                les = ((yy - 0.6) / 0.04) ** 2 + ((xx - cx) / 0.04) ** 2 < 1
                vol[k][lung & les] = -500.0 if cx < 0.5 else -100.0
        vol[k][trachea] = -1000.0
    vol += rng.normal(0, 20, vol.shape).astype(np.float32)
    return vol


def best_of(fn, repeat: int) -> tuple[float, float]:
    walls, cpus = [], []
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return min(walls), min(cpus)


def load_lidc() -> tuple[np.ndarray, tuple] | None:
    root = REPO.parent / "shared" / "data" / "lidc-idri-0001"
    if not root.is_dir():
        return None
    from viewer.io import load_series, scan_path

    info = max(scan_path(root).series, key=lambda s: s.n_slices)
    vol = load_series(info)
    return vol.voxels, tuple(vol.spacing)


def report(name: str, vol: np.ndarray, is_hu: bool, spacing, repeat: int) -> None:
    def yardstick():
        air = vol < -320 if is_hu else vol < 128
        ndi.label(air)

    base_wall, _ = best_of(yardstick, repeat)
    mask = segment_lungs(vol, is_hu, spacing)
    wall, cpu = best_of(lambda: segment_lungs(vol, is_hu, spacing), repeat)
    extra = ""
    if spacing is not None:
        litres = mask.sum() * float(np.prod(spacing)) / 1e6
        extra = f"  lungs {litres:.2f} L"
    print(f"{name:<28} {str(vol.shape):<16} wall {wall:6.2f} s  cpu {cpu:6.2f} s  "
          f"wall/target {wall / TARGET_S:5.2f}  vs threshold+label {wall / base_wall:5.1f}x{extra}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--slices", type=int, default=133)
    ap.add_argument("--skip-lidc", action="store_true")
    args = ap.parse_args(argv)
    print(f"segment_lungs, best of {args.repeat}; target {TARGET_S:.0f} s per 133x512^2 series")
    syn = synthetic_series(args.slices)
    report("synthetic HU", syn, True, SPACING, args.repeat)
    report("synthetic 8-bit lung window", window_to_uint8(syn, LUNG.width, LUNG.level), False,
           None, max(1, args.repeat - 2))
    if not args.skip_lidc:
        lidc = load_lidc()
        if lidc is None:
            print("lidc-idri-0001: not present, skipped")
        else:
            report("lidc-idri-0001 HU", lidc[0], True, lidc[1], args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
