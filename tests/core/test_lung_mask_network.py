"""The lung-field network's stage of ``segment_lungs``: it adds dense lung the threshold misses,
never starts a lung on its own, and is named in the cache key."""
from __future__ import annotations

import numpy as np
import pytest

from tests.core.lung_phantom import BODY_HU, _ellipse, axial_slice, to_picture

from viewer.core.lung_field_stage import network_id, resolve_network
from viewer.core.lung_mask import segment_lungs


class FieldOf:
    """A stand-in lung-field network whose field is a given mask (the stage's rule is tested, not
    a trained model)."""

    weights_hash = "ab" * 32

    def __init__(self, field: np.ndarray):
        self.field = field

    def mask(self, vol3, is_hu):
        return np.broadcast_to(self.field, vol3.shape).copy()


def _with_ribs(hu: np.ndarray) -> np.ndarray:
    """A bone ring (rib cage) just inside the body outline."""
    hu = hu.copy()
    hu[_ellipse(128, 128, 96, 118) & ~_ellipse(128, 128, 92, 114)] = 400.0
    return hu


def _dense_posterior_case():
    """A phantom with ribs whose left lung has its posterior third consolidated (soft tissue HU)."""
    ph = axial_slice(lesions=False)
    hu = _with_ribs(ph.hu)
    yy = np.arange(hu.shape[0])[:, None]
    dense = _ellipse(132, 74, 66, 38) & (yy > 150)
    hu[dense] = BODY_HU
    return ph, hu, dense


def test_the_field_adds_dense_lung_the_threshold_misses():
    ph, hu, dense = _dense_posterior_case()
    pic = to_picture(hu)
    plain = segment_lungs(pic, False)
    missed = np.count_nonzero(dense & ~plain) / np.count_nonzero(dense)
    assert missed > 0.3  # the case is hard for the threshold-based mask
    with_field = segment_lungs(pic, False, network=FieldOf(ph.lungs))
    assert np.count_nonzero(dense & with_field) / np.count_nonzero(dense) > 0.99
    assert (with_field | plain).sum() == with_field.sum()  # it only adds
    assert not (with_field & ~(ph.lungs | plain)).any()


def test_hu_series_keep_the_threshold_based_mask():
    ph, hu, _ = _dense_posterior_case()
    plain = segment_lungs(hu, True, spacing=(1.0, 1.0))
    assert np.array_equal(segment_lungs(hu, True, spacing=(1.0, 1.0), network=FieldOf(ph.lungs)), plain)


def test_the_field_never_starts_a_lung_nor_adds_far_specks():
    ph, hu, _ = _dense_posterior_case()
    speck = np.zeros_like(ph.lungs)
    speck[20:24, 120:124] = True  # inside the body wall, away from the lungs
    out = segment_lungs(to_picture(hu), False, network=FieldOf(ph.lungs | speck))
    assert not (out & speck).any()
    body_only = np.full_like(hu, BODY_HU)
    body_only[:, :10] = -1000
    assert not segment_lungs(to_picture(body_only), False, network=FieldOf(ph.lungs)).any()


def test_a_picture_lung_consolidated_whole_joins_when_the_other_lung_is_found():
    ph = axial_slice(lesions=False)
    hu = ph.hu.copy()
    left = _ellipse(132, 74, 66, 38)
    hu[left] = BODY_HU
    out = segment_lungs(to_picture(hu), False, network=FieldOf(ph.lungs))
    assert np.count_nonzero(out & left) / np.count_nonzero(left) > 0.99


def test_without_a_network_the_mask_is_the_threshold_based_one(monkeypatch, tmp_path):
    ph, hu, _ = _dense_posterior_case()
    a = segment_lungs(hu, True, spacing=(1.0, 1.0))
    b = segment_lungs(hu, True, spacing=(1.0, 1.0), network=False)
    assert np.array_equal(a, b)
    assert resolve_network(None) is None and resolve_network(False) is None
    import gan.resources
    monkeypatch.setattr(gan.resources, "LUNG_FIELD_WEIGHTS", tmp_path / "absent.safetensors")
    assert resolve_network("auto") is None
    assert network_id("auto") == "threshold" and network_id(False) == "threshold"
    assert network_id(FieldOf(ph.lungs)) == "field-" + "ab" * 6


def test_an_unusable_weights_file_is_refused_by_name(tmp_path):
    bad = tmp_path / "lungs.safetensors"
    bad.write_bytes(b"not weights")
    with pytest.raises(ValueError, match="lungs.safetensors"):
        segment_lungs(to_picture(axial_slice().hu), False, network=str(bad))
    assert network_id(str(bad)).startswith("field-")  # hashed, not loaded


def test_the_map_cache_key_names_the_lung_field_weights(monkeypatch):
    from viewer.core import map_cache
    monkeypatch.setattr(map_cache, "network_id", lambda: "field-0123456789ab")
    store = map_cache.SeriesMapStore.__new__(map_cache.SeriesMapStore)
    store.series_key, store.weights_hash, store.shape = "s", "w", (1, 2, 2)
    assert map_cache.SeriesMapStore._meta(store)["lungs"].endswith("+field-0123456789ab")


def _organ_case(textured: bool):
    """A phantom picture whose lung field also covers a large region against the left lung
    (over a fifth of the lungs' area): even soft tissue (an organ such as the liver dome) or the
    same region with air bronchograms (consolidated lung)."""
    ph = axial_slice(lesions=False)
    hu = _with_ribs(ph.hu)
    region = _ellipse(132, 74, 70, 44) & ~_ellipse(132, 74, 66, 38) | (_ellipse(132, 74, 66, 38)
                                                                         & (np.arange(256)[:, None] > 120))
    hu[region] = BODY_HU
    if textured:
        yy, xx = np.mgrid[0:256, 0:256]
        bronchi = region & ((xx + yy) % 9 < 2)  # thin dark branches through the dense lung
        hu[bronchi] = -900.0
    return ph, to_picture(hu), region


def test_a_large_even_piece_against_the_lung_is_an_organ_not_lung():
    ph, pic, region = _organ_case(textured=False)
    plain = segment_lungs(pic, False)
    out = segment_lungs(pic, False, network=FieldOf(ph.lungs | region))
    assert np.count_nonzero(region & ~plain) > 0.2 * plain.sum()  # large against the lungs
    assert np.array_equal(out, plain)  # left out: even grey, like the liver or the heart
    _, pic_t, region_t = _organ_case(textured=True)
    plain_t = segment_lungs(pic_t, False)
    out_t = segment_lungs(pic_t, False, network=FieldOf(ph.lungs | region_t))
    assert np.count_nonzero(out_t & region_t & ~plain_t) > 0.9 * np.count_nonzero(region_t & ~plain_t)
