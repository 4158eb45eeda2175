"""Benchmark of the reading-room window (offscreen Qt).

    python bench/bench_viewer.py [--series PATH] [--weights W] [--changes 200] [--big 1000]

1. ``main.py view SERIES`` as a command (a fresh process, ``--command-runs`` times, an empty map
   cache): seconds from the command to the first pixels painted (the file decoded before the
   scan), to the series' own slice painted (target <= 2 s), whether torch was imported by then
   (it must not be: it loads after the first slice), to the localizer built and to the first
   localized slice; the child's CPU seconds. ``--command-repo DIR`` times another checkout
   (e.g. the code before) the same way, first.
2. Slice-change latency with the overlay on, on a 512 x 512 series: show slice i (pixels,
   overlay RGBA of that slice, labels) and repaint the view synchronously; p50 / p95 / max over
   ``--changes`` changes (target p95 <= 16 ms).
3. Opening ``lidc-idri-0001`` (133 slices, from ../shared/data, or ``--series``) in a window
   whose localizer is built: seconds (and process CPU seconds) from ``open_path`` to the pixels
   on screen, to the lungs' front (the model's input planned), to the first localized slice
   (target <= 0.5 s), to every slice's lungs finished and to the whole series localized
   (target <= 4 s), with an empty map cache; then reopening (cache hit).
4. Peak resident memory of the process (ru_maxrss).
5. With ``--big N`` (e.g. 1000), in a fresh process: a synthetic N x 512 x 512 HU series is
   opened (lung mask, then maps for ``--big-seconds``, with the MPR layout on) while a 20 ms
   QTimer runs and the reader scrolls; the longest gap between timer ticks says whether the GUI
   thread ever froze; the peak resident memory of that process is printed beside the series
   size (target <= 2.5 GiB for 1000 slices).

The machine may be shared: every figure comes from this one run, ratios to the targets are
printed, and CPU seconds beside wall seconds.

The localizer is ``resources/weights/localizer.safetensors`` (or ``--weights``). When no trained
weights exist yet, a randomly initialised generator of the CPU preset's size (gan.presets "cpu")
is timed instead, and the output says so: inference cost does not depend on the weight values.
All figures are measured in this run on this machine.
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
LIDC = REPO.parent / "shared" / "data" / "lidc-idri-0001"


def rss_mb() -> float:
    """Current resident memory (Linux /proc; falls back to the peak elsewhere)."""
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return peak_rss_mb()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def wait_until(app, cond, timeout: float) -> bool:
    t_end = time.perf_counter() + timeout
    while time.perf_counter() < t_end:
        app.processEvents()
        if cond():
            return True
        time.sleep(0.002)
    return False


def weights_path(arg: str | None, tmp: Path) -> tuple[Path, str]:
    from gan.inference import DEFAULT_WEIGHTS

    if arg:
        return Path(arg), f"weights {arg}"
    if DEFAULT_WEIGHTS.is_file():
        return DEFAULT_WEIGHTS, f"weights {DEFAULT_WEIGHTS.relative_to(REPO)}"
    import torch

    from gan.networks import Generator
    from gan.presets import GAN_PRESETS
    from gan.weights import save_weights

    p = GAN_PRESETS["cpu"]
    torch.manual_seed(0)
    path = tmp / "random-cpu-preset.safetensors"
    save_weights(Generator(p["width"]), path,
                 {"kind": "generator", "image_size": p["image_size"], "width": p["width"],
                  "threshold": 0.5, "model_name": "timing-only"})
    return path, (f"NO trained weights at {DEFAULT_WEIGHTS.relative_to(REPO)}: timing a random "
                  f"generator of the cpu preset ({p['image_size']} px, width {p['width']})")


def bench_slice_change(app, win, n_changes: int) -> dict:
    """Slice changes with overlay on; the series' maps are already in the store."""
    v = win.view
    n = v.n_slices
    rng = np.random.default_rng(0)
    order = list(range(n)) + list(rng.integers(0, n, size=max(0, n_changes - n)))
    times = []
    for i in order[:n_changes]:
        t = time.perf_counter()
        v.set_index(int(i) if int(i) != v.index else (int(i) + 1) % n)
        v.repaint()  # synchronous paint of the view with its overlay
        times.append(time.perf_counter() - t)
        app.processEvents()
    ms = np.array(times) * 1000
    return {"p50": np.percentile(ms, 50), "p95": np.percentile(ms, 95), "max": ms.max(),
            "n": len(ms)}


