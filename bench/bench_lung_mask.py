"""Benchmark: the HU lung mask's CPU time and added peak memory, before/after in one run.

    python bench/bench_lung_mask.py [--repeat 3] [--slices 1000] [--baseline-repo DIR]
                                    [--forward] [--no-memory]

Each figure comes from a child process that loads the data, then runs
``segment_lungs(volume, True, spacing)`` of one checkout (this one, and with ``--baseline-repo``
another, e.g. ``/work/main`` or ``git worktree add /tmp/old main``, interleaved: this, baseline,
this, baseline, ...; medians printed):

(a) CPU seconds (``time.process_time``, one slice thread: ``SLICE_THREADS = 1``) of the lung
    mask of LIDC-IDRI-0001 (../shared/data, 133 x 512^2); and its lung volume;
(b) the peak resident memory the lung mask adds on a ``--slices`` series (default 1,000: the
    LIDC slices re-stacked in memory, float32, 1 GiB at 1,000 slices): the child's
    ``ru_maxrss`` after the mask minus its resident memory before it (MiB).

CPU time, not wall time: on a machine shared with other jobs wall times swing several-fold.
``--forward``: the bare generator forward over LIDC (``bench_localize.bare_forward``, the
shipped weights) is timed too, and (a) is printed as a share of it (the ``localize`` target is
the whole process within 1.5 x the forward).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
LIDC = REPO.parent / "shared" / "data" / "lidc-idri-0001"


def load_lidc() -> tuple[np.ndarray, tuple]:
    from viewer.core.lesion_layers import physical_spacing
    from viewer.io import load_series, scan_path

    info = max(scan_path(LIDC).series, key=lambda s: s.n_slices)
    vol = load_series(info)
    return vol.voxels, tuple(physical_spacing(vol))


def restack(vol: np.ndarray, n: int) -> np.ndarray:
    """(n, y, x) float32: the slices of ``vol`` repeated in a loop, filled in place (no
    temporary copy)."""
    out = np.empty((n,) + vol.shape[1:], dtype=np.float32)
    for k in range(n):
        out[k] = vol[k % vol.shape[0]]
    return out


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def child(mode: str, slices: int) -> dict:
    """One measurement in this process (the checkout on ``sys.path[0]``)."""
    from viewer.core import lung_mask

    lung_mask.SLICE_THREADS = 1
    vol, spacing = load_lidc()
    if mode == "cpu":
        c = time.process_time()
        mask = lung_mask.segment_lungs(vol, True, spacing)
        cpu = time.process_time() - c
        return {"cpu_s": cpu, "litres": float(mask.sum() * np.prod(spacing) / 1e6)}
    big = restack(vol, slices)
    del vol
    before = _rss_mib()
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    mask = lung_mask.segment_lungs(big, True, spacing)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return {"added_mib": peak - before, "peak_mib": peak, "peak_before_mib": peak_before,
            "volume_mib": big.nbytes / 2**20, "voxels": int(mask.sum())}


def run_child(repo: Path, mode: str, slices: int) -> dict:
    env = dict(os.environ, PYTHONPATH=str(repo), OMP_NUM_THREADS="1")
    argv = [sys.executable, str(Path(__file__).resolve()), "--child", mode,
            "--slices", str(slices), "--repo", str(repo)]
    out = subprocess.run(argv, cwd=repo, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{repo} {mode}: failed\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def forward_cpu(repeat: int) -> float:
    """Median CPU seconds of the bare generator forward over LIDC (this process)."""
    sys.path.insert(0, str(REPO / "bench"))
    from bench_localize import BATCH, bare_forward, model_inputs

    from gan.inference import Localizer

    loc = Localizer(device="cpu")
    x = model_inputs(LIDC, loc)
    bare_forward(loc.generator, x[:BATCH])  # warm-up
    return statistics.median(bare_forward(loc.generator, x)[1] for _ in range(repeat))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--slices", type=int, default=1000)
    ap.add_argument("--baseline-repo", type=Path, default=None)
    ap.add_argument("--forward", action="store_true")
    ap.add_argument("--no-memory", action="store_true", help="skip (b)")
    ap.add_argument("--child", choices=("cpu", "rss"), help=argparse.SUPPRESS)
    ap.add_argument("--repo", type=Path, default=REPO, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        sys.path.insert(0, str(args.repo))
        print(json.dumps(child(args.child, args.slices)))
        return 0
    if not LIDC.is_dir():
        print(f"error: {LIDC}: not found (../shared/data missing?)", file=sys.stderr)
        return 2
    repos = [("this", REPO)] + ([("baseline", args.baseline_repo)] if args.baseline_repo else [])
    cpu = {name: [] for name, _ in repos}
    for r in range(args.repeat):
        for name, repo in repos:  # interleaved: the load changes alike for both
            res = run_child(repo, "cpu", args.slices)
            cpu[name].append(res["cpu_s"])
            print(f"repeat {r + 1} {name:<8} LIDC lung mask CPU {res['cpu_s']:6.2f} s  "
                  f"lungs {res['litres']:.3f} L", flush=True)
    fwd = None
    if args.forward:
        sys.path.insert(0, str(REPO))
        fwd = forward_cpu(args.repeat)
        print(f"bare generator forward over LIDC: CPU {fwd:.2f} s (median)")
    for name, _ in repos:
        med = statistics.median(cpu[name])
        extra = f"  = {med / fwd:.2f} x the bare forward" if fwd else ""
        print(f"{name:<8} LIDC lung mask CPU median {med:6.2f} s{extra}")
    if args.baseline_repo:
        print(f"speed-up (baseline / this, CPU medians): "
              f"{statistics.median(cpu['baseline']) / statistics.median(cpu['this']):.2f} x")
    if not args.no_memory:
        for name, repo in repos:
            res = run_child(repo, "rss", args.slices)
            print(f"{name:<8} {args.slices} slices ({res['volume_mib'] / 1024:.2f} GiB float32): "
                  f"lung mask adds {res['added_mib'] / 1024:.2f} GiB peak RSS "
                  f"(process peak {res['peak_mib'] / 1024:.2f} GiB)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
