"""Score store: round trip, validation, reader isolation, concurrency, kill -9, migrations."""
from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from viewer.study.score_store import (
    MIGRATIONS,
    SCHEMA_VERSION,
    ItemKey,
    ScoreStore,
    ScoreStoreError,
    default_db_path,
    image_hash,
    migrate,
)

REPO = Path(__file__).resolve().parents[2]


def key(i=0, method="gan", sop=None):
    return ItemKey.make(study_uid="1.2.3", series_uid="1.2.3.4",
                        sop_instance_uid=sop if sop is not None else f"1.2.3.4.{i}",
                        slice_index=i, method=method)


@pytest.fixture()
def store(tmp_path):
    s = ScoreStore(tmp_path / "scores.sqlite")
    yield s
    s.close()


def test_round_trip_and_history(store, tmp_path):
    alice = store.for_reader("alice")
    first = alice.save(key(3), 2, comment="misses the left lesion", severity_category="Common")
    assert first.score == 2 and first.severity_category == "common" and first.n_versions == 1
    second = alice.save(key(3), 4, unsure=True)
    assert second.row_id > first.row_id and second.n_versions == 2
    latest = alice.latest(key(3))
    assert (latest.score, latest.unsure, latest.comment, latest.n_versions) == (4, True, "", 2)
    assert [h.score for h in alice.history(key(3))] == [2, 4]
    assert alice.latest(key(4)) is None
    store.close()
    with ScoreStore(tmp_path / "scores.sqlite") as again:  # survives reopening
        rows = again.for_reader("alice").all_latest()
        assert [(r.key, r.score, r.n_versions) for r in rows] == [(key(3), 4, 2)]
        assert len(again.aggregate_history()) == 2


def test_journal_settings(store):
    conn = store.connection
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000


@pytest.mark.parametrize("bad, msg", [
    (0, "must be 1, 2, 3, 4 or 5"), (6, "must be 1, 2, 3, 4 or 5"), (2.5, "integer 1–5"),
    ("4", "integer 1–5"), (True, "integer 1–5"), (float("nan"), "integer 1–5"), (None, "1–5"),
])
def test_bad_scores_are_refused(store, bad, msg):
    with pytest.raises(ValueError, match=msg):
        store.for_reader("alice").save(key(), bad)
    assert store.aggregate_history() == []


def test_accepts_numpy_and_integral_float(store):
    r = store.for_reader("alice")
    assert r.save(key(1), np.int64(5)).score == 5
    assert r.save(key(2), 3.0).score == 3


def test_bad_fields_are_refused(store):
    r = store.for_reader("alice")
    with pytest.raises(ValueError, match="comment: longer than"):
        r.save(key(), 3, comment="x" * 5000)
    with pytest.raises(ValueError, match="severity category"):
        r.save(key(), 3, severity_category="moderate")
    with pytest.raises(ValueError, match="SOP Instance UID or an image hash"):
        ItemKey.make(slice_index=0, method="gan")
    with pytest.raises(ValueError, match="slice index"):
        ItemKey.make(sop_instance_uid="1.2", slice_index=-1, method="gan")
    with pytest.raises(ValueError, match="method: must not be empty"):
        ItemKey.make(sop_instance_uid="1.2", slice_index=0, method=" ")
    for bad in ("", "   ", "a\nb", "x" * 100):
        with pytest.raises(ValueError, match="reader id"):
            store.for_reader(bad)
    assert store.aggregate_history() == []


def test_readers_stay_apart(store):
    alice, bob = store.for_reader("alice"), store.for_reader("bob")
    alice.save(key(0), 5)
    bob.save(key(0), 1)
    bob.save(key(1), 2)
    assert alice.latest(key(0)).score == 5 and bob.latest(key(0)).score == 1
    assert alice.latest(key(1)) is None
    assert [h.score for h in alice.history(key(0))] == [5]
    assert {s.reader_id for s in alice.all_latest()} == {"alice"}
    assert alice.scored_keys() == {key(0)}
    assert not hasattr(alice, "for_reader")  # a reader view cannot switch readers
    # aggregate queries (statistics) see everyone
    assert store.readers() == ["alice", "bob"]
    assert sorted((s.reader_id, s.score) for s in store.aggregate_latest()) == [
        ("alice", 5), ("bob", 1), ("bob", 2)]


