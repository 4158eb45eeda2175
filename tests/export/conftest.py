"""Fixtures for export tests: a small oblique synthetic CT series, maps, masks, a picture source."""
from __future__ import annotations

import numpy as np
import pytest
from synthetic_ct import write_ct_series

from viewer.export.source import ExportSource


@pytest.fixture()
def ct_series(tmp_path):
    """5 slices of 32×40, spacing (2.5, 0.7, 0.8) mm, tilted 12° (oblique), files shuffled."""
    return write_ct_series(tmp_path / "ct", n=5, rows=32, cols=40, tilt_deg=12.0)


@pytest.fixture()
def maps_and_masks(ct_series):
    """(map float32 in [0,1] with values k/255, mask bool) of the series' shape."""
    rng = np.random.default_rng(1)
    levels = rng.integers(0, 256, size=ct_series.shape)
    maps = (levels / 255.0).astype(np.float32)
    masks = maps >= 0.5
    return maps, masks


@pytest.fixture()
def picture_source():
    """An 8-bit picture series (no DICOM source): 3 slices of 20×24."""
    return ExportSource(shape=(3, 20, 24), spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0),
                        direction=np.eye(3), is_hu=False, source_kind="pictures",
                        key="pictures:demo")
