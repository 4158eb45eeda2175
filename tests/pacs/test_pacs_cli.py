"""`main.py pacs search|get|send` against a real Orthanc (DICOMweb plugin): search finds the
uploaded study, get retrieves voxels equal to the source and resumes, and every bad case gives a
one-line `error:` message."""
from __future__ import annotations

import json
import socket
import threading

import numpy as np
import pytest
from orthanc_server import PASSWORD, USER

import main
from viewer.io import load_series, scan_path
from viewer.pacs.client import PacsClient
from viewer.pacs.config import PacsServer, load_servers, save_servers


def run(argv, capsys):
    code = main.main(["pacs", *map(str, argv)])
    out, err = capsys.readouterr()
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    return code, out, errors, err


@pytest.fixture()
def uploaded(fresh_orthanc, ct_study):
    fresh_orthanc.upload(sorted(ct_study.folder.glob("*.dcm")))
    return fresh_orthanc, ct_study


def test_search_table_and_json(uploaded, capsys, pacs_config):
    server, study = uploaded
    code, out, errors, _ = run(["search", server.dicomweb, "--modality", "CT"], capsys)
    assert code == 0 and not errors
    assert study.study_uid in out and study.series_uid in out and "Synthetic^Phantom" in out
    code, out, errors, _ = run(["search", server.dicomweb, "--patient", "SYN001",
                                "--study-date", "20200101-20201231", "--json"], capsys)
    assert code == 0
    doc = json.loads(out)
    (st,) = doc["studies"]
    assert st["study_uid"] == study.study_uid and st["patient_id"] == "SYN001"
    (se,) = st["series"]
    assert se["series_uid"] == study.series_uid and se["n_instances"] == 4
    code, out, _, _ = run(["search", server.dicomweb, "--patient", "NOBODY", "--json"], capsys)
    assert code == 0 and json.loads(out)["studies"] == []


def _voxels(folder):
    (info,) = scan_path(folder).series
    return load_series(info).voxels


def test_get_equals_source_and_resumes(uploaded, capsys, tmp_path, pacs_config):
    server, study = uploaded
    out = tmp_path / "cache"
    code, stdout, errors, err = run(["get", server.dicomweb, study.study_uid, "--out", out,
                                     "--no-progress"], capsys)
    assert code == 0 and not errors, err
    folder = out / study.study_uid / study.series_uid
    assert stdout.strip() == str(folder)
    np.testing.assert_array_equal(_voxels(folder), study.hu)
    # an interrupted retrieve: one file missing, one truncated, a stale temporary file
    files = sorted(folder.glob("*.dcm"))
    files[0].unlink()
    files[1].write_bytes(files[1].read_bytes()[:-100])
    (folder / ".part-0123456789-junk.dcm").write_bytes(b"partial")
    code, _, errors, err = run(["get", server.dicomweb, study.study_uid, study.series_uid,
                                "--out", out, "--no-progress"], capsys)
    assert code == 0 and not errors
    assert "2 fetched, 2 already present, 0 failed of 4" in err
    np.testing.assert_array_equal(_voxels(folder), study.hu)


def test_partial_retrieve_is_reported_and_resumable(uploaded, tmp_path, pacs_config):
    server, study = uploaded
    client = PacsClient(server.dicomweb)
    real = client._client.retrieve_instance
    victim = study.refs[1].sop_instance_uid

    def flaky(**kw):
        if kw["sop_instance_uid"] == victim:
            raise OSError("connection reset by peer")
        return real(**kw)

    client._client.retrieve_instance = flaky
    result = client.retrieve(study.study_uid, None, tmp_path / "c")
    assert len(result.fetched) == 3 and len(result.failed) == 1
    assert result.failed[0] == (victim, f"instance {victim}: connection reset by peer")
    again = PacsClient(server.dicomweb).retrieve(study.study_uid, None, tmp_path / "c")
    assert len(again.fetched) == 1 and len(again.present) == 3 and again.complete
    assert not list((tmp_path / "c").rglob(".part-*"))


