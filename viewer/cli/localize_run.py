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
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from gan.cli.common import UsageError, error
from viewer.export.series_export import ExportRequest, export_formats
from viewer.export.source import ExportSource

MAX_SKIP_LINES = 5


def find_series(path: Path, show_progress: bool = True) -> list:
    """Every loadable series under `path` (viewer.io.scan_path); UsageError when there is none.

    Skipped files are listed as `warning:` lines (the first few, then a count).
    """
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


@dataclass
class SeriesOutcome:
    """What processing one series gave: its summary rows, its one-line messages (without the
    `error: ` prefix), its failures; picklable, so Dask workers return it to the driver."""

    name: str
    summary: object = None  # viewer.export.summary.SeriesSummary
    errors: list[str] = field(default_factory=list)
    failures: int = 0
    n_slices: int = 0
    series_failed: bool = False  # load / localize failed (retried once on Dask)
    seg_skipped: bool = False
    seg_reason: str = ""
    next_medseg: int | None = None
    sent: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # the series' notes, `warning:` lines


class BatchRun:
    """Localize and export series one by one into `out`; collects the summary."""

    def __init__(self, localizer, out: Path, formats: list[str], threshold: float | None,
                 lung_only: bool, show_progress: bool = True, seg_compression: str = "none",
                 send_to: str | None = None):
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
        self.send_to = send_to

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
        self.report_seg_skipped()
        return failures + (not summary_ok)

    def report_seg_skipped(self) -> None:
        if len(self.seg_skipped) > 1:
            kinds = "/".join(f for f in self.formats if f in ("seg", "sr"))
            error(f"{kinds}: not written for {len(self.seg_skipped)} series without a DICOM "
                   f"source (first: {self.seg_skipped[0]}); the other formats were written")

    def unique_names(self, series: list) -> list[str]:
        """The output folder name of each series, in order (as run_series would give)."""
        return [self._unique_name(ExportSource.of(info)) for info in series]

    def write_summary(self) -> bool:
        return self._write_summary()

    def _write_summary(self) -> bool:
        try:
            self.summary.write(self.out)
        except OSError as exc:
            error(f"summary in {self.out}: cannot write ({exc.strerror or exc})")
            return False
        return True

    def run_series(self, info) -> int:
        """Load, localize, mask and export one series; returns its number of failures."""
        src = ExportSource.of(info)
        name = self._unique_name(src)
        return self.absorb(self.process_series(info, name, medseg_start=self.next_medseg,
                                               measurements=self.reader_measurements(info)))

    def reader_measurements(self, info) -> tuple[list[dict], list[str]] | None:
        """(measurements, problems) the reader saved for this series in the viewer (this
        machine's user data folder), when the run writes an SR; None otherwise. Read by the
        driver, so that Dask workers on other machines get them with their task."""
        if "sr" not in self.formats:
            return None
        from viewer.export.measurements_csv import series_measurements

        return series_measurements(info)

    def absorb(self, outcome: SeriesOutcome) -> int:
        """Take one series' outcome into this run (messages, summary, counters); returns its
        number of failures. The batch driver on Dask calls this with the workers' outcomes."""
        if outcome.seg_skipped:
            self.seg_skipped.append(outcome.name)
            if len(self.seg_skipped) == 1 and outcome.seg_reason:  # the reason once
                error(outcome.seg_reason)
        for message in outcome.warnings:
            print(f"warning: {message}", file=sys.stderr)
        for message in outcome.errors:
            error(message)
        if outcome.summary is not None:
            self.summary.series.append(outcome.summary)
        self.n_slices += outcome.n_slices
        if outcome.next_medseg is not None:
            self.next_medseg = outcome.next_medseg
        return outcome.failures

    def process_series(self, info, name: str, medseg_start: int = 1,
                       measurements: tuple[list[dict], list[str]] | None = None) -> SeriesOutcome:
        """The work on one series, without touching the run's shared state: load, localize,
        mask, export, summarise (and send when asked). Messages are returned, not printed.
        ``measurements``: what :meth:`reader_measurements` gave (the reader's rulers and ROIs):
        they go into the SR as TID 1410 groups and into ``measurements.csv``; problems reading
        them become `error:` lines, and the rest of the series is still written.

        Memory: the maps are kept as float16 inside the plan's frame
        (``viewer.cli.localize_maps``) and the exports write them chunk by chunk; the series'
        voxels are let go before the exports unless a format needs them (medseg, sr)."""
        from viewer.core.lesion_layers import (LesionLayers, localizer_notes, localizer_plan,
                                               physical_spacing, plan_notes, series_lungs)
        from viewer.cli.localize_maps import localize_series
        from viewer.export.summary import SummaryBuilder
        from viewer.io import load_series

        outcome = SeriesOutcome(name)
        try:
            with self._bar(f"{name} load", info.n_slices) as bar:
                volume = load_series(info, progress=_bar_callback(bar))
            # one lung mask per series (as the viewer), then the model's input plan from it
            lungs = series_lungs(volume.voxels, volume.is_hu, physical_spacing(volume))
            plan = localizer_plan(self.localizer, volume.voxels, volume.is_hu, lungs)
            with self._bar(f"{name} localize", info.n_slices) as bar:
                maps = localize_series(self.localizer, volume.voxels, volume.is_hu, plan,
                                       _bar_callback(bar))
            layers = LesionLayers.for_volume(volume, maps, threshold=self.threshold,
                                             lungs_only=self.lung_only, lungs=lungs,
                                             notes=localizer_notes(self.localizer) + plan_notes(plan))
            masks = layers.volume_mask()
        except (ValueError, OSError, RuntimeError, MemoryError) as exc:
            outcome.errors.append(f"series {name}: {exc}")
            outcome.series_failed = True
            outcome.failures = 1
            return outcome
        outcome.warnings = [f"{name}: {note}" for note in layers.notes]
        src = ExportSource.of(volume)
        outcome.n_slices = src.shape[0]
        summary = SummaryBuilder(threshold=self.threshold, lung_only=self.lung_only,
                                 model_name=self.summary.model_name,
                                 weights_hash=self.summary.weights_hash)
        outcome.summary = summary.add_series(name, src, layers)
        formats = self.formats
        if ("seg" in formats or "sr" in formats) and not src.has_dicom_instances:
            from viewer.export.dicom_seg import require_dicom_source

            formats = [f for f in formats if f not in ("seg", "sr")]
            outcome.seg_skipped = True
            try:
                require_dicom_source(src)
            except ValueError as exc:
                kinds = "/".join(f for f in self.formats if f in ("seg", "sr"))
                text = str(exc) if "seg" in kinds else str(exc).replace("DICOM SEG", "DICOM SR")
                outcome.seg_reason = f"{name}: {kinds}: {text}"
        if not formats:
            outcome.failures = 1
            return outcome
        if not {"medseg", "sr"} & set(formats):
            # nothing below reads the voxels or the lungs again: let them go (1 GiB for a
            # 1,000-slice series) before the exports make their own buffers
            volume = src
            del layers, lungs
            lungs = None
        reader = measurements if "sr" in formats else None   # the SR carries them
        request = ExportRequest(
            self.out / name, formats, model_name=self.summary.model_name or "GAN localizer",
            weights_hash=self.summary.weights_hash or "unknown", threshold=self.threshold,
            medseg_dir=self.out / "medseg", medseg_start=medseg_start,
            seg_compression=self.seg_compression, send_to=self.send_to,
            measurements=reader[0] if reader else ())
        with self._bar(f"{name} export {','.join(self.formats)}", 1, unit="step") as bar:
            report = export_formats(request, volume, maps, masks, progress=_bar_callback(bar),
                                    lungs=lungs)
        if reader:
            from viewer.export.measurements_csv import add_measurements

            add_measurements(report, request, info, loaded=reader)
        outcome.next_medseg = report.next_medseg
        outcome.errors += [f"{name}: {message}" for message in report.errors]
        outcome.failures = len(report.errors) + (formats is not self.formats)
        outcome.sent = list(report.sent)
        return outcome
