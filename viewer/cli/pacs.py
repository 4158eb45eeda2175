"""`main.py pacs`: search, retrieve from and send to a DICOMweb PACS (QIDO-RS, WADO-RS, STOW-RS).

    python main.py pacs search URL [--patient P] [--study-date D] [--modality CT] [--json]
    python main.py pacs get URL STUDY_UID [SERIES_UID] --out DIR
    python main.py pacs send URL FILE_OR_FOLDER ...
    python main.py pacs servers

URL is the DICOMweb root (e.g. http://host:8042/dicom-web) or the name of a server in the user's
PACS config (`pacs servers` prints where it is); a configured server brings its HTTP basic
credentials. Passwords are read from the config only, never from the command line, and never
printed. `get` resumes: instances already in DIR are not fetched again.

Exit status: 0 done; 1 partly done (some instances failed: rerun to resume; a duplicate on send);
2 nothing done (bad URL, server down, 401, unknown study, ...), each as one `error:` line.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gan.cli.common import error


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "pacs", help="search, retrieve from and send to a DICOMweb PACS",
        description="DICOMweb access to a PACS: QIDO-RS search, WADO-RS retrieve (resumable), "
        "STOW-RS send. URL is the DICOMweb root or a server name from the PACS config. "
        "See docs/PACS.md.")
    sub = p.add_subparsers(dest="pacs_command", metavar="ACTION")
    s = sub.add_parser("search", help="list studies and their series (QIDO-RS)")
    s.add_argument("url", metavar="URL")
    s.add_argument("--patient", help="patient ID, or name with * wildcards (Doe^J*)")
    s.add_argument("--study-date", help="YYYYMMDD or range YYYYMMDD-YYYYMMDD")
    s.add_argument("--modality", help="e.g. CT (studies containing it; series of it)")
    s.add_argument("--study", help="one study instance UID")
    s.add_argument("--limit", type=int, default=None, help="at most this many studies")
    s.add_argument("--json", action="store_true", help="one JSON document instead of a table")
    s.add_argument("--timeout", type=float, default=None, metavar="S",
                   help="seconds to wait for each answer (default: config, else 30)")
    s.set_defaults(func=search_handler)
    g = sub.add_parser("get", help="retrieve a study or series into a folder (WADO-RS)")
    g.add_argument("url", metavar="URL")
    g.add_argument("study", metavar="STUDY_UID")
    g.add_argument("series", metavar="SERIES_UID", nargs="?")
    g.add_argument("--out", required=True, metavar="DIR",
                   help="folder; instances go to DIR/<study>/<series>/<sop>.dcm")
    g.add_argument("--timeout", type=float, default=None, metavar="S")
    g.add_argument("--no-progress", action="store_true")
    g.set_defaults(func=get_handler)
    t = sub.add_parser("send", help="store DICOM files on the PACS (STOW-RS)")
    t.add_argument("url", metavar="URL")
    t.add_argument("files", metavar="FILE", nargs="+", help="DICOM files or folders of them")
    t.add_argument("--timeout", type=float, default=None, metavar="S")
    t.set_defaults(func=send_handler)
    v = sub.add_parser("servers", help="list the configured servers and the config file")
    v.set_defaults(func=servers_handler)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def make_client(target: str, timeout: float | None = None):
    """PacsClient for a URL or configured server name; ValueError (one line) when unusable."""
    from viewer.pacs.client import PacsClient
    from viewer.pacs.config import resolve_server

    if timeout is not None and not timeout > 0:
        raise ValueError(f"--timeout {timeout}: must be a positive number of seconds")
    return PacsClient(resolve_server(target), timeout_s=timeout)


def search_handler(args: argparse.Namespace) -> int:
    from viewer.pacs.client import as_table

    try:
        client = make_client(args.url, args.timeout)
        studies = client.search(patient=args.patient, study_date=args.study_date,
                                modality=args.modality, study_uid=args.study, limit=args.limit)
    except ValueError as exc:
        error(str(exc))
        return 2
    if args.json:
        print(json.dumps({"url": client.url, "studies": [s.to_json() for s in studies]},
                         indent=1))
    else:
        print(as_table(studies))
        print(f"{len(studies)} study(ies) on {client.url}", file=sys.stderr)
    return 0


def get_handler(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from viewer.pacs.client import RetrieveCancelled

    out = Path(args.out)
    try:
        client = make_client(args.url, args.timeout)
        if out.exists() and not out.is_dir():
            raise ValueError(f"--out {out}: exists and is not a folder")
        bars = []

        def progress(done, total):
            if not bars:  # only once the instances are known (no bar before an error)
                bars.append(tqdm(total=total, desc="retrieve", unit="inst",
                                 disable=args.no_progress, file=sys.stderr))
            bars[0].n = done
            bars[0].refresh()
            return True

        try:
            result = client.retrieve(args.study, args.series, out, progress=progress)
        finally:
            for bar in bars:
                bar.close()
    except RetrieveCancelled as exc:
        error(str(exc))
        return 1
    except ValueError as exc:
        error(str(exc))
        return 2
    for sop, reason in result.failed[:5]:
        error(reason)
    if result.failed:
        error(f"retrieve {args.study}: partial, {result.summary()}; run the same command "
              "again to fetch the rest")
    for folder in result.series_folders:
        print(folder)
    print(f"{result.summary()} in {result.folder}", file=sys.stderr)
    return 1 if result.failed else 0


def dicom_files(items) -> list[Path]:
    files = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith("."))
        else:
            files.append(p)
    return files


def send_handler(args: argparse.Namespace) -> int:
    try:
        client = make_client(args.url, args.timeout)
    except ValueError as exc:
        error(str(exc))
        return 2
    files = dicom_files(args.files)
    missing = [f for f in files if not f.exists()]
    for f in missing:
        error(f"{f}: no such file or folder")
    result = client.store([f for f in files if f.exists()])
    report_store(result, client.url)
    return 1 if (missing or result.failed or result.duplicates) else 0


def report_store(result, url: str) -> None:
    for _name, reason in result.failed:
        error(reason)
    for sop in result.duplicates:
        error(f"store {sop}: already on {url} (duplicate STOW); not sent again")
    print(f"sent {len(result.stored)} instance(s) to {url}", file=sys.stderr)


def servers_handler(args: argparse.Namespace) -> int:
    from viewer.pacs.config import config_path, load_servers

    try:
        servers = load_servers()
    except ValueError as exc:
        error(str(exc))
        return 2
    print(f"config: {config_path()}")
    for s in servers:
        print(s.describe())
    if not servers:
        print("(no servers configured)")
    return 0
