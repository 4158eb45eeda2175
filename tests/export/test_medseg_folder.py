"""MedSeg/Inf-Net image + mask folder: images windowed 8-bit, masks 0/255, numbering, index."""
from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

from viewer.core.windowing import LUNG, window_to_uint8
from viewer.export.medseg_folder import export_medseg_folder


def test_hu_series_layout(tmp_path, ct_series, maps_and_masks):
    _, masks = maps_and_masks
    slices = ((z, ct_series.hu[z]) for z in range(ct_series.n_slices))
    nxt = export_medseg_folder(tmp_path, ct_series, slices, masks)
    assert nxt == 1 + ct_series.n_slices
    for n in range(1, nxt):
        z = n - 1
        with Image.open(tmp_path / "images" / f"{n}.png") as im:
            assert im.mode == "L" and im.size == (ct_series.cols, ct_series.rows)
            np.testing.assert_array_equal(np.asarray(im),
                                          window_to_uint8(ct_series.hu[z], LUNG.width, LUNG.level))
        with Image.open(tmp_path / "masks" / f"{n}.png") as im:
            np.testing.assert_array_equal(np.asarray(im), np.where(masks[z], 255, 0))
    rows = list(csv.DictReader((tmp_path / "index.csv").open()))
    assert [int(r["z"]) for r in rows] == list(range(ct_series.n_slices))
    assert int(rows[2]["lesion_pixels"]) == int(masks[2].sum())


def test_pictures_unchanged_numbering_continues_and_jpg(tmp_path, picture_source):
    pics = np.random.default_rng(0).integers(0, 256, picture_source.shape, dtype=np.uint8)
    masks = np.zeros(picture_source.shape, bool)
    masks[1, 3:6, 4:9] = True
    nxt = export_medseg_folder(tmp_path, picture_source, enumerate(pics), masks, start=7)
    assert nxt == 10
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "images" / "8.png")), pics[1])
    nxt = export_medseg_folder(tmp_path, picture_source, enumerate(pics), masks, start=nxt,
                               image_format="jpg", skip_empty=True)
    assert nxt == 11 and (tmp_path / "images" / "10.jpg").exists()
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "masks" / "10.png")) == 255,
                                  masks[1])
    assert len((tmp_path / "index.csv").read_text().splitlines()) == 1 + 4


def test_bad_input(tmp_path, picture_source):
    masks = np.zeros(picture_source.shape, bool)
    with pytest.raises(ValueError, match="png or jpg"):
        export_medseg_folder(tmp_path, picture_source, [], masks, image_format="bmp")
    with pytest.raises(ValueError, match="got 0 of the 3"):
        export_medseg_folder(tmp_path, picture_source, [], masks)
