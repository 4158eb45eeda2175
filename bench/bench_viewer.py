"""Benchmark of the reading-room window (offscreen Qt).

    python bench/bench_viewer.py [--series PATH] [--weights W] [--changes 200]

1. Slice-change latency with the overlay on, on a 512 x 512 series: show slice i (pixels,
   overlay RGBA of that slice, labels) and repaint the view synchronously; p50 / p95 / max over
   ``--changes`` changes (target p95 <= 16 ms).
2. Opening ``lidc-idri-0001`` (133 slices, from ../shared/data, or ``--series``): seconds from
   ``open_path`` to the pixels on screen, to the first localized slice (target <= 2 s) and to the
   whole series localized, with an empty map cache; then reopening (cache hit).
3. Peak resident memory of the process (ru_maxrss).
4. With ``--big N`` (e.g. 1000): a synthetic N x 512 x 512 HU series is localized in the
   background for ``--big-seconds`` while a 20 ms QTimer runs and the reader scrolls; the longest
   gap between timer ticks says whether the GUI thread ever froze (then the run is cancelled).

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


def bench_big(app, make_window, n: int, seconds: float) -> None:
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
    t0 = time.perf_counter()
    win._series_loaded(synthetic_info(n), vox)
    scroll = QtCore.QTimer()
    scroll.setInterval(50)
    scroll.timeout.connect(lambda: win.view.step(1))
    scroll.start()
    wait_until(app, lambda: time.perf_counter() - t0 > seconds, seconds + 5)
    scroll.stop()
    done = win.store.n_done()
    win.cancel_work()
    timer.stop()
    gaps = np.diff(ticks) * 1000
    print(f"{n}-slice synthetic series ({vox.nbytes / 2**30:.2f} GiB float32): {done} slices "
          f"localized in {seconds:.0f} s while scrolling; GUI timer gaps p95 "
          f"{np.percentile(gaps, 95):.0f} ms, max {gaps.max():.0f} ms (20 ms timer); "
          f"resident memory {rss_mb():.0f} MB ({rss_mb() - rss0:.0f} MB above before)")
    win.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", default=str(LIDC), help="series to open (default lidc-idri-0001)")
    ap.add_argument("--weights", default=None)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--changes", type=int, default=200)
    ap.add_argument("--big", type=int, default=0, metavar="N",
                    help="also run a synthetic N-slice series (e.g. 1000; needs N/1000 * 1 GiB)")
    ap.add_argument("--big-seconds", type=float, default=20.0)
    args = ap.parse_args(argv)
    series = Path(args.series)
    if not series.exists():
        print(f"skip: {series} not present (needs ../shared/data/lidc-idri-0001 or --series)")
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="bench_viewer_"))
    os.environ["XDG_DATA_HOME"] = str(tmp / "data")
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

    def make_window():
        w = MainWindow(lambda _p=None: loc, cache=MapCache(tmp / "maps"), settings=settings,
                       score_panel=False)
        w.resize(1500, 950)
        w.show()
        wait_until(app, lambda: w.localizer is not None, 30)
        return w

    win = make_window()
    base_rss = rss_mb()
    print(f"resident memory before opening: {base_rss:.0f} MB (Qt, torch, localizer)")
    state = {}
    win.seriesShown.connect(lambda _i: state.setdefault("shown", time.perf_counter()))
    t0 = time.perf_counter()
    win.open_path(series)
    if not wait_until(app, lambda: "shown" in state, 120):
        print("error: series did not open")
        return 1
    wait_until(app, lambda: win.store is not None and win.store.n_done() >= 1, 120)
    t_first = time.perf_counter()
    n = win.voxels.shape[0]
    wait_until(app, lambda: win.store.is_complete(), 1800)
    t_all = time.perf_counter()
    print(f"series: {series.name}, {n} slices {win.voxels.shape[1]}x{win.voxels.shape[2]}")
    print(f"open -> pixels on screen     {state['shown'] - t0:7.2f} s")
    print(f"open -> first localized slice {t_first - t0:7.2f} s   (target <= 2 s: "
          f"{'met' if t_first - t0 <= 2 else 'NOT met'}; ratio {(t_first - t0) / 2:.2f})")
    print(f"open -> whole series localized {t_all - t0:6.2f} s   "
          f"({(t_all - state['shown']) / n * 1000:.0f} ms per slice)")
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
          f"the state before opening (volume {win2.voxels.nbytes / 2**20:.0f} MB float32; maps on disk as float16)")
    if args.big:
        bench_big(app, make_window, args.big, args.big_seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
