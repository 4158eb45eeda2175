"""Crash-safe SQLite store of reader visual scores (the paper's 1–5 overlap score).

A score judges how well a lesion map overlaps the lesions on one 2-D slice:
5, 4, 3, 2, 1 for a visually judged IoU of 0.8–1.0, 0.6–0.8, 0.4–0.6, 0.2–0.4, 0.0–0.2
(:data:`SCORE_BANDS`).

Keys and values
    A score is keyed by (reader, :class:`ItemKey`): study UID, series UID, SOP Instance UID
    (DICOM) or image hash (pictures, see :func:`image_hash`), slice index (0-based, z order of
    the series) and map method (``"gan"``, ``"gradcam"``, ... or ``"import:<name>"``).
    It carries the value 1–5, an optional comment, an "unsure" flag, the severity category seen
    on the slice (mild/common/severe/critical) when known (for a reading-list item: the cohort
    fixed in the list), the display settings the item was seen with (threshold, opacity,
    colormap, window; JSON, schema version 4) and a UTC timestamp.

Durability and concurrency
    * WAL journal, ``synchronous=FULL``: a score returned by :meth:`ReaderScores.save` is on
      disk; it survives ``kill -9`` of the process (and a power cut, as far as fsync goes).
    * One ``BEGIN IMMEDIATE`` transaction per score and a busy timeout, so several processes
      (readers on several workstations sharing one file on a local disk) can write at once
      without losing a score.
    * Edits append a row (full history kept); the latest row (highest id) wins.

Readers stay apart
    :meth:`ScoreStore.for_reader` returns a :class:`ReaderScores` bound to one reader id; it can
    only read and write that reader's rows. Cross-reader reads exist only as explicit aggregate
    queries for statistics (:meth:`ScoreStore.aggregate_latest`, :meth:`ScoreStore.readers`).

Schema versions
    The schema is built by ordered migrations (:data:`MIGRATIONS`) recorded in
    ``schema_migrations``; opening an older database applies the missing ones in one
    transaction; a database newer than this program is refused with a clear message.

The default location is ``<user data dir>/scores.sqlite`` (platformdirs,
:func:`default_db_path`); any path may be given instead (``--db PATH``).
"""
from __future__ import annotations

import hashlib
import json
import math
import numbers
import sqlite3
import time
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

APP_NAME = "covid-ct-reading-room"
DB_FILENAME = "scores.sqlite"
BUSY_TIMEOUT_MS = 30_000
MAX_COMMENT_CHARS = 2000
MAX_READER_CHARS = 64

#: score -> (low, high) IoU band the reader judges visually.
SCORE_BANDS: dict[int, tuple[float, float]] = {
    5: (0.8, 1.0),
    4: (0.6, 0.8),
    3: (0.4, 0.6),
    2: (0.2, 0.4),
    1: (0.0, 0.2),
}
SEVERITY_CATEGORIES = ("mild", "common", "severe", "critical")


class ScoreStoreError(Exception):
    """The score database cannot be used (missing, not SQLite, too new, locked); one-line message."""


# ----------------------------------------------------------------------------- keys and values

def image_hash(pixels: np.ndarray) -> str:
    """Content hash of a 2-D picture slice, used instead of a SOP Instance UID for pictures.

    ``pixels``: the slice as loaded, ``(y, x)`` (any dtype; 8-bit pictures are ``uint8``).
    Returns ``"sha256:"`` + the first 32 hex digits of SHA-256 over dtype, shape and bytes, so the
    same pixels give the same key whatever file name or container they came from.
    """
    arr = np.ascontiguousarray(np.asarray(pixels))
    if arr.ndim != 2:
        raise ValueError(f"image_hash: expected a 2-D (y, x) slice, got shape {arr.shape}")
    h = hashlib.sha256()
    h.update(f"{arr.dtype.str}|{arr.shape[0]}x{arr.shape[1]}|".encode())
    h.update(arr.tobytes())
    return "sha256:" + h.hexdigest()[:32]


def _text(value, name: str, *, required: bool = False, limit: int = 256) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValueError(f"{name}: expected text, got {type(value).__name__}")
    value = value.strip()
    if required and not value:
        raise ValueError(f"{name}: must not be empty")
    if len(value) > limit:
        raise ValueError(f"{name}: longer than {limit} characters")
    return value


