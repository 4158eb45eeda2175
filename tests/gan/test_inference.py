"""The Localizer API: shapes, ranges, geometry, determinism and bad weights files."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from gan.inference import Localizer, resolve_device, smooth_and_normalise
from gan.networks import Generator
from gan.preprocess import body_crop, lung_window_unit, to_unit
from gan.weights import read_weights, save_weights


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w") / "g.safetensors"
    return save_weights(Generator(0.125), path, {"kind": "generator", "width": 0.125, "image_size": 64,
                                                  "threshold": 0.42, "model_name": "tiny"})


def hu_slice(h=96, w=112):
    img = np.full((h, w), -1000.0, np.float32)  # air
    img[10:80, 20:100] = 40.0  # body
    img[20:70, 30:60] = -850.0  # lung
    img[40:50, 40:50] = -300.0  # lesion
    return img


def test_single_slice_shape_range_and_metadata(weights):
    loc = Localizer(weights, device="cpu")
    m = loc.apply(hu_slice(), is_hu=True)
    assert m.shape == (96, 112) and m.dtype == np.float32
    assert 0.0 <= m.min() and m.max() <= 1.0
    assert loc.threshold == pytest.approx(0.42) and loc.model_name == "tiny"
    assert len(loc.weights_hash) == 64 and str(loc.device) == "cpu"


def test_map_is_zero_outside_the_body_crop(weights):
    m = Localizer(weights, device="cpu").apply(hu_slice(), is_hu=True)
    crop = body_crop(to_unit(hu_slice(), True), True)
    assert (crop.y0, crop.x0) > (0, 0) and crop.y1 < 96
    outside = np.ones_like(m, bool)
    outside[crop.y0:crop.y1, crop.x0:crop.x1] = False
    assert np.all(m[outside] == 0)


def test_volume_and_pictures_and_determinism(weights):
    loc = Localizer(weights, device="cpu")
    vol = np.stack([hu_slice(), hu_slice() + 10, hu_slice() - 10])
    a = loc.apply(vol, is_hu=True)
    b = loc.apply(vol, is_hu=True)
    assert a.shape == vol.shape and np.array_equal(a, b)
    assert np.allclose(a[0], loc.apply(vol[0], is_hu=True), atol=1e-4)  # batching changes only rounding
    pic = (lung_window_unit(hu_slice()) * 255).astype(np.uint8)
    p = loc.apply(pic, is_hu=False)
    assert p.shape == pic.shape and p.max() <= 1.0


def test_progress_and_cancel(weights):
    loc = Localizer(weights, device="cpu", batch_size=1)
    seen = []
    loc.apply(np.stack([hu_slice()] * 3), is_hu=True, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(1, 3), (2, 3), (3, 3)]
    out = loc.apply(np.stack([hu_slice()] * 3), is_hu=True, progress=lambda d, t: False)
    assert out[0].max() > 0 and out[1].max() == 0 and out[2].max() == 0


def test_bad_inputs(weights, tmp_path):
    loc = Localizer(weights, device="cpu")
    with pytest.raises(ValueError, match="shape"):
        loc.apply(np.zeros((2, 2, 2, 2)), is_hu=True)
    with pytest.raises(ValueError, match="too small"):
        loc.apply(np.zeros((4, 4)), is_hu=True)
    with pytest.raises(ValueError, match="does not exist"):
        Localizer(tmp_path / "missing.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a safetensors file at all")
    with pytest.raises(ValueError, match="junk.safetensors"):
        Localizer(junk)
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty.safetensors"):
        Localizer(empty)
    wrong = save_weights(Generator(0.125), tmp_path / "c.safetensors", {"kind": "classifier"})
    with pytest.raises(ValueError, match="not a generator"):
        Localizer(wrong)
    misfit = save_weights(Generator(0.125), tmp_path / "m.safetensors", {"kind": "generator", "width": 0.5})
    with pytest.raises(ValueError, match="width"):
        Localizer(misfit)
    with pytest.raises(ValueError, match="device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA"):
            resolve_device("cuda")


def test_weights_are_fp16_on_disk_and_float32_loaded(weights):
    from safetensors import safe_open

    with safe_open(str(weights), framework="pt") as f:
        assert all(f.get_tensor(k).dtype in (torch.float16, torch.int64) for k in f.keys())
    state, meta = read_weights(weights)
    assert all(v.dtype == torch.float32 for v in state.values() if v.is_floating_point())
    assert meta["format"] == "covid-gan-localizer/1"


def test_smoothing_and_min_max():
    raw = torch.zeros(2, 1, 32, 32)
    raw[0, 0, 16, 16] = 1.0
    out = smooth_and_normalise(raw, sigma=4.5, grid=64)
    assert out.shape == (2, 1, 64, 64)
    assert float(out[0].max()) == pytest.approx(1.0) and float(out[0].min()) == pytest.approx(0.0)
    assert float(out[1].abs().max()) == 0.0  # an all-zero map stays zero
    # smoothing spreads the peak: neighbours of the maximum are close to it
    peak = torch.nonzero(out[0, 0] == out[0, 0].max())[0]
    assert float(out[0, 0, peak[0], peak[1] + 2]) > 0.8


def test_lung_window():
    assert lung_window_unit(np.array([-1350.0, -600.0, 150.0, 3000.0])).tolist() == [0.0, 0.5, 1.0, 1.0]
    with pytest.raises(ValueError):
        to_unit(np.zeros((2, 2, 2)), True)
    with pytest.raises(ValueError, match="is_hu"):
        to_unit(np.full((4, 4), -500.0), False)


def test_test_time_augmentation_averages_flipped_maps(weights, tmp_path):
    from gan.inference import raw_map

    gen = Localizer(weights, device="cpu").generator
    x = torch.rand(2, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        one = raw_map(gen, x, 1)
        xt = x.transpose(-1, -2)
        tr = torch.relu(xt - gen(xt)).transpose(-1, -2)
        assert torch.allclose(raw_map(gen, x, 2), (one + tr) / 2, atol=1e-6)
        assert raw_map(gen, x, 4).shape == x.shape
    # default: 1 unless the weights say otherwise; metadata and argument both honoured
    assert Localizer(weights, device="cpu").tta == 1
    state, meta = read_weights(weights)
    g = Generator(0.125)
    g.load_state_dict(state)
    w4 = save_weights(g, tmp_path / "tta4.safetensors", {**meta, "tta": "4"})
    assert Localizer(w4, device="cpu").tta == 4 and Localizer(w4, device="cpu", tta=1).tta == 1
    a = Localizer(w4, device="cpu").apply(hu_slice(), is_hu=True)
    b = Localizer(w4, device="cpu").apply(hu_slice(), is_hu=True)
    assert np.array_equal(a, b) and 0.0 <= a.min() and a.max() <= 1.0
    with pytest.raises(ValueError, match="test-time augmentation"):
        Localizer(weights, device="cpu", tta=3)


def test_inference_size_from_metadata_or_argument(weights, tmp_path):
    """The map grid: the training grid by default, the metadata's ``inference_size`` when the
    weights carry one, the argument over both; maps keep the input's shape on every grid."""
    loc = Localizer(weights, device="cpu")
    assert loc.image_size == loc.train_size == 64
    state, meta = read_weights(weights)
    g = Generator(0.125)
    g.load_state_dict(state)
    w = save_weights(g, tmp_path / "fine.safetensors", {**meta, "inference_size": "128"})
    fine = Localizer(w, device="cpu")
    assert fine.image_size == 128 and fine.train_size == 64
    assert Localizer(w, device="cpu", image_size=96).image_size == 96
    m = fine.apply(hu_slice(), is_hu=True)
    assert m.shape == (96, 112) and 0.0 <= m.min() and m.max() <= 1.0
    # a finer grid draws a different map of the same slice (the point of the setting)
    assert not np.allclose(m, loc.apply(hu_slice(), is_hu=True))
    # the batched HU path draws on the same grid as apply()
    stack = np.stack([hu_slice()] * 3)
    plan = fine.plan(stack, True)
    if plan.frame is not None:
        f = plan.frame
        parts = np.concatenate([mm for _, _, mm in fine.frame_maps(stack, True, plan)])
        ref = fine.apply(stack, is_hu=True, plan=plan)[:, f.y0:f.y1, f.x0:f.x1]
        assert np.allclose(parts, ref, atol=2e-3)


