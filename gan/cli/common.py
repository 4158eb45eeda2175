"""What every command of ``main.py`` shares: ``--device``, comma-separated lists, the usage
error and the one-line ``error: <thing>: <reason>`` report.

It lives in ``gan.cli`` because ``gan`` may not import ``viewer``; the viewer's commands
(``viewer.cli``) import it from here. Qt-free and torch-free at import.
"""
from __future__ import annotations

import sys
from typing import Iterable

#: the values of ``--device`` (the ``gan`` commands also take ``cuda:N``)
DEVICES = ("auto", "cpu", "cuda")
DEVICE_HELP = "auto (CUDA when present), cpu or cuda"
#: exit status of a command given unusable input
EXIT_USAGE = 2


class UsageError(ValueError):
    """Unusable input: reported as one line ``error: <message>``, exit status 2."""


def error(message: str) -> int:
    """Print ``error: <message>`` on stderr (one line) and return the usage exit status 2."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    return EXIT_USAGE


def add_device_argument(parser, help: str = DEVICE_HELP, *, checked: bool = True) -> None:
    """Add ``--device`` (default ``auto``) to ``parser`` (a parser or an argument group).

    ``checked``: argparse accepts only ``DEVICES`` (usage + error, exit 2); the ``gan``
    commands pass False (free text, also ``cuda:N``) and let ``gan.inference.resolve_device``
    report a bad name as their own one-line ``error:`` (their contract). Whether CUDA is really
    there is checked when the model is built (``require_device``, ``resolve_device``), not
    while parsing.
    """
    if checked:
        parser.add_argument("--device", default="auto", choices=DEVICES, help=help)
    else:
        parser.add_argument("--device", default="auto", help=help)


def require_device(name: str) -> None:
    """UsageError when ``name`` asks for CUDA on a machine without it (imports torch)."""
    if str(name).startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise UsageError(f"--device {name}: CUDA is not available on this machine")


def split_list(text: str | Iterable[str], *, lower: bool = True,
               unique: bool = True) -> list[str]:
    """``"png, nifti,,png"`` -> ``["png", "nifti"]``: comma-separated names, stripped, empty
    parts dropped, order kept; lower-cased (``lower``) and repeats dropped (``unique``)."""
    parts = text.split(",") if isinstance(text, str) else list(text)
    names = [t.strip().lower() if lower else t.strip() for t in parts if t.strip()]
    return list(dict.fromkeys(names)) if unique else names