def normalize_reader_id(reader_id: str) -> str:
    """The canonical form of a reader id: Unicode NFKC (full-width letters, ligatures and
    compatibility forms folded), invisible format characters removed (zero-width space and
    joiners, BOM, soft hyphen, direction marks), surrounding whitespace trimmed. "Ａｌｉｃｅ",
    "Alice\u200b" and " Alice " all become "Alice"; case is kept."""
    text = unicodedata.normalize("NFKC", reader_id)
    text = "".join(c for c in text if unicodedata.category(c) != "Cf")
    return text.strip()


def validate_reader_id(reader_id) -> str:
    """Return the normalized reader id (``normalize_reader_id``); ValueError when empty, too long
    or with control characters."""
    if isinstance(reader_id, str):
        reader_id = normalize_reader_id(reader_id)
    rid = _text(reader_id, "reader id", required=True, limit=MAX_READER_CHARS)
    if any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in rid):
        raise ValueError("reader id: contains control characters")
    return rid


def validate_score(value) -> int:
    """Return the score as int 1–5; ValueError for anything else (bool, 2.5, '4', 0, 6, NaN)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"score: expected an integer 1–5, got {value!r}")
    if isinstance(value, numbers.Integral):
        ivalue = int(value)
    else:
        fvalue = float(value)
        if not math.isfinite(fvalue) or fvalue != int(fvalue):
            raise ValueError(f"score: expected an integer 1–5, got {value!r}")
        ivalue = int(fvalue)
    if ivalue not in SCORE_BANDS:
        raise ValueError(f"score: must be 1, 2, 3, 4 or 5, got {ivalue}")
    return ivalue


def validate_severity(value) -> str | None:
    """Return a severity category (lower case) or None; ValueError for unknown names."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or value.strip().lower() not in SEVERITY_CATEGORIES:
        raise ValueError(
            f"severity category: expected one of {', '.join(SEVERITY_CATEGORIES)}, got {value!r}"
        )
    return value.strip().lower()


@dataclass(frozen=True)
class ItemKey:
    """What was scored: one slice of one series shown with one map method.

    ``sop_instance_uid`` for DICOM slices, ``image_hash`` (:func:`image_hash`) for pictures;
    at least one of the two is required; when the UID is given the hash is dropped. ``slice_index`` is the 0-based z index in the series.
    """

    study_uid: str
    series_uid: str
    sop_instance_uid: str
    image_hash: str
    slice_index: int
    method: str

    @classmethod
    def make(cls, *, study_uid="", series_uid="", sop_instance_uid="", image_hash="",
             slice_index, method) -> "ItemKey":
        """Validated constructor; raises ValueError naming the bad field."""
        study = _text(study_uid, "study UID")
        series = _text(series_uid, "series UID")
        sop = _text(sop_instance_uid, "SOP Instance UID")
        ihash = _text(image_hash, "image hash")
        if not sop and not ihash:
            raise ValueError("item: needs a SOP Instance UID or an image hash")
        if sop:
            ihash = ""  # the UID identifies a DICOM slice; a pixel hash would only add fragility
        if isinstance(slice_index, bool) or not isinstance(slice_index, numbers.Integral):
            raise ValueError(f"slice index: expected an integer >= 0, got {slice_index!r}")
        if int(slice_index) < 0:
            raise ValueError(f"slice index: must be >= 0, got {slice_index}")
        meth = _text(method, "method", required=True, limit=128)
        return cls(study, series, sop, ihash, int(slice_index), meth)

    @classmethod
    def from_mapping(cls, d: dict) -> "ItemKey":
        """Build from a dict with the field names (extra keys ignored); ValueError when invalid."""
        if "slice_index" not in d or d.get("slice_index") is None:
            raise ValueError("item: no slice index")
        return cls.make(
            study_uid=d.get("study_uid") or "",
            series_uid=d.get("series_uid") or "",
            sop_instance_uid=d.get("sop_instance_uid") or "",
            image_hash=d.get("image_hash") or "",
            slice_index=d["slice_index"],
            method=d.get("method") or "",
        )

    @property
    def slice_key(self) -> tuple:
        """The slice without the method: items with equal slice keys show the same image."""
        return (self.study_uid, self.series_uid, self.sop_instance_uid, self.image_hash,
                self.slice_index)

    def as_tuple(self) -> tuple:
        return self.slice_key + (self.method,)