def test_image_hash_keys_pictures(store):
    a = np.arange(12, dtype=np.uint8).reshape(3, 4)
    h = image_hash(a)
    assert h == image_hash(a.copy()) and h.startswith("sha256:")
    assert h != image_hash(a.T.copy()) and h != image_hash(a.astype(np.int16))
    with pytest.raises(ValueError, match="2-D"):
        image_hash(np.zeros((2, 3, 4)))
    both = ItemKey.make(sop_instance_uid="1.2", image_hash=h, slice_index=0, method="gan")
    assert both.image_hash == "" and both == ItemKey.make(sop_instance_uid="1.2", slice_index=0,
                                                          method="gan")
    k = ItemKey.make(image_hash=h, slice_index=0, method="gradcam")
    assert store.for_reader("r").save(k, 3).key == k


def _writer(path, reader, n, barrier):
    barrier.wait()
    with ScoreStore(path) as s:
        r = s.for_reader(reader)
        for i in range(n):
            r.save(key(i, method="gan" if i % 2 else "gradcam"), 1 + i % 5)


def test_two_processes_writing_at_once_lose_nothing(tmp_path):
    path = tmp_path / "shared.sqlite"
    ctx = multiprocessing.get_context("spawn")  # no fork of a process that may run Qt threads
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_writer, args=(path, r, 200, barrier)) for r in ("alice", "bob")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    with ScoreStore(path) as s:
        hist = s.aggregate_history()
        assert len(hist) == 400
        for reader in ("alice", "bob"):
            mine = s.for_reader(reader).all_latest()
            assert len(mine) == 200
            assert sorted(m.key.slice_index for m in mine) == list(range(200))
            assert all(m.score == 1 + m.key.slice_index % 5 for m in mine)


def test_saved_score_survives_kill_9(tmp_path):
    path = tmp_path / "crash.sqlite"
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(REPO)!r})
        from viewer.study.score_store import ScoreStore, ItemKey
        s = ScoreStore({str(path)!r})
        r = s.for_reader("alice")
        for i in range(1000):
            r.save(ItemKey.make(sop_instance_uid="1.2.%d" % i, slice_index=i, method="gan"),
                   1 + i % 5, comment="c%d" % i)
            print("saved", i, flush=True)
            if i == 30:
                time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        last = None
        for line in proc.stdout:
            last = int(line.split()[1])
            if last == 30:
                break
        assert last == 30
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    assert Path(str(path) + "-wal").exists()  # the scores were still in the WAL, not checkpointed
    with ScoreStore(path) as s:
        rows = s.for_reader("alice").all_latest()
        assert [r.key.slice_index for r in rows] == list(range(31))
        assert rows[30].comment == "c30" and rows[30].score == 1


def test_migrates_older_schema(tmp_path):
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn, target=1) == 1
    conn.execute("INSERT INTO scores (reader_id, sop_instance_uid, slice_index, method, score, "
                 "comment, saved_at) VALUES ('alice', '1.2.3.4.7', 7, 'gan', 4, 'old', "
                 "'2025-01-01T00:00:00+00:00')")
    conn.close()
    with ScoreStore(path) as s:
        assert s.version == SCHEMA_VERSION
        versions = [r[0] for r in s.connection.execute(
            "SELECT version FROM schema_migrations ORDER BY version")]
        assert versions == [m[0] for m in MIGRATIONS]
        old = s.for_reader("alice").all_latest()[0]
        assert (old.score, old.comment, old.unsure, old.severity_category) == (4, "old", False, None)
        s.for_reader("alice").save(old.key, 5, unsure=True, severity_category="mild")
        assert s.for_reader("alice").latest(old.key).n_versions == 2


def test_refuses_newer_schema(tmp_path):
    path = tmp_path / "new.sqlite"
    ScoreStore(path).close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("INSERT INTO schema_migrations VALUES (99, 'future', 'x')")
    conn.close()
    with pytest.raises(ScoreStoreError, match="newer than this program"):
        ScoreStore(path)


