"""summary.csv / summary.json on a hand-made case whose counts are known."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from viewer.export.source import ExportSource
from viewer.export.summary import SummaryBuilder


def _case():
    src = ExportSource(shape=(2, 10, 10), spacing=(2.0, 1.0, 0.5), origin=(0, 0, -10.0),
                       direction=np.eye(3), is_hu=True, key="k1")
    lungs = np.zeros(src.shape, bool)
    lungs[:, :, :5] = True                      # 50 lung px per slice
    masks = np.zeros(src.shape, bool)
    masks[0, 0:2, 0:5] = True                   # 10 px inside the lung (20 %)
    masks[0, 9, 9] = True                       # 1 px outside the lung (mask only)
    hu = np.full(src.shape, -900.0, np.float32)
    hu[0, 0, 0:5] = -500.0                      # 5 GGO px
    hu[0, 1, 0:3] = 40.0                        # 3 consolidation px, 2 px at -900 (neither)
    return src, masks, lungs, hu


def test_hu_summary_numbers(tmp_path):
    src, masks, lungs, hu = _case()
    b = SummaryBuilder(threshold=0.4, lung_only=False, model_name="m", weights_hash="h")
    b.add_series("one", src, masks, lungs, hu)
    csv_path, json_path = b.write(tmp_path)
    rows = list(csv.DictReader(csv_path.open()))
    assert [r["level"] for r in rows] == ["slice", "slice", "series"]
    s0, s1, tot = rows
    assert float(s0["lung_pct"]) == 50.0 and float(s0["lesion_pct"]) == 20.0
    assert float(s0["ggo_share"]) == 50.0 and float(s0["consolidation_share"]) == 30.0
    assert s0["category"] == "common"
    assert s1["lesion_pct"] == "0.0000" and s1["ggo_share"] == "" and s1["category"] == "mild"
    assert float(s1["slice_z_mm"]) == -8.0
    voxel_ml = 2.0 * 1.0 * 0.5 / 1000
    assert float(tot["lesion_pct"]) == 10.0 and tot["category"] == "common"
    data = json.loads(json_path.read_text())
    assert data["threshold"] == 0.4 and data["weights_sha256"] == "h"
    (series,) = data["series"]
    assert series["lung_ml"] == pytest.approx(100 * voxel_ml)
    assert series["lesion_ml"] == pytest.approx(10 * voxel_ml)
    assert series["mask_ml"] == pytest.approx(11 * voxel_ml)
    assert series["ggo_ml"] == pytest.approx(5 * voxel_ml)
    assert series["consolidation_ml"] == pytest.approx(3 * voxel_ml)
    assert series["slices_with_lesion"] == 1 and len(series["slices"]) == 2


def test_picture_summary_has_no_density_split(tmp_path):
    src, masks, lungs, _ = _case()
    src.is_hu, src.source_kind = False, "pictures"
    b = SummaryBuilder(threshold=0.5, lung_only=True)
    b.add_series("pics", src, masks, lungs, None)
    rows = list(csv.DictReader(b.write(tmp_path)[0].open()))
    assert rows[0]["ggo_share"] == "" and rows[-1]["ggo_ml"] == ""
    assert float(rows[0]["lesion_pct"]) == 20.0


def test_slice_without_lung(tmp_path):
    src, masks, lungs, hu = _case()
    lungs[1] = False
    b = SummaryBuilder(threshold=0.5, lung_only=False)
    s = b.add_series("x", src, masks, lungs, hu)
    assert s.slices[1]["lesion_pct"] is None and s.slices[1]["category"] is None


def test_bad_shapes():
    src, masks, lungs, hu = _case()
    b = SummaryBuilder(threshold=0.5, lung_only=False)
    with pytest.raises(ValueError, match="lung mask"):
        b.add_series("x", src, masks, lungs[:1], hu)
    with pytest.raises(ValueError, match="HU volume"):
        b.add_series("x", src, masks, lungs, hu[:, :3])
