"""A real Orthanc (Debian packages `orthanc` + `orthanc-dicomweb`) for the PACS tests.

`start_orthanc(folder)` writes a JSON config into `folder` (storage there too), starts
``Orthanc`` on a free loopback HTTP port (the DICOM server is disabled; Orthanc has no bind
address option, so "RemoteAccessAllowed": false makes it answer loopback clients only), waits for
``/system`` (bounded) and returns an `OrthancServer`; `stop()` ends it (terminate, then kill).
"""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import requests

USER, PASSWORD = "reader", "s3cret-pass"  # the authenticated test server's account
ORTHANC_NAMES = ("Orthanc", "orthanc")
PLUGIN_CANDIDATES = ("/usr/share/orthanc/plugins/libOrthancDicomWeb.so",)
START_TIMEOUT_S = 60.0


def orthanc_binary() -> str | None:
    for name in ORTHANC_NAMES:
        found = shutil.which(name) or (f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists()
                                       else None)
        if found:
            return found
    return None


def dicomweb_plugin() -> str | None:
    """The DICOMweb plugin's .so, from the Debian package's file list (dpkg -L)."""
    try:
        listing = subprocess.run(["dpkg", "-L", "orthanc-dicomweb"], capture_output=True,
                                 text=True, timeout=30).stdout.split()
    except (OSError, subprocess.SubprocessError):
        listing = []
    for path in [*listing, *PLUGIN_CANDIDATES]:
        if "DicomWeb" in path and ".so" in path and Path(path).is_file():
            return path
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class OrthancServer:
    proc: subprocess.Popen
    port: int
    folder: Path
    auth: tuple[str, str] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def dicomweb(self) -> str:
        return f"{self.base}/dicom-web"

    def rest(self, method: str, path: str, **kwargs):
        """Orthanc's own REST API (for uploads and checks in the tests)."""
        r = requests.request(method, self.base + path, auth=self.auth, timeout=30, **kwargs)
        r.raise_for_status()
        return r.json() if r.content else None

    def upload(self, files) -> list[str]:
        ids = []
        for f in files:
            ids.append(self.rest("POST", "/instances", data=Path(f).read_bytes())["ID"])
        return ids

    def clear(self) -> None:
        for pid in self.rest("GET", "/patients"):
            self.rest("DELETE", f"/patients/{pid}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        log = getattr(self.proc, "_log", None)
        if log:
            log.close()


def start_orthanc(folder: Path, users: dict[str, str] | None = None) -> OrthancServer:
    exe, plugin = orthanc_binary(), dicomweb_plugin()
    if not exe or not plugin:
        raise RuntimeError("Orthanc or its DICOMweb plugin is not installed")
    folder = Path(folder)
    (folder / "db").mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = {
        "Name": "covid-ct-test",
        "StorageDirectory": str(folder / "db"),
        "IndexDirectory": str(folder / "db"),
        "HttpServerEnabled": True,
        "HttpPort": port,
        "DicomServerEnabled": False,
        "DicomPort": free_port(),
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": bool(users),
        "RegisteredUsers": dict(users or {}),
        "HttpThreadsCount": 4,
        "ConcurrentJobs": 1,
        "StorageCompression": False,
        "OverwriteInstances": False,
        "Plugins": [plugin],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": False,
                     "StudiesMetadata": "Full", "SeriesMetadata": "Full"},
    }
    cfg = folder / "orthanc.json"
    cfg.write_text(json.dumps(config, indent=1))
    log = (folder / "orthanc.log").open("wb")
    proc = subprocess.Popen([exe, str(cfg)], stdout=log, stderr=subprocess.STDOUT,
                            cwd=str(folder))
    proc._log = log  # type: ignore[attr-defined]
    auth = next(iter(users.items())) if users else None
    server = OrthancServer(proc, port, folder, auth)
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            server.stop()
            tail = (folder / "orthanc.log").read_text(errors="replace")[-800:]
            raise RuntimeError(f"Orthanc exited with {proc.returncode}: {tail}")
        try:
            r = requests.get(server.base + "/system", auth=auth, timeout=2)
            if r.status_code == 200:
                return server
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"Orthanc did not answer /system within {START_TIMEOUT_S:.0f} s")
        time.sleep(0.2)
