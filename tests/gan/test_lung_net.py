"""The lung-field network: painted lesions, examples, training, loading and inference."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from gan.lung_net import LungFieldNet, cut_box, frame_box
from gan.synthetic_lesions import LesionMix, paint_lesions, tissue_grey
from gan.train_lung_net import LungNetConfig, augment, make_examples, train_lung_net
from tests.core.lung_phantom import axial_slice, to_picture


def _picture_case(seed: int = 0):
    ph = axial_slice(seed=seed, lesions=False)
    return to_picture(ph.hu), ph.lungs


def test_painted_lesions_stay_inside_the_lungs_and_brighten_them():
    pic, lungs = _picture_case()
    unit = pic.astype(np.float32) / 255
    everything = LesionMix(none=0.0, blobs=1.0, crescent=1.0, whiteout=0.0, ground_glass=1.0)
    out = paint_lesions(unit, lungs, np.random.default_rng(3), everything)
    assert out.shape == unit.shape and out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() <= 1.0
    changed = np.abs(out - unit) > 0.02
    from scipy import ndimage as ndi
    near_lungs = ndi.binary_dilation(lungs, iterations=4)  # soft edge of 1-2 px
    assert changed.any()
    assert not (changed & ~near_lungs).any()
    assert out[lungs].mean() > unit[lungs].mean() + 0.02


def test_no_lesion_draw_and_no_lungs_leave_the_slice_as_it_is():
    pic, lungs = _picture_case()
    unit = pic.astype(np.float32) / 255
    assert np.array_equal(paint_lesions(unit, lungs, np.random.default_rng(0), LesionMix(none=1.0)), unit)
    assert np.array_equal(paint_lesions(unit, np.zeros_like(lungs), np.random.default_rng(0)), unit)


def test_a_white_out_fills_a_whole_lung_with_tissue_grey():
    pic, lungs = _picture_case()
    unit = pic.astype(np.float32) / 255
    mix = LesionMix(none=0.0, blobs=0.0, crescent=0.0, whiteout=1.0, ground_glass=0.0)
    out = paint_lesions(unit, lungs, np.random.default_rng(1), mix)
    grey = tissue_grey(unit, lungs)
    from scipy import ndimage as ndi
    lab, n = ndi.label(lungs)
    filled = [abs(float(np.median(out[lab == i])) - grey) < 0.12 for i in range(1, n + 1)]
    assert sum(filled) == 1


def test_paint_lesions_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="same 2-D shape"):
        paint_lesions(np.zeros((10, 10)), np.zeros((10, 11), bool), np.random.default_rng(0))


def test_frame_box_is_square_about_the_body():
    ph = axial_slice(lesions=False)
    unit = np.clip((ph.hu + 1350) / 1500, 0, 1)
    y0, y1, x0, x1 = frame_box(unit, True)
    assert y1 - y0 == x1 - x0
    body = ph.hu > -500
    ys, xs = np.nonzero(body)
    assert y0 <= ys.min() and y1 >= ys.max() and x0 <= xs.min() and x1 >= xs.max()
    cut = cut_box(unit, (-5, 20, -5, 20))
    assert cut.shape == (25, 25) and cut[:5].max() == 0.0


def test_examples_frame_slices_and_skip_implausible_masks():
    pic, lungs = _picture_case()
    ph = axial_slice(lesions=False)
    items = [(pic, False, lungs), (ph.hu, True, ph.lungs), (pic, False, np.zeros_like(lungs))]
    x, y = make_examples(items, 64)
    assert x.shape == (2, 64, 64) and y.shape == (2, 64, 64) and x.dtype == np.uint8
    assert 0.08 <= y[0].mean() <= 0.8
    x2, _ = make_examples(items, 64, keep_empty=True)
    assert x2.shape[0] == 3
    xb, yb = augment(x, y, np.random.default_rng(0))
    assert xb.shape == (2, 1, 64, 64) and set(np.unique(yb.numpy())) <= {0.0, 1.0}


def _tiny_run(tmp_path, epochs=2, stop_after=None, resume=False):
    items = []
    for s in range(6):
        ph = axial_slice(seed=s, lesions=False)
        items.append((to_picture(ph.hu), False, ph.lungs))
        items.append((ph.hu, True, ph.lungs))
    x, y = make_examples(items, 64)
    cfg = LungNetConfig(out=str(tmp_path / "run"), width=0.125, image_size=64, epochs=epochs,
                        batch_size=4, seed=0, stop_after=stop_after, resume=resume)
    return train_lung_net(cfg, x, y, {"test": True}, log=lambda m: None)


def test_training_writes_loadable_weights_that_map_slices_and_series(tmp_path):
    res = _tiny_run(tmp_path)
    net = LungFieldNet(res["weights"])
    assert net.image_size == 64 and len(net.weights_hash) == 64
    ph = axial_slice(lesions=False)
    p2 = net.probabilities(ph.hu, True)
    assert p2.shape == ph.hu.shape and p2.dtype == np.float32
    assert 0.0 <= p2.min() and p2.max() <= 1.0
    stack = np.stack([ph.hu, ph.hu, ph.hu])
    p3 = net.probabilities(stack, True)
    assert p3.shape == stack.shape
    np.testing.assert_allclose(p3[1], p2, atol=1e-5)
    assert net.mask(to_picture(ph.hu), False).dtype == bool


def test_resume_continues_a_run_bit_exactly(tmp_path):
    whole = _tiny_run(tmp_path / "a", epochs=2)
    _tiny_run(tmp_path / "b", epochs=2, stop_after=1)
    parts = _tiny_run(tmp_path / "b", epochs=2, resume=True)
    assert parts["epochs"] == 2
    from gan.weights import read_weights
    sa, _ = read_weights(whole["weights"])
    sb, _ = read_weights(parts["weights"])
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    with pytest.raises(ValueError, match="planned for 2 epochs"):
        _tiny_run(tmp_path / "b", epochs=3, resume=True)


def test_wrong_weights_are_refused_with_the_file_named(tmp_path):
    from gan.networks import Generator
    from gan.weights import save_weights
    gen = save_weights(Generator(0.125), tmp_path / "gen.safetensors", {"kind": "generator", "width": 0.125})
    with pytest.raises(ValueError, match="gen.safetensors: not lung-field weights"):
        LungFieldNet(gen)
    with pytest.raises(ValueError, match="does not exist"):
        LungFieldNet(tmp_path / "missing.safetensors")
    bad = save_weights(Generator(0.25), tmp_path / "bad.safetensors", {"kind": "lung-field", "width": 0.125})
    with pytest.raises(ValueError, match="bad.safetensors: weights do not fit"):
        LungFieldNet(bad)


def test_config_is_checked():
    with pytest.raises(ValueError, match="multiple of 32"):
        LungNetConfig(out="x", image_size=100).check()
    with pytest.raises(ValueError, match="at least 1"):
        LungNetConfig(out="x", epochs=0).check()
