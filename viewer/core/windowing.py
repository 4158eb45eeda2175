"""Window/level (W/L) for CT display: named presets and the HU -> display mapping.

A window of width ``W`` and level ``L`` (both in HU) maps ``L - W/2`` to 0 and ``L + W/2`` to 1,
linearly in between, clipped outside. The presets below are the ones named in the reading-room
issue; the lung window W1500/L-600 is also the localizer's input window (``gan.preprocess``).

Arrays of any shape are accepted (a slice ``(y, x)`` or a volume ``(z, y, x)``); the output has
the same shape. Input is HU (any real dtype or integer type). 8-bit pictures (``is_hu=False``)
are already windowed by their source and are shown as they are: do not window them again.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class WindowPreset:
    """A named display window: ``width`` and ``level`` in HU, ``width > 0``."""

    name: str
    width: float
    level: float

    @property
    def low(self) -> float:
        """HU shown as black (0)."""
        return self.level - self.width / 2.0

    @property
    def high(self) -> float:
        """HU shown as white (1)."""
        return self.level + self.width / 2.0


LUNG = WindowPreset("lung", 1500.0, -600.0)
MEDIASTINUM = WindowPreset("mediastinum", 350.0, 50.0)
BONE = WindowPreset("bone", 2000.0, 500.0)

#: Presets by name, in menu order.
PRESETS: dict[str, WindowPreset] = {p.name: p for p in (LUNG, MEDIASTINUM, BONE)}


def validate_window(width: float, level: float) -> tuple[float, float]:
    """Return ``(width, level)`` as floats; ValueError unless both are finite and width > 0."""
    try:
        w = float(width)
        lv = float(level)
    except (TypeError, ValueError):
        raise ValueError(f"window: width and level must be numbers, got {width!r}, {level!r}")
    if not math.isfinite(w) or not math.isfinite(lv):
        raise ValueError(f"window: width and level must be finite, got {w}, {lv}")
    if w <= 0:
        raise ValueError(f"window: width must be > 0 HU, got {w}")
    return w, lv


def preset(name: str) -> WindowPreset:
    """The preset called ``name`` (case-insensitive); ValueError naming the known presets."""
    key = str(name).strip().lower()
    if key not in PRESETS:
        raise ValueError(f"window preset {name!r}: unknown, choose one of {', '.join(PRESETS)}")
    return PRESETS[key]


def apply_window(hu: np.ndarray, width: float, level: float) -> np.ndarray:
    """Map HU to display intensity: float32 array in [0, 1], same shape as ``hu``.

    ``hu``: real or integer array in HU, any shape. NaN input stays NaN.
    """
    w, lv = validate_window(width, level)
    arr = np.asarray(hu)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"window: HU array must be numeric, got dtype {arr.dtype}")
    low = lv - w / 2.0
    out = arr.astype(np.float32, copy=True)
    out -= np.float32(low)
    out *= np.float32(1.0 / w)
    np.clip(out, 0.0, 1.0, out=out)
    return out


def window_to_uint8(hu: np.ndarray, width: float, level: float) -> np.ndarray:
    """Map HU to display grey levels: uint8 array in 0..255, same shape as ``hu`` (NaN -> 0)."""
    unit = apply_window(hu, width, level)
    np.nan_to_num(unit, copy=False, nan=0.0)
    unit *= 255.0
    unit += 0.5
    return unit.astype(np.uint8)


def apply_preset(hu: np.ndarray, name_or_preset: str | WindowPreset) -> np.ndarray:
    """``apply_window`` with a preset (object or name); float32 in [0, 1]."""
    p = name_or_preset if isinstance(name_or_preset, WindowPreset) else preset(name_or_preset)
    return apply_window(hu, p.width, p.level)


def parse_window(width_text: str, level_text: str) -> tuple[float, float]:
    """Typed window values: ``(width, level)`` in HU, or ValueError with a one-line message that
    names the field and the reason (e.g. "window width: must be > 0 HU, got -5")."""
    values = []
    for field, text in (("window width", width_text), ("window level", level_text)):
        t = str(text).strip()
        if not t:
            raise ValueError(f"{field}: empty, type a number in HU")
        try:
            v = float(t)
        except ValueError:
            raise ValueError(f"{field}: {t!r} is not a number")
        if not math.isfinite(v):
            raise ValueError(f"{field}: must be finite, got {t}")
        values.append(v)
    w, lv = values
    if w <= 0:
        raise ValueError(f"window width: must be > 0 HU, got {w:g}")
    return w, lv


def check_preset_name(name: str) -> str:
    """A user preset's name, stripped; ValueError when empty or the name of a built-in preset."""
    n = str(name).strip()
    if not n:
        raise ValueError("preset name: empty")
    if n.lower() in PRESETS:
        raise ValueError(f"preset name: {n!r} is a built-in preset")
    return n
