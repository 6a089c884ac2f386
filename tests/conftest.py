"""Shared helpers: run the real CLI, write real files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from nnctl.cli import main

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs"
DATASETS = ROOT / "datasets"


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


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def assert_one_line_error(run: Run, code: int, *fragments: str) -> None:
    """The exit code, one 'Error:' line on stderr holding every fragment, no traceback.

    Usage errors found by click itself keep click's two lines of usage hint above it.
    """
    assert run.code == code, run
    assert "Traceback" not in run.stderr + run.stdout, run
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    if lines and lines[0].startswith("Usage: nnctl"):
        assert lines[1].startswith("Try 'nnctl"), run
        lines = lines[2:]
    assert len(lines) == 1 and lines[0].startswith("Error: "), run
    for fragment in fragments:
        assert fragment in lines[0], run


def load_arrays(path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}