def synthetic_info(n: int, size: int = 512):
    """A SeriesInfo for an in-memory synthetic series (no files: pixels are handed over)."""
    from viewer.io.series import SeriesInfo, SliceRef

    refs = [SliceRef(path=f"synthetic-{k}", position=(0.0, 0.0, 2.5 * k)) for k in range(n)]
    return SeriesInfo(key=f"synthetic-{n}-{time.time_ns()}", source_kind="dicom", n_slices=n,
                      rows=size, cols=size, spacing=(2.5, 0.7, 0.7), origin=(0.0, 0.0, 0.0),
                      direction=(1, 0, 0, 0, 1, 0, 0, 0, 1), is_hu=True, refs=refs,
                      patient_name="synthetic", series_description=f"{n} slices")


def cpu_s() -> float:
    """CPU seconds of this process, all threads."""
    return time.process_time()


def bench_batches(loc, win, n: int = 16, rounds: int = 3) -> None:
    """The viewer's maps one model call per slice (before) vs in batches (now), interleaved on
    the open series' middle ``n`` slices; both must equal the maps in the store within 1e-3."""
    from viewer.core.lesion_layers import localize_with_plan, localizer_plan
    from viewer.ui.workers import LocalizeWorker

    vox, store = win.voxels, win.store
    plan = localizer_plan(loc, vox, win.info.is_hu, store.lungs())
    z0 = max(0, vox.shape[0] // 2 - n // 2)
    idx = list(range(z0, min(vox.shape[0], z0 + n)))
    b = LocalizeWorker.BATCH_SIZE
    t_one, t_batch, c_one, c_batch = [], [], [], []
    for _ in range(rounds):
        t, c = time.perf_counter(), cpu_s()
        one = np.stack([localize_with_plan(loc, vox[i], True, plan) for i in idx])
        t_one.append(time.perf_counter() - t)
        c_one.append(cpu_s() - c)
        t, c = time.perf_counter(), cpu_s()
        batch = np.concatenate([localize_with_plan(loc, vox[idx[k:k + b]], True, plan)
                                for k in range(0, len(idx), b)])
        t_batch.append(time.perf_counter() - t)
        c_batch.append(cpu_s() - c)
    stored = np.stack([store.get_map(i) for i in idx])
    diff = max(float(np.abs(one - batch).max()), float(np.abs(stored - batch).max()))
    m1, mb = np.median(t_one) / len(idx) * 1000, np.median(t_batch) / len(idx) * 1000
    print(f"maps, {len(idx)} slices x {rounds} rounds interleaved: one call per slice (before) "
          f"{m1:.0f} ms/slice (CPU {np.median(c_one) / len(idx) * 1000:.0f}), batches of {b} "
          f"(now) {mb:.0f} ms/slice (CPU {np.median(c_batch) / len(idx) * 1000:.0f}): "
          f"{m1 / mb:.2f}x; largest difference to each other and to the viewer's stored maps "
          f"{diff:.1e} ({'<= 1e-3' if diff <= 1e-3 else 'ABOVE 1e-3'})")


def bench_window_batches(app, make_window, series: Path, tmp: Path) -> None:
    """The whole series in the window, one model call per slice (the viewer before) and in
    batches (now), one after the other in this run, each with an empty map cache."""
    from viewer.ui.workers import LocalizeWorker

    now = LocalizeWorker.BATCH_SIZE
    rows = []
    try:
        for bs in (1, now):
            LocalizeWorker.BATCH_SIZE = bs
            win = make_window(tmp / f"maps-batch-{bs}")
            t0, c0 = time.perf_counter(), cpu_s()
            win.open_path(series)
            wait_until(app, lambda: win.pipeline is not None, 600)
            t1, c1 = time.perf_counter(), cpu_s()
            wait_until(app, lambda: win.store is not None and win.store.is_complete(), 1800)
            t2, c2 = time.perf_counter(), cpu_s()
            rows.append((bs, t2 - t0, t2 - t1, c2 - c1, win.voxels.shape[0]))
            win.close()
    finally:
        LocalizeWorker.BATCH_SIZE = now
    for bs, total, maps, cpu, n in rows:
        print(f"window, {'one call per slice (before)' if bs == 1 else f'batches of {bs} (now)':28s}: "
              f"whole series {total:6.2f} s, maps after the lung mask {maps:6.2f} s = "
              f"{maps / n * 1000:.0f} ms per slice (CPU {cpu / n * 1000:.0f} ms)")
    if len(rows) == 2:
        print(f"window maps: before / now = {rows[0][2] / rows[1][2]:.2f}x")


# ----------------------------------------------------------------------------- main.py view
CHILD = r"""
import importlib, os, sys, time
t0 = float(sys.argv[1]); path = sys.argv[2]
sys.path.insert(0, os.getcwd())
os.environ["QT_QPA_PLATFORM"] = "offscreen"
real = importlib.import_module
def hooked(name, package=None):
    mod = real(name, package)
    if name == "viewer.ui.app" and not getattr(mod, "_bench_hooked", False):
        mod._bench_hooked = True
        build = mod.build_window
        QtCore = mod.QtCore
        class Painted(QtCore.QObject):  # the view's viewport painting pixels
            def __init__(self, win):
                super().__init__(win)
                self.win, self.seen = win, set()
            def eventFilter(self, obj, ev):
                if ev.type() == QtCore.QEvent.Type.Paint:
                    img = self.win.view.image_item.image
                    what = ("series" if self.win.voxels is not None
                            else "preview" if img is not None else None)
                    if what and what not in self.seen:
                        self.seen.add(what)
                        print(f"PAINT {what} {time.time() - t0:.3f} torch={'torch' in sys.modules}",
                              flush=True)
                return False
        def build_window(*a, **k):
            win = build(*a, **k)
            win._bench_painted = Painted(win)
            win.view.graphics.viewport().installEventFilter(win._bench_painted)
            def state(s):
                print(f"LOCALIZER {s} {time.time() - t0:.3f}", flush=True)
                if s != "ready":
                    quit_()
            def quit_():
                win.close()
                mod.QtWidgets.QApplication.instance().quit()
            def poll():  # the first map of the series in the store
                st = getattr(win, "store", None)
                if st is not None and st.n_done() >= 1 and not getattr(win, "_bench_done", 0):
                    win._bench_done = 1
                    print(f"FIRSTMAP {time.time() - t0:.3f}", flush=True)
                    quit_()
            win.localizerState.connect(state)
            win._bench_poll = QtCore.QTimer(win)
            win._bench_poll.timeout.connect(poll)
            win._bench_poll.start(10)
            return win
        mod.build_window = build_window
    return mod
importlib.import_module = hooked
sys.argv = ["main.py", "view", path]
import main
sys.exit(main.main())
"""


def bench_command(series: Path, runs: int, env: dict, repo: Path = REPO) -> None:
    """``main.py view SERIES`` in fresh processes (the checkout ``repo``): command -> first
    pixels, series pixels, localizer built (the child quits then)."""
    import subprocess

    code = CHILD
    rows = []
    for _ in range(runs):
        run_env = dict(env, XDG_CACHE_HOME=tempfile.mkdtemp(prefix="bench_view_cache_"))
        run_env.pop("COVID_CT_CACHE_DIR", None)  # every run starts with an empty map cache
        t0 = time.time()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = subprocess.run([sys.executable, "-c", code, repr(t0), str(series)], cwd=repo,
                             env=run_env, capture_output=True, text=True, timeout=300)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        got = {"cpu": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)}
        for line in out.stdout.splitlines():
            parts = line.split()
            if parts[:1] == ["PAINT"]:
                got.setdefault(parts[1], (float(parts[2]), parts[3]))
            elif parts[:1] == ["LOCALIZER"]:
                got["localizer"] = (float(parts[2]), parts[1])
            elif parts[:1] == ["FIRSTMAP"]:
                got["firstmap"] = float(parts[1])
        if "series" not in got:
            print(f"main.py view: no series painted (rc {out.returncode}): "
                  f"{out.stderr.strip().splitlines()[-1:]} ")
            return
        rows.append(got)
    for k, g in enumerate(rows, 1):
        prev = g.get("preview", (float("nan"), "-"))
        ser, loc = g["series"], g.get("localizer", (float("nan"), "?"))
        print(f"main.py view (run {k}): command -> first pixels {prev[0]:.2f} s ({prev[1]}), "
              f"-> series slice {ser[0]:.2f} s ({ser[1]}; target <= 2 s: "
              f"{'met' if ser[0] <= 2 else 'NOT met'}, ratio {ser[0] / 2:.2f}), "
              f"-> localizer {loc[1]} {loc[0]:.2f} s, -> first localized slice "
              f"{g.get('firstmap', float('nan')):.2f} s; process CPU {g['cpu']:.2f} s in all")


