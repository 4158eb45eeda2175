"""Issue #13: one bad file never stops a folder, and the DICOM sanity rules (docs/INPUT.md).

Every case writes a small synthetic series, damages one file and checks that the scan names
the file and the reason while the other slices still load with their values.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from dicom_series_writer import write_series
from pydicom.config import settings as pydicom_settings

from viewer.io import load_series, scan_path

REPO = Path(__file__).resolve().parents[2]


def reasons(result) -> dict[str, str]:
    return {os.path.basename(s.path.split(" (frame")[0]): s.reason for s in result.skipped}


def corrupt_vr(path: Path, tag_bytes: bytes, vr: bytes) -> None:
    """Replace the 2-byte VR of the first element whose tag starts with ``tag_bytes``."""
    data = path.read_bytes()
    i = data.find(tag_bytes + vr)
    assert i > 0, "tag not found"
    path.write_bytes(data[:i + 4] + b"Q9" + data[i + 6:])


def mutate(path: Path, **values) -> None:
    """Rewrite ``path`` with the given header values (None deletes), without validation.
    A string value starting with ``raw:`` is written as raw bytes (not a valid number)."""
    raw = {k: v[4:] for k, v in values.items() if isinstance(v, str) and v.startswith("raw:")}
    values = {k: ("-7777" if k in raw else v) for k, v in values.items()}
    ds = pydicom.dcmread(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the test writes invalid values on purpose
        for key, value in values.items():
            if value is None:
                if key in ds:
                    delattr(ds, key)
            else:
                setattr(ds, key, value)
    old = pydicom_settings.writing_validation_mode
    pydicom_settings.writing_validation_mode = 0  # IGNORE: write what a broken scanner writes
    try:
        ds.save_as(path)
    finally:
        pydicom_settings.writing_validation_mode = old
    for text in raw.values():  # same even length as "-7777 "
        data = path.read_bytes()
        assert data.count(b"-7777 ") == 1
        path.write_bytes(data.replace(b"-7777 ", text.encode().ljust(6)[:6]))


def others_load(result, expected, bad_index: int) -> None:
    good = [s for s in result.series if s.is_hu]
    assert len(good) == 1
    want = np.delete(expected, bad_index, axis=0)
    np.testing.assert_allclose(load_series(good[0]).voxels, want)


TAGS = {  # explicit VR little endian: tag bytes and the VR written by pydicom
    "ImagePositionPatient": (b"\x20\x00\x32\x00", b"DS"),
    "Rows": (b"\x28\x00\x10\x00", b"US"),
    "RescaleIntercept": (b"\x28\x00\x52\x10", b"DS"),
    "PatientName": (b"\x10\x00\x10\x00", b"PN"),
    "SeriesInstanceUID": (b"\x20\x00\x0e\x00", b"UI"),
    "PixelSpacing": (b"\x28\x00\x30\x00", b"DS"),
}


@pytest.mark.parametrize("keyword", sorted(TAGS))
def test_corrupted_vr_byte_skips_only_that_file(tmp_path, keyword):
    paths, expected = write_series(tmp_path, n=4)
    corrupt_vr(paths[1], *TAGS[keyword])
    result = scan_path(tmp_path)
    why = reasons(result)[paths[1].name]
    assert why.startswith("unreadable header value (tag ") and keyword in why
    assert "Unknown Value Representation" in why
    others_load(result, expected, 1)


def test_corrupted_vr_byte_info_and_json_still_work(tmp_path):
    paths, _ = write_series(tmp_path, n=4)
    corrupt_vr(paths[0], *TAGS["ImagePositionPatient"])
    run = subprocess.run([sys.executable, str(REPO / "main.py"), "info", str(tmp_path), "--json"],
                         capture_output=True, text=True, cwd=REPO, timeout=300)
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert data["series"][0]["n_slices"] == 3
    assert "Traceback" not in run.stderr


def _strict_json(text: str):
    def bad(name):
        raise ValueError(f"not JSON: {name}")

    return json.loads(text, parse_constant=bad)


@pytest.mark.parametrize("z", [1.7e308, -1.7e308, 1e7])
def test_absurd_slice_position_is_refused(tmp_path, z):
    paths, expected = write_series(tmp_path, n=4)
    mutate(paths[2], ImagePositionPatient=[-50.0, -60.0, z])
    result = scan_path(tmp_path)
    assert "ImagePositionPatient" in reasons(result)[paths[2].name]
    assert "out of range" in reasons(result)[paths[2].name]
    others_load(result, expected, 2)


def test_two_huge_positions_give_valid_json(tmp_path):
    paths, _ = write_series(tmp_path, n=2)
    mutate(paths[0], ImagePositionPatient=[0.0, 0.0, 1.7e308])
    mutate(paths[1], ImagePositionPatient=[0.0, 0.0, -1.7e308])
    run = subprocess.run([sys.executable, str(REPO / "main.py"), "info", str(tmp_path), "--json"],
                         capture_output=True, text=True, cwd=REPO, timeout=300)
    assert run.returncode == 1  # nothing loadable, said in one line
    data = _strict_json(run.stdout)
    assert len(data["skipped"]) == 2 and not data["series"]
    assert run.stderr.count("\n") == 1 and run.stderr.startswith("error: ")


def test_far_apart_slices_are_refused_as_a_series(tmp_path):
    paths, _ = write_series(tmp_path, n=2)
    mutate(paths[1], ImagePositionPatient=[-50.0, -60.0, 9e5])
    result = scan_path(tmp_path)
    assert not result.series
    assert all("not plausible" in r for r in reasons(result).values())


def test_json_dumps_sanitises_non_finite():
    from viewer.core.json_safe import dumps

    text = dumps({"a": float("inf"), "b": [np.float32("nan"), 1.5], "c": np.int64(3)})
    assert _strict_json(text) == {"a": None, "b": [None, 1.5], "c": 3}


# ------------------------------------------------------------------ pixel format rules
@pytest.mark.parametrize("values, reason", [
    ({"BitsAllocated": 8}, "BitsStored 16 > BitsAllocated 8"),
    ({"BitsAllocated": 8, "BitsStored": 8, "HighBit": 7}, "PixelData holds"),
    ({"BitsAllocated": 12}, "BitsAllocated 12: only 8, 16 or 32"),
    ({"BitsAllocated": None}, "BitsAllocated missing"),
    ({"BitsStored": 20, "HighBit": 19}, "BitsStored 20 > BitsAllocated 16"),
    ({"BitsStored": 0}, "BitsStored 0 is not a bit count"),
    ({"HighBit": 11}, "HighBit 11 does not match BitsStored 16"),
    ({"PixelRepresentation": None}, "PixelRepresentation missing"),
    ({"PixelRepresentation": 2}, "PixelRepresentation 2 is neither 0"),
    ({"Rows": 6}, "more than Rows x Columns"),
    ({"Columns": 20}, "PixelData holds"),
    ({"NumberOfFrames": 0}, "NumberOfFrames 0 is not a positive count"),
    ({"PixelSpacing": [0.0, 0.7]}, "PixelSpacing"),
    ({"ImageOrientationPatient": [5, 0, 0, 0, 1, 0]}, "ImageOrientationPatient"),
])
def test_pixel_format_rules_skip_the_file(tmp_path, values, reason):
    paths, expected = write_series(tmp_path, n=4)
    mutate(paths[1], **values)
    result = scan_path(tmp_path)
    assert reason in reasons(result)[paths[1].name]
    others_load(result, expected, 1)


def test_pixel_data_longer_than_the_matrix(tmp_path):
    paths, expected = write_series(tmp_path, n=4)
    ds = pydicom.dcmread(paths[3])
    ds.PixelData = ds.PixelData + b"\0" * 64
    ds.save_as(paths[3])
    result = scan_path(tmp_path)
    assert "PixelData holds" in reasons(result)[paths[3].name]
    others_load(result, expected, 3)


# ------------------------------------------------------------------ rescale rules
@pytest.mark.parametrize("values, warning", [
    ({"RescaleIntercept": None}, "RescaleIntercept missing"),
    ({"RescaleIntercept": "raw:abc"}, "RescaleIntercept 'abc' is not a finite number"),
    ({"RescaleIntercept": "NaN"}, "RescaleIntercept 'NaN' is not a finite number"),
    ({"RescaleIntercept": "1e300"}, "RescaleIntercept 1e+300 is out of range"),
    ({"RescaleSlope": 0}, "RescaleSlope 0 is not positive"),
    ({"RescaleSlope": -1}, "RescaleSlope -1 is not positive"),
    ({"RescaleSlope": "NaN"}, "RescaleSlope 'NaN' is not a finite number"),
    ({"RescaleSlope": "1e308"}, "RescaleSlope 1e+308 is out of range"),
])
def test_unusable_rescale_is_flagged_not_hu(tmp_path, values, warning):
    paths, expected = write_series(tmp_path, n=4)
    mutate(paths[0], **values)
    result = scan_path(tmp_path)
    assert not result.skipped
    (bad,) = [s for s in result.series if not s.is_hu]
    assert bad.n_slices == 1 and bad.modality == "CT"
    assert any(warning in w and paths[0].name in w and "not Hounsfield units" in w
               for w in bad.warnings), bad.warnings
    vol = load_series(bad)
    assert vol.voxels.dtype == np.uint8 and not vol.is_hu  # grey levels, never shifted HU
    from viewer.cli.info import series_dict

    assert series_dict(bad)["values"] == "grey levels (not HU: no usable rescale)"
    others_load(result, expected, 0)


def test_missing_slope_with_intercept_is_the_standard_default(tmp_path):
    paths, expected = write_series(tmp_path, n=3)
    mutate(paths[0], RescaleSlope=None)
    result = scan_path(tmp_path)
    (info,) = result.series
    assert info.is_hu
    np.testing.assert_allclose(load_series(info).voxels, expected)


@pytest.mark.parametrize("bits", [12, 1])
def test_bits_stored_too_small_for_the_values_warns(tmp_path, bits):
    # intercept -3000: stored values near 2000..2500 do not fit in 12 (or 1) signed bits
    paths, expected = write_series(tmp_path, n=3, intercept=-3000.0,
                                   extra={"BitsStored": bits, "HighBit": bits - 1})
    result = scan_path(tmp_path)
    (info,) = result.series
    vol = load_series(info)
    np.testing.assert_allclose(vol.voxels, expected)  # all 16 bits kept
    assert any(f"BitsStored {bits} but the pixel values need more bits" in w
               for w in info.warnings), info.warnings


def test_bits_stored_12_that_fits_is_masked_silently(tmp_path):
    paths, expected = write_series(tmp_path, n=3, extra={"BitsStored": 12, "HighBit": 11})
    (info,) = scan_path(tmp_path).series
    np.testing.assert_allclose(load_series(info).voxels, expected)
    assert not any("BitsStored" in w for w in info.warnings)


def test_fifo_is_not_a_regular_file(tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this system")
    paths, expected = write_series(tmp_path, n=2)
    os.mkfifo(tmp_path / "pipe.dcm")
    result = scan_path(tmp_path)
    assert reasons(result)["pipe.dcm"] == "not a regular file (FIFO, socket or device)"
    assert result.series[0].n_slices == 2


def test_pydicom_warnings_become_series_warnings(tmp_path, capfd):
    paths, expected = write_series(tmp_path, n=3)
    mutate(paths[0], PatientName="x" * 70)  # longer than PN allows: pydicom warns on reading
    (info,) = scan_path(tmp_path).series
    load_series(info)
    err = capfd.readouterr().err
    assert "UserWarning" not in err and "exceeds the maximum" not in err
    assert any(w.startswith(str(paths[0])) and "pydicom warning" in w for w in info.warnings), \
        info.warnings
