"""Issue #13: every exported file appears under its final name only when complete.

The kill tests are deterministic: a child process installs the ``atomic.before_replace`` hook,
which SIGKILLs the child after the data is written and fsynced but before the rename; the
parent then checks that no file exists under a final name (only a hidden ``.part-*`` file).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from viewer.io import atomic
from viewer.io.atomic import PART_PREFIX, atomic_path

REPO = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    from viewer.io import atomic
    from viewer.export.series_export import ExportRequest, export_formats
    from viewer.io import load_series, scan_path

    src, out, fmt = sys.argv[1], sys.argv[2], sys.argv[3]
    vol = load_series(scan_path(src).series[0])
    maps = np.linspace(0, 1, vol.voxels.size, dtype=np.float32).reshape(vol.voxels.shape)
    masks = maps >= 0.5

    def die(tmp, final):
        assert tmp.exists() and tmp.stat().st_size > 0 and not final.exists()
        print("HOOK", final.name, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    atomic.before_replace = die
    report = export_formats(ExportRequest(out_dir=out, formats=[fmt]), vol, maps, masks)
    print("NOT KILLED", report.written, report.errors, flush=True)
""")


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
@pytest.mark.parametrize("fmt", ["nifti", "seg"])
def test_kill_9_between_write_and_rename_leaves_no_final_file(ct_series, tmp_path, fmt):
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-c", CHILD, str(ct_series.folder), str(out), fmt],
                         capture_output=True, text=True, cwd=REPO, timeout=300,
                         env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert run.returncode == -signal.SIGKILL, run.stdout + run.stderr
    assert "HOOK" in run.stdout
    files = [p for p in out.rglob("*") if p.is_file()]
    assert files, "the child wrote its temporary file"
    assert all(p.name.startswith(PART_PREFIX) for p in files), files


def test_error_while_writing_leaves_nothing(tmp_path):
    final = tmp_path / "map.npy"
    with pytest.raises(RuntimeError):
        with atomic_path(final) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("disk full")
    assert list(tmp_path.iterdir()) == []


def test_replaces_an_old_file_only_when_complete(tmp_path, monkeypatch):
    from viewer.export.numpy_export import export_npy

    final = tmp_path / "map.npy"
    export_npy(final, np.zeros((2, 3), np.float32))
    seen = []

    def check(tmp, dest):  # at the hook the old file is still whole under the final name
        seen.append(np.load(dest).sum())
        assert tmp.name.endswith(".npy") and tmp.parent == dest.parent

    monkeypatch.setattr(atomic, "before_replace", check)
    export_npy(final, np.ones((2, 3), np.float32))
    assert seen == [0.0] and np.load(final).sum() == 6.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.npy"]
