"""Fixtures for the PACS tests: a real Orthanc with the DICOMweb plugin (skipped with a reason
when the Debian packages `orthanc` / `orthanc-dicomweb` are not installed) and synthetic CT."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import orthanc_server  # noqa: E402

_spec = importlib.util.spec_from_file_location(
    "export_synthetic_ct", HERE.parent / "export" / "synthetic_ct.py")
synthetic_ct = sys.modules.setdefault("export_synthetic_ct",
                                      importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(synthetic_ct)

from orthanc_server import PASSWORD, USER  # noqa: E402,F401


def _need_orthanc():
    if not orthanc_server.orthanc_binary():
        pytest.skip("Orthanc is not installed (apt-get install orthanc orthanc-dicomweb)")
    if not orthanc_server.dicomweb_plugin():
        pytest.skip("the Orthanc DICOMweb plugin is not installed "
                    "(apt-get install orthanc-dicomweb)")


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory):
    """One Orthanc for the session (no authentication); tests clear it with `fresh_orthanc`."""
    _need_orthanc()
    server = orthanc_server.start_orthanc(tmp_path_factory.mktemp("orthanc"))
    yield server
    server.stop()


@pytest.fixture()
def fresh_orthanc(orthanc):
    orthanc.clear()
    return orthanc


@pytest.fixture(scope="session")
def orthanc_auth(tmp_path_factory):
    """An Orthanc with HTTP basic authentication (user reader)."""
    _need_orthanc()
    server = orthanc_server.start_orthanc(tmp_path_factory.mktemp("orthanc_auth"),
                                          users={USER: PASSWORD})
    yield server
    server.stop()


@pytest.fixture()
def pacs_config(tmp_path, monkeypatch):
    """An empty PACS config file location for the test ($COVID_CT_PACS_CONFIG)."""
    path = tmp_path / "config" / "pacs.json"
    monkeypatch.setenv("COVID_CT_PACS_CONFIG", str(path))
    return path


@pytest.fixture()
def ct_study(tmp_path):
    """A small synthetic CT series on disk (SyntheticSeries)."""
    return synthetic_ct.write_ct_series(tmp_path / "ct", n=4, rows=32, cols=40, seed=3)
