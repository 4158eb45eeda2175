"""argparse value types shared by the gan subcommands: each rejects bad text with a one-line
reason that argparse prints beside the flag's name."""
from __future__ import annotations

import argparse


def _number(text: str, kind: type):
    try:
        return kind(text)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None


def positive_int(text: str) -> int:
    v = _number(text, int)
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {v}")
    return v


def positive_float(text: str) -> float:
    v = _number(text, float)
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {v}")
    return v


def nonnegative_float(text: str) -> float:
    v = _number(text, float)
    if not v >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {v}")
    return v


def fraction(text: str) -> float:
    v = _number(text, float)
    if not 0.0 < v < 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {v}")
    return v


def area_fraction(text: str) -> float:
    """A share of an area in (0, 1]."""
    v = _number(text, float)
    if not 0.0 < v <= 1.0:
        raise argparse.ArgumentTypeError(f"must be above 0 and at most 1, got {v}")
    return v


def test_fraction(text: str) -> float:
    """A training share in [0, 1): 0 means no training part (every slice is a test slice)."""
    v = _number(text, float)
    if not 0.0 <= v < 1.0:
        raise argparse.ArgumentTypeError(f"must be at least 0 and below 1, got {v}")
    return v


def boolean(text: str) -> bool:
    t = text.strip().lower()
    if t in ("1", "true", "yes", "on"):
        return True
    if t in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")