@dataclass(frozen=True)
class SavedScore:
    """One stored score row. ``saved_at`` is ISO 8601 UTC; ``row_id`` orders edits."""

    row_id: int
    reader_id: str
    key: ItemKey
    score: int
    comment: str
    unsure: bool
    severity_category: str | None
    saved_at: str
    n_versions: int = 1
    display: dict | None = None  # the display settings the item was scored with


# ----------------------------------------------------------------------------- schema

def _m1_base(conn: sqlite3.Connection) -> None:
    conn.execute(
        """CREATE TABLE scores (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            reader_id TEXT NOT NULL,
            study_uid TEXT NOT NULL DEFAULT '',
            series_uid TEXT NOT NULL DEFAULT '',
            sop_instance_uid TEXT NOT NULL DEFAULT '',
            image_hash TEXT NOT NULL DEFAULT '',
            slice_index INTEGER NOT NULL CHECK (slice_index >= 0),
            method TEXT NOT NULL,
            score INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5),
            comment TEXT NOT NULL DEFAULT '',
            saved_at TEXT NOT NULL
        )"""
    )


def _m2_unsure_severity(conn: sqlite3.Connection) -> None:
    conn.execute("ALTER TABLE scores ADD COLUMN unsure INTEGER NOT NULL DEFAULT 0")
    conn.execute("ALTER TABLE scores ADD COLUMN severity_category TEXT")


def _m3_latest_index(conn: sqlite3.Connection) -> None:
    conn.execute(
        "CREATE INDEX scores_by_key ON scores (reader_id, study_uid, series_uid, "
        "sop_instance_uid, image_hash, slice_index, method, id)"
    )


def _m4_display(conn: sqlite3.Connection) -> None:
    conn.execute("ALTER TABLE scores ADD COLUMN display TEXT")


#: Ordered migrations: (version, name, function applied inside one transaction).
MIGRATIONS: tuple[tuple[int, str, Callable[[sqlite3.Connection], None]], ...] = (
    (1, "scores table", _m1_base),
    (2, "unsure flag and severity category", _m2_unsure_severity),
    (3, "index for latest score per key", _m3_latest_index),
    (4, "display settings of each score", _m4_display),
)
SCHEMA_VERSION = MIGRATIONS[-1][0]

_KEY_COLS = ("reader_id", "study_uid", "series_uid", "sop_instance_uid", "image_hash",
             "slice_index", "method")
_ROW_COLS = ("id",) + _KEY_COLS + ("score", "comment", "unsure", "severity_category", "saved_at",
                                   "display")


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def default_db_path() -> Path:
    """``<platformdirs user data dir>/scores.sqlite`` (the folder is created on first open)."""
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP_NAME, appauthor=False)) / DB_FILENAME


def schema_version(conn: sqlite3.Connection) -> int:
    """Highest applied migration version, 0 for an empty database."""
    has = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name='schema_migrations'"
    ).fetchone()
    if not has:
        return 0
    row = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
    return int(row[0] or 0)


def migrate(conn: sqlite3.Connection, target: int = SCHEMA_VERSION) -> int:
    """Apply the missing migrations up to ``target`` in one IMMEDIATE transaction; return the version.

    Safe when two processes open a fresh database at once: the second waits for the lock and
    then finds the migrations already applied.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        current = schema_version(conn)
        if current > SCHEMA_VERSION:
            raise ScoreStoreError(
                f"schema version {current} is newer than this program supports "
                f"({SCHEMA_VERSION}); update the program"
            )
        for version, name, apply in MIGRATIONS:
            if current < version <= target:
                apply(conn)
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (version, name, _now_iso()),
                )
                current = version
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return current


def _enable_wal(conn: sqlite3.Connection) -> None:
    """Switch to the WAL journal (persistent in the file), retrying while another process does.

    SQLite answers "database is locked" at once, without its busy handler, when two connections
    switch a fresh file to WAL together, so this retries with a short back-off up to the timeout.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    delay = 0.005
    while True:
        try:
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() != "wal":
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise ScoreStoreError(f"cannot use the WAL journal (got {mode})")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() > deadline:
                raise ScoreStoreError(f"locked by another program ({exc})") from None
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


# ----------------------------------------------------------------------------- store

