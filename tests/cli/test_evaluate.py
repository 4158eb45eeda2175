"""`main.py evaluate` end to end on synthetic pictures with tiny random networks."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import main
from gan.networks import Generator, build_resnet18
from gan.weights import file_sha256, save_weights


def _picture(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Bright body, two dark lungs, one brighter lesion blob inside a lung; lesion mask."""
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.full((h, w), 15, np.uint8)
    img[((yy - h / 2) / (0.47 * h)) ** 2 + ((xx - w / 2) / (0.48 * w)) ** 2 <= 1] = 210
    for cx in (0.3 * w, 0.7 * w):
        img[((yy - h / 2) / (0.3 * h)) ** 2 + ((xx - cx) / (0.15 * w)) ** 2 <= 1] = 50
    cy, cx = rng.uniform(0.35, 0.65) * h, rng.choice([0.3, 0.7]) * w
    lesion = ((yy - cy) / 6.0) ** 2 + ((xx - cx) / 5.0) ** 2 <= 1
    img[lesion] = 140
    img = np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)
    return img, lesion


def _mask_set(root, n, seed):
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(n):
        img, m = _picture(rng, 72 + 4 * i, 80)
        Image.fromarray(img).save(root / "images" / f"{i}.jpg", quality=95)
        Image.fromarray((m * 255).astype(np.uint8)).save(root / "masks" / f"{i}.png")
    return root / "images", root / "masks"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    torch.manual_seed(0)
    gen = save_weights(Generator(width=0.125), root / "g.safetensors",
                       {"kind": "generator", "width": 0.125, "image_size": 64, "threshold": 0.5})
    cls = save_weights(build_resnet18(2), root / "c.safetensors",
                       {"kind": "classifier", "image_size": 64, "split_seed": "0", "train_fraction": "0.7"})
    lm = save_weights(build_resnet18(2), root / "lm.safetensors",
                      {"kind": "lm_classifier", "image_size": 64, "split_seed": "0",
                       "generator_sha256": file_sha256(gen)})
    ti, tm = _mask_set(root / "test", 3, 1)
    vi, vm = _mask_set(root / "val", 2, 2)
    rng = np.random.default_rng(3)
    for cls_dir in ("COVID", "non-COVID"):
        (root / "train" / cls_dir).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(_picture(rng, 70, 70)[0]).save(root / "train" / cls_dir / f"{i}.png")
    return dict(root=root, gen=gen, cls=cls, lm=lm, ti=ti, tm=tm, vi=vi, vm=vm, train=root / "train")


def _loc_args(f, out, *extra):
    return ["evaluate", "--images", str(f["ti"]), "--masks", str(f["tm"]), "--val-images", str(f["vi"]),
            "--val-masks", str(f["vm"]), "--weights", str(f["gen"]), "--classifier-weights", str(f["cls"]),
            "--out", str(out), "--device", "cpu", *extra]


