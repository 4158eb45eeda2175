"""``python main.py scores ...``: reader-study statistics, export, plots and reading lists.

    scores summary   [--db PATH] [--json] [--exclude-unsure]   mean ± SD, t-tests, cohorts, kappa
    scores export    [--db PATH] --csv FILE [--history]         latest scores (or every edit) as CSV
    scores plots     [--db PATH] --out DIR [--exclude-unsure]   Fig. 6/7-style PNG plots
    scores make-list INPUT --out FILE [--methods ...] [--seed N] [--maps NAME=DIR] ...
                                                                 a blinded reading list (JSON)

``--db`` defaults to the score database in the user data directory. Bad input gives one line
``error: <thing>: <reason>`` on stderr and exit status 2; nothing in the database is changed by
these commands (they open it read-only in spirit: no scores are written).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gan.cli.common import error, split_list
from gan.map_methods import ALL_METHODS_TEXT, METHODS


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "scores", help="reader study: score summary, CSV export, plots, blinded reading lists",
        description="Statistics and export of the visual scores (1–5) given in the score panel, "
        "and blinded reading lists for a reader study.")
    sub = p.add_subparsers(dest="scores_command", metavar="ACTION")
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])

    def db_arg(q):
        q.add_argument("--db", type=Path, default=None,
                       help="score database (default: scores.sqlite in the user data directory)")

    s = sub.add_parser("summary", help="mean ± SD per method, t-tests, cohorts, reader agreement")
    db_arg(s)
    s.add_argument("--json", action="store_true", help="print JSON instead of a table")
    s.add_argument("--exclude-unsure", action="store_true", help="leave out scores marked unsure")
    s.set_defaults(func=_summary)

    e = sub.add_parser("export", help="write the scores as CSV (one row per reader and item)")
    db_arg(e)
    e.add_argument("--csv", type=Path, required=True, metavar="FILE", help="CSV file to write")
    e.add_argument("--history", action="store_true",
                   help="every stored edit instead of only the latest score per reader and item")
    e.set_defaults(func=_export)

    pl = sub.add_parser("plots", help="save Fig. 6/7-style plots (PNG) of the scores")
    db_arg(pl)
    pl.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    pl.add_argument("--exclude-unsure", action="store_true", help="leave out scores marked unsure")
    pl.set_defaults(func=_plots)

    m = sub.add_parser("make-list", help="build a blinded reading list (slices × methods) as JSON")
    m.add_argument("input", type=Path, help="DICOM folder/file, NIfTI file or picture folder")
    m.add_argument("--out", type=Path, required=True, metavar="FILE", help="JSON file to write")
    m.add_argument("--methods", default=ALL_METHODS_TEXT,
                   help=f"comma-separated: {', '.join(METHODS)} "
                   "(default: all four); imported maps are added with --maps")
    m.add_argument("--maps", action="append", default=[], metavar="NAME=DIR",
                   help="imported maps: a folder of .npy/.png files named by slice number; "
                   "adds the method import:NAME (repeatable)")
    m.add_argument("--series", action="append", default=[], metavar="KEY",
                   help="series key or UID to include (repeatable; default: every series found)")
    m.add_argument("--slices", default=None, metavar="SPEC",
                   help="slice indices per series, e.g. 0-9,15 (default: all)")
    m.add_argument("--seed", type=int, default=None,
                   help="shuffle seed (default: a random one, stored in the file)")
    m.add_argument("--unblinded", action="store_true", help="show method names while reading")
    m.add_argument("--name", default="", help="name of the list")
    m.add_argument("--display", default=None, metavar="SETTINGS",
                   help="display settings fixed for every item and stored with each score, "
                        "e.g. threshold=0.5,opacity=0.45,colormap=inferno,window=1500/-600 "
                        "(the threshold also gives each item's cohort from the GAN map)")
    m.set_defaults(func=_make_list)


def _open(db: Path | None):
    from viewer.study.score_store import ScoreStore

    return ScoreStore(db, create=False)


def _summary(args) -> int:
    import json

    from viewer.study.score_stats import format_summary, summarize
    from viewer.study.score_store import ScoreStoreError

    try:
        with _open(args.db) as store:
            summary = summarize(store.aggregate_latest(), exclude_unsure=args.exclude_unsure)
            path = store.path
    except ScoreStoreError as exc:
        return error(str(exc))
    if args.json:
        d = summary.to_dict()
        d["database"] = str(path)
        print(json.dumps(d, indent=1, allow_nan=False))
    else:
        print(f"database: {path}")
        print(format_summary(summary))
    return 0


CSV_COLUMNS = ("reader_id", "study_uid", "series_uid", "sop_instance_uid", "image_hash",
               "slice_index", "method", "score", "comment", "unsure", "severity_category",
               "saved_at", "row_id", "n_versions", "display")


def _export(args) -> int:
    import csv
    import json

    from viewer.study.score_store import ScoreStoreError

    if args.csv.is_dir():
        return error(f"{args.csv}: is a folder; give a CSV file name")
    if not args.csv.parent.is_dir():
        return error(f"{args.csv}: folder {args.csv.parent} does not exist")
    try:
        with _open(args.db) as store:
            rows = store.aggregate_history() if args.history else store.aggregate_latest()
    except ScoreStoreError as exc:
        return error(str(exc))
    from viewer.io.atomic import atomic_path

    try:
        with atomic_path(args.csv) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(CSV_COLUMNS)
            for r in rows:
                k = r.key
                w.writerow([r.reader_id, k.study_uid, k.series_uid, k.sop_instance_uid,
                            k.image_hash, k.slice_index, k.method, r.score, r.comment,
                            int(r.unsure), r.severity_category or "", r.saved_at, r.row_id,
                            r.n_versions,
                            json.dumps(r.display, sort_keys=True) if r.display else ""])
    except OSError as exc:
        return error(f"{args.csv}: cannot write ({exc.strerror or exc})")
    print(f"wrote {len(rows)} score rows to {args.csv}")
    return 0


def _plots(args) -> int:
    from viewer.study.score_stats import save_plots, summarize
    from viewer.study.score_store import ScoreStoreError

    if args.out.exists() and not args.out.is_dir():
        return error(f"{args.out}: exists and is not a folder")
    try:
        with _open(args.db) as store:
            summary = summarize(store.aggregate_latest(), exclude_unsure=args.exclude_unsure)
    except ScoreStoreError as exc:
        return error(str(exc))
    try:
        paths = save_plots(summary, args.out)
    except OSError as exc:
        return error(f"{args.out}: cannot write ({exc.strerror or exc})")
    for p in paths:
        print(f"wrote {p}")
    return 0


def parse_slice_spec(spec: str) -> list[int]:
    """``"0-3,7"`` -> ``[0, 1, 2, 3, 7]``; ValueError naming the bad part."""
    out: list[int] = []
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            if "-" in part:
                a, b = part.split("-", 1)
                lo, hi = int(a), int(b)
                if lo > hi or lo < 0:
                    raise ValueError
                out.extend(range(lo, hi + 1))
            else:
                v = int(part)
                if v < 0:
                    raise ValueError
                out.append(v)
        except ValueError:
            raise ValueError(f"--slices: bad part {part!r} (use e.g. 0-9,15)") from None
    if not out:
        raise ValueError("--slices: no slice indices given")
    return sorted(set(out))


def parse_display(text: str):
    """``threshold=0.5,opacity=0.45,colormap=inferno,window=1500/-600`` -> DisplaySettings;
    ValueError ``--display: ...`` naming the bad part."""
    from viewer.study.display_settings import DisplaySettings

    values: dict = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if "=" not in part:
            raise ValueError(f"--display {part!r}: expected NAME=VALUE")
        name, value = (x.strip() for x in part.split("=", 1))
        try:
            if name == "colormap":
                values[name] = value
            elif name == "window":
                w, _, lv = value.partition("/")
                values["window_width"], values["window_level"] = float(w), float(lv)
            else:
                values[name] = float(value)
        except ValueError:
            raise ValueError(f"--display {part!r}: not a number (window: WIDTH/LEVEL)") from None
    return DisplaySettings.from_json(values, "--display")


def _make_list(args) -> int:
    from viewer.study.reading_list import (
        IMPORT_PREFIX,
        ReadingList,
        discover_imported_maps,
        slice_targets_from_series,
        validate_method,
    )
    from viewer.study.score_store import image_hash

    try:
        methods = [validate_method(m) for m in split_list(args.methods, lower=False,
                                                          unique=False)]
        imported = {}
        for spec in args.maps:
            if "=" not in spec:
                raise ValueError(f"--maps {spec!r}: expected NAME=DIR")
            name, folder = spec.split("=", 1)
            method = validate_method(IMPORT_PREFIX + name.strip())
            imported[method] = discover_imported_maps(folder)
            methods.append(method)
        slices = parse_slice_spec(args.slices) if args.slices else None
        display = parse_display(args.display) if args.display else None
    except ValueError as exc:
        return error(str(exc))
    if not args.input.exists():
        return error(f"{args.input}: does not exist")
    if not args.out.parent.is_dir():
        return error(f"{args.out}: folder {args.out.parent} does not exist")

    from viewer.io import scan_path

    result = scan_path(args.input)
    for skipped in result.skipped:
        print(f"skipped {skipped.path}: {skipped.reason}", file=sys.stderr)
    series = result.series
    if args.series:
        wanted = set(args.series)
        series = [s for s in series if s.key in wanted or s.series_uid in wanted]
        missing = wanted - {s.key for s in series} - {s.series_uid for s in series}
        if missing:
            return error(f"--series: not found in {args.input}: {', '.join(sorted(missing))}")
    if not series:
        return error(f"{args.input}: no loadable series")
    targets = []
    try:
        for info in series:
            idx = slices if slices is not None else list(range(info.n_slices))
            hashes = {}
            if any(not (info.refs[i].sop_instance_uid or "") for i in idx if i < info.n_slices):
                wanted_idx = set(idx)
                hashes = {i: image_hash(px) for i, px in info.iter_slices() if i in wanted_idx}
            targets += slice_targets_from_series(info, idx, image_hashes=hashes)
        rl = ReadingList.build(targets, methods, seed=args.seed, blinded=not args.unblinded,
                               name=args.name, imported_maps=imported, display=display)
        rl.save(args.out)
    except ValueError as exc:
        return error(str(exc))
    except OSError as exc:
        return error(f"{args.out}: cannot write ({exc.strerror or exc})")
    print(f"wrote {args.out}: {len(rl)} items ({len(targets)} slices × {len(methods)} methods, "
          f"{len(series)} series), seed {rl.seed}, {'blinded' if rl.blinded else 'unblinded'}")
    return 0
