"""Opening series: ``open_path`` scans a file or folder in a worker (showing the first DICOM
file it decodes at once, ``viewer.io.first_slice``, while the other headers are read) and fills
the series browser; ``open_series`` reads a series' pixels in a worker; ``series_loaded`` opens them in the
session (with the series' mask edits), shows them and starts the localization.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

import numpy as np

from viewer.core.reading_session import ReadingSession
from viewer.ui.series_browser import RecentItems, SeriesBrowser, split_skipped
from viewer.ui.slice_view import SliceView, series_geometry
from viewer.ui.status_line import StatusLine
from viewer.ui.work_pool import WorkPool
from viewer.ui.workers import CallWorker, LoadWorker


class SeriesOpener:
    """``requested_slice``: the slice to show first in the next series read (None: the
    middle); ``opened_path``: the file or folder opened last.

    Callbacks: ``make_edits(info, shape, opened_path)`` the series' MaskEdits;
    ``shown(info)`` once the pixels are on screen (the window then starts the localization);
    ``open_failed(msg)`` when nothing could be opened; ``failed(msg, worker)`` a worker
    failed; ``set_title(text)`` the window title."""

    def __init__(self, session: ReadingSession, pool: WorkPool, browser: SeriesBrowser,
                 view: SliceView, recent: RecentItems, status: StatusLine, *,
                 make_edits: Callable, shown: Callable, open_failed: Callable,
                 failed: Callable, set_title: Callable):
        self.session, self.pool, self.browser, self.view = session, pool, browser, view
        self.recent, self.status = recent, status
        self.make_edits, self.shown, self.open_failed = make_edits, shown, open_failed
        self.failed, self.set_title = failed, set_title
        self.requested_slice: int | None = None
        self.opened_path: Path | None = None

    def open_path(self, path: str | Path, slice_index: int | None = None) -> None:
        """Scan a file or folder in the background and show its first series."""
        p = Path(path).expanduser()
        if not p.exists():
            self.status.show_error(f"{p}: no such file or folder")
            return
        self.requested_slice, self.opened_path = slice_index, p
        self.recent.add(p)
        from viewer.io import scan_path
        from viewer.io.first_slice import first_slice

        self.pool.cancel("scan")
        box: list = []

        def scan(progress):  # worker thread: one slice on screen first, then every header
            peek = first_slice(p)
            if peek is not None and not box[0].is_cancelled:
                box[0].partial.emit(peek)
            return scan_path(p, progress=progress)

        w = CallWorker(scan, "scan", self.pool.owner)
        box.append(w)
        self.pool.on(w.partial, lambda peek, w=w: self._preview(peek, w))
        self.pool.on(w.progressed, lambda d, t: self.status.show_progress("Scanning", d, t))
        self.pool.on(w.succeeded, lambda result: self._scan_done(result, p))
        self.pool.on(w.failed, lambda msg: (self._drop_preview(), self.failed(f"{p}: {msg}")))
        self.pool.on(w.cancelled, lambda: (self._drop_preview(), self.status.hide_progress()))
        self.pool.keep(w, "scan")
        self.status.show_status(f"Scanning {p}…")
        w.start()

    def _preview(self, peek, worker) -> None:
        """One decoded file of the folder being scanned (``viewer.io.first_slice``): shown
        until the series is read, unless a series is already open or the scan was replaced."""
        if worker is not self.pool.get("scan") or self.session.voxels is not None:
            return
        self.view.show_preview(peek.pixels, peek.is_hu, "scanning… (first file found)")

    def _drop_preview(self) -> None:
        """Nothing could be opened: the scan's preview must not stay on screen."""
        if self.session.voxels is None and self.view.voxels is None:
            self.view.clear()

    def _scan_done(self, result, path: Path) -> None:
        self.pool.release("scan")
        self.status.hide_progress()
        self.browser.set_scan(result.series, result.skipped, str(path))
        problems, _ignored = split_skipped(result.skipped)
        first = problems[0].message() if problems else ""
        if problems:
            more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
            self.status.show_status(f"skipped {first}{more}", 15000)
        if not result.series:
            msg = f"{path}: no CT series or pictures found"
            msg += f" ({len(problems)} skipped; first: {first})" if problems else ""
            self.status.show_error(msg)
            self._drop_preview()
            self.open_failed(msg)
            return
        self.open_series(result.series[0])

    def open_series_at(self, info, slice_index: int | None) -> None:
        """Open ``info`` showing ``slice_index`` first (a reading-list item's slice)."""
        self.requested_slice = slice_index
        self.open_series(info)

    def open_series(self, info) -> None:
        """Read the pixels of ``info`` (a SeriesInfo) in the background, then show them."""
        if info is self.session.info and self.session.voxels is not None:
            return
        self.pool.cancel("load", "lungs", "loc", "stats")
        self.browser.select(info)
        w = LoadWorker(info, self.pool.owner)
        self.pool.on(w.progressed, lambda d, t: self.status.show_progress("Reading", d, t))
        self.pool.on(w.loaded, lambda vox, info=info: self.series_loaded(info, vox))
        self.pool.on(w.failed, lambda msg, w=w: (self._drop_preview(), self.failed(msg, w)))
        self.pool.on(w.cancelled, lambda: (self._drop_preview(), self.status.hide_progress()))
        self.pool.keep(w, "load")
        self.status.show_status(f"Reading {info.n_slices} slice(s)…")
        w.start()

    def series_loaded(self, info, voxels: np.ndarray) -> None:
        """``voxels`` ``(z, y, x)`` of ``info`` are in: open them in the session and show them."""
        self.pool.release("load")
        self.status.hide_progress()
        edits = self.make_edits(info, voxels.shape, self.opened_path)
        self.session.open_series(info, voxels, edits, index=self.view.index)
        title = " · ".join(t for t in (info.patient_name or info.patient_id,
                                       info.series_description) if t)
        start, self.requested_slice = self.requested_slice, None
        if start is not None and not 0 <= start < voxels.shape[0]:
            last = voxels.shape[0] - 1
            msg = f"--slice {start}: outside 0..{last}; showing slice {last} (the last)"
            print(f"warning: {msg}", file=sys.stderr)
            self.status.show_status(msg, 15000)
            start = last if start > last else 0
        self.view.set_volume(voxels, info.is_hu, series_geometry(info), index=start, title=title)
        self.session.index = self.view.index
        self.set_title(f"{title or info.key} — COVID-19 CT reading room")
        if info.warnings:
            self.status.show_status(f"{info.key}: {info.warnings[0]}", 15000)
        else:
            self.status.show_status(f"{info.n_slices} slice(s) read", 5000)
        self.shown(info)
