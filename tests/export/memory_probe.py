"""Measure the memory an export of a large series takes (run as a script by test_memory.py).

    python memory_probe.py write DIR N ROWS COLS   # writes a synthetic DICOM series
    python memory_probe.py measure DIR OUT [JOB ...] [--trace]
                                                   # runs the exporters, prints JSON

`measure` loads headers only (viewer.io.scan_path), allocates the map (float32), the mask and
lung mask (bool) and an HU volume like the localize command holds them, then runs the chosen
exporters (all when none named) and reports the process's peak RSS (resource.ru_maxrss) before
and after: the growth is the largest transient any of them needed beyond the arrays it was given
(C++ allocations of SimpleITK and zlib included). With --trace each job also runs under
tracemalloc (peak of Python/numpy allocations; slows highdicom down a lot).
"""
from __future__ import annotations

import json
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kB


def write(folder: str, n: int, rows: int, cols: int) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    from synthetic_ct import write_ct_series

    write_ct_series(Path(folder), n=n, rows=rows, cols=cols, spacing=(2.5, 0.7, 0.7))


def measure(folder: str, out: str, only: list[str] | None = None, trace: bool = False) -> None:
    from viewer.export.dicom_seg import export_dicom_seg
    from viewer.export.medseg_folder import export_medseg_folder
    from viewer.export.nifti_export import export_nifti
    from viewer.export.numpy_export import export_npz
    from viewer.export.png import export_png
    from viewer.export.source import ExportSource
    from viewer.export.summary import SummaryBuilder
    from viewer.io import scan_path

    info = scan_path(folder).series[0]
    src = ExportSource.of(info)
    z, y, x = src.shape
    yy, xx = np.mgrid[0:y, 0:x]
    blob = (((yy - y / 2) / (y / 4)) ** 2 + ((xx - x / 2) / (x / 4)) ** 2)
    maps = np.empty(src.shape, np.float32)
    for k in range(z):
        maps[k] = np.clip(1.0 - blob / (1 + k % 7), 0, 1)
    masks = maps >= 0.5
    lungs = np.ascontiguousarray(np.broadcast_to(blob < 2.0, src.shape))
    hu = np.full(src.shape, -600.0, np.float32)
    out_dir = Path(out)
    jobs = {
        "png": lambda: export_png(out_dir / "png", maps, masks),
        "npz": lambda: export_npz(out_dir / "loc.npz", src, maps, masks),
        "nifti_map": lambda: export_nifti(out_dir / "map.nii.gz", src, maps),
        "nifti_mask": lambda: export_nifti(out_dir / "mask.nii.gz", src, masks),
        "seg_binary": lambda: export_dicom_seg(out_dir / "seg_mask.dcm", src, masks,
                                               model_name="probe", weights_hash="0" * 64),
        "seg_fractional": lambda: export_dicom_seg(out_dir / "seg_map.dcm", src, maps,
                                                   model_name="probe", weights_hash="0" * 64),
        "medseg": lambda: export_medseg_folder(out_dir / "medseg", src,
                                               ((k, hu[k]) for k in range(z)), masks),
        "summary": lambda: SummaryBuilder(0.5, False).add_series("s", src, masks, lungs, hu),
    }
    report = {"shape": [z, y, x], "map_mb": maps.nbytes / 2**20, "mask_mb": masks.nbytes / 2**20,
              "baseline_rss_mb": _maxrss_mb(), "tracemalloc_peak_mb": {}, "seconds": {}}
    for name, job in jobs.items():
        if only and name not in only:
            continue
        if trace:
            tracemalloc.start()
        t0 = time.perf_counter()
        job()
        report["seconds"][name] = round(time.perf_counter() - t0, 2)
        if trace:
            peak = tracemalloc.get_traced_memory()[1]
            report["tracemalloc_peak_mb"][name] = round(peak / 2**20, 1)
            tracemalloc.stop()
    report["peak_rss_mb"] = _maxrss_mb()
    report["rss_growth_mb"] = report["peak_rss_mb"] - report["baseline_rss_mb"]
    print(json.dumps(report))


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(sys.argv[2], *(int(v) for v in sys.argv[3:6]))
    else:
        names = [a for a in sys.argv[4:] if not a.startswith("--")]
        measure(sys.argv[2], sys.argv[3], names or None, trace="--trace" in sys.argv)
