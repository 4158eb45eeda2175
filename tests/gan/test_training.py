"""Two-iteration training runs on synthetic images, resume, and a 2-process DDP run (gloo)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gan.train_classifier import ClassifierConfig, binary_metrics, train_classifier
from gan.train_gan import GanConfig, train_gan
from gan.weights import read_weights

REPO = Path(__file__).resolve().parents[2]
TINY = dict(image_size=64, width=0.125, batch_size=2, lr_g=2e-4, d_lr_ratio=2.0, val_every=1,
            checkpoint_minutes=60.0, precision="fp32", device="cpu")


@pytest.fixture(scope="module")
def classifier(tmp_path_factory, class_folders):
    out = tmp_path_factory.mktemp("stage1")
    res = train_classifier(ClassifierConfig(data=str(class_folders), out=str(out), image_size=64,
                                            batch_size=4, epochs=1, lr=1e-3, precision="fp32", device="cpu"))
    return Path(res["weights"])


def test_classifier_stage_writes_safetensors_with_metrics(classifier):
    state, meta = read_weights(classifier)
    assert meta["kind"] == "classifier" and int(meta["image_size"]) == 64
    assert set(json.loads(meta["test_metrics"])) >= {"accuracy", "sensitivity", "specificity", "f1"}


def test_two_iterations_then_resume(tmp_path, class_folders, mask_folders, classifier):
    vi, vm = mask_folders
    cfg = GanConfig(data=str(class_folders), classifier_weights=str(classifier), out=str(tmp_path),
                    val_images=str(vi), val_masks=str(vm), iterations=2, **TINY)
    res = train_gan(cfg)
    assert res["iterations"] == 2
    assert (tmp_path / "checkpoint.pt").exists() and (tmp_path / "best_generator.safetensors").exists()
    hist = json.loads((tmp_path / "history.json").read_text())
    assert len(hist["history"]) == 2 and 0.0 <= hist["best"]["auc"] <= 1.0
    _, meta = read_weights(tmp_path / "best_generator.safetensors")
    assert meta["kind"] == "generator" and 0.0 <= float(meta["threshold"]) <= 1.0

    # resuming continues at iteration 2 and runs exactly one more
    cfg2 = GanConfig(**{**cfg.__dict__, "iterations": 3, "resume": True})
    res2 = train_gan(cfg2)
    assert res2["iterations"] == 3
    assert len(json.loads((tmp_path / "history.json").read_text())["history"]) == 3


def _resumed_equals_straight(tmp_path, base: dict) -> bool:
    """2 iterations in one run (``a``) and 1 + a resume to 2 (``b``) give the same generator."""
    train_gan(GanConfig(out=str(tmp_path / "a"), iterations=2, **base))
    train_gan(GanConfig(out=str(tmp_path / "b"), iterations=1, **base))
    train_gan(GanConfig(out=str(tmp_path / "b"), iterations=2, resume=True, **base))
    a, _ = read_weights(tmp_path / "a" / "last_generator.safetensors")
    b, _ = read_weights(tmp_path / "b" / "last_generator.safetensors")
    return all(torch.equal(a[k], b[k]) for k in a)


def test_resume_is_exact(tmp_path, class_folders, classifier):
    """Two runs of 2 iterations == one run of 1 iteration + resume to 2 (same seed)."""
    base = dict(data=str(class_folders), classifier_weights=str(classifier), **TINY)
    assert _resumed_equals_straight(tmp_path, base)


def test_seeded_runs_are_reproducible(tmp_path, class_folders, classifier):
    base = dict(data=str(class_folders), classifier_weights=str(classifier), iterations=1, **TINY)
    train_gan(GanConfig(out=str(tmp_path / "a"), **base))
    train_gan(GanConfig(out=str(tmp_path / "b"), **base))
    a, _ = read_weights(tmp_path / "a" / "last_generator.safetensors")
    b, _ = read_weights(tmp_path / "b" / "last_generator.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_lm_classifier_on_maps(tmp_path, class_folders, classifier):
    train_gan(GanConfig(data=str(class_folders), classifier_weights=str(classifier), out=str(tmp_path),
                        iterations=1, **TINY))
    res = train_classifier(ClassifierConfig(data=str(class_folders), out=str(tmp_path), image_size=64,
                                            batch_size=4, epochs=1, precision="fp32", device="cpu",
                                            on_maps=str(tmp_path / "last_generator.safetensors")))
    _, meta = read_weights(res["weights"])
    assert meta["kind"] == "lm_classifier" and len(meta["generator_sha256"]) == 64
    assert meta["map_normalisation"] == "minmax"


def test_lm_classifier_on_absolute_maps_sees_them_as_evaluate_does(tmp_path, class_folders, classifier):
    """``--maps absolute``: the LM-ResNet-18 trains on the product's absolute maps, says so in
    its weights, and ``evaluate classification`` then feeds it the same maps."""
    import numpy as np

    from gan.data import load_class_folders
    from gan.evaluate import ClassificationSetup, lm_inputs, run_classification
    from gan.inference import Localizer
    from gan.train_classifier import _inputs

    train_gan(GanConfig(data=str(class_folders), classifier_weights=str(classifier), out=str(tmp_path),
                        iterations=1, **TINY))
    gen = tmp_path / "last_generator.safetensors"
    res = train_classifier(ClassifierConfig(data=str(class_folders), out=str(tmp_path / "lm"), image_size=64,
                                            batch_size=4, epochs=1, precision="fp32", device="cpu",
                                            on_maps=str(gen), map_normalisation="absolute"))
    _, meta = read_weights(res["weights"])
    assert meta["map_normalisation"] == "absolute"
    im = load_class_folders(str(class_folders)).images[0]
    loc = Localizer(gen, device="cpu")
    absolute = _inputs([im], loc, "absolute")[0]
    minmax = _inputs([im], loc, "minmax")[0]
    assert absolute.dtype == np.uint8 and not np.array_equal(absolute, minmax)
    seen = lm_inputs([im], gen, 64, "localizer", "cpu", normalise="absolute")[0]
    from gan.data import resize_unit
    assert torch.equal(seen, resize_unit(absolute, 64))
    out = run_classification(ClassificationSetup(data=Path(class_folders), lm_weights=Path(res["weights"]),
                                                 weights=gen, device="cpu"), log=lambda *_: None)
    assert set(out["models"]) == {"lm_resnet18"}


def test_lm_classifier_refuses_an_unknown_map_normalisation(tmp_path, class_folders):
    cfg = ClassifierConfig(data=str(class_folders), out=str(tmp_path), epochs=1, on_maps="x",
                           map_normalisation="percent", **CLS_TINY)
    with pytest.raises(ValueError, match="map normalisation"):
        train_classifier(cfg)


def test_binary_metrics_by_hand():
    m = binary_metrics([1, 1, 0, 0, 1], [1, 0, 0, 1, 1])
    assert (m["tp"], m["fp"], m["tn"], m["fn"]) == (2, 1, 1, 1)
    assert m["accuracy"] == pytest.approx(0.6) and m["sensitivity"] == pytest.approx(2 / 3)
    assert m["specificity"] == pytest.approx(0.5) and m["f1"] == pytest.approx(2 / 3)


def test_gan_rejects_wrong_weights_kind(tmp_path, class_folders):
    from gan.networks import Generator
    from gan.weights import save_weights

    w = save_weights(Generator(0.125), tmp_path / "g.safetensors", {"kind": "generator", "width": 0.125})
    with pytest.raises(ValueError, match="classifier"):
        train_gan(GanConfig(data=str(class_folders), classifier_weights=str(w), out=str(tmp_path / "o"),
                            iterations=1, **TINY))


@pytest.mark.slow
def test_ddp_two_cpu_processes(tmp_path, class_folders, classifier):
    """The same command under torchrun with 2 CPU processes (gloo backend)."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(REPO / "main.py"), "train", "gan", "--data", str(class_folders), "--out", str(tmp_path),
           "--classifier-weights", str(classifier), "--iterations", "2", "--image-size", "64",
           "--width", "0.125", "--batch-size", "2", "--device", "cpu", "--precision", "fp32"]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    r = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path / "last_generator.safetensors").exists()
    assert json.loads((tmp_path / "history.json").read_text())["stop"] == "iterations done"


