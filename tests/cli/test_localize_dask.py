"""`main.py localize --workers N / --scheduler ADDRESS` (Dask): the same summary and the same
exported maps as a single-process run, with the shipped localizer on small synthetic series; a
failed series is retried once, reported, and does not stop the run; bad cluster options give one
`error:` line."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import highdicom as hd
import numpy as np
import pytest
import SimpleITK as sitk

import main
from viewer.cli.localize import DEFAULT_WEIGHTS

_spec = importlib.util.spec_from_file_location(
    "export_synthetic_ct", Path(__file__).resolve().parents[1] / "export" / "synthetic_ct.py")
synthetic_ct = sys.modules.setdefault("export_synthetic_ct", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(synthetic_ct)

pytestmark = pytest.mark.slow


def _errors(capsys):
    err = capsys.readouterr().err
    return [line for line in err.splitlines() if line.startswith("error:")], err


def _studies(root: Path, n: int = 3) -> Path:
    for k in range(n):
        synthetic_ct.write_ct_series(root / f"study{k}", n=2 + k % 2, rows=48, cols=56, seed=k,
                                     spacing=(5.0, 7.0, 7.0))
    return root


def test_two_workers_identical_to_single_process(tmp_path, capsys):
    _studies(tmp_path / "in")
    from viewer.core import measurement_store as ms   # a reader's ruler, kept on the driver only
    from viewer.io import scan_path

    (info,) = scan_path(tmp_path / "in" / "study0").series
    ms.save_measurements(ms.measurements_path(ms.user_measurements_dir(), info.key), info.key,
                         [{"kind": "ruler", "index": 0, "points": [[2, 2], [5, 6]], "text": "r"}])
    listing = tmp_path / "studies.txt"
    listing.write_text("# the three studies\n" + "\n".join(f"in/study{k}" for k in range(3)))
    common = ["--format", "npy,nifti,seg,sr", "--no-progress", "--device", "cpu"]
    assert main.main(["localize", str(listing), "--out", str(tmp_path / "one"), *common]) == 0
    assert _errors(capsys)[0] == []
    code = main.main(["localize", str(listing), "--out", str(tmp_path / "two"),
                      "--workers", "2", *common])
    errors, err = _errors(capsys)
    assert code == 0 and errors == [], err
    one = json.loads((tmp_path / "one" / "summary.json").read_text())
    two = json.loads((tmp_path / "two" / "summary.json").read_text())
    assert len(one["series"]) == 3
    assert one == two
    assert (tmp_path / "one" / "summary.csv").read_text() == \
        (tmp_path / "two" / "summary.csv").read_text()
    rulers = []
    for s in one["series"]:
        a, b = tmp_path / "one" / s["series"], tmp_path / "two" / s["series"]
        for name in ("map.npy", "mask.npy"):
            assert (a / name).read_bytes() == (b / name).read_bytes(), name
        np.testing.assert_array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(a / "map.nii.gz"))),
                                      sitk.GetArrayFromImage(sitk.ReadImage(str(b / "map.nii.gz"))))
        assert (b / "sr.dcm").is_file() and (b / "seg_mask.dcm").is_file()
        rulers.append([len(hd.sr.srread(d / "sr.dcm").content.get_planar_roi_measurement_groups())
                       for d in (a, b)])
    assert sorted(rulers) == [[0, 0], [0, 0], [1, 1]]   # study0's ruler, from both runs


def test_failed_series_retried_reported_run_goes_on(tmp_path, capsys):
    from dask.distributed import LocalCluster

    from viewer.cli import localize_dask
    from viewer.cli.localize_run import BatchRun
    from viewer.io import scan_path

    data = _studies(tmp_path / "in", n=2)
    (data / "nii").mkdir()
    victim = data / "nii" / "v.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(np.full((2, 40, 40), -500, np.int16)), str(victim))
    series = scan_path(data).series
    assert len(series) == 3
    victim.write_bytes(b"not nifti any more")  # scanned, then broken before a worker reads it
    options = {"weights": str(DEFAULT_WEIGHTS), "device": "cpu", "out": str(tmp_path / "out"),
               "formats": ["npy"], "threshold": None, "lung_only": False,
               "seg_compression": "none", "send_to": None, "torch_threads": 1}

    class Loc:  # the driver only needs threshold / names
        threshold, model_name, weights_hash = 0.5, "m", "h"

    run = BatchRun(Loc(), tmp_path / "out", ["npy"], None, False, show_progress=False)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0") as cluster:
        failures = localize_dask.run_on_dask(run, series, options,
                                             scheduler=cluster.scheduler_address,
                                             show_progress=False)
    errors, err = _errors(capsys)
    assert failures == 1
    assert len(errors) == 1 and "(failed again on the retry)" in errors[0], err
    assert errors[0].startswith("error: series v.nii.gz: ")
    assert "is not recognized as a NIFTI file" in errors[0]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert len(summary["series"]) == 2


def test_bad_cluster_options(tmp_path, capsys):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    data = _studies(tmp_path / "in", n=1)
    out = tmp_path / "out"
    addr = f"tcp://127.0.0.1:{port}"
    code = main.main(["localize", str(data), "--out", str(out), "--scheduler", addr,
                      "--connect-timeout", "2", "--no-progress", "--format", "npy"])
    errors, err = _errors(capsys)
    assert code == 2 and len(errors) == 1, err
    assert errors[0].startswith(f"error: --scheduler {addr}: cannot connect (")
    for flags, text in ((["--workers", "0"], "error: --workers 0: must be at least 1"),
                        (["--workers", "two"], "error: --workers two: not a whole number"),
                        (["--workers", "2", "--format", "medseg"],
                         "error: --format medseg: not available with --workers/--scheduler")):
        code = main.main(["localize", str(data), "--out", str(out), "--no-progress", *flags])
        errors, err = _errors(capsys)
        assert code == 2 and len(errors) == 1 and errors[0].startswith(text), err


def test_list_file_bad_lines_keep_going(tmp_path, capsys, monkeypatch):
    data = _studies(tmp_path / "in", n=1)
    listing = tmp_path / "l.txt"
    listing.write_text(f"{data}\nmissing/folder\n")
    code = main.main(["localize", str(listing), "--out", str(tmp_path / "o"), "--no-progress",
                      "--format", "npy"])
    errors, err = _errors(capsys)
    assert code == 1, err
    assert errors == [f"error: list {listing} line 2: missing/folder: no such file or folder"]
    assert json.loads((tmp_path / "o" / "summary.json").read_text())["series"]
