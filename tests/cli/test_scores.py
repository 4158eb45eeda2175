"""`scores` subcommand: summary (text/JSON), export CSV, plots, make-list, bad inputs."""
from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from viewer.cli import scores
from viewer.study.reading_list import ReadingList
from viewer.study.score_store import ItemKey, ScoreStore

REPO = Path(__file__).resolve().parents[2]


def run(argv):
    parser = argparse.ArgumentParser()
    scores.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.fixture()
def db(tmp_path):
    path = tmp_path / "scores.sqlite"
    with ScoreStore(path) as s:
        for reader, offset in (("alice", 0), ("bob", 1)):
            r = s.for_reader(reader)
            for i in range(6):
                for m, base in (("gan", 4), ("gradcam", 2)):
                    k = ItemKey.make(sop_instance_uid=f"1.{i}", slice_index=i, method=m)
                    r.save(k, min(5, base + (i + offset) % 2), comment="a, \"quoted\" note",
                           severity_category=("mild", "common")[i % 2])
        s.for_reader("alice").save(ItemKey.make(sop_instance_uid="1.0", slice_index=0,
                                                method="gan"), 3,  # an edit
                                   display={"threshold": 0.4, "colormap": "jet"})
    return path


def test_summary_text_and_json(db, capsys):
    assert run(["scores", "summary", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "24 latest scores by 2 reader(s)" in out and "GAN" in out and "Grad-CAM" in out
    assert "Paired t-test" in out and "alice vs bob, all methods: n=12" in out
    assert run(["scores", "summary", "--db", str(db), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    gan = [m for m in d["methods"] if m["method"] == "gan"][0]
    assert gan["n"] == 12 and d["readers"] == ["alice", "bob"]
    assert d["agreement"][0]["kappa_quadratic"] is not None


def test_export_csv(db, tmp_path, capsys):
    out = tmp_path / "s.csv"
    assert run(["scores", "export", "--db", str(db), "--csv", str(out)]) == 0
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert len(rows) == 24 and rows[0]["comment"] == 'a, "quoted" note'
    edited = [r for r in rows if r["reader_id"] == "alice" and r["slice_index"] == "0"
              and r["method"] == "gan"][0]
    assert edited["score"] == "3" and edited["n_versions"] == "2"
    assert json.loads(edited["display"]) == {"threshold": 0.4, "colormap": "jet"}  # #17
    assert all(r["display"] == "" for r in rows if r is not edited)
    assert run(["scores", "export", "--db", str(db), "--csv", str(out), "--history"]) == 0
    assert len(list(csv.DictReader(out.open()))) == 25


def test_plots(db, tmp_path, capsys):
    assert run(["scores", "plots", "--db", str(db), "--out", str(tmp_path / "p")]) == 0
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == [
        "visual_score_by_cohort.png", "visual_score_by_method.png"]


def test_missing_and_corrupt_db(tmp_path, capsys):
    missing = tmp_path / "none.sqlite"
    assert run(["scores", "summary", "--db", str(missing)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: score database {missing}: does not exist" and not missing.exists()
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"\x00garbage" * 500)
    for argv in (["summary"], ["export", "--csv", str(tmp_path / "x.csv")],
                 ["plots", "--out", str(tmp_path / "p")]):
        assert run(["scores", *argv, "--db", str(bad)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"error: score database {bad}: not a usable SQLite")
        assert "\n" not in err
    assert not (tmp_path / "x.csv").exists()


def test_export_bad_target(db, tmp_path, capsys):
    assert run(["scores", "export", "--db", str(db), "--csv", str(tmp_path / "no" / "x.csv")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_slice_spec():
    assert scores.parse_slice_spec("0-3,7,2") == [0, 1, 2, 3, 7]
    for bad in ("a", "5-2", "-1", ","):
        with pytest.raises(ValueError, match="--slices"):
            scores.parse_slice_spec(bad)


def test_make_list_from_pictures(tmp_path, capsys):
    from PIL import Image

    pics = tmp_path / "pics"
    pics.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (32, 32), dtype=np.uint8)).save(pics / f"{i}.png")
    out = tmp_path / "list.json"
    rc = run(["scores", "make-list", str(pics), "--out", str(out), "--methods", "gan,gradcam",
              "--seed", "11"])
    assert rc == 0, capsys.readouterr().err
    rl = ReadingList.load(out)
    assert rl.seed == 11 and len(rl) == 6 and rl.blinded
    assert all(it.image_hash.startswith("sha256:") for it in rl.items)
    assert run(["scores", "make-list", str(pics), "--out", str(out), "--methods", "gan,cam"]) == 2
    assert "method 'cam'" in capsys.readouterr().err
    assert run(["scores", "make-list", str(tmp_path / "nope"), "--out", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_make_list_with_display_settings(tmp_path, capsys):
    """#17: a list fixes the display settings; bad ones are one clear line."""
    from PIL import Image

    pics = tmp_path / "pics"
    pics.mkdir()
    Image.fromarray(np.full((32, 32), 90, np.uint8)).save(pics / "0.png")
    out = tmp_path / "list.json"
    rc = run(["scores", "make-list", str(pics), "--out", str(out), "--methods", "gan",
              "--display", "threshold=0.4,opacity=0.5,colormap=jet,window=1200/-500"])
    assert rc == 0, capsys.readouterr().err
    d = ReadingList.load(out).display
    assert (d.threshold, d.opacity, d.colormap, d.window_width, d.window_level) == (
        0.4, 0.5, "jet", 1200.0, -500.0)
    for bad, msg in (("opacity=2", "--display: opacity: must be in [0, 1], got 2.0"),
                     ("colormap=rainbow", "--display: colormap: expected one of inferno"),
                     ("window=wide", "--display 'window=wide': not a number"),
                     ("gamma=1", "--display: unknown setting 'gamma'")):
        assert run(["scores", "make-list", str(pics), "--out", str(out), "--display", bad]) == 2
        err = capsys.readouterr().err
        assert msg in err and err.count("\n") == 1, err


def test_damaged_database_one_line_error(tmp_path):
    """Issue #13: 200 random bytes after page 2: summary and export say so in one line."""
    import numpy as np

    from viewer.study.score_store import ItemKey, ScoreStore

    db = tmp_path / "scores.sqlite"
    with ScoreStore(db) as store:
        r = store.for_reader("alice")
        for i in range(400):
            r.save(ItemKey.make(series_uid="1.2.3", sop_instance_uid=f"1.2.3.{i}",
                                slice_index=i, method="gan"), 3, comment="x" * 40)
    with open(db, "r+b") as f:
        f.seek(2 * 4096)
        f.write(np.random.default_rng(1).integers(0, 256, 200, dtype=np.uint8).tobytes())
    damaged = db.read_bytes()
    for cmd in (["summary"], ["export", "--csv", str(tmp_path / "out.csv")]):
        run = subprocess.run([sys.executable, str(REPO / "main.py"), "scores", *cmd, "--db",
                              str(db)], capture_output=True, text=True, cwd=REPO, timeout=300)
        assert run.returncode != 0
        assert "Traceback" not in run.stderr
        lines = run.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and "damaged" in lines[0]
    assert db.read_bytes() == damaged
    assert not (tmp_path / "out.csv").exists()
