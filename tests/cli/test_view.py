"""``main.py view``: argument checks give one-line errors before any Qt is loaded."""
from __future__ import annotations

import argparse

import pytest

from viewer.cli import view


def parse(*argv):
    p = argparse.ArgumentParser()
    view.register(p.add_subparsers())
    return p.parse_args(["view", *argv])


@pytest.mark.parametrize("argv, message", [
    (["/no/such/folder"], "no such file or folder"),
    (["--slice", "-1"], "--slice -1: must be >= 0"),
    (["--screenshot", "shot.jpg"], "must end in .png"),
    (["--screenshot", "/no/such/dir/shot.png"], "does not exist"),
    (["--weights", "/no/such.safetensors"], "file not found"),
    (["--db", "/no/such/dir/scores.sqlite"], "does not exist"),
    (["--db", "/"], "is a folder"),
])
def test_bad_arguments_exit_2_with_one_line(argv, message, capsys):
    args = parse(*argv)
    assert args.func(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err


def test_defaults_open_the_bundled_sample():
    args = parse()
    assert args.path is None and args.device == "auto" and view.check_args(args) is None
    assert view.SAMPLES.is_dir() and len(list(view.SAMPLES.glob("*.dcm"))) >= 5


def test_bad_device_is_refused_by_argparse():
    with pytest.raises(SystemExit):
        parse("--device", "tpu")


def test_cli_module_stays_qt_free():
    import ast
    from pathlib import Path

    tree = ast.parse(Path(view.__file__).read_text())
    names = {n.names[0].name if isinstance(n, ast.Import) else (n.module or "")
             for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))}
    assert not any(n.startswith(("PyQt6", "pyqtgraph", "viewer.ui")) for n in names)


def test_db_flag_is_parsed_and_accepted(tmp_path):
    args = parse("--db", str(tmp_path / "scores.sqlite"))
    assert args.db == str(tmp_path / "scores.sqlite") and view.check_args(args) is None
