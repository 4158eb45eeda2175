"""The helpers every command shares (gan/cli/common.py)."""
from __future__ import annotations

import argparse

import pytest
import torch

from gan.cli.common import (DEVICES, EXIT_USAGE, UsageError, add_device_argument, error,
                            require_device, split_list)


def test_checked_device_argument_refuses_other_names():
    p = argparse.ArgumentParser()
    add_device_argument(p, "where it runs")
    assert p.parse_args([]).device == "auto"
    for name in DEVICES:
        assert p.parse_args(["--device", name]).device == name
    with pytest.raises(SystemExit):
        p.parse_args(["--device", "tpu"])


def test_unchecked_device_argument_takes_any_text():
    p = argparse.ArgumentParser()
    add_device_argument(p, checked=False)
    assert p.parse_args(["--device", "cuda:1"]).device == "cuda:1"


def test_error_is_one_line_on_stderr_and_returns_2(capsys):
    assert error("x: bad") == EXIT_USAGE == 2
    assert capsys.readouterr().err == "error: x: bad\n"


def test_split_list():
    assert split_list(" PNG, nifti,,png ") == ["png", "nifti"]
    assert split_list("a,A,a", lower=False, unique=False) == ["a", "A", "a"]
    assert split_list("") == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_require_device_without_cuda():
    require_device("cpu")
    require_device("auto")
    with pytest.raises(UsageError, match="--device cuda: CUDA is not available"):
        require_device("cuda")
