"""Sanity rules a DICOM header must pass before any of its pixels is trusted.

Each rule either refuses the file (a one-line reason naming the tag: the file is skipped) or
accepts it with a note (a warning shown with its series). ``docs/INPUT.md`` lists every rule
and its message. Inputs are raw header values (as pydicom gives them, or None when absent).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from viewer.io.dicom_values import as_float, as_floats, as_int

MAX_COORD_MM = 1e6        # |ImagePositionPatient| beyond 1 km is not a patient position
MAX_PIXEL_MM = 1e3        # pixels larger than 1 m
MIN_PIXEL_MM = 1e-4
MAX_SLOPE = 1e3           # RescaleSlope outside [MIN_SLOPE, MAX_SLOPE] is not a CT rescale
MIN_SLOPE = 1e-6
MAX_INTERCEPT = 1e5       # |RescaleIntercept| beyond this is not a CT rescale
NOT_HU = "values are not Hounsfield units (shown as grey levels, contrast stretched per slice)"


class Refused(ValueError):
    """The header fails a rule: the file is skipped with ``str(self)`` as the reason."""


@dataclass(frozen=True)
class PixelFormat:
    bits_allocated: int
    bits_stored: int
    signed: bool


def pixel_format(bits_allocated, bits_stored, high_bit, pixel_representation,
                 is_ct: bool) -> PixelFormat:
    """BitsAllocated / BitsStored / HighBit / PixelRepresentation, checked together."""
    ba = as_int(bits_allocated)
    if bits_allocated is None:
        raise Refused("BitsAllocated missing: the size of a pixel is unknown")
    if ba not in (8, 16, 32):
        raise Refused(f"BitsAllocated {bits_allocated!s}: only 8, 16 or 32 bits per pixel are read")
    bs = ba if bits_stored is None else as_int(bits_stored)
    if bs is None or bs < 1:
        raise Refused(f"BitsStored {bits_stored!s} is not a bit count")
    if bs > ba:
        raise Refused(f"BitsStored {bs} > BitsAllocated {ba}")
    if high_bit is not None:
        hb = as_int(high_bit)
        if hb != bs - 1:
            raise Refused(f"HighBit {high_bit!s} does not match BitsStored {bs} (expected "
                          f"{bs - 1}): pixel values not aligned at bit 0 are not read")
    if pixel_representation is None:
        if is_ct and ba > 8:
            raise Refused("PixelRepresentation missing: cannot tell signed from unsigned pixels")
        return PixelFormat(ba, bs, False)
    pr = as_int(pixel_representation)
    if pr not in (0, 1):
        raise Refused(f"PixelRepresentation {pixel_representation!s} is neither 0 (unsigned) "
                      "nor 1 (signed)")
    return PixelFormat(ba, bs, pr == 1)


def pixel_data_length(value_length: int, have: int, rows: int, cols: int, frames: int,
                      bits_allocated: int) -> None:
    """Native PixelData must hold exactly Rows x Columns x frames x BitsAllocated bits (plus
    one padding byte to an even length): too short and too long are both refused."""
    needed = rows * cols * frames * bits_allocated // 8
    if have < min(needed, value_length):
        raise Refused(f"truncated pixel data ({have} of {needed} bytes)")
    if value_length < needed:
        raise Refused(f"PixelData holds {value_length} bytes; Rows x Columns x frames x "
                      f"BitsAllocated ({rows} x {cols} x {frames} x {bits_allocated} bits) "
                      f"need {needed}")
    if value_length > needed + (needed % 2):
        raise Refused(f"PixelData holds {value_length} bytes, more than Rows x Columns x frames "
                      f"x BitsAllocated ({rows} x {cols} x {frames} x {bits_allocated} bits) = "
                      f"{needed}: Rows, Columns, NumberOfFrames or BitsAllocated is wrong")


def rescale(slope, intercept) -> tuple[float, float, Optional[str]]:
    """``(slope, intercept, problem)`` of a CT slice. ``problem`` is None when the values map
    stored pixels to HU; otherwise a note naming the tag, and the slice is read as not HU.
    A missing slope with a usable intercept is taken as 1 (with a note in the problem-free
    case there is nothing to say: the standard default)."""
    b = as_float(intercept)
    s = as_float(slope)
    if intercept is None or intercept == "":
        return 1.0, 0.0, f"RescaleIntercept missing: {NOT_HU}"
    if b is None:
        return 1.0, 0.0, f"RescaleIntercept {_show(intercept)} is not a finite number: {NOT_HU}"
    if abs(b) > MAX_INTERCEPT:
        return 1.0, 0.0, f"RescaleIntercept {b:g} is out of range (|value| > {MAX_INTERCEPT:g}): {NOT_HU}"
    if slope is None or slope == "":
        return 1.0, b, None
    if s is None:
        return 1.0, 0.0, f"RescaleSlope {_show(slope)} is not a finite number: {NOT_HU}"
    if s <= 0:
        return 1.0, 0.0, f"RescaleSlope {s:g} is not positive: {NOT_HU}"
    if not MIN_SLOPE <= s <= MAX_SLOPE:
        return 1.0, 0.0, (f"RescaleSlope {s:g} is out of range ({MIN_SLOPE:g} to {MAX_SLOPE:g}): "
                          f"{NOT_HU}")
    return s, b, None


def _show(value) -> str:
    text = " ".join(str(value).split())
    return repr(text[:40])


def position(value) -> Optional[tuple[float, float, float]]:
    """ImagePositionPatient: None when absent; refused when present but unusable."""
    if value is None or value == "":
        return None
    v = as_floats(value, 3)
    if v is None:
        raise Refused(f"ImagePositionPatient {_show(value)} is not 3 finite numbers")
    if max(abs(x) for x in v) > MAX_COORD_MM:
        raise Refused(f"ImagePositionPatient ({', '.join(f'{x:g}' for x in v)}) is out of range "
                      f"(|value| > {MAX_COORD_MM:g} mm)")
    return v


def orientation(value) -> Optional[tuple[float, ...]]:
    """ImageOrientationPatient: None when absent; refused when not 6 direction cosines."""
    if value is None or value == "":
        return None
    v = as_floats(value, 6)
    if v is None or max(abs(x) for x in v) > 1.0 + 1e-3:
        raise Refused(f"ImageOrientationPatient {_show(value)} is not 6 direction cosines")
    row, col = np.array(v[:3]), np.array(v[3:])
    if abs(np.linalg.norm(row) - 1) > 0.05 or abs(np.linalg.norm(col) - 1) > 0.05:
        raise Refused(f"ImageOrientationPatient {_show(value)}: row and column cosines are not "
                      "unit vectors")
    return v


def pixel_spacing(value) -> Optional[tuple[float, float]]:
    """PixelSpacing: None when absent; refused when present but not 2 sizes in (0, 1 m]."""
    if value is None or value == "":
        return None
    v = as_floats(value, 2)
    if v is None or not all(MIN_PIXEL_MM <= x <= MAX_PIXEL_MM for x in v):
        raise Refused(f"PixelSpacing {_show(value)} is not a usable pixel size "
                      f"({MIN_PIXEL_MM:g} to {MAX_PIXEL_MM:g} mm)")
    return v


def optional_length(value) -> Optional[float]:
    """SliceThickness / SpacingBetweenSlices: informative only, ignored when not plausible."""
    v = as_float(value)
    return v if v is not None and 0 < v <= MAX_PIXEL_MM else None


def needs_more_bits(arr: np.ndarray, bits_stored: int, signed: bool) -> bool:
    """True when stored values do not fit in ``bits_stored`` bits (BitsStored too small)."""
    if arr.size == 0 or bits_stored >= arr.dtype.itemsize * 8:
        return False
    if signed:
        lo, hi = -(1 << (bits_stored - 1)), (1 << (bits_stored - 1)) - 1
    else:
        lo, hi = 0, (1 << bits_stored) - 1
    return bool(arr.min() < lo or arr.max() > hi)
