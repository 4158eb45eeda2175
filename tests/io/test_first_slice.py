"""``viewer.io.first_slice``: one DICOM file decoded before the folder is scanned (issue 16)."""
from __future__ import annotations

import numpy as np

from dicom_series_writer import write_series
from viewer.io import first_series, scan_path
from viewer.io.first_slice import first_slice


def test_first_slice_equals_that_file_in_the_scanned_series(tmp_path):
    paths, hu = write_series(tmp_path / "s", n=6)
    (tmp_path / "s" / "README").write_text("not an image")
    (tmp_path / "s" / "notes.txt").write_text("not an image")
    got = first_slice(tmp_path / "s")
    assert got is not None and got.is_hu and got.n_files == 1
    # the first file in scan_path's (sorted) order, decoded exactly as the series reader does
    assert got.path == sorted(str(p) for p in paths)[0]
    info = first_series(scan_path(tmp_path / "s"))
    k = [r.path for r in info.refs].index(got.path)
    series = dict(info.iter_slices())
    assert got.pixels.dtype == np.float32 and np.array_equal(got.pixels, series[k])
    assert np.array_equal(got.pixels, hu[[str(p) for p in paths].index(got.path)])


def test_first_slice_skips_files_that_are_no_image(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "aaa.dcm").write_bytes(b"\0" * 300)  # not DICOM: skipped, the next file is tried
    write_series(folder, n=3, prefix="img")
    got = first_slice(folder)
    assert got is not None and got.n_files == 2 and got.path.endswith(".dcm")
    assert "aaa" not in got.path


def test_first_slice_gives_none_without_dicom_images(tmp_path):
    assert first_slice(tmp_path / "missing") is None
    empty = tmp_path / "empty"
    empty.mkdir()
    assert first_slice(empty) is None
    junk = tmp_path / "junk"
    junk.mkdir()
    for k in range(5):
        (junk / f"f{k}").write_bytes(b"x" * 10)
    assert first_slice(junk, max_files=3) is None
