"""Benchmark: the whole `main.py localize` process vs the bare generator forward it wraps.

    python bench/bench_localize.py [--series PATH] [--repeats 3] [--device cpu]

Measured in one run, interleaved (forward, process, forward, process, ...), medians printed:

(a) bare forward: the shipped generator (``Localizer(...).generator``, warm, no grad) over the
    series' slices at the model size (``image_size``), in the localizer's batches; the inputs are the
    series' own canonical slices in the model's frame, made before the clock starts;
(b) the whole process: ``python main.py localize SERIES --lung-only --format npy --out TMP
    --no-progress --device DEVICE`` as a subprocess (start-up, imports, scan, load, lung mask,
    plan, maps, masks, export, summary), wall time;

then the ratio (b) / (a) (target <= 1.5 on CPU) and the peak resident memory of the
subprocess (its ``ru_maxrss``, from ``os.wait4``). With
``--baseline-repo DIR`` (another checkout, e.g. ``git worktree add /tmp/old main``) the same
process of that checkout runs interleaved too, for a before/after ratio from one run. Every
figure is from this run on this machine. Wall times on a loaded machine swing several-fold, so
CPU times (user + system: ``time.process_time`` around the forward, the child's rusage for the
process) are printed too: they depend much less on what else runs. ``--threads N`` runs both
the forward and the process with N torch threads (``OMP_NUM_THREADS``): on a machine shared
with other jobs, idle OpenMP threads spin and inflate the CPU time of both sides, less so with
one thread. The lung mask (viewer.core.lung_mask, not part of the forward) is in the process;
``bench/profile_localize.py`` shows each phase's CPU share.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
LIDC = REPO.parent / "shared" / "data" / "lidc-idri-0001"


def model_inputs(series: Path, loc) -> "torch.Tensor":
    """(z, 1, s, s) float32 canonical slices of the series in its frame at the model size."""
    import torch
    import torch.nn.functional as F

    from gan.canonical import to_canonical
    from viewer.core.lesion_layers import physical_spacing, series_lungs
    from viewer.io import load_series, scan_path

    info = scan_path(series).series[0]
    vol = load_series(info)
    lungs = series_lungs(vol.voxels, vol.is_hu, physical_spacing(vol))
    plan = loc.plan(vol.voxels, vol.is_hu, lungs)
    f = plan.frame
    units = np.stack([to_canonical(s, vol.is_hu, plan.window) for s in vol.voxels])
    if f is not None:
        units = units[:, f.y0:f.y1, f.x0:f.x1]
    t = torch.from_numpy(np.ascontiguousarray(units))[:, None]
    return F.interpolate(t, size=(loc.image_size,) * 2, mode="bilinear", align_corners=False,
                         antialias=True)


def bare_forward(gen, x, batch: int) -> tuple[float, float]:
    """(wall s, CPU s) of the generator over every slice of ``x`` in batches of ``batch`` (the
    localizer's own, ``Localizer.batch_size_for``)."""
    import torch

    t, c = time.perf_counter(), time.process_time()
    with torch.no_grad():
        for start in range(0, x.shape[0], batch):
            gen(x[start:start + batch].to(next(gen.parameters()).device))
    if x.is_cuda or next(gen.parameters()).is_cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - t, time.process_time() - c


def whole_process(series: Path, device: str, repo: Path = REPO,
                  formats: str = "npy") -> tuple[float, float, float]:
    """(wall s, CPU s, peak RSS MiB) of one `main.py localize --format FORMATS` subprocess of the
    checkout ``repo`` (CPU and RSS from the child's own rusage, ``os.wait4``)."""
    with tempfile.TemporaryDirectory() as out:
        argv = [sys.executable, str(repo / "main.py"), "localize", str(series), "--lung-only",
                "--format", formats, "--out", out, "--no-progress", "--device", device]
        env = dict(os.environ, PYTHONPATH=str(repo))
        with tempfile.TemporaryFile() as err:
            t = time.perf_counter()
            proc = subprocess.Popen(argv, cwd=repo, stdout=subprocess.DEVNULL, stderr=err, env=env)
            _, status, ru = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - t
            proc.returncode = os.waitstatus_to_exitcode(status)
            if proc.returncode != 0:
                err.seek(0)
                raise SystemExit(f"localize failed ({proc.returncode}): "
                                 f"{err.read().decode(errors='replace')[-2000:]}")
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", type=Path, default=LIDC)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--baseline-repo", type=Path, default=None,
                    help="another checkout whose `main.py localize` runs interleaved (before/after)")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads for the forward and the process (OMP_NUM_THREADS)")
    args = ap.parse_args()
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # read by torch, inherited by children
    if not args.series.exists():
        print(f"error: {args.series}: not found (../shared/data missing?)", file=sys.stderr)
        return 2
    import torch

    from gan.inference import Localizer

    loc = Localizer(device=args.device)
    x = model_inputs(args.series, loc)
    batch = loc.batch_size_for()
    bare_forward(loc.generator, x[:batch], batch)  # warm-up
    fwd, proc, base = [], [], []  # (wall, cpu) pairs
    for r in range(args.repeats):
        fwd.append(bare_forward(loc.generator, x, batch))
        proc.append(whole_process(args.series, args.device))
        extra = ""
        if args.baseline_repo is not None:
            base.append(whole_process(args.series, args.device, args.baseline_repo))
            extra = f", baseline localize {base[-1][0]:.2f} s (CPU {base[-1][1]:.1f} s)"
        print(f"repeat {r + 1}: bare forward {fwd[-1][0]:.2f} s (CPU {fwd[-1][1]:.1f} s), "
              f"localize {proc[-1][0]:.2f} s (CPU {proc[-1][1]:.1f} s), wall ratio "
              f"{proc[-1][0] / fwd[-1][0]:.2f}{extra}", flush=True)
    med = lambda runs, k: float(np.median([run[k] for run in runs]))  # noqa: E731
    print(f"series {args.series.name}: {x.shape[0]} slices at {loc.image_size} px, batch {batch}, "
          f"device {loc.device}, torch threads {torch.get_num_threads()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    for k, kind in ((0, "wall"), (1, "CPU")):
        f, p = med(fwd, k), med(proc, k)
        line = (f"{kind}: bare forward {f:.2f} s, localize process {p:.2f} s, ratio "
                f"{p / f:.2f} (target <= 1.5)")
        if base:
            b = med(base, k)
            line += f"; baseline localize {b:.2f} s, ratio {b / f:.2f}; this / baseline {p / b:.2f}"
        print(line + f" (medians of {len(fwd)})")
    line = f"peak RSS of the localize process: {med(proc, 2):.0f} MiB"
    if base:
        line += f"; baseline {med(base, 2):.0f} MiB"
    print(line + " (medians)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