def test_discriminator_warmup_and_separate_d_width(tmp_path, class_folders, classifier):
    cfg = GanConfig(data=str(class_folders), classifier_weights=str(classifier), out=str(tmp_path),
                    iterations=1, d_warmup=2, **{**TINY, "d_lr_ratio": 4.0})
    cfg.d_width = 0.25
    res = train_gan(cfg)
    assert res["iterations"] == 1
    ck = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    # D built at its own width: first conv has 8 channels at 0.25 x 32
    assert ck["D"]["features.0.weight"].shape[0] == 8


def test_presets_fill_every_config_field():
    from gan.presets import GAN_PRESETS

    fields = set(GanConfig.__dataclass_fields__)
    for name, p in GAN_PRESETS.items():
        assert set(p) <= fields, name
    assert GAN_PRESETS["paper"]["lr_g"] == 5e-6 and GAN_PRESETS["paper"]["image_size"] == 256
    # the paper preset keeps the paper's losses; the CPU recipe adds the D anchor and window jitter
    assert GAN_PRESETS["paper"]["d_anchor"] == 0.0 and not GAN_PRESETS["paper"]["intensity_aug"]
    assert GAN_PRESETS["cpu"]["d_anchor"] == 1.0 and GAN_PRESETS["cpu"]["intensity_aug"]


