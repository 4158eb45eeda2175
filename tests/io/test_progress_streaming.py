"""Progress callbacks, cancellation and slice streaming (headers first, pixels one by one)."""
from __future__ import annotations

import numpy as np
import pytest
from dicom_series_writer import write_series
from pydicom.uid import RLELossless

import viewer.io.dicom_pixels as dicom_pixels
from viewer.io import LoadCancelled, load_series, scan_path


def test_scan_progress_counts_every_file(tmp_path):
    write_series(tmp_path, n=5)
    (tmp_path / "notes.txt").write_text("x")
    calls = []
    scan_path(tmp_path, progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (6, 6) or calls[-1][0] == calls[-1][1]
    dones = [d for d, _ in calls]
    assert dones == sorted(dones)


def test_scan_can_be_cancelled(tmp_path):
    write_series(tmp_path, n=5)
    with pytest.raises(LoadCancelled):
        scan_path(tmp_path, progress=lambda done, total: done < 2)


def test_load_progress_and_cancel(tmp_path):
    write_series(tmp_path, n=6)
    (info,) = scan_path(tmp_path).series
    calls = []
    load_series(info, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(k, 6) for k in range(1, 7)]
    with pytest.raises(LoadCancelled):
        load_series(info, progress=lambda d, t: d < 3)


@pytest.mark.parametrize("syntax", [None, RLELossless], ids=["native", "rle"])
def test_first_slice_arrives_before_the_series_is_decoded(tmp_path, monkeypatch, syntax):
    n = 40
    _, expected = write_series(tmp_path, n=n, transfer_syntax=syntax)
    (info,) = scan_path(tmp_path).series
    decoded = []
    real = dicom_pixels.decode_slice
    monkeypatch.setattr(dicom_pixels, "decode_slice",
                        lambda inf, i: decoded.append(i) or real(inf, i))
    it = info.iter_slices()
    i, first = next(it)
    assert i == 0 and len(decoded) < n
    np.testing.assert_allclose(first, expected[0])
    rest = list(it)
    assert [k for k, _ in rest] == list(range(1, n))
    np.testing.assert_allclose(np.stack([first] + [s for _, s in rest]), expected)
