"""`train finalize`: the operating threshold, test-time augmentation and metadata of shipped weights."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import main
from gan.finalize import GRID, finalize, lesion_share_errors
from gan.inference import Localizer
from gan.networks import Generator
from gan.weights import read_weights, save_weights


@pytest.fixture(scope="module")
def tiny_generator(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("fin") / "best.safetensors"
    return save_weights(Generator(0.125), path, {"kind": "generator", "width": 0.125, "image_size": 64,
                                                  "threshold": 0.5, "iteration": "7"})


def test_lesion_share_error_by_hand():
    lung = np.zeros((10, 10), bool)
    lung[:, :5] = True  # 50 lung pixels
    mask = np.zeros((10, 10), bool)
    mask[:2, :5] = True  # 10 of them lesion: 20 %
    m = np.zeros((10, 10), np.float32)
    m[:4, :5] = 0.6  # 20 lung pixels >= t for t <= 0.6: 40 %
    m[4:, 5:] = 1.0  # outside the lung: ignored
    errs, zero = lesion_share_errors([m], [mask], [lung])
    assert zero == pytest.approx(20.0)
    assert errs[list(GRID).index(0.5)] == pytest.approx(20.0)  # 40 % predicted vs 20 % true
    assert errs[list(GRID).index(0.7)] == pytest.approx(20.0)  # 0 % predicted
    empty_lung = np.zeros_like(lung)
    errs2, _ = lesion_share_errors([m, m], [mask, mask], [lung, empty_lung])  # empty lung skipped
    assert np.allclose(errs, errs2)
    with pytest.raises(ValueError, match="no validation slice"):
        lesion_share_errors([m], [mask], [empty_lung])
    with pytest.raises(ValueError, match="same length"):
        lesion_share_errors([m], [], [lung])


def test_finalize_writes_threshold_and_tta(tmp_path, tiny_generator, mask_folders):
    vi, vm = mask_folders
    out = tmp_path / "ship.safetensors"
    figs = finalize(tiny_generator, out, vi, vm, tta=4, device="cpu", log=lambda s: None)
    state, meta = read_weights(out)
    src, src_meta = read_weights(tiny_generator)
    assert all(torch.equal(state[k], src[k]) for k in src)  # same network
    assert meta["tta"] == "4" and meta["iteration"] == "7" and meta["width"] == src_meta["width"]
    assert float(meta["threshold"]) == pytest.approx(figs["operating_threshold"])
    assert json.loads(meta["validation"])["auc"] == pytest.approx(figs["auc"])
    assert 0.0 <= figs["auc"] <= 1.0 and figs["n_slices"] == 4
    loc = Localizer(out, device="cpu")
    assert loc.tta == 4 and loc.threshold == pytest.approx(figs["operating_threshold"])


def test_finalize_cli_bad_input(capsys, tmp_path, tiny_generator, mask_folders):
    vi, vm = mask_folders
    rc = main.main(["train", "finalize", "--weights", str(tmp_path / "nope.safetensors"), "--out",
                    str(tmp_path / "o.safetensors"), "--val-images", str(vi), "--val-masks", str(vm)])
    assert rc == 2 and "--weights" in capsys.readouterr().err
    rc = main.main(["train", "finalize", "--weights", str(tiny_generator), "--out", str(tiny_generator),
                    "--val-images", str(vi), "--val-masks", str(vm)])
    assert rc == 2 and "must differ" in capsys.readouterr().err
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not weights")
    rc = main.main(["train", "finalize", "--weights", str(bad), "--out", str(tmp_path / "o.safetensors"),
                    "--val-images", str(vi), "--val-masks", str(vm)])
    assert rc == 2 and "not a readable safetensors" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main.main(["train", "finalize", "--weights", str(tiny_generator), "--out", str(tmp_path / "o.safetensors"),
                   "--val-images", str(vi), "--val-masks", str(vm), "--tta", "3"])
    assert "invalid choice" in capsys.readouterr().err
    rc = main.main(["train", "finalize", "--weights", str(tiny_generator), "--out", str(tmp_path / "ok.safetensors"),
                    "--val-images", str(vi), "--val-masks", str(vm), "--device", "cpu"])
    assert rc == 0 and (tmp_path / "ok.safetensors").exists()
