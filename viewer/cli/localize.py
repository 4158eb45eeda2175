"""`main.py localize`: headless batch localization and export of every series under a path.

    python main.py localize PATH [PATH ...] --out DIR [--format png,npy,nifti,seg,medseg,sr]
                            [--threshold T] [--lung-only] [--device auto|cpu|cuda] [--weights W]
                            [--seg-compression none|rle|jpeg2000] [--send URL]
                            [--pacs URL [--patient P] [--study-date D]]
                            [--workers N | --scheduler ADDRESS]

PATH is a file, a folder (searched recursively), a series, or a list file (.txt / .lst: one
path a line, # comments); `--pacs URL` adds the CT series of the studies matching --patient /
--study-date, retrieved (resumably) into DIR/pacs/. Every series `viewer.io.scan_path`
finds is loaded, localized (the GAN map, float32 in [0, 1]), thresholded into a mask (optionally
limited to the lungs) and exported. Output layout:

    DIR/<series>/png/map_ZZZZ.png, mask_ZZZZ.png   8-bit, source slice size
    DIR/<series>/map.npy, mask.npy, localization.npz (with geometry)
    DIR/<series>/map.nii.gz, mask.nii.gz           source geometry
    DIR/<series>/seg_mask.dcm, seg_map.dcm         DICOM SEG BINARY / FRACTIONAL (DICOM only)
    DIR/medseg/images/N.png, masks/N.png, index.csv   all series in one training folder
    DIR/<series>/sr.dcm                            DICOM SR (TID 1500) of the measurements
    DIR/<series>/measurements.csv                  with sr: the reader's rulers and ROIs
    DIR/summary.csv, DIR/summary.json              per slice and per series lesion burden

With `sr`, the rulers and ROIs a reader saved for a series in the viewer (on this machine's user
data folder; the driver reads them, so Dask workers elsewhere get them too) go into its SR
(TID 1410, each on its source image) and its measurements.csv, as the viewer's own export does.

`--send URL` stores each series' SEG and SR on a DICOMweb PACS (STOW-RS). `--workers N` runs one
task per series on a local Dask cluster of N processes, `--scheduler ADDRESS` on a running Dask
scheduler (viewer/cli/localize_dask.py); the summary is the same as a single-process run's.

Exit status: 0 when everything asked for was written; 1 when some export or series failed (the
rest is still written, each failure reported as one `error:` line); 2 on unusable input (missing
path, nothing loadable, bad format, threshold outside 0–1, unreadable weights, bad device).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gan.cli.common import UsageError, add_device_argument, error, require_device, split_list
from gan.resources import LOCALIZER_WEIGHTS, relative

FORMATS = ("png", "npy", "nifti", "seg", "medseg", "sr")
LIST_SUFFIXES = (".txt", ".lst", ".list")
DEFAULT_FORMATS = "png,npy,nifti,seg"
DEFAULT_WEIGHTS = LOCALIZER_WEIGHTS


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "localize",
        help="localize lesions in every series under PATH and export maps, masks and a summary",
        description="Localize lesions with the GAN in every series found under PATH (a file, "
        "a folder searched recursively, or a series) and write the maps and masks in the chosen "
        "formats, plus summary.csv and summary.json (per slice lung %, lesion %, ground-glass "
        "and consolidation shares for HU input, severity; per series totals and volumes in "
        "ml). Exit 0: all written; 1: some export failed, the rest written; 2: unusable input. "
        "See docs/EXPORT.md.",
    )
    p.add_argument("path", metavar="PATH", nargs="*",
                   help="CT files, folders (searched recursively) or list files (.txt/.lst, "
                   "one path a line)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created)")
    p.add_argument("--format", default=DEFAULT_FORMATS, metavar="LIST",
                   help=f"comma-separated formats among {', '.join(FORMATS)} "
                   f"(default {DEFAULT_FORMATS}); seg and sr need DICOM input")
    p.add_argument("--threshold", type=str, default=None, metavar="T",
                   help="mask threshold on the [0, 1] map (default: the model's own threshold)")
    p.add_argument("--lung-only", action="store_true",
                   help="keep only mask voxels inside the segmented lungs")
    add_device_argument(p, "where the model runs (default auto: CUDA when present)")
    p.add_argument("--weights", default=None, metavar="W",
                   help=f"localizer weights (.safetensors; default {relative(DEFAULT_WEIGHTS)})")
    p.add_argument("--seg-compression", default="none", choices=("none", "rle", "jpeg2000"),
                   help="pixel encoding of the FRACTIONAL map SEG (lossless; default none, "
                   "the most widely readable; jpeg2000 is about 10x smaller)")
    p.add_argument("--send", metavar="URL", default=None,
                   help="store each series' SEG and SR on this DICOMweb PACS (a URL or a "
                   "configured server name; STOW-RS)")
    p.add_argument("--pacs", metavar="URL", default=None,
                   help="also localize the CT series of the studies this DICOMweb PACS finds "
                   "for --patient / --study-date (retrieved into DIR/pacs/, resumable)")
    p.add_argument("--patient", default=None, help="with --pacs: patient ID or name")
    p.add_argument("--study-date", default=None, help="with --pacs: YYYYMMDD or a range")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--workers", type=str, default=None, metavar="N",
                   help="run one task per series on a local Dask cluster of N processes")
    g.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run on a running Dask scheduler (tcp://host:8786)")
    p.add_argument("--connect-timeout", type=float, default=10.0, metavar="S",
                   help=argparse.SUPPRESS)
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    p.set_defaults(func=handler)


def parse_formats(text: str) -> list[str]:
    """'png, nifti' -> ['png', 'nifti']; UsageError naming an unknown or empty format list."""
    names = split_list(str(text))
    if not names:
        raise UsageError(f"--format {text!r}: no format given (choose from {', '.join(FORMATS)})")
    for name in names:
        if name not in FORMATS:
            raise UsageError(f"--format {name}: unknown format (choose from {', '.join(FORMATS)})")
    return names


def parse_threshold(text: str | None) -> float | None:
    """None stays None (model default); else a number in [0, 1] or UsageError."""
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"--threshold {text}: not a number") from None
    if not 0.0 <= value <= 1.0:  # also rejects NaN
        raise UsageError(f"--threshold {text}: must lie between 0 and 1")
    return value


def make_localizer(weights: Path, device: str):
    """The GAN localizer (gan.inference.Localizer); tests replace this function."""
    from gan.inference import Localizer

    return Localizer(weights=weights, device=device)


def parse_workers(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        n = int(text)
    except ValueError:
        raise UsageError(f"--workers {text}: not a whole number") from None
    if n < 1:
        raise UsageError(f"--workers {text}: must be at least 1")
    return n


def expand_paths(paths: list[str]) -> tuple[list[Path], list[str]]:
    """The input paths (list files read), and one message per path that is unusable."""
    out, problems = [], []
    for text in paths:
        path = Path(text)
        if not path.exists():
            problems.append(f"{path}: no such file or folder")
        elif path.is_file() and path.suffix.lower() in LIST_SUFFIXES:
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                problems.append(f"list {path}: cannot read ({exc})")
                continue
            for k, line in enumerate(lines, 1):
                item = line.split("#", 1)[0].strip()
                if not item:
                    continue
                entry = Path(item) if Path(item).is_absolute() else path.parent / item
                if entry.exists():
                    out.append(entry)
                else:
                    problems.append(f"list {path} line {k}: {item}: no such file or folder")
        else:
            out.append(path)
    return out, problems


def pacs_series(args, out: Path) -> list[Path]:
    """Retrieve the CT series of the studies matching the query into DIR/pacs/; the folders."""
    from tqdm import tqdm

    from viewer.cli.pacs import make_client

    try:
        client = make_client(args.pacs)
        studies = client.search(patient=args.patient, study_date=args.study_date, modality="CT")
    except ValueError as exc:
        raise UsageError(f"--pacs: {exc}") from None
    folders = []
    for st in studies:
        for se in st.series:
            with tqdm(desc=f"retrieve {se.series_uid[-12:]}", unit="inst", file=sys.stderr,
                      disable=args.no_progress, leave=False) as bar:
                def progress(done, total, bar=bar):
                    bar.total, bar.n = total, done
                    bar.refresh()
                    return True
                try:
                    result = client.retrieve(st.study_uid, se.series_uid, out / "pacs", progress)
                except ValueError as exc:
                    error(f"--pacs: {exc}")
                    continue
            if result.failed:
                error(f"--pacs: series {se.series_uid}: partial retrieve, {result.summary()}; "
                      "localizing what arrived (rerun to fetch the rest)")
            folders += result.series_folders
    if not studies:
        error(f"--pacs {args.pacs}: no CT study matches the query")
    return folders


def handler(args: argparse.Namespace) -> int:
    try:
        formats = parse_formats(args.format)
        threshold = parse_threshold(args.threshold)
        workers = parse_workers(args.workers)
        if not args.path and not args.pacs:
            raise UsageError("PATH: give at least one path (or --pacs URL)")
        if (args.patient or args.study_date) and not args.pacs:
            raise UsageError("--patient / --study-date: only with --pacs URL")
        if args.send and not {"seg", "sr"} & set(formats):
            raise UsageError("--send: nothing to send; add seg and/or sr to --format")
        if args.workers is not None or args.scheduler:
            if "medseg" in formats:
                raise UsageError("--format medseg: not available with --workers/--scheduler "
                                 "(one shared numbered folder); run it without them")
        paths, problems = expand_paths(args.path)
        for message in problems[:-1] if not paths and not args.pacs else problems:
            error(message)
        if not paths and not args.pacs:
            raise UsageError(problems[-1] if problems else "PATH: nothing to read")
        weights = Path(args.weights) if args.weights else DEFAULT_WEIGHTS
        if not weights.is_file():
            raise UsageError(f"weights {weights}: file not found (pass --weights W)")
        out = Path(args.out)
        if out.exists() and not out.is_dir():
            raise UsageError(f"--out {out}: exists and is not a folder")
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"--out {out}: cannot create ({exc.strerror or exc})") from None
        if args.send:
            from viewer.cli.pacs import make_client

            try:
                make_client(args.send)
            except ValueError as exc:
                raise UsageError(f"--send: {exc}") from None
        from viewer.cli.localize_run import BatchRun, find_series

        require_device(args.device)
        try:
            localizer = make_localizer(weights, args.device)
        except (ValueError, OSError, RuntimeError) as exc:
            text = str(exc)
            raise UsageError(text if str(weights) in text else f"weights {weights}: {text}") \
                from None
        if args.pacs:
            paths += pacs_series(args, out)
        series, found = [], []
        for path in paths:
            try:
                found = find_series(path, show_progress=not args.no_progress)
            except UsageError as exc:
                problems.append(str(exc))
                if len(paths) == 1:
                    raise
                error(str(exc))
                continue
            series += found
        if not series:
            raise UsageError("nothing loadable in any PATH")
    except UsageError as exc:
        error(str(exc))
        return 2
    run = BatchRun(localizer, out, formats, threshold, args.lung_only,
                   show_progress=not args.no_progress, seg_compression=args.seg_compression,
                   send_to=args.send)
    if workers is not None or args.scheduler:
        from viewer.cli.localize_dask import run_on_dask

        options = {"weights": str(weights.resolve()), "device": args.device,
                   "out": str(out.resolve()), "formats": formats, "threshold": threshold,
                   "lung_only": args.lung_only, "seg_compression": args.seg_compression,
                   "send_to": args.send, "torch_threads": 1 if workers else None}
        try:
            failures = run_on_dask(run, series, options, workers=workers,
                                   scheduler=args.scheduler, show_progress=not args.no_progress,
                                   connect_timeout_s=args.connect_timeout)
        except ValueError as exc:
            error(str(exc))
            return 2
    else:
        failures = run.run_all(series)
    print(f"wrote {out}: {len(series)} series, {run.n_slices} slices; summary "
          f"{out / 'summary.csv'}", file=sys.stderr)
    return 1 if failures or problems else 0