def test_localization_end_to_end(files, tmp_path, capsys):
    out = tmp_path / "run"
    rc = main.main(_loc_args(files, out, "--methods", "gan,gradcam,msgradcam,smoothgrad", "--lung-only",
                             "--smoothgrad-samples", "2"))
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    data = json.loads((out / "metrics.json").read_text())["localization"]
    # the product's absolute-scale GAN maps are scored beside the paper's min-max ones
    names = {"gan", "gan-abs", "gradcam", "msgradcam", "smoothgrad"}
    assert set(data["methods"]) == names | {n + "+lung" for n in names}
    for r in data["methods"].values():
        for key in ("auc", "dice", "accuracy", "sensitivity", "specificity", "f1", "threshold"):
            assert 0.0 <= r[key] <= 1.0
        assert set(r["infnet_protocol"]) == {"dice", "sensitivity", "specificity"}
    assert data["test"]["n"] == 3 and data["validation"]["n"] == 2
    assert (out / "roc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "paper" in captured.out and "0.883" in captured.out and "Inf-Net" in captured.out


def test_tta_flag_reaches_the_gan_maps(files, tmp_path, capsys):
    rc = main.main(_loc_args(files, tmp_path / "t1", "--methods", "gan"))
    assert rc == 0
    rc = main.main(_loc_args(files, tmp_path / "t4", "--methods", "gan", "--tta", "4"))
    assert rc == 0
    one = json.loads((tmp_path / "t1" / "metrics.json").read_text())["localization"]["methods"]["gan"]
    four = json.loads((tmp_path / "t4" / "metrics.json").read_text())["localization"]["methods"]["gan"]
    assert one["tta"] == 1 and four["tta"] == 4
    assert one["auc"] != four["auc"]  # a random generator gives different maps when flipped
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main.main(_loc_args(files, tmp_path / "t3", "--methods", "gan", "--tta", "3"))
    assert "--tta" in capsys.readouterr().err


def test_classification_end_to_end_keeps_localization(files, tmp_path, capsys):
    out = tmp_path / "run"
    assert main.main(_loc_args(files, out, "--methods", "gan")) == 0
    rc = main.main(["evaluate", "classification", "--data", str(files["train"]),
                    "--classifier-weights", str(files["cls"]), "--lm-weights", str(files["lm"]),
                    "--weights", str(files["gen"]), "--split-seed", "0", "--out", str(out), "--device", "cpu"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    data = json.loads((out / "metrics.json").read_text())
    assert "localization" in data
    c = data["classification"]
    assert set(c["models"]) == {"resnet18", "lm_resnet18"}
    assert c["n_test"] == 8 - round(8 * 0.7)
    for r in c["models"].values():
        assert {"accuracy", "sensitivity", "specificity", "f1"} <= set(r)
    assert "0.982" in captured.out  # the paper's LM-ResNet-18 accuracy beside ours


def test_classification_of_an_external_set_uses_every_slice(files, tmp_path, capsys):
    """#12: ``--train-fraction 0`` scores every slice of ``--data`` (a set from another source);
    a fraction of 1 or below 0 is refused with one line."""
    out = tmp_path / "ext"
    rc = main.main(["evaluate", "classification", "--data", str(files["train"]),
                    "--classifier-weights", str(files["cls"]), "--train-fraction", "0",
                    "--out", str(out), "--device", "cpu"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    c = json.loads((out / "metrics.json").read_text())["classification"]
    assert c["n_test"] == c["n_total"] == 8 and c["train_fraction"] == 0.0
    assert "external set" in captured.out + captured.err
    for bad in ("1", "-0.1"):
        with pytest.raises(SystemExit):
            main.main(["evaluate", "classification", "--data", str(files["train"]),
                       "--classifier-weights", str(files["cls"]), "--train-fraction", bad])
        assert "--train-fraction" in capsys.readouterr().err


@pytest.mark.parametrize("change, message", [
    (("--methods", "gan,lime"), "unknown method 'lime'"),
    (("--methods", ","), "no method"),
])
def test_bad_methods(files, tmp_path, capsys, change, message):
    assert main.main(_loc_args(files, tmp_path / "o", *change)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --methods") and message in err and err.count("\n") == 1


def test_inference_size_flag_reaches_the_gan_maps(files, tmp_path, capsys):
    rc = main.main(_loc_args(files, tmp_path / "s", "--methods", "gan", "--inference-size", "128"))
    assert rc == 0, capsys.readouterr().err
    r = json.loads((tmp_path / "s" / "metrics.json").read_text())["localization"]["methods"]
    assert r["gan"]["inference_size"] == 128 and r["gan-abs"]["inference_size"] == 128


def test_bad_localization_inputs(files, tmp_path, capsys):
    f = dict(files)
    cases = []
    f1 = dict(f, ti=tmp_path / "nowhere")
    cases.append((_loc_args(f1, tmp_path / "o"), "nowhere: folder does not exist"))
    f2 = dict(f, gen=tmp_path / "missing.safetensors")
    cases.append((_loc_args(f2, tmp_path / "o", "--methods", "gan"), "missing.safetensors: weights file does not exist"))
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"junk")
    f3 = dict(f, gen=junk)
    cases.append((_loc_args(f3, tmp_path / "o", "--methods", "gan"), "junk.safetensors"))
    f4 = dict(f, gen=f["cls"])  # classifier weights given as the generator
    cases.append((_loc_args(f4, tmp_path / "o", "--methods", "gan"), "not a generator"))
    args = _loc_args(f, tmp_path / "o", "--methods", "gradcam")
    i = args.index("--classifier-weights")
    cases.append((args[:i] + args[i + 2:], "--classifier-weights: needed for gradcam"))
    args = _loc_args(f, tmp_path / "o")
    i = args.index("--val-masks")
    cases.append((args[:i] + args[i + 2:], "--val-masks: required"))
    afile = tmp_path / "afile"
    afile.write_text("x")
    cases.append((_loc_args(f, afile), "exists and is not a folder"))
    cases.append((_loc_args(f, tmp_path / "o", "--device", "tpu"), "device 'tpu'"))
    cases.append((_loc_args(f, tmp_path / "o", "--methods", "gan", "--inference-size", "100"),
                  "--inference-size 100: must be a multiple of 32"))
    for argv, message in cases:
        assert main.main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "o" / "metrics.json").exists()


def test_bad_classification_inputs(files, tmp_path, capsys):
    base = ["evaluate", "classification", "--out", str(tmp_path / "o"), "--device", "cpu"]
    cases = [
        (base, "--data: required"),
        (base + ["--data", str(tmp_path / "none")], "none: folder does not exist"),
        (base + ["--data", str(files["train"])], "give at least one classifier"),
        (base + ["--data", str(files["train"]), "--lm-weights", str(files["lm"])], "--weights: needed with --lm-weights"),
        (base + ["--data", str(files["train"]), "--classifier-weights", str(files["lm"])], "expected classifier"),
        (base + ["--data", str(files["ti"]), "--classifier-weights", str(files["cls"])], "no class folder"),
    ]
    for argv, message in cases:
        assert main.main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and err.count("\n") == 1, err


def test_unreadable_pair_is_skipped_with_a_warning(files, tmp_path, capsys):
    import shutil

    ti, tm = tmp_path / "images", tmp_path / "masks"
    shutil.copytree(files["ti"], ti)
    shutil.copytree(files["tm"], tm)
    (ti / "9.jpg").write_bytes(b"not a picture")
    (tm / "9.png").write_bytes(b"not a picture")
    (ti / "8.jpg").write_bytes((files["ti"] / "0.jpg").read_bytes())  # no mask named 8
    f = dict(files, ti=ti, tm=tm)
    rc = main.main(_loc_args(f, tmp_path / "o", "--methods", "gan"))
    out = capsys.readouterr().out
    assert rc == 0
    data = json.loads((tmp_path / "o" / "metrics.json").read_text())["localization"]
    assert data["test"]["n"] == 3
    assert "warning: skipped" in out and "9.jpg" in out and "without a mask" in out


def test_no_pairs_is_an_error(files, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    f = dict(files, tm=empty)
    assert main.main(_loc_args(f, tmp_path / "o", "--methods", "gan")) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "no readable image has a mask" in err
