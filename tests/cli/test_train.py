"""`main.py train ...` answers bad flags and missing files with one-line errors."""
from __future__ import annotations

import pytest

import main


@pytest.mark.parametrize("flag,value,reason", [
    ("--iterations", "-3", "must be > 0"),
    ("--iterations", "many", "expected a whole number"),
    ("--lr-g", "0", "must be > 0"),
    ("--label-smoothing", "maybe", "expected true/false"),
    ("--d-anchor", "-1", "must be >= 0"),
    ("--alpha", "three", "expected a number"),
    ("--ema", "-0.5", "must be >= 0"),
    ("--intensity-aug", "sometimes", "expected true/false"),
])
def test_bad_flag_values(capsys, tmp_path, flag, value, reason):
    with pytest.raises(SystemExit) as exc:
        main.main(["train", "gan", "--data", str(tmp_path), "--out", str(tmp_path / "o"),
                   "--classifier-weights", str(tmp_path / "c.safetensors"), flag, value])
    assert exc.value.code == 2
    assert reason in capsys.readouterr().err


def test_missing_inputs_name_the_flag(capsys, tmp_path):
    code = main.main(["train", "gan", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "o"),
                      "--classifier-weights", str(tmp_path / "c.safetensors")])
    err = capsys.readouterr().err
    assert code == 2 and "--data" in err and "does not exist" in err


def test_val_images_need_masks(capsys, tmp_path):
    code = main.main(["train", "gan", "--data", str(tmp_path), "--out", str(tmp_path / "o"),
                      "--classifier-weights", str(tmp_path), "--val-images", str(tmp_path)])
    assert code == 2 and "go together" in capsys.readouterr().err


def test_classifier_stage_bad_folder(capsys, tmp_path):
    (tmp_path / "COVID").mkdir()
    code = main.main(["train", "classifier", "--data", str(tmp_path), "--out", str(tmp_path / "o"), "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2 and "non-COVID" in err


@pytest.fixture()
def class_folders(tmp_path):
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    root = tmp_path / "set"
    for name in ("COVID", "non-COVID"):
        (root / name).mkdir(parents=True)
        for i in range(6):
            img = np.clip(rng.normal(120, 40, (72, 72)), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(root / name / f"{i}.png")
    return root


def test_classifier_intensity_jitter_flag_reaches_the_run(tmp_path, class_folders, capsys):
    """#12: ``--intensity-aug true`` trains with window jitter and is recorded in the weights'
    config (a classifier that should travel to pictures windowed otherwise); a bad value is
    refused by name."""
    import json

    from gan.weights import read_weights

    out = tmp_path / "o"
    code = main.main(["train", "classifier", "--data", str(class_folders), "--out", str(out),
                      "--device", "cpu", "--image-size", "64", "--batch-size", "4", "--epochs", "1",
                      "--precision", "fp32", "--intensity-aug", "true"])
    assert code == 0, capsys.readouterr().err
    _, meta = read_weights(out / "classifier.safetensors")
    assert json.loads(meta["config"])["intensity_aug"] is True
    with pytest.raises(SystemExit):
        main.main(["train", "classifier", "--data", str(class_folders), "--out", str(out),
                   "--intensity-aug", "sometimes"])
    assert "--intensity-aug" in capsys.readouterr().err
