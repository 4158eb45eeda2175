"""Issue 16, the viewer's start: a file on screen before the folder is scanned, torch and the
localizer only after the series' first slice is painted, maps in batches equal to one call per
slice."""
from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from ui_phantom import FakeLocalizer

REPO = Path(__file__).resolve().parents[2]
if str(REPO / "tests" / "core") not in sys.path:  # the chest phantoms (lung_phantom.py)
    sys.path.append(str(REPO / "tests" / "core"))


def test_a_file_is_on_screen_before_the_scan_finishes(qtbot, make_window, phantom, monkeypatch):
    import viewer.io
    from viewer.io.first_slice import first_slice

    release = threading.Event()
    real = viewer.io.scan_path

    def held_scan(path, progress=None):  # the scan of the other headers waits for the test
        release.wait(30)
        return real(path, progress=progress)

    monkeypatch.setattr(viewer.io, "scan_path", held_scan)
    win = make_window()
    try:
        win.open_path(phantom)
        qtbot.waitUntil(lambda: win.view.image_item.image is not None, timeout=10000)
        # the scan is still held: no series yet, but the first file's pixels are shown
        assert win.voxels is None and win.pool.busy("scan")
        assert np.array_equal(win.view.image_item.image, first_slice(phantom).pixels)
        assert "scanning" in win.view.label_tl.text()
    finally:
        release.set()
    qtbot.waitUntil(lambda: win.voxels is not None, timeout=20000)
    qtbot.waitUntil(lambda: win.store is not None and win.store.is_complete(), timeout=20000)
    assert win.view.n_slices == 8 and np.array_equal(win.view.image_item.image,
                                                     win.voxels[win.view.index])


def _deferred_window(qtbot, tmp_path, settings, factory):
    from viewer.core.map_cache import MapCache
    from viewer.ui.main_window import MainWindow

    win = MainWindow(factory, cache=MapCache(tmp_path / "maps"), settings=settings,
                     score_panel=False, defer_localizer=True)
    qtbot.addWidget(win)
    win.resize(1000, 700)
    win.show()
    return win


def test_the_localizer_is_built_after_the_series_is_painted(qtbot, tmp_path, phantom,
                                                            isolated_settings):
    seen = {}
    box = {}

    def factory(_progress=None):  # worker thread: what was on screen when the build began
        seen["series_open"] = box["win"].voxels is not None
        seen["painted"] = box.get("painted", False)
        return FakeLocalizer()

    win = box["win"] = _deferred_window(qtbot, tmp_path, isolated_settings, factory)
    win.view.pixelsPainted.connect(
        lambda: box.__setitem__("painted", win.voxels is not None or box.get("painted", False)))
    qtbot.wait(50)
    assert win.localizer is None and not seen  # nothing to show yet: no localizer build
    with qtbot.waitSignal(win.seriesShown, timeout=20000):
        win.open_path(phantom)
    qtbot.waitUntil(lambda: win.localizer is not None, timeout=20000)
    assert seen == {"series_open": True, "painted": True}
    qtbot.waitUntil(lambda: win.store is not None and win.store.is_complete(), timeout=20000)
    qtbot.waitUntil(lambda: win.view.overlay_item.image is not None, timeout=5000)


def test_a_failed_open_still_builds_the_deferred_localizer(qtbot, tmp_path, isolated_settings):
    empty = tmp_path / "empty"
    empty.mkdir()
    win = _deferred_window(qtbot, tmp_path, isolated_settings, lambda _p=None: FakeLocalizer())
    with qtbot.waitSignal(win.openFailed, timeout=20000):
        win.open_path(empty)
    qtbot.waitUntil(lambda: win.localizer is not None, timeout=20000)


def test_the_view_command_imports_no_torch_before_its_handler_runs():
    code = ("import sys, main; p = main.build_parser(); "
            "a = p.parse_args(['view', '--screenshot', 'x.png']); "
            "import viewer.ui.app, viewer.ui.main_window, viewer.io.first_slice; "
            "print(sorted(m for m in ('torch', 'gan.inference', 'scipy.ndimage') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         env={"PYTHONPATH": str(REPO), "QT_QPA_PLATFORM": "offscreen",
                              "PATH": "/usr/bin:/bin"}, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "torch" not in out.stdout and "gan.inference" not in out.stdout, out.stdout


