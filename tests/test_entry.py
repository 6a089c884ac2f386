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
    # entry's own flush failed, quietly: not a traceback, nor the interpreter's complaint
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr


def test_sys_exit_with_a_message_prints_it_and_exits_1():
    done = run("""
import sys
import nnctl.cli
def main(**kwargs):
    sys.exit("a message")
nnctl.cli.main = main
nnctl.cli.entry()
""")
    assert done.returncode == 1 and done.stderr.strip() == "a message"


def test_a_host_that_runs_the_module_goes_on_after_it():
    """runpy.run_module (as IPython's %run -m does) and a profiler: the process is not
    theirs to end, so nnctl exits as usual and they go on (the profiler reports)."""
    host = run("""
import runpy, sys
sys.argv = ["nnctl", "--version"]
try:
    runpy.run_module("nnctl", run_name="__main__")
except SystemExit as e:
    print("host goes on after exit", e.code)
""")
    assert host.returncode == 0 and "host goes on after exit 0" in host.stdout, host
    profiled = subprocess.run([sys.executable, "-m", "cProfile", "-m", "nnctl", "--version"],
                              capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert profiled.returncode == 0 and "function calls" in profiled.stdout, profiled.stdout[-500:]


def test_python_dash_m_and_the_console_script_use_entry():
    text = (ROOT / "pyproject.toml").read_text()
    assert 'nnctl = "nnctl.cli:entry"' in text
    assert "entry(quick=" in (ROOT / "nnctl" / "__main__.py").read_text()
    # as `python -m` runs it (the module is __main__): the quick exit, nothing after it
    as_m = run("""
import atexit, runpy, sys
atexit.register(lambda: print("exit handler ran", file=sys.stderr))
sys.argv = ["nnctl", "--version"]
try:
    runpy.run_module("nnctl", run_name="__main__", alter_sys=True)
finally:  # a normal exit (SystemExit) passes here; the quick one leaves before
    print("after", file=sys.stderr)
""")
    assert as_m.returncode == 0 and "nnctl, version" in as_m.stdout
    assert "exit handler ran" in as_m.stderr and "after" not in as_m.stderr, as_m.stderr
    done = subprocess.run([sys.executable, "-m", "nnctl", "shapes", "no-such.yaml"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 2 and "no-such.yaml" in done.stderr


def test_stdout_on_a_full_disk_is_one_line_not_a_traceback():
    """(Found by a hostile review: every command but predict ended in a traceback; later
    --help and --version, which click writes before any command runs, still did.)"""
    for args in (["schema"], ["shapes", str(DEFAULT), "--json"], ["activations"], ["--help"],
                 ["--version"], ["train", "--help"]):
        with open("/dev/full", "w") as full:
            done = subprocess.run([sys.executable, "-m", "nnctl", *args], stdout=full,
                                  stderr=subprocess.PIPE, text=True, timeout=120, cwd=ROOT)
        assert done.returncode == 1, (args, done.stderr)
        assert done.stderr == ("Error: stdout: cannot write the output (No space left on"
                               " device); free some space or send it elsewhere\n"), args


def test_a_table_to_a_reader_that_left_is_the_broken_pipe_line():
    """A table on stdout (activations, shapes) to a pipe already closed exited 1 without a
    word (rich's own broken-pipe exit); now the line every other output gives."""
    for args in (["activations"], ["shapes", str(DEFAULT)]):
        done = subprocess.Popen([sys.executable, "-m", "nnctl", *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, cwd=ROOT)
        done.stdout.close()
        with done.stderr:
            err = done.stderr.read().decode()
        assert done.wait(timeout=120) == 1, (args, err)
        assert err.startswith("Error: the output's reader closed the pipe") and err.count("\n") == 1, err


def test_a_reader_that_leaves_stderr_stops_training_as_ctrl_c_does(tmp_path):
    """`nnctl train 2>&1 | head -1` exited 1 with no model and no word (rich's own
    broken-pipe exit, found by a hostile review): now 141, the best model so far kept."""
    config = tmp_path / "c.yaml"
    config.write_text(f"data: {{train: {ROOT / 'nnctl' / 'bundled' / 'datasets' / 'iris.csv'},"
                      " target: species}\ntraining: {epochs: 2000}\noutput: {plots: false}\n")
    train = subprocess.Popen([sys.executable, "-m", "nnctl", "train", str(config), "-v"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp_path)
    while not train.stderr.readline().startswith(b"epoch 1/"):  # the reader sees epoch 1,
        pass  # then leaves
    train.stderr.close()
    assert train.wait(timeout=300) == 141
    (run,) = (tmp_path / "runs" / "c").iterdir()
    assert {"model.npz", "history.csv"} <= {p.name for p in run.iterdir()}
    epochs = (run / "history.csv").read_text().splitlines()[1:]
    assert 0 < len(epochs) < 2000  # stopped early, after some epochs
