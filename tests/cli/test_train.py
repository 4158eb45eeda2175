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
