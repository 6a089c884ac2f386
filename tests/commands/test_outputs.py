"""The output policy (nnctl/files.py) through the real CLI in subprocesses: no output ever
overwrites an input or another output, streams are streamed, files are replaced
atomically through their links with the umask's mode."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from helpers import DATASETS, write


def nnctl(*args, cwd, umask=None, stdout=subprocess.PIPE):
    def setup():
        if umask is not None:
            os.umask(umask)

    return subprocess.run([sys.executable, "-m", "nnctl", *map(str, args)], cwd=cwd,
                          stdout=stdout, stderr=subprocess.PIPE, preexec_fn=setup, timeout=300)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def one_error(run, code, *fragments):
    lines = run.stderr.decode().strip().splitlines()
    assert run.returncode == code, run.stderr.decode()
    assert len(lines) == 1 and lines[0].startswith("Error: "), lines
    for fragment in fragments:
        assert fragment in lines[0], lines


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A folder with a config, its data and a trained model."""
    tmp = tmp_path_factory.mktemp("outputs")
    (tmp / "data.csv").write_bytes((DATASETS / "default.csv").read_bytes())
    write(tmp / "c.yaml", "data: {train: data.csv}\ntraining: {epochs: 2}\n")
    assert nnctl("train", "c.yaml", "-o", "m.npz", cwd=tmp).returncode == 0
    return tmp


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize("spelling", ["data.csv", "./data.csv", "sub/../data.csv", "link.csv",
                                      "hard.csv", "{abs}/data.csv"])
def test_an_output_that_is_the_training_data_is_refused_by_any_spelling(work, spelling):
    (work / "sub").mkdir(exist_ok=True)
    if not (work / "link.csv").exists():
        (work / "link.csv").symlink_to("data.csv")
        os.link(work / "data.csv", work / "hard.csv")
    before = digest(work / "data.csv")
    run = nnctl("train", "c.yaml", "-o", spelling.format(abs=work), cwd=work)
    one_error(run, 2, "the model would overwrite the training data", "write the model somewhere else")
    assert digest(work / "data.csv") == before and leftovers(work) == []


@pytest.mark.parametrize("args, clash", [
    (["predict", "m.npz", "data.csv", "-o", "data.csv"], "the predictions would overwrite the input"),
    (["predict", "m.npz", "data.csv", "-o", "m.npz"], "the predictions would overwrite the model"),
    (["train", "c.yaml", "-o", "c.yaml"], "the model would overwrite the config"),
    (["train", "c.yaml", "--resume", "m.npz", "-o", "m.npz"], "would overwrite the resumed model"),
])
def test_outputs_that_clash_with_an_input_are_refused_before_any_work(work, args, clash):
    before = {p.name: digest(p) for p in work.iterdir() if p.is_file()}
    one_error(nnctl(*args, cwd=work), 2, clash)
    after = {p.name: digest(p) for p in work.iterdir() if p.is_file()}
    assert after == before and leftovers(work) == []


def test_a_model_named_like_the_datas_history_is_no_clash(work, tmp_path):
    run = nnctl("train", work / "c.yaml", "-o", tmp_path / "data.history.csv", cwd=work)
    assert run.returncode == 0, run.stderr.decode()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.history.csv", "data.history.history.csv"]


def test_history_and_model_on_one_path_are_refused(work):
    write(work / "same.yaml", "data: {train: data.csv}\noutput: {model: x.npz, history: x.npz}\n")
    one_error(nnctl("train", "same.yaml", cwd=work), 2, "the history would overwrite the model")
    assert not (work / "x.npz").exists()


def test_resume_without_a_config_writes_only_where_the_command_line_says(work):
    before = (work / "m.npz").read_bytes()
    run = nnctl("train", "--resume", "m.npz", "--epochs", "1", cwd=work)  # a new run directory
    assert run.returncode == 0, run.stderr.decode()
    assert (work / "m.npz").read_bytes() == before  # the paths saved in a model: never written
    assert len(list((work / "runs").glob("*/1/model.npz"))) == 1
    run = nnctl("train", "--resume", "m.npz", "--epochs", "1", "-o", "r.npz", cwd=work)
    assert run.returncode == 0, run.stderr.decode()
    assert (work / "r.npz").is_file() and (work / "r.history.csv").is_file()