def test_mask_folders_skip_bad_pairs(tmp_path, mask_folders):
    import shutil

    from gan.data import load_mask_folders

    vi, vm = mask_folders
    shutil.copytree(vi, tmp_path / "images"); shutil.copytree(vm, tmp_path / "masks")
    (tmp_path / "images" / "9.jpg").write_bytes(b"")  # 0-byte image with a mask
    (tmp_path / "masks" / "9.png").write_bytes((tmp_path / "masks" / "0.png").read_bytes())
    s = load_mask_folders(tmp_path / "images", tmp_path / "masks")
    assert len(s) == 4 and len(s.skipped) == 1 and "9.jpg" in s.skipped[0]
    with pytest.raises(ValueError, match="does not exist"):
        load_mask_folders(tmp_path / "nope", tmp_path / "masks")


def test_anchor_intensity_and_ema_resume_exactly(tmp_path, class_folders, mask_folders, classifier):
    """The CPU-recipe options (raw COVID slices as extra fakes for D, window jitter, a moving
    average of G) train, validate both G and its average, and resume bit-identically."""
    vi, vm = mask_folders
    base = dict(data=str(class_folders), classifier_weights=str(classifier), val_images=str(vi),
                val_masks=str(vm), d_anchor=1.0, intensity_aug=True, ema=0.9, **TINY)
    train_gan(GanConfig(out=str(tmp_path / "a"), iterations=2, **base))
    train_gan(GanConfig(out=str(tmp_path / "b"), iterations=1, **base))
    train_gan(GanConfig(out=str(tmp_path / "b"), iterations=2, resume=True, **base))
    for name in ("last_generator.safetensors", "last_generator_ema.safetensors"):
        a, _ = read_weights(tmp_path / "a" / name)
        b, _ = read_weights(tmp_path / "b" / name)
        assert all(torch.equal(a[k], b[k]) for k in a), name
    g, _ = read_weights(tmp_path / "a" / "last_generator.safetensors")
    e, meta = read_weights(tmp_path / "a" / "last_generator_ema.safetensors")
    assert meta["weights_source"] == "ema"
    assert any(not torch.equal(g[k], e[k]) for k in g)  # the average lags behind G
    hist = json.loads((tmp_path / "a" / "history.json").read_text())["history"]
    assert [h["source"] for h in hist] == ["generator", "ema", "generator", "ema"]
    _, best_meta = read_weights(tmp_path / "a" / "best_generator.safetensors")
    assert best_meta["weights_source"] in ("generator", "ema")


def test_ema_decay_out_of_range_is_refused(tmp_path, class_folders, classifier):
    cfg = GanConfig(data=str(class_folders), classifier_weights=str(classifier), out=str(tmp_path),
                    iterations=1, ema=1.0, **TINY)
    with pytest.raises(ValueError, match="EMA decay"):
        train_gan(cfg)


