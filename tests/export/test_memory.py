"""A 133-slice 512×512 export stays within memory (peak RSS measured in child processes).

The map (float32, 133 MiB) and masks are allocated first, as the localize command holds them;
the growth of the child's peak RSS beyond that baseline is what the exporters needed:
slice-by-slice writers (PNG, MedSeg folder, summary, npz) next to nothing, NIfTI one copy of
the array (SimpleITK owns its pixels), DICOM SEG a few copies inside highdicom.
Figures measured on the dev machine are in docs/EXPORT.md.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = Path(__file__).with_name("memory_probe.py")
GROUPS = {  # jobs run in one process -> allowed RSS growth in multiples of the map size
    "streaming": (["png", "medseg", "summary", "npz"], 0.5),
    "nifti": (["nifti_map", "nifti_mask"], 1.5),
    "seg": (["seg_binary", "seg_fractional"], 3.0),
}


@pytest.fixture(scope="module")
def big_series(tmp_path_factory):
    folder = tmp_path_factory.mktemp("big") / "ct"
    subprocess.run([sys.executable, str(PROBE), "write", str(folder), "133", "512", "512"],
                   check=True, timeout=300)
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("group", list(GROUPS))
def test_export_133_slices_within_memory(big_series, tmp_path, group):
    jobs, budget = GROUPS[group]
    done = subprocess.run([sys.executable, str(PROBE), "measure", str(big_series),
                           str(tmp_path / "out"), *jobs], check=True, timeout=600,
                          capture_output=True, text=True)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["shape"] == [133, 512, 512]
    assert set(report["seconds"]) == set(jobs)
    limit = budget * report["map_mb"]
    assert report["rss_growth_mb"] <= limit, (group, report)