def test_batches_of_maps_equal_one_call_per_slice(qtbot):
    """The worker's batches (the shown slice alone, then BATCH_SIZE at a time) give the same
    maps as one model call per slice, within 1e-3, with the real localizer."""
    from gan.inference import DEFAULT_WEIGHTS, Localizer
    from ui_phantom import phantom_slice
    from viewer.core.lesion_layers import localize_with_plan, localizer_plan, series_lungs
    from viewer.core.map_cache import SeriesMapStore
    from viewer.ui.workers import LocalizeWorker

    if not DEFAULT_WEIGHTS.is_file():
        pytest.skip(f"{DEFAULT_WEIGHTS} not present")
    loc = Localizer(DEFAULT_WEIGHTS, device="cpu")
    base = phantom_slice(64, 64)
    vox = np.stack([base + 15.0 * k for k in range(11)]).astype(np.float32)
    store = SeriesMapStore(vox.shape, "batches", "w", None)
    spacing = (2.5, 3.0, 3.0)
    plan_box = {}

    def plan(lungs):
        plan_box["plan"] = localizer_plan(loc, vox, True, lungs)

    def localize(stack):
        return localize_with_plan(loc, stack, True, plan_box["plan"])

    w = LocalizeWorker(vox, store, localize, lambda v: series_lungs(v, True, spacing), start=6,
                       batch_size=4, plan=plan)
    w.prioritize(0)
    w.run()  # in this thread: no Qt thread, no timers
    assert store.is_complete()
    assert w.batches[0] == [0] or w.batches[0] == [6]
    assert all(len(b) <= 4 for b in w.batches) and sorted(sum(w.batches, [])) == list(range(11))
    one = np.stack([localize_with_plan(loc, vox[i], True, plan_box["plan"]) for i in range(11)])
    got = np.stack([store.get_map(i) for i in range(11)])
    assert np.abs(got - one).max() <= 1e-3
    assert one.max() > 0 or got.max() == 0


def test_the_shown_slice_is_localized_first_and_alone(qtbot):
    from viewer.core.map_cache import SeriesMapStore
    from viewer.ui.workers import LocalizeWorker

    vox = np.zeros((20, 8, 8), np.float32)
    store = SeriesMapStore(vox.shape, "order", "w", None)
    w = LocalizeWorker(vox, store, lambda s: np.zeros(s.shape, np.float32),
                       lambda v: np.ones(v.shape, bool), start=12, batch_size=8)
    w.run()
    assert w.batches[0] == [12]
    assert w.batches[1] == [13, 11, 14, 10, 15, 9, 16, 8]
    assert [len(b) for b in w.batches] == [1, 8, 8, 3]


def test_the_lungs_are_segmented_while_the_localizer_is_built(qtbot, tmp_path, phantom,
                                                              isolated_settings, monkeypatch):
    """Deferred localizer: the lung mask starts once the series is painted, beside the build
    (once: the localization waits for it), and not at all when the map cache holds it."""
    import viewer.core.lesion_layers as ll
    import viewer.core.staged_lungs as sl

    calls = []
    real = sl.SeriesLungs

    class Counted(real):
        def __init__(self, *a, **k):
            calls.append(threading.current_thread().name)
            super().__init__(*a, **k)

    monkeypatch.setattr(sl, "SeriesLungs", Counted)
    box = {}

    def factory(_progress=None):  # the build ends only once the early lungs are in
        early = box["win"].localization.early
        box["early_seen"] = early is not None
        if early is not None:
            early.done.wait(30)
        return FakeLocalizer()

    factory.cache_hash = lambda: FakeLocalizer.weights_hash
    win = box["win"] = _deferred_window(qtbot, tmp_path, isolated_settings, factory)
    with qtbot.waitSignal(win.seriesShown, timeout=20000):
        win.open_path(phantom)
    qtbot.waitUntil(lambda: win.store is not None and win.store.is_complete(), timeout=30000)
    assert box["early_seen"] and len(calls) == 1
    expected = ll.series_lungs(win.voxels, True, ll.physical_spacing(win.info))
    assert np.array_equal(win.store.lungs(), expected)
    win.close()
    # reopened: the cache has the lungs, nothing is segmented
    calls.clear()
    win2 = box["win"] = _deferred_window(qtbot, tmp_path, isolated_settings, factory)
    with qtbot.waitSignal(win2.seriesShown, timeout=20000):
        win2.open_path(phantom)
    qtbot.waitUntil(lambda: win2.store is not None and win2.store.is_complete(), timeout=30000)
    assert calls == [] and not box["early_seen"]


def test_the_preview_goes_when_nothing_can_be_opened(qtbot, make_window, phantom, monkeypatch):
    import viewer.io

    def broken(path, progress=None):
        raise OSError("disk on fire")

    monkeypatch.setattr(viewer.io, "scan_path", broken)
    win = make_window()
    with qtbot.waitSignal(win.openFailed, timeout=20000):
        win.open_path(phantom)
    # the first file was decoded before the scan failed; after the failure nothing is shown
    assert win.view.image_item.image is None and win.view.voxels is None
    assert win.view.label_tl.text() == ""


def _frame_worker(vox, spacing, start):
    """A worker over ``vox`` with the two-stage lungs and a model whose maps say which frame
    planned them (the frame's y1 / 1000 everywhere): what each map was made with is visible."""
    from gan.inference import plan_input
    from viewer.core.map_cache import SeriesMapStore
    from viewer.core.staged_lungs import SeriesLungs, same_plan
    from viewer.ui.workers import LocalizeWorker

    store = SeriesMapStore(vox.shape, "staged", "w", None)
    box = {"plans": [], "checked": []}

    def plan(lungs):
        box["plan"] = plan_input(vox, True, lungs)
        box["plans"].append(box["plan"])

    def verify(final):
        new = plan_input(vox, True, final)
        box["checked"].append(same_plan(box["plan"], new))
        box["plan"] = new
        return box["checked"][-1]

    def localize(stack):
        return np.full(stack.shape, box["plan"].frame.y1 / 1000.0, np.float32)

    w = LocalizeWorker(vox, store, localize, lambda v: SeriesLungs(v, True, spacing),
                       start=start, batch_size=4, plan=plan, verify=verify)
    seen = []
    w.sliceReady.connect(lambda i: seen.append((i, store.has(i), store.has_lungs())))
    return w, store, box, seen


