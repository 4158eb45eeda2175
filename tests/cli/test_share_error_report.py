"""scripts/share_error_report.py: the lesion-share rules scored on a cache of maps and lungs;
missing data named in one line."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "share_error_report.py"


def _objects(items):
    out = np.empty(len(items), dtype=object)
    out[:] = list(items)
    return out


def _cache(folder: Path) -> None:
    """Six 32 x 32 slices: a lung square, a lesion of a known share, a map that marks it."""
    rng = np.random.default_rng(0)
    lungs, truth, maps, units = [], [], [], []
    for k in range(6):
        lung = np.zeros((32, 32), bool)
        lung[4:28, 4:28] = True
        les = np.zeros_like(lung)
        les[4:4 + 3 * k, 4:28] = True                      # share 0, 12.5, 25, ... %
        m = np.where(les, 0.8, 0.02).astype(np.float32) + rng.uniform(0, 0.01, lung.shape).astype(np.float32)
        lungs.append(lung), truth.append(les), maps.append(m)
        units.append(np.where(les, 0.6, 0.35).astype(np.float32))
    folder.mkdir()
    np.savez_compressed(folder / "val.npz", truth=_objects(truth), lungs=_objects(lungs), unit=_objects(units),
                        threshold=0.34, **{f"map_s{s}": _objects(maps) for s in (4.5, 2.0, 0.0)})
    normal = [np.full((32, 32), 0.01, np.float32)] * 4
    np.savez_compressed(folder / "normal.npz", lungs=_objects(lungs[:4]),
                        **{f"map_s{s}": _objects(normal) for s in (4.5, 2.0, 0.0)})


def test_report_scores_every_rule_on_a_cache(tmp_path, capsys):
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import share_error_report as ser
    finally:
        sys.path.remove(str(REPO / "scripts"))
    _cache(tmp_path / "cache")
    ser.report(tmp_path / "cache")
    out = capsys.readouterr().out
    assert "fixed threshold 0.34 (shipped)" in out and "soft share" in out and "in-sample" in out
    shipped = next(line for line in out.splitlines() if line.startswith("fixed threshold 0.34 (shipped)"))
    mae, loo, normal = (float(x) for x in shipped.split()[-3:])
    assert mae == 0.0 and normal == 0.0          # the map marks each lesion exactly
    assert "2 slices with a true share under 13 %" in out   # 0 % and 12.5 %


def test_missing_data_folder_is_named(tmp_path):
    r = subprocess.run([sys.executable, str(SCRIPT), "--data", str(tmp_path), "--cache", str(tmp_path / "c")],
                       capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 2 and "no medseg-covid19-val folder" in r.stderr
    assert not (tmp_path / "c").exists()


def test_cache_arrays_take_any_iterable():
    """build_cache passes generators (one map per slice): each becomes one object array."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("share_error_report", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    arrays = [np.zeros((3, 4)), np.ones((5, 2))]
    out = mod._objects(a for a in arrays)
    assert out.dtype == object and len(out) == 2
    assert out[1].shape == (5, 2)