@pytest.mark.parametrize("value, reason", [("100", "multiple of 32"), ("abc", "whole number"),
                                           ("2048", "multiple of 32"), ("32", "multiple of 32")])
def test_bad_inference_size_is_refused(weights, tmp_path, value, reason):
    state, meta = read_weights(weights)
    g = Generator(0.125)
    g.load_state_dict(state)
    w = save_weights(g, tmp_path / "bad.safetensors", {**meta, "inference_size": value})
    with pytest.raises(ValueError, match=f"inference_size in the metadata.*{reason}|{reason}") as e:
        Localizer(w, device="cpu")
    assert "bad.safetensors" in str(e.value)
    with pytest.raises(ValueError, match="inference size"):
        Localizer(weights, device="cpu", image_size=int(value) if value.isdigit() else value)


def test_cpu_batch_size_follows_the_grid(weights):
    """Fewer slices per CPU forward call on a finer grid (the activations stay in cache); an
    explicit batch size wins; a batch size below 1 is refused."""
    from gan.inference import cpu_batch_size

    assert cpu_batch_size(128) == 4 and cpu_batch_size(256) == 1 and cpu_batch_size(64) == 16
    assert Localizer(weights, device="cpu").batch_size == 16  # its 64-px grid
    assert Localizer(weights, device="cpu", image_size=256).batch_size == 1
    assert Localizer(weights, device="cpu", batch_size=3).batch_size == 3
    with pytest.raises(ValueError, match="batch size must be at least 1"):
        Localizer(weights, device="cpu", batch_size=0)
