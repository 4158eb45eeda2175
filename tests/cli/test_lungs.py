"""`main.py lungs train`: a tiny run end to end on phantom pictures, the example cache, bad input."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from tests.core.lung_phantom import axial_slice, to_picture

REPO = Path(__file__).resolve().parents[2]


def _main(*args):
    return subprocess.run([sys.executable, str(REPO / "main.py"), "lungs", *args], capture_output=True,
                          text=True, cwd=REPO)


def _class_folders(root: Path, n: int = 6) -> Path:
    for cls in ("COVID", "non-COVID"):
        (root / cls).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(to_picture(axial_slice(seed=i, lesions=cls == "COVID").hu)).save(
                root / cls / f"{i}.png")
    return root


def test_a_tiny_run_writes_weights_and_reuses_its_examples(tmp_path):
    data = _class_folders(tmp_path / "data")
    out = tmp_path / "run"
    args = ("train", "--data", str(data), "--out", str(out), "--epochs", "1", "--image-size", "64",
            "--width", "0.125", "--batch-size", "2")
    r = _main(*args)
    assert r.returncode == 0, r.stderr
    assert (out / "lung_field.safetensors").is_file() and (out / "examples.npz").is_file()
    with np.load(out / "examples.npz") as z:
        n = z["x"].shape[0]
    assert 1 <= n <= 6  # only non-COVID slices of the 70 % training part
    r2 = _main(*args)
    assert r2.returncode == 0 and "examples from" in r2.stderr


def test_bad_input_is_one_line(tmp_path, capsys):
    import main

    def run(*args):
        rc = main.main(["lungs", *args])
        return rc, capsys.readouterr().err.strip()

    rc, err = run("train", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "o"))
    assert rc == 2 and err == f"error: --data {tmp_path / 'missing'}: not a folder"
    data = _class_folders(tmp_path / "data", n=2)
    rc, err = run("train", "--data", str(data), "--out", str(tmp_path / "o"), "--image-size", "100")
    assert rc == 2 and err.endswith("must be a multiple of 32, at least 64") and "\n" not in err
    rc, err = run("train", "--data", str(data), "--out", str(tmp_path / "o"), "--series", str(tmp_path / "nope"))
    assert rc == 2 and err == f"error: --series {tmp_path / 'nope'}: does not exist"
    assert run()[0] == 2
