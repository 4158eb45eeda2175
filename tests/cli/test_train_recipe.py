"""`make train` (scripts/train_recipe.py): the stages in order, skipping finished ones; bad folders."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "train_recipe.py"


def _run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, cwd=REPO)


def test_dry_run_lists_every_stage_in_order(tmp_path):
    (tmp_path / "d").mkdir(); (tmp_path / "v").mkdir()
    r = _run("--data", str(tmp_path / "d"), "--val", str(tmp_path / "v"), "--out", str(tmp_path / "o"), "--dry-run")
    assert r.returncode == 0, r.stderr
    names = [line.split("] ", 1)[1].split(": elapsed")[0] for line in r.stdout.splitlines() if line.startswith("[")]
    assert names == ["stage 1: classifier", "the baselines' classifier (256 px)", "stage 2: GAN",
                     "finalize the generator", "stage 3: label-free student",
                     "stage 3b: the student on the 256 grid", "lung field network",
                     "calibrate the student"]
    assert "--image-size 256 --epochs 40 --lr 1e-3 --weight-decay 0.05 --label-smoothing 0.1 --crop-min 0.7" in r.stdout
    assert "--teacher-size 256 --init" in r.stdout and "student256/last_student.safetensors" in r.stdout
    assert "train student" in r.stdout and "--normal-series" not in r.stdout and "left for the recipe" in r.stdout
    assert "nothing was run" in r.stdout


def test_finished_stages_are_skipped(tmp_path):
    (tmp_path / "d").mkdir(); (tmp_path / "v").mkdir()
    cls = tmp_path / "o" / "classifier" / "classifier.safetensors"
    cls.parent.mkdir(parents=True); cls.write_bytes(b"x")
    r = _run("--data", str(tmp_path / "d"), "--val", str(tmp_path / "v"), "--out", str(tmp_path / "o"), "--dry-run")
    assert "[1/8] stage 1: classifier: done" in r.stdout


def test_bad_folder_is_one_line(tmp_path):
    r = _run("--data", str(tmp_path / "missing"), "--val", str(tmp_path))
    assert r.returncode == 2 and r.stderr.strip() == f"error: --data {tmp_path / 'missing'}: not a folder"