# ----------------------------------------------------------------------------- big series
def bench_big(app, make_window, n: int, seconds: float) -> None:
    """Open a synthetic ``n``-slice series (run in a fresh process: its peak RSS is this one)."""
    from PyQt6 import QtCore

    yy, xx = np.mgrid[:512, :512] / 512
    sl = np.full((512, 512), -1000.0, np.float32)
    sl[((yy - 0.5) / 0.42) ** 2 + ((xx - 0.5) / 0.47) ** 2 < 1] = 40.0
    for cx in (0.32, 0.68):
        sl[((yy - 0.5) / 0.3) ** 2 + ((xx - cx) / 0.14) ** 2 < 1] = -850.0
    vox = np.empty((n, 512, 512), np.float32)
    vox[:] = sl
    rss0 = rss_mb()
    win = make_window()
    ticks = []
    timer = QtCore.QTimer()
    timer.setInterval(20)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    t0, c0 = time.perf_counter(), cpu_s()
    win.opener.series_loaded(synthetic_info(n), vox)
    scroll = QtCore.QTimer()
    scroll.setInterval(50)
    scroll.timeout.connect(lambda: win.view.step(1))
    scroll.start()
    wait_until(app, lambda: win.pipeline is not None, 1800)
    t_lungs = time.perf_counter() - t0
    win.tools.mpr.set_enabled(True)  # the MPR layout over the big series (bounded cache)
    t1 = time.perf_counter()
    wait_until(app, lambda: time.perf_counter() - t1 > seconds, seconds + 5)
    scroll.stop()
    win.tools.mpr.redraw()
    done = win.store.n_done()
    pl = win.tools.mpr.plane_layers
    held = 0 if pl is None else getattr(pl, "n_cached", len(getattr(pl, "_masks", {})))
    most = "no limit" if pl is None or not hasattr(pl, "max_slices") else f"max {pl.max_slices}"
    cpu = cpu_s() - c0
    win.cancel_work()
    timer.stop()
    gaps = np.diff(ticks) * 1000
    print(f"{n}-slice synthetic series, {n}x512x512 HU ({vox.nbytes / 2**30:.2f} GiB float32): "
          f"lung mask {t_lungs:.1f} s, then {done} slices localized in {seconds:.0f} s while "
          f"scrolling with the MPR layout on (its cache: {held} slices, {most}); process CPU {cpu:.1f} s; GUI timer gaps p95 "
          f"{np.percentile(gaps, 95):.0f} ms, max {gaps.max():.0f} ms (20 ms timer)")
    peak = peak_rss_mb()
    print(f"{n}-slice series: peak resident memory {peak / 1024:.2f} GiB (target <= 2.5 GiB: "
          f"{'met' if peak <= 2.5 * 1024 else 'NOT met'}; ratio {peak / 1024 / 2.5:.2f}); "
          f"{rss0:.0f} MB before opening; now {rss_mb():.0f} MB")
    win.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", default=str(LIDC), help="series to open (default lidc-idri-0001)")
    ap.add_argument("--weights", default=None)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--changes", type=int, default=200)
    ap.add_argument("--command-runs", type=int, default=2,
                    help="fresh `main.py view` processes timed (0: skip)")
    ap.add_argument("--big", type=int, default=0, metavar="N",
                    help="also run a synthetic N-slice series (e.g. 1000; needs N/1000 * 1 GiB)")
    ap.add_argument("--big-seconds", type=float, default=20.0)
    ap.add_argument("--big-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--window-batches", type=int, default=1, metavar="0|1",
                    help="open the series again with one model call per slice (before) and "
                         "with batches (now), each with an empty cache (default 1)")
    ap.add_argument("--command-repo", default=None, metavar="DIR",
                    help="time `main.py view` of another checkout too (e.g. the code before)")
    args = ap.parse_args(argv)
    series = Path(args.series)
    if not series.exists() and not args.big_only:
        print(f"skip: {series} not present (needs ../shared/data/lidc-idri-0001 or --series)")
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="bench_viewer_"))
    os.environ["XDG_DATA_HOME"] = str(tmp / "data")
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp / "cache"), XDG_CONFIG_HOME=str(tmp / "config"))
    print(f"cpu_count={os.cpu_count()}, load average {os.getloadavg()[0]:.1f} at start")
    if args.command_runs and not args.big_only:
        if args.command_repo:
            print(f"-- main.py view of {args.command_repo}:")
            bench_command(series, args.command_runs, env, Path(args.command_repo))
            print(f"-- main.py view of {REPO}:")
        bench_command(series, args.command_runs, env)
    from PyQt6 import QtCore

    from viewer.core.map_cache import MapCache
    from viewer.ui.app import make_app
    from viewer.ui.main_window import MainWindow

    app = make_app()
    wpath, wnote = weights_path(args.weights, tmp)
    print(f"localizer: {wnote}")
    t_loc = time.perf_counter()
    from gan.inference import Localizer

    loc = Localizer(wpath, device=args.device)
    print(f"localizer built in {time.perf_counter() - t_loc:.2f} s on {loc.device}")
    settings = QtCore.QSettings(str(tmp / "s.ini"), QtCore.QSettings.Format.IniFormat)

    def make_window(cache_dir=None):
        w = MainWindow(lambda _p=None: loc, cache=MapCache(cache_dir or tmp / "maps"),
                       settings=settings, score_panel=False)
        w.resize(1500, 950)
        w.show()
        wait_until(app, lambda: w.localizer is not None, 30)
        return w

    if args.big_only:
        bench_big(app, make_window, args.big, args.big_seconds)
        return 0
    win = make_window()
    base_rss = rss_mb()
    print(f"resident memory before opening: {base_rss:.0f} MB (Qt, torch, localizer)")
    state = {}
    win.seriesShown.connect(lambda _i: state.setdefault("shown", time.perf_counter()))
    t0, c0 = time.perf_counter(), cpu_s()
    win.open_path(series)
    if not wait_until(app, lambda: "shown" in state, 120):
        print("error: series did not open")
        return 1
    c_shown = cpu_s()
    wait_until(app, lambda: win.pipeline is not None, 600)
    t_front, c_front = time.perf_counter(), cpu_s()
    wait_until(app, lambda: win.store is not None and win.store.n_done() >= 1, 120)
    t_first, c_first = time.perf_counter(), cpu_s()
    wait_until(app, lambda: win.store.has_lungs(), 600)
    t_lungs, c_lungs = time.perf_counter(), cpu_s()
    n = win.voxels.shape[0]
    wait_until(app, lambda: win.store.is_complete(), 1800)
    t_all, c_all = time.perf_counter(), cpu_s()
    print(f"series: {series.name}, {n} slices {win.voxels.shape[1]}x{win.voxels.shape[2]}")
    print(f"open -> pixels on screen       {state['shown'] - t0:6.2f} s   (CPU {c_shown - c0:5.2f} s)")
    print(f"open -> lungs' front (plan)    {t_front - t0:6.2f} s   (CPU {c_front - c0:5.2f} s)")
    print(f"open -> lung mask of the series {t_lungs - t0:5.2f} s   (CPU {c_lungs - c0:5.2f} s; "
          "every slice finished, after the first map)")
    print(f"open -> first localized slice  {t_first - t0:6.2f} s   (CPU {c_first - c0:5.2f} s; "
          f"target <= 0.5 s: {'met' if t_first - t0 <= 0.5 else 'NOT met'}; "
          f"ratio {(t_first - t0) / 0.5:.2f})")
    print(f"open -> whole series localized {t_all - t0:6.2f} s   (CPU {c_all - c0:5.2f} s; "
          f"target <= 4 s: {'met' if t_all - t0 <= 4 else 'NOT met'}; ratio {(t_all - t0) / 4:.2f}; "
          f"maps after the lung mask {t_all - t_lungs:.2f} s = "
          f"{(t_all - t_lungs) / n * 1000:.0f} ms per slice)")
    bench_batches(loc, win)
    res = bench_slice_change(app, win, args.changes)
    print(f"slice change with overlay ({res['n']} changes, 512² view): p50 {res['p50']:.1f} ms, "
          f"p95 {res['p95']:.1f} ms, max {res['max']:.1f} ms   (target p95 <= 16 ms: "
          f"{'met' if res['p95'] <= 16 else 'NOT met'}; ratio {res['p95'] / 16:.2f})")
    win.close()
    # reopening: maps come from the disk cache
    win2 = make_window()
    state2 = {}
    win2.overlayReady.connect(lambda _i: state2.setdefault("ready", time.perf_counter()))
    t0 = time.perf_counter()
    win2.open_path(series)
    wait_until(app, lambda: "ready" in state2, 120)
    print(f"reopen (disk cache) -> overlay on screen {state2['ready'] - t0:5.2f} s, "
          f"complete: {win2.store.is_complete()}")
    win2.close()
    print(f"peak resident memory {peak_rss_mb():.0f} MB, {peak_rss_mb() - base_rss:.0f} MB above "
          f"the state before opening (series {n}x{win2.voxels.shape[1]}x{win2.voxels.shape[2]}, "
          f"volume {win2.voxels.nbytes / 2**20:.0f} MB float32; maps on disk as float16)")
    if args.window_batches:
        bench_window_batches(app, make_window, series, tmp)
    if args.big:
        import subprocess

        cmd = [sys.executable, __file__, "--big-only", "--big", str(args.big),
               "--big-seconds", str(args.big_seconds), "--device", args.device]
        if args.weights:
            cmd += ["--weights", args.weights]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True)
        print("\n".join(line for line in out.stdout.splitlines()
                        if line.startswith(f"{args.big}-slice") or line.startswith("error")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
