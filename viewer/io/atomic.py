"""Crash-safe file writing: a file appears under its final name only once it is complete.

``atomic_path(final)`` yields a temporary name in the same folder (hidden, same suffix, so
writers that pick the format from the extension still work); when the block succeeds the file
is fsynced, renamed over ``final`` with ``os.replace`` (atomic on POSIX and Windows within one
filesystem) and the folder is fsynced. A crash or error at any point leaves either the old file
or nothing under ``final``, never half a file; an error removes the temporary file (a hard kill
may leave a hidden ``.part-*`` file behind, never a final name).
"""
from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Optional

PART_PREFIX = ".part-"

# Test hook: called with (temporary path, final path) after the data is written and fsynced,
# just before the rename (tests kill the process here to check that no half file is left).
before_replace: Optional[Callable[[Path, Path], None]] = None


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. Windows: folders cannot be opened; the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def temp_name(final: Path) -> Path:
    """A hidden name beside ``final`` that ends like it (``.nii.gz``, ``.npy``, ``.dcm``)."""
    return final.with_name(f"{PART_PREFIX}{uuid.uuid4().hex[:10]}-{final.name}")


@contextmanager
def atomic_path(final: str | os.PathLike) -> Iterator[Path]:
    """Write to the yielded temporary path; it becomes ``final`` when the block succeeds."""
    final = Path(final)
    tmp = temp_name(final)
    try:
        yield tmp
        if not tmp.exists():
            raise OSError(f"{final}: the writer produced no file")
        _fsync_file(tmp)
        if before_replace is not None:
            before_replace(tmp, final)
        os.replace(tmp, final)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
    _fsync_dir(final.parent)
