"""The work behind `main.py localize`: per series load -> localize -> mask -> export -> summary.

Masks and numbers come from ``viewer.core.lesion_layers.LesionLayers`` (the viewer's pipeline:
one lung mask per series, map >= threshold, & lungs with --lung-only), so the viewer and
`localize` give the same masks and severity for the same series. The series' notes (e.g. "no
lungs found in this series") go to summary.json / summary.csv and to stderr as `warning:` lines.

Qt-free; progress is shown with tqdm on stderr. Each failure is one `error:` line on stderr and
the run goes on with the next format or series.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from viewer.export.dicom_seg import require_dicom_source
from viewer.export.series_export import ExportRequest, export_formats
from viewer.export.source import ExportSource

MAX_SKIP_LINES = 5
#: Slices given to the localizer per call.
CHUNK = 16


def _error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr, flush=True)


def find_series(path: Path, show_progress: bool = True) -> list:
    """Every loadable series under `path` (viewer.io.scan_path); UsageError when there is none.

    Skipped files are listed as `warning:` lines (the first few, then a count).
    """
    from viewer.cli.localize import UsageError
    from viewer.io import scan_path

    with tqdm(desc="scan", unit="file", disable=not show_progress, file=sys.stderr,
              leave=False) as bar:
        result = scan_path(path, progress=_bar_callback(bar))
    for skipped in result.skipped[:MAX_SKIP_LINES]:
        print(f"warning: {skipped.path}: {skipped.reason}", file=sys.stderr)
    if len(result.skipped) > MAX_SKIP_LINES:
        print(f"warning: {len(result.skipped) - MAX_SKIP_LINES} more files skipped",
              file=sys.stderr)
    if not result.series:
        reason = f"; first: {result.skipped[0].reason}" if result.skipped else ""
        raise UsageError(f"{path}: nothing loadable ({len(result.skipped)} files skipped"
                         f"{reason})")
    return list(result.series)


def _bar_callback(bar: tqdm):
    """progress(done, total) for viewer.io / gan / viewer.export, drawn on a tqdm bar."""
    def update(done: int, total: int) -> bool:
        if total and bar.total != total:
            bar.total = total
        bar.n = done
        bar.refresh()
        return True

    return update


class BatchRun:
    """Localize and export series one by one into `out`; collects the summary."""

    def __init__(self, localizer, out: Path, formats: list[str], threshold: float | None,
                 lung_only: bool, show_progress: bool = True, seg_compression: str = "none"):
        from viewer.export.summary import SummaryBuilder

        self.localizer = localizer
        self.out = Path(out)
        self.formats = formats
        self.threshold = float(localizer.threshold if threshold is None else threshold)
        self.lung_only = lung_only
        self.show_progress = show_progress
        self.seg_compression = seg_compression
        self.summary = SummaryBuilder(threshold=self.threshold, lung_only=lung_only,
                                      model_name=str(getattr(localizer, "model_name", "")),
                                      weights_hash=str(getattr(localizer, "weights_hash", "")))
        self.next_medseg = 1
        self.n_slices = 0
        self.seg_skipped: list[str] = []
        self._names: set[str] = set()

    def _bar(self, desc: str, total: int, unit: str = "slice") -> tqdm:
        return tqdm(total=total, desc=desc, unit=unit, disable=not self.show_progress,
                    file=sys.stderr, leave=False)

    def _unique_name(self, src: ExportSource) -> str:
        base = name = src.safe_name()
        k = 2
        while name in self._names:
            name, k = f"{base}_{k}", k + 1
        self._names.add(name)
        return name

    def run_all(self, series: list) -> int:
        """Process every series; returns the number of failures (series or exports)."""
        failures, summary_ok = 0, True
        with tqdm(total=len(series), desc="series", unit="series",
                  disable=not self.show_progress or len(series) < 2, file=sys.stderr) as bar:
            for info in series:
                failures += self.run_series(info)
                bar.update(1)
                # rewritten after every series, so an interrupted run keeps what it finished
                summary_ok = self._write_summary()
        if len(self.seg_skipped) > 1:
            _error(f"seg: not written for {len(self.seg_skipped)} series without a DICOM source "
                   f"(first: {self.seg_skipped[0]}); the other formats were written")
        return failures + (not summary_ok)

    def _write_summary(self) -> bool:
        try:
            self.summary.write(self.out)
        except OSError as exc:
            _error(f"summary in {self.out}: cannot write ({exc.strerror or exc})")
            return False
        return True

    def run_series(self, info) -> int:
        """Load, localize, mask and export one series; returns its number of failures."""
        from viewer.core.lesion_layers import (LesionLayers, localizer_notes, localizer_plan,
                                               physical_spacing, plan_notes, series_lungs)
        from viewer.io import load_series

        src = ExportSource.of(info)
        name = self._unique_name(src)
        try:
            with self._bar(f"{name} load", info.n_slices) as bar:
                volume = load_series(info, progress=_bar_callback(bar))
            # one lung mask per series (as the viewer), then the model's input plan from it
            lungs = series_lungs(volume.voxels, volume.is_hu, physical_spacing(volume))
            plan = localizer_plan(self.localizer, volume.voxels, volume.is_hu, lungs)
            with self._bar(f"{name} localize", info.n_slices) as bar:
                maps = self._localize(volume, _bar_callback(bar), plan)
            layers = LesionLayers.for_volume(volume, maps, threshold=self.threshold,
                                             lungs_only=self.lung_only, lungs=lungs,
                                             notes=localizer_notes(self.localizer) + plan_notes(plan))
            masks = layers.volume_mask()
        except (ValueError, OSError, RuntimeError, MemoryError) as exc:
            _error(f"series {name}: {exc}")
            return 1
        for note in layers.notes:
            print(f"warning: {name}: {note}", file=sys.stderr)
        src = ExportSource.of(volume)
        self.n_slices += src.shape[0]
        formats = self.formats
        if "seg" in formats and not src.has_dicom_instances:
            formats = [f for f in formats if f != "seg"]
            self.seg_skipped.append(name)
            if len(self.seg_skipped) == 1:  # the reason once; the count at the end
                try:
                    require_dicom_source(src)
                except ValueError as exc:
                    _error(f"{name}: seg: {exc}")
        if not formats:
            self.summary.add_series(name, src, layers)
            return 1
        request = ExportRequest(
            self.out / name, formats, model_name=self.summary.model_name or "GAN localizer",
            weights_hash=self.summary.weights_hash or "unknown", threshold=self.threshold,
            medseg_dir=self.out / "medseg", medseg_start=self.next_medseg,
            seg_compression=self.seg_compression)
        with self._bar(f"{name} export {','.join(self.formats)}", 1, unit="step") as bar:
            report = export_formats(request, volume, maps, masks, progress=_bar_callback(bar))
        self.next_medseg = report.next_medseg
        for message in report.errors:
            _error(f"{name}: {message}")
        self.summary.add_series(name, src, layers)
        return len(report.errors) + (formats is not self.formats)

    def _localize(self, volume, progress, plan=None) -> np.ndarray:
        """float32 (z, y, x) maps, computed CHUNK slices at a time into one array, so the
        localizer's own per-call copies stay small (maps are per slice, chunking changes
        nothing in the result)."""
        from viewer.core.lesion_layers import localize_with_plan

        n = volume.voxels.shape[0]
        maps = np.empty(volume.voxels.shape, np.float32)
        for start in range(0, n, CHUNK):
            stop = min(n, start + CHUNK)
            part = localize_with_plan(
                self.localizer, volume.voxels[start:stop], volume.is_hu, plan,
                progress=lambda done, total, s=start: progress(s + done, n))
            # rounded to float16 as the viewer's map cache stores them, so the viewer and
            # `localize` threshold the very same values (identical masks and numbers)
            maps[start:stop] = np.asarray(part, dtype=np.float16)
        return maps
