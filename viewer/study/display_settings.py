"""Display settings a reading list fixes for its items (threshold, opacity, colormap, window),
stored with every score; the overlay colormap names (``COLORMAPS``, one definition).

Qt-free. ``DisplaySettings.from_json`` refuses bad values with a one-line message naming the
field and the reason (``"reading list x.json: display: opacity: must be in [0, 1], got 1.5"``).
"""
from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass

#: Overlay colormaps (matplotlib names) the viewer can draw.
COLORMAPS = ("inferno", "jet", "hot", "magma", "viridis", "turbo")


def _unit(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name}: expected a number in [0, 1], got {value!r}")
    v = float(value)
    if not math.isfinite(v) or not 0.0 <= v <= 1.0:
        raise ValueError(f"{name}: must be in [0, 1], got {value!r}")
    return v


def _finite(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not math.isfinite(float(value)):
        raise ValueError(f"{name}: expected a finite number (HU), got {value!r}")
    return float(value)


@dataclass(frozen=True)
class DisplaySettings:
    """What a reader sees an item with: mask ``threshold`` and overlay ``opacity`` in [0, 1],
    ``colormap`` (one of :data:`COLORMAPS`), window ``window_width`` > 0 and ``window_level``
    in HU (ignored for 8-bit pictures)."""

    threshold: float = 0.5
    opacity: float = 0.45
    colormap: str = "inferno"
    window_width: float = 1500.0
    window_level: float = -600.0

    def __post_init__(self):
        _unit(self.threshold, "threshold")
        _unit(self.opacity, "opacity")
        if self.colormap not in COLORMAPS:
            raise ValueError(f"colormap: expected one of {', '.join(COLORMAPS)}, "
                             f"got {self.colormap!r}")
        if _finite(self.window_width, "window width") <= 0:
            raise ValueError(f"window width: must be > 0 HU, got {self.window_width!r}")
        _finite(self.window_level, "window level")

    @classmethod
    def from_json(cls, data, source: str = "display") -> "DisplaySettings":
        """From a dict with the field names (missing fields take the defaults); ValueError
        ``"<source>: <field>: <reason>"`` for an unknown field or a bad value."""
        if not isinstance(data, dict):
            raise ValueError(f"{source}: expected an object with threshold, opacity, colormap, "
                             f"window_width, window_level; got {type(data).__name__}")
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"{source}: unknown setting {unknown[0]!r} (known: "
                             f"{', '.join(cls.__dataclass_fields__)})")
        try:
            return cls(**data)
        except ValueError as exc:
            raise ValueError(f"{source}: {exc}") from None

    def to_json(self) -> dict:
        return asdict(self)