def test_intensity_jitter_stays_in_unit_range_and_changes_window():
    import numpy as np

    from gan.data import AugmentedBatcher, jitter_intensity

    ref = torch.linspace(0, 1, 32 * 32).reshape(1, 32, 32)
    rng = np.random.default_rng(0)
    outs = [jitter_intensity(ref.clone(), rng) for _ in range(20)]
    assert all(float(o.min()) >= 0.0 and float(o.max()) <= 1.0 for o in outs)
    assert max(float((o - ref).abs().max()) for o in outs) > 0.02
    for o in outs:  # monotone: the window changes, the order of grey values does not
        assert bool((o.flatten().diff() >= -1e-6).all())
    img = (np.linspace(0, 255, 64 * 64).reshape(64, 64)).astype(np.uint8)
    batch = AugmentedBatcher(32, intensity=True).batch([img, img], np.array([0, 1]), rng)
    assert batch.shape == (2, 1, 32, 32) and 0.0 <= float(batch.min()) and float(batch.max()) <= 1.0


def test_class_folders_read_webp(tmp_path):
    """Training pictures may be WebP (lossless or not) beside PNG/JPEG."""
    import numpy as np
    from PIL import Image

    from gan.data import load_class_folders

    rng = np.random.default_rng(0)
    for name in ("COVID", "non-COVID"):
        (tmp_path / name).mkdir()
        Image.fromarray(rng.integers(0, 255, (40, 50), dtype=np.uint8)).save(tmp_path / name / "a.webp", lossless=True)
        Image.fromarray(rng.integers(0, 255, (40, 50), dtype=np.uint8)).save(tmp_path / name / "b.png")
    data = load_class_folders(tmp_path)
    assert len(data) == 4 and sorted(data.labels.tolist()) == [0, 0, 1, 1]
    assert all(im.shape == (40, 50) and im.dtype == np.uint8 for im in data.images)


CLS_TINY = dict(image_size=64, batch_size=4, lr=1e-3, precision="fp32", device="cpu")


