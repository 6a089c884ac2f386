"""The ``nnctl`` program's own exit (``cli.entry``): it leaves by ``os._exit`` once ``main``
is done, so these check, in a real process, that nothing a normal exit gives is lost: the
exit code, all of stdout, the exit handlers, and 120 when the last flush fails."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "nnctl" / "bundled" / "configs" / "default.yaml"


def run(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)


PROGRAM = """
import atexit, sys
atexit.register(lambda: print("exit handler ran", file=sys.stderr))
sys.argv = ["nnctl", *sys.argv[1:]]
from nnctl.cli import entry
entry()
print("entry returned", file=sys.stderr)  # it must not: the process has left
"""


def test_all_of_stdout_the_code_and_the_exit_handlers():
    done = run(PROGRAM, "shapes", str(DEFAULT), "--json")
    assert done.returncode == 0, done.stderr
    shapes = json.loads(done.stdout)  # complete: parses, and names every layer
    assert [layer["l"] for layer in shapes["layers"]] == [1, 2, 3]
    assert done.stderr.count("exit handler ran") == 1
    assert "entry returned" not in done.stderr


def test_an_error_keeps_its_exit_code_and_its_one_line():
    done = run(PROGRAM, "shapes", "no-such.yaml")
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line != "exit handler ran"]
    assert len(lines) == 1 and "no-such.yaml" in lines[0], done.stderr
    assert "exit handler ran" in done.stderr


def test_a_failed_last_flush_exits_120_as_python_does():
    # The reader leaves after the command (an exit handler says so), before the last flush.
    code = """
import atexit, io, sys
class Gone(io.TextIOWrapper):
    gone = False
    def flush(self):
        if self.gone:
            raise BrokenPipeError(32, "Broken pipe")
        super().flush()
sys.stdout = Gone(io.BytesIO(), encoding="utf-8")
atexit.register(lambda: setattr(Gone, "gone", True))
sys.argv = ["nnctl", "--version"]
from nnctl.cli import entry
entry()
"""
    done = run(code)
    assert done.returncode == 120, done.stderr


def test_python_dash_m_and_the_console_script_use_entry():
    text = (ROOT / "pyproject.toml").read_text()
    assert 'nnctl = "nnctl.cli:entry"' in text
    assert "entry()" in (ROOT / "nnctl" / "__main__.py").read_text()
    done = subprocess.run([sys.executable, "-m", "nnctl", "shapes", "no-such.yaml"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 2 and "no-such.yaml" in done.stderr
