"""Benchmark: batch localization throughput on Dask, `localize --workers 1` vs `--workers 2`
(and the single-process run without Dask), over the same synthetic series in one run.

    python bench/bench_batch.py [--series 6] [--slices 8] [--size 256] [--format npy]

Each run is the whole command in a fresh process (`python main.py localize ...`), so the times
include starting the Dask cluster and loading the model in every worker. Prints seconds, series
per minute and the ratio 2 workers / 1 worker, and checks that the three summaries are equal.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "export"))

from synthetic_ct import write_ct_series  # noqa: E402


def phantom(n: int, size: int, seed: int):
    """A chest-like HU volume: body, two lungs, a ground-glass blob per slice."""
    import numpy as np

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] / size
    vol = np.full((n, size, size), -1000.0, np.float32)
    vol[:, ((yy - 0.5) / 0.42) ** 2 + ((xx - 0.5) / 0.47) ** 2 < 1] = 40.0
    for cx in (0.32, 0.68):
        vol[:, ((yy - 0.5) / 0.3) ** 2 + ((xx - cx) / 0.14) ** 2 < 1] = -850.0
    for z in range(n):
        cy, cx = 0.45 + 0.01 * z, 0.3 + 0.05 * (seed % 3)
        vol[z, ((yy - cy) ** 2 + (xx - cx) ** 2) < 0.004] = -500.0
    return np.round(vol + rng.normal(0, 15, vol.shape)).astype(np.float32)


def run(argv: list[str]) -> float:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, str(REPO / "main.py"), *argv], env=env,
                          capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"localize failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", type=int, default=6)
    ap.add_argument("--slices", type=int, default=8)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--format", default="npy")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    data = tmp / "in"
    for k in range(args.series):
        write_ct_series(data / f"s{k}", hu=phantom(args.slices, args.size, k), seed=k,
                        spacing=(2.5, 300 / args.size, 300 / args.size))
    listing = tmp / "series.txt"
    listing.write_text("\n".join(f"in/s{k}" for k in range(args.series)))
    common = [str(listing), "--format", args.format, "--no-progress", "--device", "cpu"]
    times = {}
    for label, extra in (("single process (no Dask)", []), ("--workers 1", ["--workers", "1"]),
                         ("--workers 2", ["--workers", "2"])):
        times[label] = run(["localize", *common, "--out", str(tmp / label.replace(" ", "_")),
                            *extra])
    summaries = [json.loads((tmp / label.replace(" ", "_") / "summary.json").read_text())
                 for label in times]
    same = all(s == summaries[0] for s in summaries)
    print(f"{args.series} series x {args.slices} slices of {args.size}x{args.size}, "
          f"format {args.format}, {os.cpu_count()} CPUs")
    for label, t in times.items():
        print(f"  {label:<26} {t:7.1f} s   {60 * args.series / t:6.1f} series/min")
    ratio = times["--workers 1"] / times["--workers 2"]
    print(f"throughput --workers 2 / --workers 1: {ratio:.2f}x")
    print(f"summaries identical across the three runs: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