def test_the_first_map_needs_only_its_own_slice_lungs(qtbot):
    """Two-stage lungs: the shown slice is localized with its finished lungs before the other
    slices' lungs are finished; the rest follow; lungs and plan equal the one-stage ones."""
    from lung_phantom import axial_slice
    from viewer.core.lesion_layers import series_lungs

    vox = np.stack([axial_slice(seed=k, lesions=False).hu for k in range(8)])
    sp = (2.0, 1.0, 1.0)
    w, store, box, seen = _frame_worker(vox, sp, start=5)
    w.run()
    assert seen[0] == (5, True, False)  # its own lungs in, the series' not yet
    assert w.batches[0] == [5] and box["checked"] == [True]
    assert store.is_complete() and np.array_equal(store.lungs(), series_lungs(vox, True, sp))
    assert sorted(sum(w.batches, [])) == list(range(8))


def test_a_plan_changed_by_the_finished_lungs_makes_the_first_map_again(qtbot):
    """Dense backs: the finished lungs frame the series further than the front; the first map
    (made with the front's plan) is made again, so every map is the finished plan's."""
    from test_staged_lungs import consolidated_backs
    from viewer.core.lesion_layers import series_lungs

    vox, sp = consolidated_backs(8)
    w, store, box, seen = _frame_worker(vox, sp, start=3)
    w.run()
    assert box["checked"] == [False] and w.batches[0] == [3]
    assert sorted(sum(w.batches[1:], [])) == list(range(8))  # slice 3 again, then the rest
    final = box["plan"].frame.y1 / 1000.0
    assert box["plans"][0].frame.y1 / 1000.0 != final
    maps = np.stack([store.get_map(i) for i in range(8)])
    assert np.allclose(maps, final, atol=1e-3)
    assert np.array_equal(store.lungs(), series_lungs(vox, True, sp))


def _hooked_lungs(spacing, on_chunk):
    """``segment`` for the worker: the two-stage lungs, calling ``on_chunk(indices)`` each time
    the worker finishes a chunk of slices (not the first, single slice)."""
    from viewer.core.staged_lungs import SeriesLungs

    class Hooked(SeriesLungs):
        def finish(self, indices):
            idx = list(indices)
            super().finish(idx)
            if len(idx) > 1:
                on_chunk(idx)

    return lambda v: Hooked(v, True, spacing)


def test_a_slice_scrolled_to_while_the_lungs_finish_is_localized_then(qtbot):
    """The reader scrolls while the series' lungs are being finished: that slice is localized
    between two chunks, before the lungs are complete, not after them."""
    from lung_phantom import axial_slice
    from viewer.core.map_cache import SeriesMapStore
    from viewer.ui.workers import LocalizeWorker

    vox = np.stack([axial_slice(seed=k % 3, lesions=False).hu for k in range(40)])
    store = SeriesMapStore(vox.shape, "prio", "w", None)
    box = {}

    def on_chunk(idx):
        if "asked" not in box:
            box["asked"] = True
            w.prioritize(39)

    w = LocalizeWorker(vox, store, lambda s: np.zeros(s.shape, np.float32),
                       _hooked_lungs((2.0, 1.0, 1.0), on_chunk), start=0, batch_size=8)
    w.LUNG_CHUNK = 4
    seen = []
    w.sliceReady.connect(lambda i: seen.append((i, store.has_lungs())))
    w.run()
    assert seen[0] == (0, False) and seen[1] == (39, False)  # before the lungs were complete
    assert store.is_complete() and sorted(sum(w.batches, [])) == list(range(40))


def test_cancelling_while_the_lungs_finish_stops_between_chunks(qtbot):
    from lung_phantom import axial_slice
    from viewer.core.map_cache import SeriesMapStore
    from viewer.ui.workers import LocalizeWorker

    vox = np.stack([axial_slice(seed=k % 3, lesions=False).hu for k in range(40)])
    store = SeriesMapStore(vox.shape, "cancel", "w", None)
    chunks = []

    def on_chunk(idx):
        chunks.append(idx)
        w.cancel()

    w = LocalizeWorker(vox, store, lambda s: np.zeros(s.shape, np.float32),
                       _hooked_lungs((2.0, 1.0, 1.0), on_chunk), start=20, batch_size=8)
    w.LUNG_CHUNK = 4
    got = []
    w.cancelled.connect(lambda: got.append("cancelled"))
    w.completed.connect(lambda: got.append("completed"))
    w.run()
    assert got == ["cancelled"] and len(chunks) == 1  # stopped after one chunk of 4
    assert not store.has_lungs() and store.n_done() == 1
