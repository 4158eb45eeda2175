"""``main.py view``: argument checks give one-line errors before any Qt is loaded."""
from __future__ import annotations

import argparse
import sys

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


def test_no_display_is_one_line_not_a_qt_abort(capsys, monkeypatch):
    """On Linux without DISPLAY / WAYLAND_DISPLAY and no QT_QPA_PLATFORM, ``view`` says so in one
    line and exits 2 (Qt itself would abort the process); a display, a chosen platform, or
    Windows / macOS let it through."""
    assert "no display" in view.display_problem({}, "linux")
    assert view.display_problem({"DISPLAY": ":0"}, "linux") is None
    assert view.display_problem({"WAYLAND_DISPLAY": "wayland-0"}, "linux") is None
    assert view.display_problem({"QT_QPA_PLATFORM": "offscreen"}, "linux") is None
    assert view.display_problem({}, "win32") is None and view.display_problem({}, "darwin") is None
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    parser = argparse.ArgumentParser()
    view.register(parser.add_subparsers())
    args = parser.parse_args(["view"])
    assert args.func(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no display" in err[0] and "--screenshot" in err[0]
