"""measurements.csv in an export folder: the reader's saved measurements of the exported
slices; a bad or missing measurements file never fails the export."""
from __future__ import annotations

import csv
import json
from pathlib import Path
from types import SimpleNamespace

from viewer.core import measurement_store as ms
from viewer.export.measurements_csv import add_measurements, write_measurements_csv

RULER = {"kind": "ruler", "index": 4, "points": [[10.0, 10.0], [40.0, 50.0]], "text": "150.0 mm"}
ELLIPSE = {"kind": "ellipse", "index": 1, "ellipse": {"cx": 20.5, "cy": 30.0, "a": 4.0, "b": 2.5, "angle": 30.0},
           "text": "31.4 mm²\n-500.0 ± 0.0 HU"}


def _rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_rows_sorted_by_slice_with_values_and_geometry(tmp_path):
    path = write_measurements_csv(tmp_path / "out", [RULER, ELLIPSE])
    rows = _rows(path)
    assert [r["kind"] for r in rows] == ["ellipse", "ruler"] and [r["n"] for r in rows] == ["1", "2"]
    assert rows[0]["slice"] == "2" and rows[0]["z"] == "1"
    assert rows[0]["value"] == "31.4 mm²; -500.0 ± 0.0 HU"
    assert json.loads(rows[0]["geometry_px"]) == ELLIPSE["ellipse"]
    assert json.loads(rows[1]["geometry_px"]) == RULER["points"]


def test_only_the_exported_slices_and_nothing_when_none(tmp_path):
    rows = _rows(write_measurements_csv(tmp_path, [RULER, ELLIPSE], indices=[4]))
    assert [r["kind"] for r in rows] == ["ruler"]
    assert write_measurements_csv(tmp_path / "none", [RULER], indices=[0]) is None
    assert not (tmp_path / "none").exists()


def _report():
    return SimpleNamespace(written=[], errors=[])


def test_the_export_adds_the_saved_measurements(tmp_path):
    info = SimpleNamespace(key="1.2.3/series", n_slices=8)
    ms.save_measurements(ms.measurements_path(tmp_path / "m", info.key), info.key, [RULER, ELLIPSE])
    report = _report()
    add_measurements(report, SimpleNamespace(out_dir=tmp_path / "out", indices=None), info, tmp_path / "m")
    assert report.errors == [] and report.written == [tmp_path / "out" / "measurements.csv"]
    assert len(_rows(report.written[0])) == 2
    report = _report()                                     # a series without measurements
    add_measurements(report, SimpleNamespace(out_dir=tmp_path / "o2", indices=None),
                     SimpleNamespace(key="other", n_slices=8), tmp_path / "m")
    assert report.written == [] and report.errors == []


def test_a_bad_measurements_file_is_one_error_line_and_kept(tmp_path):
    info = SimpleNamespace(key="s", n_slices=3)
    path = ms.measurements_path(tmp_path / "m", "s")
    path.parent.mkdir()
    path.write_text(json.dumps({"measurements": [RULER, ELLIPSE]}))   # the ruler is on slice 5 of 3
    report = _report()
    add_measurements(report, SimpleNamespace(out_dir=tmp_path / "out", indices=None), info, tmp_path / "m")
    assert len(report.errors) == 1 and report.errors[0].startswith("measurements: ")
    assert "beyond the series' 3 slices" in report.errors[0]
    assert [r["kind"] for r in _rows(report.written[0])] == ["ellipse"]
    path.write_text("{torn")
    report = _report()
    add_measurements(report, SimpleNamespace(out_dir=tmp_path / "o3", indices=None), info, tmp_path / "m")
    assert report.written == [] and "unreadable" in report.errors[0]
    assert path.with_name(path.name + ".unreadable-1").exists()