def test_corrupt_missing_and_foreign_databases(tmp_path):
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(ScoreStoreError, match=r"bad.sqlite: not a usable SQLite"):
        ScoreStore(bad)
    assert bad.read_bytes().startswith(b"this is not")  # left untouched
    with pytest.raises(ScoreStoreError, match="does not exist"):
        ScoreStore(tmp_path / "missing.sqlite", create=False)
    assert not (tmp_path / "missing.sqlite").exists()
    with pytest.raises(ScoreStoreError, match="is a folder"):
        ScoreStore(tmp_path)
    other = tmp_path / "other.sqlite"
    c = sqlite3.connect(other)
    c.execute("CREATE TABLE patients (id INTEGER)")
    c.commit()
    c.close()
    with pytest.raises(ScoreStoreError, match="something else"):
        ScoreStore(other)


def test_default_path_in_user_data_dir(monkeypatch, tmp_path):
    import platformdirs

    monkeypatch.setattr(platformdirs, "user_data_dir", lambda *a, **k: str(tmp_path / "ud"))
    assert default_db_path() == tmp_path / "ud" / "scores.sqlite"
    with ScoreStore() as s:
        assert s.path == tmp_path / "ud" / "scores.sqlite" and s.path.exists()


# ---------------------------------------------------------------- issue #13: damage, reader ids
def _damaged_db(tmp_path, n=400):
    """A score database with several pages, then 200 random bytes written after page 2."""
    db = tmp_path / "scores.sqlite"
    with ScoreStore(db) as store:
        r = store.for_reader("alice")
        for i in range(n):
            r.save(key(i), 1 + i % 5, comment="c" * 40)
    assert db.stat().st_size > 4 * 4096
    before = db.read_bytes()
    rng = np.random.default_rng(13)
    with open(db, "r+b") as f:
        f.seek(2 * 4096)
        f.write(rng.integers(0, 256, 200, dtype=np.uint8).tobytes())
    return db, before


def test_damaged_database_is_refused_on_open_and_left_unchanged(tmp_path):
    db, _ = _damaged_db(tmp_path)
    damaged = db.read_bytes()
    with pytest.raises(ScoreStoreError) as err:
        ScoreStore(db)
    msg = str(err.value)
    assert "damaged" in msg and str(db) in msg and "\n" not in msg
    assert db.read_bytes() == damaged  # nothing written into it


def test_reads_of_a_damaged_file_raise_score_store_error(tmp_path, monkeypatch):
    """Damage that the open check does not see still never escapes as sqlite3.DatabaseError."""
    db, _ = _damaged_db(tmp_path)
    monkeypatch.setattr(ScoreStore, "_quick_check", lambda self: None)
    with ScoreStore(db) as store:
        with pytest.raises(ScoreStoreError, match="damaged"):
            store.aggregate_latest()
        with pytest.raises(ScoreStoreError):
            store.for_reader("alice").all_latest()


def test_reader_ids_are_normalized():
    from viewer.study.score_store import normalize_reader_id, validate_reader_id

    assert validate_reader_id("  Alice\u200b ") == "Alice"
    assert validate_reader_id("\ufeffＡｌｉｃｅ") == "Alice"  # BOM, full-width letters
    assert validate_reader_id("Al\u200dice\u00ad") == "Alice"  # zero-width joiner, soft hyphen
    assert normalize_reader_id("ﬁ") == "fi"
    with pytest.raises(ValueError):
        validate_reader_id("\u200b\u200b")  # nothing visible left
    with pytest.raises(ValueError):
        validate_reader_id("a\x85b")  # C1 control


def test_normalized_reader_ids_share_their_scores(tmp_path):
    with ScoreStore(tmp_path / "s.sqlite") as store:
        store.for_reader("Alice").save(key(1), 4)
        assert store.for_reader("Alice\u200b").latest(key(1)).score == 4
        assert store.for_reader(" Ａｌｉｃｅ").latest(key(1)).score == 4
        assert store.readers() == ["Alice"]
