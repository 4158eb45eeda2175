"""The label-free student (stage 3) on synthetic pictures: targets, training, resume, loading."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gan.data import load_class_folders
from gan.inference import Localizer, raw_map
from gan.networks import Generator
from gan.train_student import StudentConfig, teacher_targets, train_student
from gan.weights import read_weights, save_weights

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def teacher(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("teacher") / "g.safetensors"
    save_weights(Generator(0.125), path, {"kind": "generator", "width": 0.125, "image_size": 64,
                                          "map_scale": 0.1})
    return path


def _cfg(out, class_folders, teacher, mask_folders=None, **kw) -> StudentConfig:
    vi, vm = mask_folders if mask_folders else (None, None)
    base = dict(data=str(class_folders), generator=str(teacher), out=str(out),
                val_images=str(vi) if vi else None, val_masks=str(vm) if vm else None,
                width=0.125, epochs=1, batch_size=2, precision="fp32", device="cpu")
    base.update(kw)
    return StudentConfig(**base)


def test_targets_are_the_teachers_map_on_covid_and_empty_on_normal(class_folders, teacher):
    data = load_class_folders(class_folders)
    loc = Localizer(teacher, device="cpu")
    x, t = teacher_targets(loc, data.images, data.labels)
    assert x.shape == t.shape == (len(data), 64, 64) and x.dtype == np.float16
    assert float(np.abs(t[data.labels == 0]).max()) == 0.0
    assert float(t[data.labels == 1].max()) > 0.0 and float(t.max()) <= 1.0
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0


def test_student_trains_resumes_and_loads_as_a_localizer(tmp_path, class_folders, mask_folders, teacher):
    res = train_student(_cfg(tmp_path, class_folders, teacher, mask_folders, epochs=2, stop_after=1))
    assert res["epochs"] == 1 and (tmp_path / "teacher.npz").exists()
    best = tmp_path / "best_student.safetensors"
    _, meta = read_weights(best)
    assert meta["kind"] == "segmenter" and meta["teacher_sha256"]
    assert 0.0 <= json.loads(meta["validation"])["auc"] <= 1.0
    # resume: one more epoch continues from the checkpoint and the cached teacher maps
    res2 = train_student(_cfg(tmp_path, class_folders, teacher, mask_folders, epochs=2, resume=True))
    hist = json.loads((tmp_path / "history.json").read_text())
    assert res2["epochs"] == 2 and [h["epoch"] for h in hist["history"]] == [1, 2]
    with pytest.raises(ValueError, match="resume with --epochs 2"):
        train_student(_cfg(tmp_path, class_folders, teacher, mask_folders, epochs=5, resume=True))

    loc = Localizer(tmp_path / "last_student.safetensors", device="cpu")
    assert loc.kind == "segmenter" and loc.map_scale == 1.0 and "student" in loc.model_name
    img = np.asarray(load_class_folders(class_folders).images[0])
    m = loc.apply(img, is_hu=False)
    assert m.shape == img.shape and m.dtype == np.float32 and 0.0 <= m.min() and m.max() <= 1.0


def test_a_student_can_teach_the_next_round(tmp_path, class_folders, teacher):
    train_student(_cfg(tmp_path / "r1", class_folders, teacher, epochs=1))
    first = tmp_path / "r1" / "last_student.safetensors"
    data = load_class_folders(class_folders)
    loc = Localizer(first, device="cpu")
    x, t = teacher_targets(loc, data.images, data.labels)
    assert float(np.abs(t[data.labels == 0]).max()) == 0.0 and float(t[data.labels == 1].max()) > 0.0
    res = train_student(_cfg(tmp_path / "r2", class_folders, first, epochs=1))
    _, meta = read_weights(tmp_path / "r2" / "last_student.safetensors")
    assert res["epochs"] == 1 and meta["teacher_sha256"] == loc.weights_hash


def test_resume_is_exact(tmp_path, class_folders, teacher):
    """1 epoch, stop, resume to 2 == 2 epochs straight (same seed, same schedule)."""
    train_student(_cfg(tmp_path / "a", class_folders, teacher, epochs=2))
    part = train_student(_cfg(tmp_path / "b", class_folders, teacher, epochs=2, stop_after=1))
    assert part["epochs"] == 1
    train_student(_cfg(tmp_path / "b", class_folders, teacher, epochs=2, resume=True))
    sa, _ = read_weights(tmp_path / "a" / "last_student.safetensors")
    sb, _ = read_weights(tmp_path / "b" / "last_student.safetensors")
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_segmenter_map_is_the_network_output():
    torch.manual_seed(0)
    net = Generator(0.125).eval()
    x = torch.rand(2, 1, 64, 64)
    with torch.no_grad():
        assert torch.allclose(raw_map(net, x, 1, kind="segmenter"), net(x))
        assert torch.allclose(raw_map(net, x, 1), torch.relu(x - net(x)))
    with pytest.raises(ValueError, match="model kind"):
        raw_map(net, x, 1, kind="cam")


def test_bad_input_is_refused(tmp_path, class_folders, teacher):
    with pytest.raises(ValueError, match="--generator"):
        train_student(_cfg(tmp_path, class_folders, tmp_path / "missing.safetensors"))
    with pytest.raises(ValueError, match="go together"):
        train_student(_cfg(tmp_path, class_folders, teacher, val_images="x"))
    other = tmp_path / "c.safetensors"
    save_weights(Generator(0.125), other, {"kind": "classifier", "width": 0.125})
    with pytest.raises(ValueError, match="not a generator or a segmenter"):
        Localizer(other, device="cpu")


def test_cli_reports_a_missing_teacher(tmp_path, class_folders):
    r = subprocess.run([sys.executable, str(REPO / "main.py"), "train", "student", "--data", str(class_folders),
                        "--generator", str(tmp_path / "nope.safetensors"), "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 2 and "--generator" in r.stderr and "does not exist" in r.stderr


def test_lm_inputs_of_a_student_are_its_probabilities(tmp_path, class_folders):
    from gan.data import resize_unit
    from gan.evaluate import lm_inputs

    torch.manual_seed(0)
    net = Generator(0.125).eval()
    path = tmp_path / "s.safetensors"
    save_weights(net, path, {"kind": "segmenter", "width": 0.125, "image_size": 64}, half=False)
    img = load_class_folders(class_folders).images[0]
    got = lm_inputs([img], path, 64, "raw", "cpu")[0]
    with torch.no_grad():
        want = net(resize_unit(img, 64)[None])[0]
    assert torch.allclose(got, want, atol=1e-5)


def test_init_starts_from_given_weights_and_refuses_bad_ones(tmp_path, class_folders, teacher):
    """``--init``: the run starts from those weights (fine-tuning), not at random."""
    train_student(_cfg(tmp_path / "r1", class_folders, teacher, epochs=1))
    first = tmp_path / "r1" / "last_student.safetensors"
    res = train_student(_cfg(tmp_path / "ft", class_folders, teacher, epochs=1, init=str(first), lr=1e-9))
    s0, _ = read_weights(first)
    s1, _ = read_weights(tmp_path / "ft" / "last_student.safetensors")
    assert res["epochs"] == 1
    # a learning rate of 1e-9 barely moves the weights: they are the init's, not a random start
    assert max(float((s0[k].float() - s1[k].float()).abs().max()) for k in s0 if s0[k].is_floating_point()) < 1e-3
    with pytest.raises(ValueError, match="--init .*not a file"):
        train_student(_cfg(tmp_path / "x", class_folders, teacher, init=str(tmp_path / "missing.safetensors")))
    wide = tmp_path / "wide.safetensors"
    save_weights(Generator(0.25), wide, {"kind": "segmenter", "width": 0.25})
    with pytest.raises(ValueError, match="--init .*do not fit a student of width 0.125"):
        train_student(_cfg(tmp_path / "y", class_folders, teacher, init=str(wide)))


def test_teacher_size_sets_the_target_and_training_grid(tmp_path, class_folders, teacher):
    """``--teacher-size``: the teacher draws its targets on that grid and the student learns on
    it (its weights say so: ``image_size``), with the teacher itself unchanged."""
    res = train_student(_cfg(tmp_path, class_folders, teacher, epochs=1, teacher_size=96))
    with np.load(tmp_path / "teacher.npz") as z:
        assert z["x"].shape[-2:] == (96, 96) and z["t"].shape[-2:] == (96, 96)
    _, meta = read_weights(tmp_path / "last_student.safetensors")
    assert res["epochs"] == 1 and meta["image_size"] == "96"
    assert Localizer(tmp_path / "last_student.safetensors", device="cpu").image_size == 96
    with pytest.raises(ValueError, match="--teacher-size 100: must be a multiple of 32"):
        train_student(_cfg(tmp_path / "bad", class_folders, teacher, teacher_size=100))


def test_target_gain_lifts_covid_targets_and_keeps_normal_ones_empty():
    """``--target-gain G``: COVID targets become min(1, G x map); empty (normal) targets stay
    empty; gain 1 is the teacher's map itself."""
    from gan.train_student import gained_targets

    ts = np.array([[[0.0, 0.1], [0.3, 0.6]], [[0.0, 0.0], [0.0, 0.0]]], np.float16)
    assert gained_targets(ts, 1.0) is ts
    got = gained_targets(ts, 2.5)
    assert got.dtype == np.float16 and got.shape == ts.shape
    np.testing.assert_allclose(got[0].astype(np.float32), [[0.0, 0.25], [0.75, 1.0]], atol=2e-3)
    assert float(np.abs(got[1]).max()) == 0.0


def test_bad_target_gain_is_refused(tmp_path, class_folders, teacher):
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="--target-gain .*must be a positive number"):
            train_student(_cfg(tmp_path / "g", class_folders, teacher, target_gain=bad))
    r = subprocess.run([sys.executable, str(REPO / "main.py"), "train", "student", "--data", str(class_folders),
                        "--generator", str(teacher), "--out", str(tmp_path / "o"), "--target-gain", "0"],
                       capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 2 and "--target-gain" in r.stderr