def test_cancel_retrieve(uploaded, tmp_path):
    from viewer.pacs.client import RetrieveCancelled

    server, study = uploaded
    with pytest.raises(RetrieveCancelled, match="rerun to resume"):
        PacsClient(server.dicomweb).retrieve(study.study_uid, None, tmp_path / "c",
                                             progress=lambda d, t: d < 1, parallel=1)
    files = list((tmp_path / "c").rglob("*.dcm"))
    assert len(files) == 1 and not list((tmp_path / "c").rglob(".part-*"))
    again = PacsClient(server.dicomweb).retrieve(study.study_uid, None, tmp_path / "c")
    assert (len(again.present), len(again.fetched)) == (1, 3)


def test_send_and_duplicate(fresh_orthanc, ct_study, capsys, pacs_config):
    files = sorted(ct_study.folder.glob("*.dcm"))
    code, _, errors, err = run(["send", fresh_orthanc.dicomweb, files[0], files[1]], capsys)
    assert code == 0 and not errors and "sent 2 instance(s)" in err
    code, _, errors, _ = run(["send", fresh_orthanc.dicomweb, ct_study.folder], capsys)
    assert code == 1
    assert len(errors) == 2 and all("duplicate STOW" in e for e in errors)
    assert len(fresh_orthanc.rest("GET", "/instances")) == 4


def _one_error(argv, capsys, expect_code=2):
    code, _, errors, err = run(argv, capsys)
    assert code == expect_code, err
    assert len(errors) == 1, err
    assert "Traceback" not in err
    return errors[0]


def test_bad_servers(orthanc, capsys, tmp_path, pacs_config):
    from orthanc_server import free_port

    down = f"http://127.0.0.1:{free_port()}/dicom-web"
    msg = _one_error(["search", down], capsys)
    assert msg.startswith(f"error: PACS {down}: cannot connect: connection refused")
    msg = _one_error(["search", orthanc.base + "/wrong"], capsys)
    assert "HTTP 404" in msg and "DICOMweb root" in msg
    msg = _one_error(["search", orthanc.base], capsys)  # Orthanc's own REST root
    assert "not a DICOMweb" in msg
    msg = _one_error(["search", "ftp://example.org/x"], capsys)
    assert msg == "error: URL ftp://example.org/x: not an http:// or https:// address"
    msg = _one_error(["search", "hospital"], capsys)
    assert "not a URL and not a configured server" in msg
    tls = f"https://127.0.0.1:{orthanc.port}/dicom-web"  # TLS to a plain HTTP port
    msg = _one_error(["search", tls], capsys)
    assert msg.startswith(f"error: PACS {tls}: TLS error: ")
    msg = _one_error(["get", orthanc.dicomweb, "1.2.3.999", "--out", tmp_path / "o"], capsys)
    assert msg == f"error: study 1.2.3.999: not found on {orthanc.dicomweb}"
    msg = _one_error(["get", orthanc.dicomweb, "not-a-uid", "--out", tmp_path / "o"], capsys)
    assert "not a DICOM UID" in msg
    msg = _one_error(["search", orthanc.dicomweb, "--study-date", "April"], capsys)
    assert "--study-date April" in msg


