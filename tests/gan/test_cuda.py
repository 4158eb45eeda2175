"""CUDA paths: inference on the GPU, mixed-precision training (bf16 and fp16 with loss scaling),
resume on the GPU. Skipped, with the reason, on machines without CUDA (CI has none); run on a
GPU machine with ``python -m pytest tests/gan/test_cuda.py``."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from gan.inference import Localizer
from gan.networks import Generator
from gan.train_classifier import ClassifierConfig, train_classifier
from gan.train_gan import GanConfig, train_gan
from gan.weights import read_weights, save_weights

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none on this machine)")

TINY = dict(image_size=64, width=0.125, batch_size=2, lr_g=2e-4, d_lr_ratio=2.0, val_every=1,
            checkpoint_minutes=60.0, device="cuda")


def hu_slice(seed: int = 0, size: int = 192) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] / size
    img = np.full((size, size), -1000.0, np.float32)
    img[((yy - 0.5) / 0.42) ** 2 + ((xx - 0.5) / 0.45) ** 2 < 1] = 40.0
    for cx in (0.32, 0.68):
        img[((yy - 0.5) / 0.3) ** 2 + ((xx - cx) / 0.13) ** 2 < 1] = -850.0
    img[((yy - 0.45) / 0.05) ** 2 + ((xx - 0.3) / 0.05) ** 2 < 1] = -300.0  # a ground-glass blob
    return img + rng.normal(0, 15, img.shape).astype(np.float32)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w") / "g.safetensors"
    return save_weights(Generator(0.25), path, {"kind": "generator", "width": 0.25, "image_size": 128,
                                                 "threshold": 0.5})


def test_localizer_on_cuda_matches_cpu_and_is_deterministic(weights):
    vol = np.stack([hu_slice(i) for i in range(3)])
    gpu = Localizer(weights, device="cuda")
    assert gpu.device.type == "cuda"
    a = gpu.apply(vol, is_hu=True)
    b = gpu.apply(vol, is_hu=True)
    np.testing.assert_array_equal(a, b)
    cpu = Localizer(weights, device="cpu").apply(vol, is_hu=True)
    assert a.shape == cpu.shape == vol.shape
    assert np.abs(a - cpu).max() < 0.02
    auto = Localizer(weights, device="auto")
    assert auto.device.type == "cuda"


@pytest.fixture(scope="module")
def classifier(tmp_path_factory, class_folders):
    out = tmp_path_factory.mktemp("stage1cuda")
    res = train_classifier(ClassifierConfig(data=str(class_folders), out=str(out), image_size=64, batch_size=4,
                                            epochs=1, lr=1e-3, precision="auto", device="cuda"))
    return res["weights"]


@pytest.mark.parametrize("precision", ["auto", "bf16", "fp16", "fp32"])
def test_gan_training_on_cuda(tmp_path, class_folders, mask_folders, classifier, precision):
    vi, vm = mask_folders
    cfg = GanConfig(data=str(class_folders), classifier_weights=str(classifier), out=str(tmp_path),
                    val_images=str(vi), val_masks=str(vm), iterations=3, precision=precision, d_warmup=2,
                    d_anchor=1.0, ema=0.9, **TINY)
    res = train_gan(cfg)
    assert res["iterations"] == 3
    hist = json.loads((tmp_path / "history.json").read_text())
    assert all(np.isfinite(r["auc"]) for r in hist["history"])
    state, meta = read_weights(tmp_path / "best_generator.safetensors")
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())
    res2 = train_gan(GanConfig(**{**cfg.__dict__, "iterations": 4, "resume": True}))
    assert res2["iterations"] == 4


def test_fp16_checkpoint_keeps_the_loss_scale(tmp_path, class_folders, classifier):
    cfg = GanConfig(data=str(class_folders), classifier_weights=str(classifier), out=str(tmp_path),
                    iterations=2, precision="fp16", **TINY)
    train_gan(cfg)
    ck = torch.load(tmp_path / "checkpoint.pt", map_location="cpu", weights_only=True)
    assert "scaler" in ck and ck["scaler"]["scale"] > 0
