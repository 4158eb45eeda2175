"""``python main.py view [PATH] [--slice N] [--screenshot FILE.png] [--db PATH]``: the reading-room window.

Qt-free at import: the UI is loaded with ``importlib`` inside the handler.
"""
from __future__ import annotations

import argparse
import importlib
from pathlib import Path

from gan.cli.common import add_device_argument, error
from gan.resources import SAMPLES as RESOURCE_SAMPLES

SAMPLES = RESOURCE_SAMPLES


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "view",
        help="open the reading room (default: the bundled sample)",
        description="Open CT series in the reading-room window: series browser, slice view with "
        "window/level, live lesion overlay and severity. Without PATH the bundled sample "
        "(resources/samples) is opened.",
    )
    p.add_argument("path", nargs="?", default=None,
                   help="DICOM file or folder, NIfTI file, or picture(s) (default: the sample)")
    p.add_argument("--slice", type=int, default=None, metavar="N",
                   help="slice index to show first (0-based; default: the middle slice; beyond the "
                   "last: the last, with a warning)")
    p.add_argument("--screenshot", metavar="FILE.png", default=None,
                   help="render offscreen once that slice's overlay is computed, save the window "
                   "as PNG and exit")
    p.add_argument("--screenshot-when", choices=("slice", "series"), default="slice",
                   help="with --screenshot: once the slice's overlay is drawn (default), or once "
                   "the whole series is localized and its severity counted")
    p.add_argument("--weights", default=None, metavar="W",
                   help="localizer weights (.safetensors; default: resources/weights/"
                   "localizer.safetensors)")
    add_device_argument(p, "where the localizer runs (default: auto = CUDA when present)")
    p.add_argument("--db", default=None, metavar="PATH",
                   help="reader-study score database (SQLite; created when missing; default: "
                   "scores.sqlite in the user data folder)")
    p.set_defaults(func=handler)


def check_args(args) -> str | None:
    """One-line problem with the arguments, or None."""
    path = Path(args.path) if args.path else SAMPLES
    if not path.exists():
        return f"{path}: no such file or folder"
    if args.slice is not None and args.slice < 0:
        return f"--slice {args.slice}: must be >= 0"
    if args.screenshot:
        shot = Path(args.screenshot)
        if shot.suffix.lower() != ".png":
            return f"--screenshot {shot}: must end in .png"
        if not shot.parent.exists() and str(shot.parent) not in ("", "."):
            return f"--screenshot {shot}: folder {shot.parent} does not exist"
    if args.weights and not Path(args.weights).is_file():
        return f"--weights {args.weights}: file not found"
    if args.db:
        db = Path(args.db)
        if db.is_dir():
            return f"--db {db}: is a folder, expected a .sqlite file"
        if not db.parent.exists() and str(db.parent) not in ("", "."):
            return f"--db {db}: folder {db.parent} does not exist"
    return None


def display_problem(env=None, platform: str | None = None) -> str | None:
    """One line when the window cannot be shown here, or None: on Linux and other X11/Wayland
    systems, no ``DISPLAY`` or ``WAYLAND_DISPLAY`` and no ``QT_QPA_PLATFORM`` chosen (Qt would
    abort the process with a core dump instead of a message)."""
    import os
    import sys

    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    if platform.startswith(("win", "darwin")) or env.get("QT_QPA_PLATFORM"):
        return None
    if env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"):
        return None
    return ("view: no display to open the window on (DISPLAY and WAYLAND_DISPLAY are not set); "
            "run it in a desktop session, or render headless with --screenshot FILE.png, or use "
            "'main.py localize' for numbers and exports")


def handler(args) -> int:
    problem = check_args(args)
    if problem:
        return error(problem)
    if args.screenshot:
        import os

        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    problem = display_problem()
    if problem:
        return error(problem)
    app = importlib.import_module("viewer.ui.app")
    path = Path(args.path) if args.path else SAMPLES
    return app.run(path, slice_index=args.slice, screenshot=args.screenshot,
                   weights=args.weights, device=args.device, db_path=args.db,
                   screenshot_when=getattr(args, "screenshot_when", "slice"))