def test_timeout(capsys, pacs_config):
    """A server that accepts the connection and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(4)
    stop = threading.Event()
    held = []

    def accept():
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except OSError:
                pass

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/dicom-web"
        msg = _one_error(["search", url, "--timeout", "0.5"], capsys)
        assert msg == f"error: PACS {url}: timed out after 0.5 s: no answer from the server"
    finally:
        stop.set()
        t.join(5)
        for c in held:
            c.close()
        sock.close()


def test_basic_auth_from_config(orthanc_auth, ct_study, capsys, pacs_config):
    url = orthanc_auth.dicomweb
    msg = _one_error(["search", url], capsys)
    assert "HTTP 401" in msg and "user name/password" in msg
    save_servers([PacsServer("wrongpw", url, "basic", USER, "nope")], pacs_config)
    msg = _one_error(["search", "wrongpw"], capsys)
    assert "HTTP 401" in msg
    save_servers([PacsServer("secure", url, "basic", USER, PASSWORD)], pacs_config)
    assert oct(pacs_config.stat().st_mode & 0o777) == "0o600"
    orthanc_auth.upload(sorted(ct_study.folder.glob("*.dcm")))
    for target in ("secure", url):  # by name, or by the configured URL
        code, out, errors, err = run(["search", target, "--json"], capsys)
        assert code == 0 and not errors, err
        assert ct_study.study_uid in out
        assert PASSWORD not in out + err
    code, out, _, err = run(["servers"], capsys)
    assert "secure: " in out and PASSWORD not in out + err
    assert PASSWORD not in repr(load_servers(pacs_config))


def test_bad_config(pacs_config, capsys):
    pacs_config.parent.mkdir(parents=True)
    pacs_config.write_text("{not json")
    msg = _one_error(["search", "x"], capsys)
    assert msg.startswith(f"error: PACS config {pacs_config}: not valid JSON")
    pacs_config.write_text(json.dumps({"servers": [{"name": "a", "url": "http://h/x",
                                                    "auth": "kerberos"}]}))
    with pytest.raises(ValueError, match="auth 'kerberos'"):
        load_servers()



def test_get_partial_then_resume_cli(uploaded, capsys, tmp_path, monkeypatch, pacs_config):
    """The command's messages for an interrupted retrieve, then the rerun that completes it."""
    from viewer.cli import pacs as pacs_cli

    server, study = uploaded
    real_make = pacs_cli.make_client

    def flaky_client(target, timeout=None):
        client = real_make(target, timeout)
        real = client._client.retrieve_instance

        def retrieve_instance(**kw):
            if kw["sop_instance_uid"] == study.refs[2].sop_instance_uid:
                import requests

                raise requests.exceptions.ConnectionError("Connection reset by peer")
            return real(**kw)

        client._client.retrieve_instance = retrieve_instance
        return client

    monkeypatch.setattr(pacs_cli, "make_client", flaky_client)
    out = tmp_path / "cache"
    code, _, errors, err = run(["get", server.dicomweb, study.study_uid, "--out", out,
                                "--no-progress"], capsys)
    assert code == 1, err
    assert len(errors) == 2
    assert errors[0].startswith("error: instance ") and "cannot connect: Connection reset" \
        in errors[0]
    assert errors[1] == (f"error: retrieve {study.study_uid}: partial, 3 fetched, 0 already "
                         "present, 1 failed of 4 instances; run the same command again to "
                         "fetch the rest")
    monkeypatch.setattr(pacs_cli, "make_client", real_make)
    code, _, errors, err = run(["get", server.dicomweb, study.study_uid, "--out", out,
                                "--no-progress"], capsys)
    assert code == 0 and not errors and "1 fetched, 3 already present" in err
    np.testing.assert_array_equal(_voxels(out / study.study_uid / study.series_uid), study.hu)


@pytest.fixture()
def self_signed_https(tmp_path):
    """An HTTPS server on 127.0.0.1 with a self-signed certificate (openssl), answering 404."""
    import http.server
    import shutil
    import ssl
    import subprocess

    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    server.timeout = 0.2
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                         daemon=True)
    t.start()
    yield f"https://127.0.0.1:{server.server_address[1]}/dicom-web", cert
    server.shutdown()
    server.server_close()
    t.join(5)


def test_tls_certificate_errors(self_signed_https, capsys, pacs_config):
    url, cert = self_signed_https
    msg = _one_error(["search", url, "--timeout", "10"], capsys)
    assert msg.startswith(f"error: PACS {url}: TLS error: certificate verify failed")
    # a server whose certificate the user chose not to check ("verify_tls": false)
    save_servers([PacsServer("lab", url, verify_tls=False)], pacs_config)
    msg = _one_error(["search", "lab", "--timeout", "10"], capsys)
    assert "TLS error" not in msg and "HTTP 501" in msg
    # the hospital's own CA: the certificate is checked against it, and passes
    save_servers([PacsServer("hospital", url, ca_bundle=str(cert))], pacs_config)
    msg = _one_error(["search", "hospital", "--timeout", "10"], capsys)
    assert "TLS error" not in msg and "HTTP 501" in msg
    pacs_config.write_text(json.dumps({"servers": [{"name": "h", "url": url,
                                                    "ca_bundle": "/no/such.pem"}]}))
    msg = _one_error(["search", "h"], capsys)
    assert msg.endswith("server h: ca_bundle /no/such.pem: file not found")
