"""PNG export: 8-bit, source slice size, map 0..255, mask 0/255, read back with PIL."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from viewer.export.png import export_png


def test_png_read_back_exactly(tmp_path, ct_series, maps_and_masks):
    maps, masks = maps_and_masks
    calls = []
    written = export_png(tmp_path / "png", maps, masks, progress=lambda d, t: calls.append((d, t)))
    assert len(written) == 2 * ct_series.n_slices
    assert calls[-1] == (ct_series.n_slices, ct_series.n_slices)
    for z in range(ct_series.n_slices):
        with Image.open(tmp_path / "png" / f"map_{z:04d}.png") as im:
            assert im.mode == "L" and im.size == (ct_series.cols, ct_series.rows)
            got = np.asarray(im)
        np.testing.assert_array_equal(got, np.round(maps[z] * 255).astype(np.uint8))
        with Image.open(tmp_path / "png" / f"mask_{z:04d}.png") as im:
            got = np.asarray(im)
        assert set(np.unique(got)) <= {0, 255}
        np.testing.assert_array_equal(got == 255, masks[z])


def test_png_current_slice_only(tmp_path, maps_and_masks):
    maps, masks = maps_and_masks
    written = export_png(tmp_path, masks=masks, indices=[3])
    assert [p.name for p in written] == ["mask_0003.png"]


def test_png_cancel(tmp_path, maps_and_masks):
    from viewer.export.source import ExportCancelled

    with pytest.raises(ExportCancelled):
        export_png(tmp_path, maps_and_masks[0], progress=lambda d, t: False)


@pytest.mark.parametrize("bad, message", [
    (lambda m, k: dict(maps=m * 2), "values must lie in"),
    (lambda m, k: dict(maps=m, masks=k[:2]), "differs from the source"),
    (lambda m, k: dict(masks=k.astype(np.uint8)), "bool"),
    (lambda m, k: dict(maps=m, indices=[7]), "outside"),
    (lambda m, k: dict(), "nothing to write"),
])
def test_png_bad_input(tmp_path, maps_and_masks, bad, message):
    with pytest.raises(ValueError, match=message):
        export_png(tmp_path, **bad(*maps_and_masks))
