"""Property-based fuzzing of the DICOM scanner (issue #13): random header mutations of a small
synthetic series never let an exception escape ``scan_path``, ``load_series`` or the ``info``
command, and every file that is accepted either loads the values it was written with or carries
a warning that names it.

Seeded and small for CI (``derandomize=True``, 150 examples, a few seconds). For a longer
hunt: ``FUZZ_PROFILE=deep python -m pytest tests/io/test_header_fuzz.py``.
"""
from __future__ import annotations

import atexit
import contextlib
import io
import json
import os
import shutil
import tempfile
import warnings
from argparse import Namespace
from functools import lru_cache
from pathlib import Path

import numpy as np
import pydicom
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, assume, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from pydicom.config import settings as pydicom_settings  # noqa: E402
from pydicom.datadict import dictionary_VR, tag_for_keyword  # noqa: E402

from dicom_series_writer import write_series  # noqa: E402
from viewer.io import load_series, scan_path  # noqa: E402

settings.register_profile("ci", max_examples=150, derandomize=True, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.filter_too_much])
settings.register_profile("deep", max_examples=3000, derandomize=False, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.filter_too_much])
settings.load_profile(os.environ.get("FUZZ_PROFILE", "ci"))

KEYWORDS = (
    "SOPClassUID SOPInstanceUID StudyInstanceUID SeriesInstanceUID PatientName PatientID "
    "Modality ImageType InstanceNumber ImagePositionPatient ImageOrientationPatient PixelSpacing "
    "SliceThickness SpacingBetweenSlices Rows Columns SamplesPerPixel PhotometricInterpretation "
    "BitsAllocated BitsStored HighBit PixelRepresentation NumberOfFrames RescaleSlope "
    "RescaleIntercept"
).split()
VM = {"ImagePositionPatient": 3, "ImageOrientationPatient": 6, "PixelSpacing": 2,
      "ImageType": 3}


@lru_cache(maxsize=1)
def base_series() -> tuple[Path, dict[str, np.ndarray]]:
    """Three 8x6 slices written once; file name -> the HU values written."""
    folder = Path(tempfile.mkdtemp(prefix="fuzz-base-"))
    atexit.register(shutil.rmtree, folder, True)
    paths, expected = write_series(folder, n=3, rows=8, cols=6, shuffle=False)
    return folder, {p.name: expected[k] for k, p in enumerate(paths)}


number_text = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(lambda v: f"{v:.6g}"),
    st.sampled_from(["0", "-0", "1e308", "-1.7e308", "nan", "inf", "", " ", "1e-300", "65536",
                     "-1", "2.5", "1\\2", "+"]),
    st.text(alphabet="0123456789.-+eE abcx\\", max_size=16),
)
text_value = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=70)


def value_for(keyword: str):
    vr = dictionary_VR(keyword)
    if vr in ("US", "SS", "UL"):
        return st.one_of(st.integers(0, 65535), st.sampled_from([0, 1, 7, 8, 12, 15, 16, 32]))
    if vr in ("DS", "IS"):
        if keyword in VM:
            return st.lists(number_text, min_size=0, max_size=7)
        return number_text
    if keyword in VM:
        return st.lists(text_value, min_size=0, max_size=4)
    return text_value


@st.composite
def mutations(draw):
    kind = draw(st.sampled_from(["set", "set", "set", "delete", "vr", "byte"]))
    target = draw(st.integers(0, 2))
    if kind == "byte":
        return kind, target, draw(st.integers(0, 10 ** 6)), draw(st.integers(0, 255))
    keyword = draw(st.sampled_from(KEYWORDS))
    value = draw(value_for(keyword)) if kind == "set" else None
    return kind, target, keyword, value


def apply(path: Path, mutation) -> None:
    kind, _target, a, b = mutation
    if kind == "byte":  # one random byte of the header (before the pixel data) changed
        data = bytearray(path.read_bytes())
        end = data.find(b"\xe0\x7f\x10\x00")
        pos = 128 + a % max(1, end - 128)
        data[pos] = b
        path.write_bytes(bytes(data))
        return
    if kind == "vr":  # a corrupted VR byte in the element of keyword ``a``
        t = tag_for_keyword(a)
        data = path.read_bytes()
        key = (t >> 16).to_bytes(2, "little") + (t & 0xFFFF).to_bytes(2, "little")
        i = data.find(key + dictionary_VR(a).encode())
        assume(i > 0)
        path.write_bytes(data[:i + 4] + b"Q" + data[i + 5:])
        return
    ds = pydicom.dcmread(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "delete":
            assume(a in ds)
            delattr(ds, a)
        else:
            try:
                setattr(ds, a, b)
            except Exception:  # noqa: BLE001 - pydicom refuses some values outright
                assume(False)
        old = pydicom_settings.writing_validation_mode
        pydicom_settings.writing_validation_mode = 0
        try:
            ds.save_as(path)
        except Exception:  # noqa: BLE001 - value pydicom cannot encode: not a file to test
            assume(False)
        finally:
            pydicom_settings.writing_validation_mode = old


def rescaled_by_header(path: Path, original: np.ndarray):
    """What a valid new RescaleSlope / RescaleIntercept means: the written stored values
    (original + 1024, slope 1) through the mutated header's rescale; None when not usable."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
            slope = float(ds.get("RescaleSlope", 1.0) or 1.0)
            intercept = float(ds.RescaleIntercept)
        except Exception:  # noqa: BLE001
            return None
    stored = (original + 1024.0).astype(np.float32)
    return stored * np.float32(slope) + np.float32(intercept)


def run_info(path: Path) -> tuple[int, str, str]:
    from viewer.cli.info import handler

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = handler(Namespace(path=str(path), json=True))
    return code, out.getvalue(), err.getvalue()


def _strict(name):
    raise ValueError(f"invalid JSON constant {name}")


@given(mutation=mutations())
def test_mutated_header_never_escapes_and_values_are_true_or_warned(mutation):
    base, originals = base_series()
    folder = Path(tempfile.mkdtemp(prefix="fuzz-"))
    try:
        names = sorted(originals)
        for n in names:
            shutil.copy(base / n, folder / n)
        apply(folder / names[mutation[1]], mutation)
        result = scan_path(folder)  # must not raise
        event(f"{mutation[0]}: {'file skipped' if result.skipped else 'all files accepted'}")
        accepted = 0
        for info in result.series:
            vol = load_series(info)  # must not raise
            for k, ref in enumerate(info.refs):
                name = os.path.basename(ref.path)
                accepted += 1
                same = (info.is_hu and vol.voxels[k].shape == originals[name].shape
                        and np.array_equal(vol.voxels[k], originals[name]))
                named = any(name in w for w in info.warnings)
                if not (same or named) and mutation[0] == "set" and name == names[mutation[1]] \
                        and mutation[2] in ("RescaleSlope", "RescaleIntercept") and info.is_hu:
                    # a different but valid rescale: the values must be what it says
                    want = rescaled_by_header(folder / name, originals[name])
                    same = want is not None and np.allclose(vol.voxels[k], want, rtol=1e-5)
                assert same or named, (name, mutation, info.warnings)
                if not same:
                    event("accepted with a warning and other values")
        assert accepted + len(result.skipped) >= len(names) - 0  # every file accounted for
        for s in result.skipped:
            assert s.reason and "\n" not in s.reason
        code, out, err = run_info(folder)  # must not raise
        data = json.loads(out, parse_constant=_strict)
        assert code == (0 if data["series"] else 1)
        assert "Traceback" not in err
    finally:
        shutil.rmtree(folder, ignore_errors=True)
