"""Run the UI tests several times while other processes keep every core busy.

``make stress-ui`` (or ``python scripts/stress_ui.py --runs 10 --burners 2``): starts
``--burners`` busy-loop processes, runs ``pytest tests/ui`` ``--runs`` times one after the other,
stops the burners and prints ``stress-ui: P/N passed`` (exit 0 only when every run passed).
A run that crashes (segfault, abort) counts as failed with its exit status.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BURN = "while True:\n    pass\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--burners", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--tests", default="tests/ui")
    args = ap.parse_args(argv)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    # SIGTERM (e.g. make interrupted) must still stop the busy loops: run the finally block
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    burners = [subprocess.Popen([sys.executable, "-c", BURN]) for _ in range(args.burners)]
    passed, codes = 0, []
    try:
        for k in range(1, args.runs + 1):
            t0 = time.monotonic()
            proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                   args.tests], cwd=REPO, env=env, capture_output=True, text=True)
            dt = time.monotonic() - t0
            codes.append(proc.returncode)
            last = (proc.stdout.strip().splitlines() or ["(no output)"])[-1]
            ok = proc.returncode == 0
            passed += ok
            print(f"run {k}/{args.runs}: rc {proc.returncode} in {dt:.0f} s: {last}", flush=True)
            if not ok:
                text = proc.stdout + "\n" + proc.stderr
                log = Path(tempfile.gettempdir()) / f"stress_ui_run{k}_rc{proc.returncode}.log"
                log.write_text(text)
                # the failing tests and, for a crash, faulthandler's stacks (the modules list is noise)
                keep = [ln for ln in text.splitlines()
                        if ln.startswith(("FAILED", "ERROR", "E ", "Fatal Python", "Thread ",
                                          "Current thread", "  File "))]
                print("\n".join(keep[-60:]) + f"\nfull output: {log}", flush=True)
    finally:
        for b in burners:
            b.kill()
        for b in burners:
            b.wait()
    print(f"stress-ui: {passed}/{args.runs} passed (exit codes {codes}) with "
          f"{args.burners} busy process(es)")
    return 0 if passed == args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
