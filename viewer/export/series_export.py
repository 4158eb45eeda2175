"""One call for "export this series (or these slices) in these formats": used by the localize
command and meant for the viewer's export dialog (run it in a worker thread; it is Qt-free).

    report = export_formats(ExportRequest(out_dir, ["nifti", "seg"], indices=[z]),
                            volume, maps, masks, progress=cb)
    report.written   # paths written
    report.errors    # one line per format that failed: "<format>: <reason>"

Layout inside ``out_dir`` (``S`` = "" for the whole series, "_zNNNN" for one slice,
"_zNNNN-MMMM" for a run of slices):

    png/map_ZZZZ.png, png/mask_ZZZZ.png     8-bit, source slice size
    mapS.npy, maskS.npy, localizationS.npz  (npz with geometry)
    mapS.nii.gz, maskS.nii.gz               source geometry
    seg_maskS.dcm, seg_mapS.dcm             DICOM SEG BINARY / FRACTIONAL (DICOM sources only)
    sr.dcm                                  DICOM SR (TID 1500) of the series' measurements,
                                            referencing seg_mask.dcm when written (whole series),
                                            with the reader's rulers and ROIs (TID 1410)
    medseg/images/N.png, masks/N.png, index.csv   (or ``request.medseg_dir``)

A format that fails (e.g. seg for 8-bit pictures) is reported in ``errors`` and the others are
still written. Progress: ``progress(done, total)`` with total = 100 per format; False cancels
(ExportCancelled propagates).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from viewer.export.source import ExportSource, Progress, check_indices

FORMATS = ("png", "npy", "nifti", "seg", "medseg", "sr")


@dataclass
class ExportRequest:
    """What to write. indices None = whole series; [z] = the current slice."""

    out_dir: Path
    formats: Sequence[str]
    indices: Sequence[int] | None = None
    include_map: bool = True
    include_mask: bool = True
    model_name: str = "GAN localizer"
    weights_hash: str = "unknown"
    threshold: float | None = None
    medseg_dir: Path | None = None
    medseg_start: int = 1
    seg_compression: str = "none"
    #: DICOMweb URL or configured server name: the DICOM objects written (SEG, SR) are then
    #: stored there (STOW-RS); failures are reported as "send: ..." errors
    send_to: str | None = None
    #: the reader's rulers and ROIs (checked dicts of ``viewer.core.measurement_store``): the
    #: "sr" format reports them too (TID 1410), each on its source image
    measurements: Sequence[dict] = ()

    def __post_init__(self) -> None:
        self.out_dir = Path(self.out_dir)
        self.formats = [str(f).strip().lower() for f in self.formats]
        unknown = [f for f in self.formats if f not in FORMATS]
        if unknown:
            raise ValueError(f"export format {unknown[0]}: unknown (choose from "
                             f"{', '.join(FORMATS)})")
        if not self.formats:
            raise ValueError("export: no format chosen")
        from viewer.export import dicom_seg

        if self.seg_compression not in dicom_seg.COMPRESSIONS:
            raise ValueError(f"DICOM SEG compression {self.seg_compression!r}: use one of "
                             f"{', '.join(dicom_seg.COMPRESSIONS)}")
        if not (self.include_map or self.include_mask):
            raise ValueError("export: choose the map, the mask or both")


@dataclass
class ExportReport:
    """Paths written, one-line errors per failed format, next free MedSeg number."""

    written: list[Path] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    next_medseg: int = 1
    sent: list[str] = field(default_factory=list)  # SOP Instance UIDs stored on the PACS


def _suffix(zs: list[int], whole: bool) -> str:
    if whole:
        return ""
    return f"_z{zs[0]:04d}" if len(zs) == 1 else f"_z{zs[0]:04d}-{zs[-1]:04d}"


def export_formats(
    request: ExportRequest,
    source: ExportSource | object,
    maps: np.ndarray,
    masks: np.ndarray,
    slices: Iterable[tuple[int, np.ndarray]] | None = None,
    progress: Progress = None,
    lungs: np.ndarray | None = None,
) -> ExportReport:
    """Write `request.formats` for map float (z, y, x) in [0, 1] and mask bool (z, y, x).

    source: a viewer.io Volume (its voxels feed the MedSeg images) or SeriesInfo/ExportSource
    with `slices` = (z, slice) pairs for MedSeg. lungs: bool (z, y, x) lung mask for the
    measurements of the "sr" format (segmented from the volume when None). Returns an
    ExportReport.
    """
    src = ExportSource.of(source)
    zs = check_indices(request.indices, src.shape[0])
    whole = request.indices is None
    sfx = _suffix(zs, whole)
    out = request.out_dir
    mp = maps if request.include_map else None
    mk = masks if request.include_mask else None
    report = ExportReport(next_medseg=request.medseg_start)
    n_fmt = len(request.formats)

    def sub_progress(k: int) -> Progress:
        if progress is None:
            return None
        return lambda done, total: progress(k * 100 + int(100 * done / max(total, 1)),
                                            n_fmt * 100)

    for k, fmt in enumerate(request.formats):
        cb = sub_progress(k)
        try:
            # each format's writer is imported when asked for (SimpleITK, highdicom: start-up)
            if fmt == "png":
                from viewer.export import png
            elif fmt == "npy":
                from viewer.export import numpy_export
            elif fmt == "nifti":
                from viewer.export import nifti_export
            elif fmt == "seg":
                from viewer.export import dicom_seg
            if fmt == "png":
                report.written += png.export_png(out / "png", mp, mk, indices=zs, progress=cb)
            elif fmt == "npy":
                sel = (lambda a: a) if whole else (lambda a: a[zs])
                if mp is not None:
                    report.written.append(numpy_export.export_npy(out / f"map{sfx}.npy", sel(mp)))
                if mk is not None:
                    report.written.append(numpy_export.export_npy(out / f"mask{sfx}.npy",
                                                                  sel(mk)))
                report.written.append(numpy_export.export_npz(
                    out / f"localization{sfx}.npz", src, mp, mk, indices=zs, progress=cb))
            elif fmt == "nifti":
                if mp is not None:
                    report.written.append(nifti_export.export_nifti(
                        out / f"map{sfx}.nii.gz", src, mp, indices=zs))
                if mk is not None:
                    report.written.append(nifti_export.export_nifti(
                        out / f"mask{sfx}.nii.gz", src, mk, indices=zs, progress=cb))
            elif fmt == "seg":
                dicom_seg.require_dicom_source(src)
                common = dict(model_name=request.model_name, weights_hash=request.weights_hash,
                              indices=zs)
                if mk is not None:
                    report.written.append(dicom_seg.export_dicom_seg(
                        out / f"seg_mask{sfx}.dcm", src, mk, threshold=request.threshold,
                        progress=cb, **common))
                if mp is not None:
                    report.written.append(dicom_seg.export_dicom_seg(
                        out / f"seg_map{sfx}.dcm", src, mp, compression=request.seg_compression,
                        **common))
            elif fmt == "sr":
                left_out: list[str] = []
                report.written.append(_sr(request, src, source, masks, lungs, whole,
                                          out / "seg_mask.dcm" if "seg" in request.formats
                                          and mk is not None and whole else None, left_out))
                report.errors += [f"sr: {line}" for line in left_out]
            elif fmt == "medseg":
                report.next_medseg = _medseg(request, src, source, masks, slices, zs, cb,
                                             report.next_medseg)
                report.written.append(request.medseg_dir or out / "medseg")
        except (ValueError, OSError) as exc:
            report.errors.append(f"{fmt}: {exc}")
    if request.send_to:
        report.errors += send_written(report.written, request.send_to, report)
    return report


def send_written(written: Sequence[Path], target: str, report: ExportReport | None = None
                 ) -> list[str]:
    """STOW-RS the DICOM files among `written` to `target` (URL or configured server name);
    returns one "send: ..." line per failure (a duplicate counts as one)."""
    from viewer.pacs.client import PacsClient
    from viewer.pacs.config import resolve_server

    files = [Path(p) for p in written if str(p).endswith(".dcm")]
    if not files:
        return []
    try:
        result = PacsClient(resolve_server(target)).store(files)
    except ValueError as exc:
        return [f"send: {exc}"]
    if report is not None:
        report.sent = list(result.stored)
    return ([f"send: {reason}" for _n, reason in result.failed]
            + [f"send: {sop}: already on the PACS (duplicate STOW); not sent again"
               for sop in result.duplicates])


def _medseg(request, src, source, masks, slices, zs, progress, start) -> int:
    from viewer.export import medseg_folder

    if slices is None:
        voxels = getattr(source, "voxels", None)
        if voxels is None:
            raise ValueError("medseg export needs the source slices (a loaded volume)")
        slices = ((z, voxels[z]) for z in zs)
    return medseg_folder.export_medseg_folder(
        request.medseg_dir or request.out_dir / "medseg", src, slices, masks, indices=zs,
        start=start, progress=progress)


def series_totals(request: ExportRequest, src: ExportSource, source, masks: np.ndarray,
                  lungs: np.ndarray | None) -> dict:
    """The summary.csv series totals (viewer.export.summary) of this export's mask."""
    from viewer.export.summary import SummaryBuilder

    voxels = getattr(source, "voxels", None)
    if lungs is None:
        if voxels is None:
            raise ValueError("sr export needs the lung mask or the loaded volume")
        from viewer.core.lesion_layers import series_lungs

        lungs = series_lungs(voxels, src.is_hu, src.spacing)
    hu = voxels if (voxels is not None and src.is_hu) else None
    builder = SummaryBuilder(threshold=request.threshold or 0.0, lung_only=True)
    return builder.add_series(src.safe_name(), src, masks, lungs, hu).totals


def _sr(request, src, source, masks, lungs, whole: bool, seg_path: Path | None,
        left_out: list[str]) -> Path:
    from viewer.export import dicom_sr

    dicom_sr.check_source(src)
    if not whole:
        raise ValueError("DICOM SR: the measurement report covers the whole series; export "
                         "the whole series")
    totals = series_totals(request, src, source, masks, lungs)
    seg = seg_path if seg_path is not None and seg_path.is_file() else None
    return dicom_sr.export_measurement_sr(
        request.out_dir / "sr.dcm", src, totals, model_name=request.model_name,
        weights_hash=request.weights_hash, seg=seg, threshold=request.threshold,
        reader_measurements=request.measurements, voxels=getattr(source, "voxels", None),
        messages=left_out)
