"""Command-line entry point of the COVID-19 CT reading room.

Subcommands: view, info, localize, pacs, train, evaluate, scores. A bare ``python main.py`` opens the
viewer on the bundled sample. Each subcommand lives in its own module that exposes
``register(subparsers)``; heavy imports happen inside the handlers so ``--help`` stays fast.
"""
from __future__ import annotations

import argparse
import importlib
import sys

# (module, ) in the order shown by --help. Each module defines register(subparsers).
SUBCOMMAND_MODULES = (
    "viewer.cli.view",
    "viewer.cli.info",
    "viewer.cli.localize",
    "viewer.cli.calibrate",
    "viewer.cli.lungs",
    "viewer.cli.pacs",
    "gan.cli.train",
    "gan.cli.evaluate",
    "viewer.cli.scores",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="main.py",
        description="COVID-19 CT reading room: browse CT series, localize lesions with a "
        "weakly supervised GAN, score maps, export pseudo-labels.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv:
        argv = ["view"]
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