def test_classifier_recipe_options_train_and_resume_exactly(tmp_path, class_folders, monkeypatch):
    """Weight decay (AdamW), label smoothing and a wider crop range: recorded in the weights, and
    a run cut off after an epoch and resumed equals one run."""
    import gan.train_classifier as tc

    opts = dict(weight_decay=0.05, label_smoothing=0.1, crop_min=0.6, **CLS_TINY)
    a = train_classifier(ClassifierConfig(data=str(class_folders), out=str(tmp_path / "a"), epochs=2, **opts))
    real_save = tc.save_checkpoint

    def save_then_stop(*args, **kwargs):  # the run is cut off after its first epoch's checkpoint
        real_save(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(tc, "save_checkpoint", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        train_classifier(ClassifierConfig(data=str(class_folders), out=str(tmp_path / "b"), epochs=2, **opts))
    monkeypatch.setattr(tc, "save_checkpoint", real_save)
    with pytest.raises(ValueError, match="same number of epochs"):
        train_classifier(ClassifierConfig(data=str(class_folders), out=str(tmp_path / "b"), epochs=3,
                                          resume=True, **opts))
    b = train_classifier(ClassifierConfig(data=str(class_folders), out=str(tmp_path / "b"), epochs=2,
                                          resume=True, **opts))
    wa, meta = read_weights(a["weights"])
    wb, _ = read_weights(b["weights"])
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    cfg = json.loads(meta["config"])
    assert cfg["weight_decay"] == 0.05 and cfg["label_smoothing"] == 0.1 and cfg["crop_min"] == 0.6
    # weight decay changes the trajectory (AdamW, not Adam)
    c = train_classifier(ClassifierConfig(data=str(class_folders), out=str(tmp_path / "c"), epochs=2,
                                          **{**opts, "weight_decay": 0.0}))
    wc, _ = read_weights(c["weights"])
    assert any(not torch.equal(wa[k], wc[k]) for k in wa if "weight" in k)


@pytest.mark.parametrize("field,value,message", [
    ("weight_decay", -1.0, "weight decay"), ("label_smoothing", 1.0, "label smoothing"),
    ("crop_min", 0.0, "smallest crop area")])
def test_classifier_recipe_options_out_of_range_are_refused(tmp_path, class_folders, field, value, message):
    cfg = ClassifierConfig(data=str(class_folders), out=str(tmp_path), epochs=1, **CLS_TINY)
    setattr(cfg, field, value)
    with pytest.raises(ValueError, match=message):
        train_classifier(cfg)


@pytest.mark.parametrize("flag,value", [("--crop-min", "0"), ("--crop-min", "1.5"),
                                        ("--label-smoothing", "-0.1"), ("--weight-decay", "-1")])
def test_classifier_recipe_flags_refuse_bad_values(tmp_path, flag, value):
    r = subprocess.run([sys.executable, str(REPO / "main.py"), "train", "classifier", "--data", str(tmp_path),
                        "--out", str(tmp_path / "o"), flag, value], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 2 and flag in r.stderr


def test_multi_scale_d_trains_resumes_exactly_and_refuses_bad_values(tmp_path, class_folders, classifier):
    """``--d-scales 2``: D at two input scales trains and resumes bit-identically; a resume with
    another number of scales, a bad number and a size the scales cannot pool are refused in one
    line naming the flag."""
    base = dict(data=str(class_folders), classifier_weights=str(classifier), d_scales=2, **TINY)
    assert _resumed_equals_straight(tmp_path, base)
    ck = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=True)
    assert "scales.1.features.0.weight" in ck["D"]
    with pytest.raises(ValueError, match="does not fit --d-scales 1"):
        train_gan(GanConfig(out=str(tmp_path / "b"), iterations=3, resume=True, **{**base, "d_scales": 1}))
    with pytest.raises(ValueError, match="--d-scales 5: must be a whole number from 1 to 4"):
        train_gan(GanConfig(out=str(tmp_path / "c"), iterations=1, **{**base, "d_scales": 5}))
    with pytest.raises(ValueError, match="--d-scales 4: the image size 64 must be a multiple of 128"):
        train_gan(GanConfig(out=str(tmp_path / "c"), iterations=1, **{**base, "d_scales": 4}))


def test_masks_follow_their_pictures_through_the_augmentation():
    """batch_with_masks: the same crop, flips and turn for picture and mask; the pictures are
    those of batch() for the same random state (no extra draws)."""
    import numpy as np

    from gan.data import AugmentedBatcher

    rng0 = np.random.default_rng(0)
    pics, masks = [], []
    for _ in range(6):
        m = np.zeros((70, 90), bool)
        y, x = rng0.integers(5, 40), rng0.integers(5, 60)
        m[y:y + 20, x:x + 25] = True
        pics.append(np.where(m, 200, 30).astype(np.uint8))
        masks.append(m)
    b = AugmentedBatcher(64, rot90=True, intensity=True)
    idx = np.arange(6)
    x, m = b.batch_with_masks(pics, masks, idx, np.random.default_rng(5))
    assert x.shape == m.shape == (6, 1, 64, 64)
    assert float(m.min()) >= 0.0 and float(m.max()) <= 1.0
    # where the mask is clearly in (out), the picture is bright (dark), jitter or not
    assert float(x[m > 0.9].min()) > float(x[m < 0.1].max())
    torch.testing.assert_close(x, b.batch(pics, idx, np.random.default_rng(5)))
    with pytest.raises(ValueError, match="does not match"):
        b.one(pics[0], np.random.default_rng(0), masks[0][:10])


def test_lung_restricted_training_resumes_exactly_and_caches_the_fields(tmp_path, class_folders, classifier):
    """--lung-restrict: the lung fields are made once (cached beside the checkpoint) and the run
    resumes bit-identically; a changed training set remakes the cache."""
    import numpy as np

    from gan.data import load_class_folders
    from gan.train_gan import training_lung_fields

    base = dict(data=str(class_folders), classifier_weights=str(classifier), lung_restrict=True, **TINY)
    assert _resumed_equals_straight(tmp_path, base)
    cache = tmp_path / "a" / "lung_fields.npz"
    assert cache.is_file()
    train = load_class_folders(class_folders)
    names = [f"{p.parent.name}/{p.name}" for p in train.paths]
    fields = training_lung_fields(train.images, names, cache, show=False)
    assert [f.shape for f in fields] == [im.shape for im in train.images]
    assert all(f.dtype == bool and f.any() for f in fields)
    stamp = cache.stat().st_mtime_ns
    assert training_lung_fields(train.images, names, cache, show=False)[3].tolist() == fields[3].tolist()
    assert cache.stat().st_mtime_ns == stamp            # read, not remade
    training_lung_fields(train.images[:4], names[:4], cache, show=False)
    with np.load(cache) as z:
        assert len(z["shapes"]) == 4                     # another set: made anew
    cache.write_bytes(b"partly written")                 # a broken cache is remade, not fatal
    assert len(training_lung_fields(train.images, names, cache, show=False)) == len(names)
