"""Append-only journal of mask edits: one JSON object per line, fsynced after every record.

A journal belongs to one series and lives in a directory chosen by the caller, as
``<directory>/<safe series key>.edits.jsonl`` (``journal_path``); the viewer uses
``user_edits_dir()`` (per-user data folder). Nothing is written until the first edit.

Records (``"kind"`` field): ``header`` (first line: ``series_key``, ``shape`` ``[z, y, x]``,
``version``), ``stroke``, ``undo``, ``redo``, ``setting``; ``viewer.core.mask_edits`` defines
their other fields and replays them. Reading never raises on bad content: a line that is not a
JSON object (a torn last line after a crash, a hand edit) is skipped and reported in the
returned messages. Appending first completes a torn last line, so new records start on a line of
their own.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from viewer.io.atomic import atomic_path

JOURNAL_SUFFIX = ".edits.jsonl"
VERSION = 1


def series_file(directory: str | os.PathLike, series_key: str, suffix: str, what: str) -> Path:
    """``<directory>/<key>-<hash><suffix>``: a per-series file (edits journal, measurements); the
    key is made file-safe and disambiguated by a hash. ``what`` names the file in the error."""
    key = str(series_key)
    if not key.strip():
        raise ValueError(f"{what}: series key is empty")
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", key).strip("._")[:80] or "series"
    digest = hashlib.sha1(key.encode("utf-8")).hexdigest()[:8]
    return Path(directory) / f"{safe}-{digest}{suffix}"


def journal_path(directory: str | os.PathLike, series_key: str) -> Path:
    """``<directory>/<key>-<hash>.edits.jsonl`` (``series_file``)."""
    return series_file(directory, series_key, JOURNAL_SUFFIX, "edits journal")


APP_NAME = "covid-ct-reading-room"


def user_data_subdir(name: str) -> Path:
    """``<platformdirs user data dir>/<name>``: where the viewer keeps what a reader makes (the
    study folder is never written to; it may be read-only or shared)."""
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME)) / name


def user_edits_dir() -> Path:
    """``<user data dir>/edits``: every edits journal."""
    return user_data_subdir("edits")


def adopt_legacy_journal(study_path, directory: str | os.PathLike, series_key: str) -> bool:
    """Copy a journal that older versions kept beside the study (``<study>.edits/``) into
    ``directory`` when ``directory`` has none for ``series_key``; the old file is left as it is.
    The copy appears whole or not at all (``viewer.io.atomic.atomic_path``). True when one was
    copied. Never raises (a missing or unreadable old journal: False)."""
    if study_path is None:
        return False
    try:
        study = Path(study_path).expanduser().resolve()
        old = journal_path(study.parent / f"{study.name}.edits", series_key)
        new = journal_path(directory, series_key)
        if new.exists() or not old.is_file():
            return False
        new.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(new) as tmp:
            tmp.write_bytes(old.read_bytes())
        return True
    except (OSError, ValueError):
        return False


def unwritable_reason(path: str | os.PathLike) -> str | None:
    """Why ``path`` (a journal file, maybe not there yet, nor its folders) could not be
    created or appended to, without creating anything; None when it looks writable."""
    p = Path(path)
    if p.exists():
        return None if os.access(p, os.W_OK) else "permission denied"
    folder = p.parent
    while not folder.exists():
        if folder.parent == folder:
            return "no existing folder above it"
        folder = folder.parent
    if not folder.is_dir():
        return f"{folder} is not a folder"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"{folder}: permission denied"
    return None


def read_journal(path: str | os.PathLike) -> tuple[list[dict], list[str]]:
    """``(records, messages)``: every line that is a JSON object, in order, and one message per
    skipped line. A missing file gives ``([], [])``; an unreadable one a message."""
    p = Path(path)
    records: list[dict] = []
    messages: list[str] = []
    if not p.exists():
        return records, messages
    try:
        raw = p.read_bytes()
    except OSError as exc:
        return records, [f"edits journal {p}: cannot read ({exc.strerror or exc})"]
    for lineno, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            messages.append(f"edits journal {p}: line {lineno} is corrupt, skipped")
            continue
        if not isinstance(rec, dict) or not isinstance(rec.get("kind"), str):
            messages.append(f"edits journal {p}: line {lineno} is not an edit record, skipped")
            continue
        rec["_line"] = lineno
        records.append(rec)
    return records, messages


class JournalWriter:
    """Appends records to a journal file, one line each, flushed and fsynced every time."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        torn = False
        if self.path.exists() and self.path.stat().st_size > 0:
            with open(self.path, "rb") as f:
                f.seek(-1, os.SEEK_END)
                torn = f.read(1) != b"\n"
        self._file = open(self.path, "ab")
        if torn:
            self._write_bytes(b"\n")

    def append(self, record: dict) -> None:
        """Write ``record`` as one JSON line and fsync it (OSError on failure)."""
        data = json.dumps(record, separators=(",", ":")).encode("utf-8") + b"\n"
        self._write_bytes(data)

    def _write_bytes(self, data: bytes) -> None:
        self._file.write(data)
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


def header_record(series_key: str, shape: tuple[int, int, int]) -> dict:
    return {"kind": "header", "version": VERSION, "series_key": str(series_key),
            "shape": [int(s) for s in shape]}
