"""File → Export map and mask…: the dialog, then the export in a worker (``viewer.export``),
from the session's lesion pipeline (the same maps and masks as on screen)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from PyQt6 import QtWidgets

from gan.resources import SAMPLES
from viewer.core.reading_session import ReadingSession
from viewer.ui.work_pool import WorkPool
from viewer.ui.workers import CallWorker


def default_export_dir(opened_path: Path | None) -> Path:
    """``<study>.export`` beside the opened file or folder when writable (not for the bundled
    sample), else ``~/covid-ct-exports``."""
    base = Path(opened_path or Path.home()).resolve()
    samples = SAMPLES.resolve()
    if base != samples and samples not in base.parents and os.access(base.parent, os.W_OK):
        return base.parent / f"{base.name}.export"
    return Path.home() / "covid-ct-exports"


class ExportController:
    """``parent``: the dialogs' parent; ``finished(report)`` after each export;
    ``show_status(text, ms)``, ``show_error(text)``, ``show_progress(what, done, total)``,
    ``hide_progress()`` and ``failed(msg, worker)`` are the window's."""

    def __init__(self, session: ReadingSession, pool: WorkPool, parent: QtWidgets.QWidget, *,
                 finished: Callable, show_status: Callable, show_error: Callable,
                 show_progress: Callable, hide_progress: Callable, failed: Callable):
        self.session, self.pool, self.parent = session, pool, parent
        self.finished, self.show_status, self.show_error = finished, show_status, show_error
        self.show_progress, self.hide_progress, self.failed = show_progress, hide_progress, failed
        self.last_export = None
        self.dialog_open = None  # the ExportDialog while it is asked
        self.result_dialog = None  # the ExportResultDialog of the last export

    def dialog(self, opened_path: Path | None) -> None:
        """Ask what to export, then run it (see ``run``)."""
        s = self.session
        if not s.has_map(s.index):
            self.show_error("export: the shown slice has no lesion map yet")
            return
        from viewer.ui.export_dialog import ExportDialog

        edits = s.edits
        dlg = ExportDialog(default_export_dir(opened_path), s.info.source_kind == "dicom",
                           s.store.is_complete(), self.parent, threshold=s.threshold,
                           n_edits=edits.history_length if edits is not None else 0,
                           n_edited_slices=len(edits.edited_slices()) if edits is not None else 0)
        self.dialog_open = dlg
        if dlg.exec() != QtWidgets.QDialog.DialogCode.Accepted:
            return
        try:
            request = dlg.request(s.index, **self.provenance())
        except ValueError as exc:
            self.show_error(str(exc))
            return
        self.run(request)

    def provenance(self) -> dict:
        loc = self.session.localizer
        return {"model_name": str(getattr(loc, "model_name", "GAN localizer")),
                "weights_hash": str(getattr(loc, "weights_hash", "unknown")),
                "threshold": self.session.threshold}

    def run(self, request) -> None:
        """Write ``request`` (an ExportRequest) in a worker; the result goes to the status bar."""
        from dataclasses import replace

        from viewer.export.measurements_csv import add_measurements, series_measurements
        from viewer.export.series_export import export_formats
        from viewer.io.series import Volume
        from viewer.ui.export_dialog import export_arrays

        s = self.session
        info, vox, store = s.info, s.voxels, s.store
        if request.indices is None and not store.is_complete():
            self.show_error(f"export: localization not finished ({store.n_done()}/"
                            f"{vox.shape[0]} slices); export the current slice or wait")
            return
        if s.pipeline is None:   # the masks need the series' lungs (lungs-only rule)
            self.show_error("export: the lungs of this series are still being segmented; "
                            "export again when the lung outline is shown")
            return
        volume = Volume(voxels=vox, is_hu=info.is_hu, spacing=info.spacing, origin=info.origin,
                        direction=info.direction, refs=info.refs, info=info)

        def job(progress):
            maps, masks = export_arrays(vox.shape[0], vox.shape[1:], request.indices, s.layers)
            loaded = series_measurements(info)   # the reader's rulers and ROIs
            report = export_formats(replace(request, measurements=loaded[0]), volume, maps, masks,
                                    progress=progress)
            add_measurements(report, request, info, loaded=loaded)   # measurements.csv
            return report

        w = CallWorker(job, "export", self.parent)
        self.pool.on(w.progressed, lambda d, t: self.show_progress("Exporting", d, t))
        self.pool.on(w.succeeded, lambda report: self._done(report, request.out_dir))
        self.pool.on(w.failed, lambda msg, w=w: self.failed(msg, w))
        self.pool.on(w.cancelled, self.hide_progress)
        self.pool.keep(w, "export")
        w.start()

    def _done(self, report, out_dir: Path) -> None:
        self.pool.release("export")
        self.hide_progress()
        self.last_export = report
        msg = f"exported {len(report.written)} file(s) to {out_dir}"
        if report.errors:
            self.show_error(f"{msg}; failed: {'; '.join(report.errors)}")
        else:
            self.show_status(msg, 15000)
        from viewer.ui.export_dialog import ExportResultDialog

        if self.result_dialog is not None:
            self.result_dialog.close()
        self.result_dialog = ExportResultDialog(report.written, report.errors, out_dir,
                                                self.parent, sent=report.sent)
        self.result_dialog.show()
        self.finished(report)
