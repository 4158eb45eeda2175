"""`main.py info PATH [--json]`: series summary, skipped files, exit status and messages."""
from __future__ import annotations

import argparse
import json

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from viewer.cli import info as info_cli


def run(argv, capsys):
    parser = argparse.ArgumentParser(prog="main.py")
    info_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["info", *argv])
    code = args.func(args)
    out, err = capsys.readouterr()
    return code, out, err


def write_ct_copies(folder, n=3):
    """n copies of pydicom's CT_small.dcm as one series, 2 mm apart, shuffled names."""
    folder.mkdir(parents=True, exist_ok=True)
    series_uid = generate_uid()
    for k in range(n):
        ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
        ds.SeriesInstanceUID = series_uid
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        x, y, z = (float(v) for v in ds.ImagePositionPatient)
        ds.ImagePositionPatient = [x, y, z + 2.0 * k]
        ds.save_as(folder / f"{(k * 7) % n:02d}_slice.dcm")


def test_text_report_lists_series_and_skipped_files(tmp_path, capsys):
    write_ct_copies(tmp_path, 3)
    (tmp_path / "junk.dcm").write_text("not dicom")
    code, out, err = run([str(tmp_path)], capsys)
    assert code == 0 and err == ""
    assert "slices: 3" in out and "matrix: 128 x 128" in out and "values: HU" in out
    assert "spacing (z, y, x): 2 x" in out
    assert "junk.dcm: not a DICOM file" in out


def test_json_report(tmp_path, capsys):
    write_ct_copies(tmp_path, 4)
    (tmp_path / "empty.dcm").write_bytes(b"")
    code, out, _ = run([str(tmp_path), "--json"], capsys)
    assert code == 0
    doc = json.loads(out)
    (s,) = doc["series"]
    assert s["n_slices"] == 4 and s["is_hu"] and s["modality"] == "CT"
    assert s["rows"] == 128 and s["cols"] == 128
    assert s["slice_spacing_mm"] == pytest.approx(2.0)
    assert s["warnings"] == []
    assert doc["skipped"] == [{"path": str(tmp_path / "empty.dcm"), "reason": "empty file (0 bytes)"}]


def test_missing_path_is_a_one_line_error(tmp_path, capsys):
    code, out, err = run([str(tmp_path / "nope")], capsys)
    assert code == 1 and out == ""
    assert err == f"error: {tmp_path / 'nope'}: no such file or folder\n"


def test_nothing_loadable_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "a.dcm").write_bytes(b"")
    code, out, err = run([str(tmp_path)], capsys)
    assert code == 1
    assert err.count("\n") == 1 and err.startswith(f"error: {tmp_path}: no loadable CT series")
    assert "a.dcm: empty file (0 bytes)" in err


def test_empty_folder(tmp_path, capsys):
    code, _, err = run([str(tmp_path), "--json"], capsys)
    assert code == 1 and "empty folder (no files)" in err


def test_lidc_json(shared_subdir, capsys):
    code, out, _ = run([str(shared_subdir("lidc-idri-0001")), "--json"], capsys)
    assert code == 0
    (s,) = json.loads(out)["series"]
    assert (s["modality"], s["n_slices"], s["slice_spacing_mm"], s["is_hu"]) == ("CT", 133, 2.5, True)


def test_through_main_py(tmp_path):
    """The real entry point: `python main.py info PATH --json` and its exit status."""
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    write_ct_copies(tmp_path / "ct", 2)
    ok = subprocess.run([sys.executable, str(repo / "main.py"), "info", str(tmp_path / "ct"),
                         "--json"], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["series"][0]["n_slices"] == 2
    bad = subprocess.run([sys.executable, str(repo / "main.py"), "info", str(tmp_path / "no")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines()[-1] == f"error: {tmp_path / 'no'}: no such file or folder"
