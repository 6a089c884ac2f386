"""Fixtures: the real CLI in a fresh working directory (helpers are in helpers.py)."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner
from hypothesis import settings

from nnctl.cli import main

# CI draws the same hypothesis examples every run (no luck either way); a developer's run
# explores new ones. `.ci/run` runs with CI=true.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


class Run:
    """The outcome of one CLI invocation."""

    def __init__(self, result):
        self.result = result
        self.code = result.exit_code
        self.stdout = result.stdout
        self.stderr = result.stderr

    def __repr__(self):
        return f"exit {self.code}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


@pytest.fixture
def cli(tmp_path, monkeypatch):
    """``cli("train", "x.yaml")`` runs nnctl in a fresh working directory."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "120")

    def run(*args, input=None):
        result = CliRunner().invoke(main, [str(a) for a in args], input=input, prog_name="nnctl")
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return Run(result)

    return run