def test_predictions_through_a_symlink_replace_its_target_and_keep_the_link(work, tmp_path):
    target = tmp_path / "real.csv"
    target.write_text("old\n")
    os.chmod(target, 0o640)
    (tmp_path / "link.csv").symlink_to(target)
    run = nnctl("predict", work / "m.npz", work / "data.csv", "-o", tmp_path / "link.csv", cwd=work)
    assert run.returncode == 0, run.stderr.decode()
    assert (tmp_path / "link.csv").is_symlink()
    assert target.read_text().startswith("x1,x2,x3,label,predicted_label")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640  # a replaced file keeps its mode


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_new_files_follow_the_umask(work, tmp_path, umask):
    run = nnctl("predict", work / "m.npz", work / "data.csv", "-o", tmp_path / "p.csv", cwd=work,
                umask=umask)
    assert run.returncode == 0
    assert stat.S_IMODE((tmp_path / "p.csv").stat().st_mode) == 0o666 & ~umask


@pytest.mark.parametrize("out", ["-", "/dev/stdout", "/proc/self/fd/1"])
def test_stdout_by_any_name_is_streamed_to(work, out):
    run = nnctl("predict", "m.npz", "data.csv", "-o", out, cwd=work)
    assert run.returncode == 0, run.stderr.decode()
    lines = run.stdout.decode().splitlines()
    assert lines[0].startswith("x1,x2,x3,label,predicted_label") and len(lines) == 1001


def test_stdout_redirected_to_a_file_is_written_in_place(work, tmp_path):
    """/dev/stdout on a file is the shell's open file: written, not replaced by a rename
    (a rename would leave the shell's descriptor on the old, unlinked file)."""
    with open(tmp_path / "shell.csv", "wb") as f:
        run = nnctl("predict", "m.npz", "data.csv", "-o", "/dev/stdout", cwd=work, stdout=f)
    assert run.returncode == 0
    assert (tmp_path / "shell.csv").read_text().count("\n") == 1001


def test_a_named_pipe_is_streamed_to(work, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    run = nnctl("predict", "m.npz", "data.csv", "-o", fifo, cwd=work)
    reader.join(60)
    assert run.returncode == 0 and stat.S_ISFIFO(fifo.stat().st_mode)  # still a pipe
    assert got[0].count(b"\n") == 1001


def test_a_model_written_to_stdout_loads_and_no_history_file_appears(work, tmp_path):
    run = nnctl("train", work / "c.yaml", "-o", "-", cwd=tmp_path)
    assert run.returncode == 0, run.stderr.decode()
    (tmp_path / "piped.npz").write_bytes(run.stdout)
    with np.load(tmp_path / "piped.npz", allow_pickle=False) as npz:
        assert {"W1", "b1", "metadata"} <= set(npz.files)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["piped.npz"]
    assert "saved the model to stdout" in run.stderr.decode()


def test_two_runs_writing_one_output_at_once_leave_one_whole_file(work, tmp_path):
    write(tmp_path / "a.csv", (work / "data.csv").read_text())
    write(tmp_path / "b.csv", "x1,x2,x3\n" + "0.5,0.5,0.5\n" * 20000)
    procs = [subprocess.Popen([sys.executable, "-m", "nnctl", "predict", str(work / "m.npz"),
                               str(tmp_path / name), "-o", str(tmp_path / "out.csv")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for name in ("a.csv", "b.csv")]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    text = (tmp_path / "out.csv").read_text()
    assert text.count("\n") in (1001, 20001)
    first = text.splitlines()[0]
    assert first in ("x1,x2,x3,label,predicted_label,p_0,p_1", "x1,x2,x3,predicted_label,p_0,p_1")
    assert len({line.count(",") for line in text.splitlines()}) == 1  # one file's rows only
    assert leftovers(tmp_path) == []


# -- inputs that are pipes: read as streams (a review found them hanging or empty) ---------


def test_a_named_pipe_with_a_writer_is_read_as_data(work, tmp_path):
    fifo = tmp_path / "rows.csv"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes((work / "data.csv").read_bytes()))
    writer.start()
    run = nnctl("predict", work / "m.npz", fifo, cwd=work)
    writer.join(60)
    assert run.returncode == 0, run.stderr.decode()
    assert run.stdout.decode().count("\n") == 1001


@pytest.mark.parametrize("shell", [
    'nnctl predict m.npz <(cat data.csv)',
    'cat data.csv | nnctl predict m.npz /dev/stdin',
    'cat data.csv | nnctl evaluate m.npz /dev/stdin --json',
    'nnctl predict m.npz /dev/fd/3 3<data.csv',
])
def test_process_substitution_and_dev_stdin_are_read_as_data(work, shell):
    run = subprocess.run(["bash", "-c", shell.replace("nnctl", f"{sys.executable} -m nnctl")], cwd=work,
                         capture_output=True, timeout=120)
    assert run.returncode == 0, run.stderr.decode()
    assert b"x1,x2,x3" in run.stdout or b'"accuracy"' in run.stdout
