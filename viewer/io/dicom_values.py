"""Safe conversion of DICOM header values: nothing here raises.

pydicom converts element values lazily, on first access; a corrupted VR byte or an unparsable
value then raises (``NotImplementedError: Unknown Value Representation``, ``ValueError``,
``OverflowError`` ...) wherever the value is first touched. ``first_bad_element`` touches every
element of a header up front, inside a guard, so a bad one is named in a skip reason instead of
crashing the scan. ``pydicom_notes`` turns the warnings pydicom emits meanwhile into one-line
notes (they are reported per file instead of leaking onto stderr).
"""
from __future__ import annotations

import threading
import warnings
from contextlib import contextmanager
from typing import Iterator, Optional

import numpy as np
from pydicom.datadict import keyword_for_tag
from pydicom.dataset import Dataset
from pydicom.tag import Tag

MAX_DEPTH = 4  # sequences nested deeper than this are not walked (none of the tags read are)


def tag_name(tag) -> str:
    """``Keyword (gggg,eeee)`` or ``(gggg,eeee)`` for a private / unknown tag."""
    t = Tag(tag)
    kw = keyword_for_tag(t)
    where = f"({t.group:04X},{t.element:04X})"
    return f"{kw} {where}" if kw else where


def one_line(exc: BaseException, limit: int = 160) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    text = text if len(text) <= limit else text[:limit - 1] + "…"
    return f"{type(exc).__name__}: {text}"


def first_bad_element(ds: Dataset, depth: int = 0) -> Optional[str]:
    """Convert every element of ``ds`` (and of its sequence items); the first that cannot be
    converted as ``"tag Keyword (gggg,eeee): ErrorType: detail"``, else None."""
    for tag in list(ds.keys()):
        try:
            elem = ds[tag]
            value = elem.value
            if elem.VR == "SQ" and depth < MAX_DEPTH:
                for item in value or ():
                    bad = first_bad_element(item, depth + 1)
                    if bad:
                        return bad
            else:
                str(value)  # person names and text decode on first use
        except Exception as exc:  # noqa: BLE001 - pydicom raises many types on bad values
            t = Tag(tag)
            detail = one_line(exc).replace(f" in tag ({t.group:04X},{t.element:04X})", "")
            return f"tag {tag_name(tag)}: {detail}"
    return None


# Warnings are captured per thread: header scans and the decode thread pool run concurrently,
# and ``warnings.catch_warnings`` (process-wide state, restored in exit order) is not safe when
# the blocks of several threads overlap. While any capture is active, ``warnings.showwarning``
# is a router that hands a warning to the capturing thread's list, or to the previous handler
# for every other thread.
_lock = threading.Lock()
_active = 0
_saved: tuple | None = None
_local = threading.local()


def _route(message, category, filename, lineno, file=None, line=None):
    sink = getattr(_local, "sink", None)
    if sink is not None:
        sink.append(str(message))
        return
    show = _saved[0] if _saved is not None else warnings._showwarning_orig  # type: ignore[attr-defined]
    show(message, category, filename, lineno, file, line)


def _install() -> None:
    global _active, _saved
    with _lock:
        if _active == 0:
            _saved = (warnings.showwarning, list(warnings.filters))
            warnings.showwarning = _route
            # every occurrence, not once per code location: each file gets its own note
            warnings.filterwarnings("always", module=r"pydicom(\..*)?$")
            warnings.filterwarnings("always", category=UserWarning)
        _active += 1


def _uninstall() -> None:
    global _active, _saved
    with _lock:
        _active -= 1
        if _active == 0 and _saved is not None:
            warnings.showwarning, filters = _saved
            warnings.filters[:] = filters
            warnings._filters_mutated()  # type: ignore[attr-defined]
            _saved = None


@contextmanager
def pydicom_notes(notes: list[str]) -> Iterator[None]:
    """Collect the warnings raised by this thread inside the block into ``notes`` (one line
    each, no duplicates) instead of printing them. Safe with several threads at once."""
    outer = getattr(_local, "sink", None)
    caught: list[str] = []
    _local.sink = caught
    _install()
    try:
        yield
    finally:
        _uninstall()
        _local.sink = outer
        for text in caught:
            text = " ".join(text.split()).split(" Please see <")[0]
            if len(text) > 200:
                text = text[:199] + "…"
            note = f"pydicom warning: {text}"
            if note not in notes:
                notes.append(note)


def as_float(value) -> Optional[float]:
    """A finite float, else None (missing, non-numeric, NaN, infinite)."""
    if value is None or value == "":
        return None
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return v if np.isfinite(v) else None


def as_floats(value, n: int) -> Optional[tuple[float, ...]]:
    """``n`` finite floats, else None."""
    try:
        vals = tuple(float(v) for v in value)
    except (TypeError, ValueError, OverflowError):
        return None
    if len(vals) != n or not all(np.isfinite(vals)):
        return None
    return vals


def as_int(value) -> Optional[int]:
    """An integer (from an int, an integral float or a numeric string), else None."""
    if value is None or value == "":
        return None
    try:
        if isinstance(value, (int, np.integer)):
            return int(value)
        f = float(value)
        return int(f) if np.isfinite(f) and f == int(f) else None
    except (TypeError, ValueError, OverflowError):
        return None
