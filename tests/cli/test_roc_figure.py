"""scripts/roc_figure.py: one ROC figure from several evaluate runs; bad files in one line."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "roc_figure.py"


def _metrics(path: Path, names: list[str]) -> Path:
    roc = {"fpr": [0.0, 0.2, 1.0], "tpr": [0.0, 0.7, 1.0]}
    path.write_text(json.dumps({"localization": {"methods": {n: {"auc": 0.75, "roc": roc} for n in names}}}))
    return path


def _run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, cwd=REPO)


def test_curves_from_two_runs_make_one_png(tmp_path):
    a = _metrics(tmp_path / "a.json", ["gan", "gan+lung"])
    b = _metrics(tmp_path / "b.json", ["gradcam", "gradcam+lung"])
    r = _run(a, b, "--methods", "gan,gan+lung", "--from-last", "gradcam", "--out", tmp_path / "roc.png")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "roc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_metrics_file_and_missing_method_are_one_line(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    r = _run(bad, "--out", tmp_path / "o.png")
    assert r.returncode == 1 and r.stderr.strip().startswith(f"error: {bad}: not an evaluate metrics.json")
    a = _metrics(tmp_path / "a.json", ["gan"])
    r = _run(a, "--methods", "gan,nope", "--out", tmp_path / "o.png")
    assert r.returncode == 1 and r.stderr.strip() == f"error: {a}: no method 'nope' (has gan)"
    assert not (tmp_path / "o.png").exists()
