"""Lung mask on the bundled COVID-19 sample slices (resources/samples, COVID-19-NY-SBU, HU).

Dense lesions (ground glass, consolidation) inside the thoracic cavity must be inside the mask,
the heart, chest wall and abdomen mostly out; a (1, y, x) series gives the slice's mask.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from scipy import ndimage as ndi

from viewer.core.lung_mask import segment_lungs
from viewer.core.lung_outline import convex_hull_mask

SAMPLES = sorted((Path(__file__).resolve().parents[2] / "resources" / "samples").glob("*.dcm"))


def _hu(path: Path) -> tuple[np.ndarray, tuple[float, float]]:
    ds = pydicom.dcmread(path)
    hu = ds.pixel_array.astype(np.float32) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    return hu, tuple(float(s) for s in ds.PixelSpacing)


def _proxies(hu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Body (y, x bool) and lesion proxy: pixels -750..+100 HU inside the convex hull of each
    of the (up to) two largest aerated regions (< -320 HU) inside the body."""
    body = ndi.binary_fill_holes(ndi.binary_opening(hu > -320, iterations=2))
    labels, _ = ndi.label(body)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    body = labels == int(np.argmax(sizes))
    body = ndi.binary_fill_holes(body)
    air, _ = ndi.label((hu < -320) & ndi.binary_erosion(body, iterations=5))
    sizes = np.bincount(air.ravel())
    sizes[0] = 0
    region = np.zeros(hu.shape, dtype=bool)
    for i in np.argsort(sizes)[::-1][:2]:
        if sizes[i] >= 0.15 * sizes.max():
            region |= convex_hull_mask(air == i)
    return body, region & (hu > -750) & (hu < 100)


def test_samples_are_bundled():
    assert len(SAMPLES) == 6


@pytest.mark.parametrize("path", SAMPLES, ids=[p.stem for p in SAMPLES])
def test_sample_slice_lungs_cover_dense_lesions(path):
    hu, spacing = _hu(path)
    m = segment_lungs(hu, True, spacing=spacing)
    one = segment_lungs(hu[None], True, spacing=(2.5, *spacing))
    assert one.shape == (1, *hu.shape) and np.array_equal(one[0], m)
    labels, n = ndi.label(m)
    assert n >= 1
    sizes = np.sort(np.bincount(labels.ravel())[1:])[::-1]
    assert n == 1 or sizes[1] >= 0.15 * sizes[0]  # two lungs (or one merged), no big third
    assert n <= 4  # a lung cut in two by a mass or consolidation may add a piece
    body, lesion = _proxies(hu)
    assert np.count_nonzero(m) <= 0.45 * np.count_nonzero(body)  # no heart, wall or belly
    assert np.count_nonzero(m & ~body) == 0
    cover = np.count_nonzero(m & lesion) / np.count_nonzero(lesion)
    assert cover >= 0.6, cover  # the heart inside a crescent lung's hull caps this proxy


def test_sample_slices_cover_dense_lesions_on_average():
    covers = []
    for path in SAMPLES:
        hu, spacing = _hu(path)
        m = segment_lungs(hu, True, spacing=spacing)
        _, lesion = _proxies(hu)
        covers.append(np.count_nonzero(m & lesion) / np.count_nonzero(lesion))
    print("sample slices: dense-lesion proxy covered " + ", ".join(f"{c:.2f}" for c in covers))
    # 0.80 before the wall fill was limited to what lies between a lung and its ribs (mean
    # 0.82, now 0.77): the proxy also counts mediastinal fat and unenhanced vessels inside a
    # crescent lung's hull, which the mask now leaves out (A048383: 0.80 -> 0.63 is the aortic
    # arch region and anterior mediastinum leaving the mask); LIDC-IDRI-0001 and the phantom
    # in test_lung_mask.py check that dense organs stay out.
    # 0.74 since #17: the concavity fill no longer closes notches on the mediastinal side with a
    # straight hull chord, which the proxy counted as covered lesion (looked at in overlays:
    # A002304 0.86 -> 0.80 is a chord triangle over mediastinal fat, A098752 0.68 -> 0.64 the
    # triangle in front of the heart; A046441 0.97 -> 0.91 loses chords across the mediastinum
    # but also some consolidated lung by the left hilum that the chord had taken in).
    assert np.mean(covers) >= 0.72
