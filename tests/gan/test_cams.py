"""Grad-CAM, multi-scale Grad-CAM and SmoothGrad on a tiny random classifier."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from gan.cams import CAM_METHODS, ClassifierExplainer
from gan.networks import Generator, build_resnet18
from gan.weights import save_weights


@pytest.fixture(scope="module")
def classifier_file(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w") / "classifier.safetensors"
    save_weights(build_resnet18(2), path, {"kind": "classifier", "image_size": 64}, half=False)
    return path


def _slices():
    rng = np.random.default_rng(0)
    a = (rng.random((70, 50)) * 255).astype(np.uint8)
    b = np.zeros((40, 90), np.uint8)
    b[5:35, 10:80] = 200
    b[12:28, 20:45] = 40
    return [a, b]


@pytest.mark.parametrize("method", CAM_METHODS)
def test_maps_shape_range_and_determinism(classifier_file, method):
    ex = ClassifierExplainer(classifier_file, device="cpu", smoothgrad_samples=3)
    assert ex.image_size == 64
    slices = _slices()
    maps = ex.maps(slices, is_hu=False, method=method)
    assert [m.shape for m in maps] == [s.shape for s in slices]
    for m in maps:
        assert m.dtype == np.float32
        assert np.isfinite(m).all() and m.min() >= 0.0 and m.max() <= 1.0
    again = ex.maps(slices, is_hu=False, method=method)
    for m, n in zip(maps, again):
        np.testing.assert_allclose(m, n, atol=1e-5)


def test_hu_input(classifier_file):
    ex = ClassifierExplainer(classifier_file, device="cpu")
    hu = np.full((80, 80), -1000.0, np.float32)  # air
    hu[20:60, 15:65] = 40.0  # body
    hu[30:50, 25:55] = -850.0  # lung
    m = ex.maps([hu], is_hu=True, method="gradcam", crop_to_body=False)[0]
    assert m.shape == (80, 80) and m.min() >= 0.0 and m.max() <= 1.0


def test_body_crop_leaves_zeros_outside(classifier_file):
    ex = ClassifierExplainer(classifier_file, device="cpu")
    pic = np.zeros((80, 80), np.uint8)  # air border around a bright body with a dark lung
    pic[20:60, 15:65] = 220
    pic[30:50, 25:55] = 60
    m = ex.maps([pic], is_hu=False, method="msgradcam")[0]
    assert m.shape == (80, 80)
    assert m[:10].max() == 0.0 and m[:, :5].max() == 0.0 and m[70:].max() == 0.0


def test_bad_inputs(classifier_file, tmp_path):
    ex = ClassifierExplainer(classifier_file, device="cpu")
    with pytest.raises(ValueError, match="unknown CAM method"):
        ex.maps(_slices(), is_hu=False, method="lime")
    with pytest.raises(ValueError, match="does not exist"):
        ClassifierExplainer(tmp_path / "missing.safetensors", device="cpu")
    gen = tmp_path / "g.safetensors"
    save_weights(Generator(0.125), gen, {"kind": "generator", "image_size": 64})
    with pytest.raises(ValueError, match="expected classifier"):
        ClassifierExplainer(gen, device="cpu")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not safetensors")
    with pytest.raises(ValueError, match="junk.safetensors"):
        ClassifierExplainer(junk, device="cpu")
