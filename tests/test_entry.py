"""The ``nnctl`` program's own exit (``cli.entry``): it leaves by ``os._exit`` once ``main``
is done, so these check, in a real process, that nothing a normal exit gives is lost: the
exit code, all of stdout, the exit handlers, and 120 when the last flush fails."""

from __future__ import annotations

import importlib.util
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


def _on_a_terminal(args, cwd) -> tuple[subprocess.CompletedProcess, bytes]:
    """``nnctl ARGS`` with its stdout on a pseudo-terminal, as a user at a prompt runs it;
    and what the terminal got."""
    import os
    import threading

    master, slave = os.openpty()

    shown: list[bytes] = []

    def drain() -> None:  # the terminal shows what it gets, so the writer never blocks
        try:
            while chunk := os.read(master, 1 << 16):
                shown.append(chunk)
        except OSError:  # the last writer closed the terminal
            pass

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        done = subprocess.run([sys.executable, "-m", "nnctl", *args], stdout=slave,
                              stderr=subprocess.PIPE, text=True, timeout=120, cwd=cwd)
    finally:
        os.close(slave)
        reader.join(timeout=10)
        os.close(master)
    return done, b"".join(shown)


def test_a_binary_output_to_a_terminal_is_refused_before_any_work(tmp_path):
    """`nnctl train -o -` at a prompt trained, then poured a zip file over the terminal;
    now exit 2 before training, while a pipe or a file still gets the model."""
    piped = subprocess.run([sys.executable, "-m", "nnctl", "train", "--epochs", "1", "-q", "-o", "-"],
                           capture_output=True, timeout=120, cwd=tmp_path)
    assert piped.returncode == 0 and piped.stdout[:4] == b"PK\x03\x04", piped.stderr
    (tmp_path / "m.npz").write_bytes(piped.stdout)
    for args, what in ((["train", "--epochs", "1", "-o", "-"], "model"),
                       (["train", "--epochs", "1", "-o", "/dev/stdout"], "model"),
                       (["export", "m.npz", "-o", "-"], "ONNX model")) + ((
                       (["activations", "relu", "--plot", "t.png"], "image"),)
                       if importlib.util.find_spec("matplotlib") else ()):
        if args[0] == "activations":  # an image path that is a link to the terminal
            (tmp_path / "t.png").unlink(missing_ok=True)
            (tmp_path / "t.png").symlink_to("/dev/stdout")
        done, shown = _on_a_terminal(args, tmp_path)
        assert done.returncode == 2 and shown == b"", (args, done.stderr)
        assert done.stderr.startswith("Error: ") and done.stderr.count("\n") == 1, done.stderr
        assert f"is a terminal, and the {what} is binary; redirect it" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if not p.is_symlink()) == ["m.npz"]  # no run
    text, shown = _on_a_terminal(["predict", "m.npz", str(ROOT / "nnctl" / "bundled" / "datasets" / "default.csv")],
                                 tmp_path)
    assert text.returncode == 0, text.stderr  # predictions are text: a terminal shows them
    assert shown.count(b"\n") == len(DEFAULT_LINES), shown[:200]  # the header and every row


DEFAULT_LINES = (ROOT / "nnctl" / "bundled" / "datasets" / "default.csv").read_text().splitlines()


def test_cells_with_control_characters_reach_a_terminal_escaped(tmp_path):
    """A cell of the user's data carried to the predictions (an id, a name) with an escape
    sequence in it ran on the terminal (colours, a cleared screen, a retitled window);
    now it shows as \\x1b, and a pipe or a file still gets the bytes as they were."""
    header, *rows = DEFAULT_LINES
    (tmp_path / "in.csv").write_text(f"{header},name\n" + "".join(
        f"{row},\x1b[2J\x1b]0;owned\x07row{i}\u202e\n" for i, row in enumerate(rows[:3])))
    subprocess.run([sys.executable, "-m", "nnctl", "train", "--epochs", "1", "-q", "-o", "m.npz"],
                   check=True, timeout=120, cwd=tmp_path)
    done, shown = _on_a_terminal(["predict", "m.npz", "in.csv"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert b"\x1b" not in shown and b"\x07" not in shown and "\u202e".encode() not in shown
    assert b"\\x1b[2J\\x1b]0;owned\\x07row0\\u202e," in shown, shown
    piped = subprocess.run([sys.executable, "-m", "nnctl", "predict", "m.npz", "in.csv"],
                           capture_output=True, timeout=120, cwd=tmp_path)
    assert "\x1b[2J\x1b]0;owned\x07row0\u202e,".encode() in piped.stdout
    # a TSV keeps its tabs on the terminal (they are its cells), a right-to-left mark is escaped
    (tmp_path / "in.tsv").write_text(f"{header.replace(',', chr(9))}\tname\n" + "".join(
        f"{row.replace(',', chr(9))}\tx\u200fy\n" for row in rows[:3]))
    tsv, shown = _on_a_terminal(["predict", "m.npz", "in.tsv"], tmp_path)
    assert tsv.returncode == 0 and shown.startswith(b"x1\tx2\tx3\tlabel\tname\t"), shown
    assert b"x\\u200fy\t" in shown and "\u200f".encode() not in shown
