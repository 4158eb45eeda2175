"""Benchmark: load a DICOM series with viewer.io vs SimpleITK vs plain pydicom, in one run.

    .venv/bin/python bench/bench_load.py [PATH] [--repeats N]

PATH defaults to ../shared/data/lidc-idri-0001. Each reader loads the whole series to a
(z, y, x) float32 HU array; the three results are checked to be identical. Files are read once
before timing (warm OS cache for everyone); then the readers run interleaved ``--repeats`` times
and the median and best wall times are printed, with ratios and viewer.io's time to first slice:
the file the viewer shows while it scans (``viewer.io.first_slice``: one file decoded before the
rest is scanned), and, as before, ``scan_path`` + the first decoded slice of ``iter_slices``.
CPU seconds are printed beside wall seconds (the machine may be shared).

Targets (issue 2): viewer.io no slower than SimpleITK; first slice <= 0.3 s. Issue 16: time to
first slice <= 0.05 s (decode one file before scanning the rest; was 0.111 s).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DEFAULT = REPO.parent / "shared" / "data" / "lidc-idri-0001"


def load_ours(path: str) -> np.ndarray:
    from viewer.io import first_series, load_series, scan_path

    return load_series(first_series(scan_path(path))).voxels


def first_slice_ours(path: str) -> float:
    from viewer.io import first_series, scan_path

    t0 = time.perf_counter()
    info = first_series(scan_path(path))
    next(iter(info.iter_slices()))
    return time.perf_counter() - t0


def first_file_ours(path: str) -> tuple[float, float]:
    """Wall and CPU seconds to the first decoded file (before the scan), as the viewer does."""
    from viewer.io.first_slice import first_slice

    t0, c0 = time.perf_counter(), time.process_time()
    got = first_slice(path)
    if got is None:
        raise ValueError(f"{path}: no DICOM image to show before the scan")
    return time.perf_counter() - t0, time.process_time() - c0


def dicom_folder(path: str) -> str:
    """The folder holding the .dcm files (GDCM's series lookup is not recursive)."""
    return next((d for d, _, f in os.walk(path) if any(n.endswith(".dcm") for n in f)), path)


def load_sitk(path: str) -> np.ndarray:
    """SimpleITK ImageSeriesReader with GDCM's file sorting (folder resolved before timing)."""
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(path))
    return sitk.GetArrayFromImage(reader.Execute()).astype(np.float32, copy=False)


def load_pydicom(path: str) -> np.ndarray:
    """Plain pydicom: read every file completely, keep images, sort along the normal, stack."""
    import pydicom

    slices = []
    for folder, _, names in os.walk(path):
        for name in names:
            try:
                ds = pydicom.dcmread(os.path.join(folder, name))
            except Exception:
                continue
            if "PixelData" in ds and "ImagePositionPatient" in ds:
                slices.append(ds)
    iop = np.array(slices[0].ImageOrientationPatient, float)
    normal = np.cross(iop[:3], iop[3:])
    slices.sort(key=lambda d: float(np.dot(np.array(d.ImagePositionPatient, float), normal)))
    return np.stack([d.pixel_array * np.float32(d.RescaleSlope) + np.float32(d.RescaleIntercept)
                     for d in slices]).astype(np.float32)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("path", nargs="?", default=str(DEFAULT), help="DICOM series folder")
    ap.add_argument("--repeats", type=int, default=5, help="timed runs per reader (default 5)")
    args = ap.parse_args()
    if not os.path.isdir(args.path):
        print(f"error: {args.path}: no such folder", file=sys.stderr)
        return 1
    folder = dicom_folder(args.path)
    readers = {"viewer.io": load_ours,
               "SimpleITK": lambda _: load_sitk(folder),
               "pydicom": load_pydicom}
    results = {name: fn(args.path) for name, fn in readers.items()}  # warm-up + correctness
    ref = results["viewer.io"]
    for name, arr in results.items():
        if arr.shape != ref.shape or not np.array_equal(arr, ref):
            print(f"error: {name} result differs from viewer.io ({arr.shape} vs {ref.shape})",
                  file=sys.stderr)
            return 1
    times: dict[str, list[float]] = {name: [] for name in readers}
    first: list[float] = []
    peek: list[tuple[float, float]] = []
    for _ in range(args.repeats):
        peek.append(first_file_ours(args.path))
        for name, fn in readers.items():
            t0 = time.perf_counter()
            fn(args.path)
            times[name].append(time.perf_counter() - t0)
        first.append(first_slice_ours(args.path))
    print(f"series: {args.path}")
    print(f"volume: {ref.shape} float32 HU, identical for all readers; "
          f"{args.repeats} runs each, warm cache, cpu_count={os.cpu_count()}")
    med = {n: statistics.median(t) for n, t in times.items()}
    for name, t in times.items():
        print(f"  {name:10s} median {med[name]:.3f} s   best {min(t):.3f} s   "
              f"({med[name] / med['viewer.io']:.2f}x viewer.io)")
    ratio = med["SimpleITK"] / med["viewer.io"]
    ttf = statistics.median(first)
    print(f"SimpleITK / viewer.io = {ratio:.2f} (target >= 1.0: "
          f"{'met' if ratio >= 1.0 else 'MISSED'})")
    print(f"pydicom / viewer.io   = {med['pydicom'] / med['viewer.io']:.2f}")
    print(f"viewer.io scan + first slice of the series: median {ttf:.3f} s, best {min(first):.3f} s "
          f"(issue 2 target <= 0.3 s: {'met' if ttf <= 0.3 else 'MISSED'})")
    pk = statistics.median(t for t, _ in peek)
    pc = statistics.median(c for _, c in peek)
    print(f"viewer.io time to first slice (one file decoded before the scan, what the viewer shows "
          f"first): median {pk:.4f} s (CPU {pc:.4f} s), best {min(t for t, _ in peek):.4f} s "
          f"(target <= 0.05 s: {'met' if pk <= 0.05 else 'MISSED'}; ratio {pk / 0.05:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
