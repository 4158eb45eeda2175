"""2-D pictures as 8-bit pseudo-series: natural order, grey conversion, sizes, bad files."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from viewer.io import load_series, scan_path
from viewer.io.pictures import natural_key


def _grey(value, size=(6, 4)):
    return Image.fromarray(np.full((size[1], size[0]), value, np.uint8), "L")


def test_natural_key_orders_numbers_by_value():
    names = ["img10.png", "img2.png", "img1.png", "Img3.png"]
    assert sorted(names, key=natural_key) == ["img1.png", "img2.png", "Img3.png", "img10.png"]


def test_folder_is_a_pseudo_series_in_natural_order(tmp_path):
    for n in (10, 2, 1):
        _grey(n).save(tmp_path / f"{n}.png")
    (info,) = scan_path(tmp_path).series
    assert info.source_kind == "pictures" and not info.is_hu
    assert [r.path.split("/")[-1] for r in info.refs] == ["1.png", "2.png", "10.png"]
    assert info.spacing == (1.0, 1.0, 1.0)
    vol = load_series(info)
    assert vol.voxels.dtype == np.uint8 and vol.voxels.shape == (3, 4, 6)
    assert list(vol.voxels[:, 0, 0]) == [1, 2, 10]


@pytest.mark.parametrize("suffix", ["png", "jpg", "bmp", "tif", "webp"])
def test_formats_and_rgb_with_equal_channels_become_grey(tmp_path, suffix):
    grey = np.tile(np.arange(0, 240, 30, dtype=np.uint8), (5, 1))  # (5, 8)
    Image.fromarray(np.stack([grey] * 3, axis=-1), "RGB").save(tmp_path / f"a.{suffix}",
                                                              **({"lossless": True} if suffix == "webp" else {}))
    (info,) = scan_path(tmp_path / f"a.{suffix}").series
    vol = load_series(info)
    assert vol.voxels.shape == (1, 5, 8)
    tol = 8 if suffix == "jpg" else 0
    assert np.abs(vol.voxels[0].astype(int) - grey).max() <= tol
    assert not any("colour" in w for w in info.warnings)


def test_colour_picture_is_converted_with_a_warning(tmp_path):
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[..., 0] = 200
    Image.fromarray(rgb, "RGB").save(tmp_path / "red.png")
    (info,) = scan_path(tmp_path).series
    vol = load_series(info)
    assert vol.voxels[0, 0, 0] == Image.fromarray(rgb).convert("L").getpixel((0, 0))
    assert any("colour picture converted to grey" in w for w in info.warnings)


def test_pictures_of_different_sizes_are_split(tmp_path):
    for n in range(3):
        _grey(n, (6, 4)).save(tmp_path / f"a{n}.png")
    for n in range(2):
        _grey(n, (3, 3)).save(tmp_path / f"c{n}.png")
    _grey(9, (5, 5)).save(tmp_path / "b.png")
    result = scan_path(tmp_path)
    by_n = {s.n_slices: s for s in result.series if s.n_slices > 1}
    single = [s for s in result.series if s.n_slices == 1]
    assert sorted(by_n) == [2, 3] and len(single) == 1
    assert single[0].series_description == "b.png" and single[0].key.endswith("b.png")
    assert any("pictures of 3 sizes" in w and "the 3 of 6x4" in w and "other 3" in w
               for w in by_n[3].warnings)
    assert load_series(by_n[2]).voxels.shape == (2, 3, 3)


def test_multipage_tiff_is_a_series_of_pages(tmp_path):
    pages = [_grey(v) for v in (5, 6, 7)]
    pages[0].save(tmp_path / "stack.tif", save_all=True, append_images=pages[1:])
    (info,) = scan_path(tmp_path / "stack.tif").series
    assert info.n_slices == 3
    assert list(load_series(info).voxels[:, 0, 0]) == [5, 6, 7]


def test_broken_and_empty_pictures_are_skipped_but_others_load(tmp_path):
    _grey(1).save(tmp_path / "ok.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    (tmp_path / "empty.jpg").write_bytes(b"")
    result = scan_path(tmp_path)
    (info,) = result.series
    assert info.n_slices == 1
    why = {s.path.split("/")[-1]: s.reason for s in result.skipped}
    assert why["broken.png"].startswith("not a readable picture")
    assert why["empty.jpg"] == "empty file (0 bytes)"


def test_sixteen_bit_png_is_reduced_to_8_bits(tmp_path):
    arr = np.full((3, 3), 0x8000, np.uint16)
    Image.fromarray(arr).save(tmp_path / "deep.png")
    (info,) = scan_path(tmp_path).series
    assert load_series(info).voxels[0, 0, 0] == 0x80
