"""`main.py calibrate` end to end on synthetic data with a tiny random generator, and its
bad-input answers."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import main
from gan.inference import Localizer
from gan.networks import Generator
from gan.weights import read_weights, save_weights

_HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("cli_eval_helpers", _HERE / "test_evaluate.py")
_ev = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_ev)
_spec2 = importlib.util.spec_from_file_location(
    "export_synthetic_ct", _HERE.parent / "export" / "synthetic_ct.py")
synthetic_ct = sys.modules.setdefault("export_synthetic_ct", importlib.util.module_from_spec(_spec2))
_spec2.loader.exec_module(synthetic_ct)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("cal")
    torch.manual_seed(0)
    gen = save_weights(Generator(width=0.125), root / "g.safetensors",
                       {"kind": "generator", "width": 0.125, "image_size": 64, "threshold": 0.5})
    vi, vm = _ev._mask_set(root / "val", 3, 2)
    rng = np.random.default_rng(4)
    for cls_dir in ("COVID", "non-COVID"):
        (root / "train" / cls_dir).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(_ev._picture(rng, 70, 70)[0]).save(root / "train" / cls_dir / f"{i}.png")
    ct = synthetic_ct.write_ct_series(root / "ct", n=4, rows=64, cols=64, spacing=(5.0, 5.0, 5.0))
    return dict(root=root, gen=gen, vi=vi, vm=vm, train=root / "train", ct=ct.folder)


def _args(d, out, *extra):
    return ["calibrate", "--weights", str(d["gen"]), "--out", str(out), "--val-images", str(d["vi"]),
            "--val-masks", str(d["vm"]), "--device", "cpu", *extra]


def test_calibrate_writes_threshold_and_both_scales(data, tmp_path, capsys):
    out = tmp_path / "cal.safetensors"
    rc = main.main(_args(data, out, "--normal-pictures", str(data["train"]),
                         "--normal-series", str(data["ct"]), "--map-scale", "0.05",
                         "--normal-target", "100"))
    err = capsys.readouterr().err
    assert rc == 0, err
    _, meta = read_weights(out)
    calib = json.loads(meta["calibration"])
    assert float(meta["threshold"]) == pytest.approx(calib["threshold"])
    assert float(meta["map_scale"]) == pytest.approx(0.05)
    # with a target of 100 % every threshold keeps the normal ends: the HU threshold is the lowest
    assert calib["hu_threshold"] == pytest.approx(0.01)
    assert float(meta["map_scale_hu"]) == pytest.approx(0.05 * 0.01 / calib["threshold"], rel=1e-4)
    assert calib["n_val"] == 3 and calib["n_normal_pictures"] >= 1
    loc = Localizer(out, device="cpu")
    assert loc.threshold == pytest.approx(calib["threshold"])
    assert loc.scale_for(True) == pytest.approx(float(meta["map_scale_hu"]), rel=1e-4)
    assert loc.scale_for(False) == pytest.approx(0.05)
    assert "normal target met" in err


def test_inference_size_is_measured_with_and_stored(data, tmp_path, capsys):
    out = tmp_path / "fine.safetensors"
    rc = main.main(_args(data, out, "--inference-size", "128", "--normal-target", "100"))
    assert rc == 0, capsys.readouterr().err
    _, meta = read_weights(out)
    assert meta["inference_size"] == "128" and json.loads(meta["calibration"])["inference_size"] == 128
    loc = Localizer(out, device="cpu")
    assert loc.image_size == 128 and loc.train_size == 64
    # recalibrating the calibrated file keeps its grid
    again = tmp_path / "again.safetensors"
    assert main.main(["calibrate", "--weights", str(out), "--out", str(again), "--val-images", str(data["vi"]),
                      "--val-masks", str(data["vm"]), "--device", "cpu", "--normal-target", "100"]) == 0
    assert read_weights(again)[1]["inference_size"] == "128"


def test_unmet_targets_exit_1_but_still_write(data, tmp_path, capsys):
    out = tmp_path / "cal.safetensors"
    rc = main.main(_args(data, out, "--normal-pictures", str(data["train"]), "--normal-target", "0"))
    err = capsys.readouterr().err
    assert out.is_file()
    assert rc in (0, 1) and ("NOT met" in err) == (rc == 1)


@pytest.mark.parametrize("extra, message", [
    (["--map-scale", "0"], "--map-scale 0.0: must be a positive number"),
    (["--normal-target", "150"], "--normal-target 150.0: must lie in 0..100"),
    (["--normal-target-hu", "-1"], "--normal-target-hu -1.0: must lie in 0..100"),
    (["--inference-size", "100"], "--inference-size 100: must be a multiple of 32 from 64 to 1024"),
])
def test_bad_flags(data, tmp_path, capsys, extra, message):
    rc = main.main(_args(data, tmp_path / "o.safetensors", *extra))
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err == [f"error: {message}"]


def test_bad_paths(data, tmp_path, capsys):
    rc = main.main(["calibrate", "--weights", str(data["gen"]), "--out", str(tmp_path / "o"),
                    "--val-images", str(tmp_path / "nope"), "--val-masks", str(data["vm"])])
    assert rc == 2 and capsys.readouterr().err.strip() == f"error: --val-images {tmp_path / 'nope'}: not a folder"
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not safetensors")
    rc = main.main(["calibrate", "--weights", str(bad), "--out", str(tmp_path / "o"),
                    "--val-images", str(data["vi"]), "--val-masks", str(data["vm"]), "--device", "cpu"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith(f"error: --weights {bad}:")
    empty = tmp_path / "empty"
    empty.mkdir()
    rc = main.main(_args(data, tmp_path / "o2", "--normal-series", str(empty)))
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err[-1] == f"error: --normal-series {empty}: no loadable series"
    assert not (tmp_path / "o2").exists()
