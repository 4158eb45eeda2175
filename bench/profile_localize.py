"""Profile of one `main.py localize` run: where its CPU time goes.

    python bench/profile_localize.py [--series PATH] [--format npy] [--repo DIR] [--top 10]

Runs ``main.py localize SERIES --lung-only --format FORMAT --no-progress --device cpu`` of the
checkout ``--repo`` (default: this one) under cProfile in a child process, with the profiler's
clock on the process CPU time (``time.process_time``: all threads, so the lung mask's and
torch's worker threads count; a loaded machine hardly changes it), then prints

- the phases (cumulative CPU s of the functions that do them: start-up imports, scan, load,
  lung mask, plan, maps, masks, summary, export), the lung mask on its own line;
- the top ``--top`` functions by own CPU time.

Figures are from this run on this machine only.
"""
from __future__ import annotations

import argparse
import os
import pstats
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LIDC = REPO.parent / "shared" / "data" / "lidc-idri-0001"

CHILD = """
import cProfile, sys, time
sys.argv = {argv!r}
prof = cProfile.Profile(time.process_time)
prof.enable()
import main
code = main.main(sys.argv[1:])
prof.disable()
prof.dump_stats({stats!r})
print(f"CPU total {{time.process_time():.2f}} s", file=sys.stderr)
sys.exit(code)
"""

#: (phase, file suffix, function name): cumulative time of that function.
PHASES = (
    ("start-up imports (torch, gan.inference)", "viewer/cli/localize.py", "make_localizer"),
    ("scan", "viewer/cli/localize_run.py", "find_series"),
    ("load", "viewer/io/scan.py", "load_series"),
    ("lung mask (viewer.core.lung_mask)", "viewer/core/lesion_layers.py", "series_lungs"),
    ("plan", "viewer/core/lesion_layers.py", "localizer_plan"),
    ("maps (old path)", "viewer/cli/localize_run.py", "_localize"),
    ("maps", "viewer/cli/localize_maps.py", "localize_series"),
    ("  of which generator forward", "gan/inference.py", "raw_map"),
    ("masks", "viewer/core/lesion_layers.py", "volume_mask"),
    ("summary", "viewer/export/summary.py", "add_series"),
    ("export", "viewer/export/series_export.py", "export_formats"),
)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", type=Path, default=LIDC)
    ap.add_argument("--format", default="npy")
    ap.add_argument("--repo", type=Path, default=REPO)
    ap.add_argument("--top", type=int, default=10)
    args = ap.parse_args()
    repo = args.repo.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        stats = str(Path(tmp) / "localize.prof")
        argv = [str(repo / "main.py"), "localize", str(args.series), "--lung-only", "--format",
                args.format, "--out", str(Path(tmp) / "out"), "--no-progress", "--device", "cpu"]
        proc = subprocess.run([sys.executable, "-c", CHILD.format(argv=argv, stats=stats)],
                              cwd=repo, env=dict(os.environ, PYTHONPATH=str(repo)),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if proc.returncode != 0:
            print(proc.stderr[-2000:], file=sys.stderr)
            return 1
        total = [line for line in proc.stderr.splitlines() if line.startswith("CPU total")]
        st = pstats.Stats(stats)
    print(f"{repo}: localize {args.series.name} --lung-only --format {args.format}; "
          f"{total[-1] if total else ''}; load average {os.getloadavg()[0]:.1f}")
    cum = {}
    for (file, _line, name), (_cc, _nc, tt, ct, _callers) in st.stats.items():
        cum[(file, name)] = cum.get((file, name), 0.0) + ct
    print("phase                                      CPU s")
    for label, suffix, name in PHASES:
        hits = [ct for (file, fn), ct in cum.items() if fn == name and file.endswith(suffix)]
        if hits:
            print(f"  {label:40s} {max(hits):6.2f}")
    print(f"top {args.top} by own CPU time (s, calls, function):")
    rows = sorted(st.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:args.top]
    for (file, line, name), (_cc, nc, tt, _ct, _callers) in rows:
        where = name if file == "~" else f"{Path(file).parent.name}/{Path(file).name}:{line}({name})"
        print(f"  {tt:7.2f} {nc:7d}  {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