class ScoreStore:
    """One open score database (a file path); create readers' views with :meth:`for_reader`.

    ``path=None`` uses :func:`default_db_path`. ``create=False`` refuses a missing file
    (for read-only tools such as ``scores summary``). Raises :class:`ScoreStoreError` with a
    one-line reason when the file is missing, not a SQLite database or too new.
    """

    def __init__(self, path: str | Path | None = None, *, create: bool = True):
        self.path = Path(path) if path is not None else default_db_path()
        if self.path.is_dir():
            raise ScoreStoreError(f"score database {self.path}: is a folder, not a file")
        if not self.path.exists():
            if not create:
                raise ScoreStoreError(f"score database {self.path}: does not exist")
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ScoreStoreError(f"score database {self.path}: cannot create folder ({exc})")
        try:
            self._conn = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_MS / 1000,
                                         isolation_level=None)
        except sqlite3.Error as exc:
            raise ScoreStoreError(f"score database {self.path}: cannot open ({exc})") from None
        try:
            self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._quick_check()  # before anything is written: a damaged file is left as it is
            _enable_wal(self._conn)
            self._conn.execute("PRAGMA synchronous = FULL")
            self._check_looks_like_score_db()
            self.version = migrate(self._conn)
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise ScoreStoreError(
                f"score database {self.path}: not a usable SQLite score database ({exc})"
            ) from None
        except ScoreStoreError as exc:
            self._conn.close()
            msg = str(exc)
            if not msg.startswith("score database"):
                msg = f"score database {self.path}: {msg}"
            raise ScoreStoreError(msg) from None

    def _quick_check(self) -> None:
        rows = self._conn.execute("PRAGMA quick_check(3)").fetchall()
        problems = [str(r[0]) for r in rows if str(r[0]).lower() != "ok"]
        if problems:
            detail = " ".join(problems[0].split())[:160]
            raise ScoreStoreError(f"damaged (integrity check: {detail}); the file was not "
                                  "changed: restore a backup or choose another database")

    def _read(self, sql: str, params: tuple = ()) -> list:
        """Rows of a query; a damaged file (sqlite3.DatabaseError) -> ScoreStoreError."""
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.DatabaseError as exc:
            raise ScoreStoreError(f"score database {self.path}: cannot read scores, the file "
                                  f"is damaged ({exc}); nothing was changed") from None

    def _check_looks_like_score_db(self) -> None:
        names = {r[0] for r in self._conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table'")}
        if names and "schema_migrations" not in names:
            raise ScoreStoreError(
                f"a SQLite database of something else (tables: {', '.join(sorted(names))})")

    # -- lifecycle
    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "ScoreStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def connection(self) -> sqlite3.Connection:
        return self._conn

    # -- readers
    def for_reader(self, reader_id: str) -> "ReaderScores":
        """A view bound to ``reader_id`` that reads and writes only that reader's scores."""
        return ReaderScores(self, validate_reader_id(reader_id))

    # -- aggregate queries (statistics only)
    def readers(self) -> list[str]:
        """All reader ids with at least one score (for summaries)."""
        return [r[0] for r in self._read("SELECT DISTINCT reader_id FROM scores ORDER BY reader_id")]

    def aggregate_latest(self) -> list[SavedScore]:
        """Latest score of every reader for every key, all readers (statistics and export)."""
        return self._latest(None)

    def aggregate_history(self) -> list[SavedScore]:
        """Every stored row, all readers, oldest first (export of the full audit trail)."""
        rows = self._read(f"SELECT {', '.join(_ROW_COLS)} FROM scores ORDER BY id")
        return [_row_to_saved(r) for r in rows]

    # -- internals shared with ReaderScores
    def _latest(self, reader_id: str | None) -> list[SavedScore]:
        keys = ", ".join(_KEY_COLS)
        where = "WHERE reader_id = ?" if reader_id is not None else ""
        params = (reader_id,) if reader_id is not None else ()
        sql = (
            f"SELECT {', '.join('s.' + c for c in _ROW_COLS)}, g.n FROM scores s JOIN ("
            f"SELECT MAX(id) AS id, COUNT(*) AS n FROM scores {where} GROUP BY {keys}"
            f") g ON s.id = g.id ORDER BY s.id"
        )
        return [_row_to_saved(r[:-1], n_versions=r[-1]) for r in self._read(sql, params)]


def _row_to_saved(r: Iterable, n_versions: int = 1) -> SavedScore:
    (rid, reader, study, series, sop, ihash, sl, method, score, comment, unsure, sev,
     saved_at, display) = tuple(r)
    key = ItemKey(study, series, sop, ihash, int(sl), method)
    try:
        shown = json.loads(display) if display else None
    except ValueError:
        shown = None
    return SavedScore(int(rid), reader, key, int(score), comment, bool(unsure), sev, saved_at,
                      int(n_versions), shown if isinstance(shown, dict) else None)


class ReaderScores:
    """One reader's scores in a :class:`ScoreStore`. Nothing here touches other readers' rows."""

    def __init__(self, store: ScoreStore, reader_id: str):
        self._store = store
        self.reader_id = reader_id

    def save(self, key: ItemKey, score, *, comment: str = "", unsure: bool = False,
             severity_category: str | None = None, display: dict | None = None) -> SavedScore:
        """Append one score (one committed transaction) and return it once it is on disk.

        ValueError for a bad score (not 1–5), comment (too long), key or severity;
        :class:`ScoreStoreError` when the database stays locked past the busy timeout.
        """
        if not isinstance(key, ItemKey):
            raise ValueError(f"item: expected an ItemKey, got {type(key).__name__}")
        value = validate_score(score)
        text = _text(comment, "comment", limit=MAX_COMMENT_CHARS)
        sev = validate_severity(severity_category)
        if not isinstance(unsure, (bool, np.bool_)):
            raise ValueError(f"unsure: expected True or False, got {unsure!r}")
        if display is not None and not isinstance(display, dict):
            raise ValueError(f"display: expected a dict of settings, got {type(display).__name__}")
        try:
            display_json = None if display is None else json.dumps(display, sort_keys=True,
                                                                   allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"display: not storable as JSON ({exc})") from None
        saved_at = _now_iso()
        conn = self._store.connection
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                cur = conn.execute(
                    "INSERT INTO scores (reader_id, study_uid, series_uid, sop_instance_uid, "
                    "image_hash, slice_index, method, score, comment, unsure, severity_category, "
                    "saved_at, display) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (self.reader_id, key.study_uid, key.series_uid, key.sop_instance_uid,
                     key.image_hash, key.slice_index, key.method, value, text, int(bool(unsure)),
                     sev, saved_at, display_json),
                )
                row_id = cur.lastrowid
                n = conn.execute(
                    "SELECT COUNT(*) FROM scores WHERE reader_id=? AND study_uid=? AND "
                    "series_uid=? AND sop_instance_uid=? AND image_hash=? AND slice_index=? "
                    "AND method=?", (self.reader_id,) + key.as_tuple()).fetchone()[0]
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.DatabaseError as exc:  # locked, read-only, or a damaged file
            raise ScoreStoreError(
                f"score database {self._store.path}: score not saved ({exc})") from None
        return SavedScore(int(row_id), self.reader_id, key, value, text, bool(unsure), sev,
                          saved_at, int(n), None if display is None else dict(display))

    def latest(self, key: ItemKey) -> SavedScore | None:
        """This reader's current score for ``key`` (latest edit), or None."""
        h = self.history(key)
        if not h:
            return None
        last = h[-1]
        return SavedScore(last.row_id, last.reader_id, last.key, last.score, last.comment,
                          last.unsure, last.severity_category, last.saved_at, len(h),
                          last.display)

    def history(self, key: ItemKey) -> list[SavedScore]:
        """All of this reader's scores for ``key``, oldest first."""
        rows = self._store._read(
            f"SELECT {', '.join(_ROW_COLS)} FROM scores WHERE reader_id=? AND study_uid=? AND "
            "series_uid=? AND sop_instance_uid=? AND image_hash=? AND slice_index=? AND method=? "
            "ORDER BY id", (self.reader_id,) + key.as_tuple())
        return [_row_to_saved(r) for r in rows]

    def all_latest(self) -> list[SavedScore]:
        """This reader's latest score for every key they scored."""
        return self._store._latest(self.reader_id)

    def scored_keys(self) -> set[ItemKey]:
        """Keys this reader has scored (for progress and "next unscored")."""
        return {s.key for s in self.all_latest()}
