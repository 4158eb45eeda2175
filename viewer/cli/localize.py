"""`main.py localize`: headless batch localization and export of every series under a path.

    python main.py localize PATH --out DIR [--format png,npy,nifti,seg,medseg] [--threshold T]
                            [--lung-only] [--device auto|cpu|cuda] [--weights W]
                            [--seg-compression none|rle|jpeg2000]

PATH is a file, a folder (searched recursively) or a series; every series `viewer.io.scan_path`
finds is loaded, localized (the GAN map, float32 in [0, 1]), thresholded into a mask (optionally
limited to the lungs) and exported. Output layout:

    DIR/<series>/png/map_ZZZZ.png, mask_ZZZZ.png   8-bit, source slice size
    DIR/<series>/map.npy, mask.npy, localization.npz (with geometry)
    DIR/<series>/map.nii.gz, mask.nii.gz           source geometry
    DIR/<series>/seg_mask.dcm, seg_map.dcm         DICOM SEG BINARY / FRACTIONAL (DICOM only)
    DIR/medseg/images/N.png, masks/N.png, index.csv   all series in one training folder
    DIR/summary.csv, DIR/summary.json              per slice and per series lesion burden

Exit status: 0 when everything asked for was written; 1 when some export or series failed (the
rest is still written, each failure reported as one `error:` line); 2 on unusable input (missing
path, nothing loadable, bad format, threshold outside 0–1, unreadable weights, bad device).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

FORMATS = ("png", "npy", "nifti", "seg", "medseg")
DEFAULT_FORMATS = "png,npy,nifti,seg"
DEFAULT_WEIGHTS = Path(__file__).resolve().parents[2] / "resources" / "weights" / \
    "localizer.safetensors"


class UsageError(ValueError):
    """Unusable input: reported as one line, exit status 2."""


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
    p.add_argument("path", metavar="PATH", help="a CT file, a folder or a series")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created)")
    p.add_argument("--format", default=DEFAULT_FORMATS, metavar="LIST",
                   help=f"comma-separated formats among {', '.join(FORMATS)} "
                   f"(default {DEFAULT_FORMATS}); seg needs DICOM input")
    p.add_argument("--threshold", type=str, default=None, metavar="T",
                   help="mask threshold on the [0, 1] map (default: the model's own threshold)")
    p.add_argument("--lung-only", action="store_true",
                   help="keep only mask voxels inside the segmented lungs")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                   help="where the model runs (default auto: CUDA when present)")
    p.add_argument("--weights", default=None, metavar="W",
                   help=f"localizer weights (.safetensors; default {DEFAULT_WEIGHTS.relative_to(DEFAULT_WEIGHTS.parents[2])})")
    p.add_argument("--seg-compression", default="none", choices=("none", "rle", "jpeg2000"),
                   help="pixel encoding of the FRACTIONAL map SEG (lossless; default none, "
                   "the most widely readable; jpeg2000 is about 10x smaller)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    p.set_defaults(func=handler)


def parse_formats(text: str) -> list[str]:
    """'png, nifti' -> ['png', 'nifti']; UsageError naming an unknown or empty format list."""
    names = [t.strip().lower() for t in str(text).split(",") if t.strip()]
    if not names:
        raise UsageError(f"--format {text!r}: no format given (choose from {', '.join(FORMATS)})")
    for name in names:
        if name not in FORMATS:
            raise UsageError(f"--format {name}: unknown format (choose from {', '.join(FORMATS)})")
    return list(dict.fromkeys(names))


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


def error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr, flush=True)


def handler(args: argparse.Namespace) -> int:
    try:
        formats = parse_formats(args.format)
        threshold = parse_threshold(args.threshold)
        path = Path(args.path)
        if not path.exists():
            raise UsageError(f"{path}: no such file or folder")
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
        from viewer.cli.localize_run import BatchRun, find_series

        if args.device == "cuda":
            import torch

            if not torch.cuda.is_available():
                raise UsageError("--device cuda: CUDA is not available on this machine")
        try:
            localizer = make_localizer(weights, args.device)
        except (ValueError, OSError, RuntimeError) as exc:
            text = str(exc)
            raise UsageError(text if str(weights) in text else f"weights {weights}: {text}") \
                from None
        series = find_series(path, show_progress=not args.no_progress)
    except UsageError as exc:
        error(str(exc))
        return 2
    run = BatchRun(localizer, out, formats, threshold, args.lung_only,
                   show_progress=not args.no_progress, seg_compression=args.seg_compression)
    failures = run.run_all(series)
    print(f"wrote {out}: {len(series)} series, {run.n_slices} slices; summary "
          f"{out / 'summary.csv'}", file=sys.stderr)
    return 1 if failures else 0
