"""A new user's first hour: run directories, live history, init, config, schema, info,
plot, output that fits, -q/-v/--no-color, completion. Through the real CLI."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import pty
import re
import select
import signal
import stat
import struct
import subprocess
import sys
import termios
import fcntl
import time
from pathlib import Path

import pytest
import yaml

from helpers import CONFIGS, DATASETS, ROOT, assert_one_line_error, ctrl_c_works, write

BUNDLED = ROOT / "nnctl" / "bundled"


def nnctl(*args, cwd, env=None, umask=None, timeout=300):
    """The real command in a subprocess (stderr a pipe: not a terminal)."""
    return subprocess.run([sys.executable, "-m", "nnctl", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})},
                          preexec_fn=(lambda: os.umask(umask)) if umask is not None else None)


def in_terminal(*args, cwd, columns=80, env=None) -> str:
    """What the command writes to a terminal of ``columns`` columns (a real pty)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    environ = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    proc = subprocess.Popen([sys.executable, "-m", "nnctl", *map(str, args)], cwd=cwd,
                            stdin=slave, stdout=slave, stderr=slave, env={**environ, **(env or {})},
                            close_fds=True)
    os.close(slave)
    out = b""
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            proc.kill()
            raise AssertionError("no output from the terminal for 60 s")
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the other end closed: the command ended
            break
        if not chunk:
            break
        out += chunk
    proc.wait(timeout=60)
    os.close(master)
    return out.decode("utf-8", "replace").replace("\r\n", "\n")


def rows_of(path: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(Path(path).read_text())))


def files_of(directory: Path) -> dict[str, str]:
    """Every file's SHA-256 by name (to tell a directory was left untouched)."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


# -- run directories ---------------------------------------------------------------------


def test_two_runs_leave_two_complete_untouched_run_directories_with_the_umasks_modes(tmp_path):
    first = nnctl("train", "--epochs", "5", cwd=tmp_path, umask=0o027)
    assert first.returncode == 0, first.stderr
    run1 = tmp_path / "runs" / "default" / "1"
    assert "saved the run to runs/default/1/" in first.stderr
    before = files_of(run1)
    assert {"model.npz", "config.yaml", "history.csv", "metrics.json"} <= set(before)
    second = nnctl("train", "--epochs", "5", "--seed", "1", cwd=tmp_path, umask=0o027)
    assert second.returncode == 0, second.stderr
    run2 = tmp_path / "runs" / "default" / "2"
    assert files_of(run1) == before  # the first run is untouched
    assert set(files_of(run2)) == set(before)
    assert files_of(run2)["model.npz"] != before["model.npz"]  # another seed, another model
    for directory in (run1, run2):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o750
        for f in directory.iterdir():
            assert stat.S_IMODE(f.stat().st_mode) == 0o640, f
    # Each run's files are complete and agree with each other.
    rows = rows_of(run2 / "history.csv")
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4, 5]
    metrics = json.loads((run2 / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["epochs_run"] == 5
    assert 0 < metrics["results"]["test"]["accuracy"] <= 1
    resolved = yaml.safe_load((run2 / "config.yaml").read_text())
    assert resolved["training"]["seed"] == 1 and resolved["training"]["epochs"] == 5
    assert resolved["output"] == {"runs": None, "model": None, "history": None, "plots": True}


def test_o_writes_exactly_there_and_no_run_directory(cli, tmp_path):
    run = cli("train", "--epochs", "2", "-o", "m.npz")
    assert run.code == 0, run
    assert (tmp_path / "m.npz").is_file() and (tmp_path / "m.history.csv").is_file()
    assert not (tmp_path / "runs").exists()


def test_output_runs_in_the_config_names_the_folder_of_runs(cli, tmp_path):
    write(tmp_path / "c.yaml", f"data: {{train: {DATASETS / 'iris.csv'}, target: species}}\n"
                               "training: {epochs: 2}\noutput: {runs: experiments}\n")
    assert cli("train", "c.yaml").code == 0
    assert cli("train", "c.yaml").code == 0
    assert sorted(p.name for p in (tmp_path / "experiments" / "c").iterdir()) == ["1", "2"]


def test_a_folder_of_runs_that_cannot_be_made_is_one_line_naming_what_is_in_the_way(cli, tmp_path):
    write(tmp_path / "runs", "a file where the folder of runs would go\n")
    run = cli("train", "--epochs", "2")
    assert_one_line_error(run, 1, "Error: runs: is not a folder", "runs/default")
    assert (tmp_path / "runs").read_text().startswith("a file")
    (tmp_path / "runs").unlink()
    (tmp_path / "runs").symlink_to(tmp_path / "gone")  # a broken link
    assert_one_line_error(cli("train", "--epochs", "2"), 1, "Error: runs: is not a folder")
    (tmp_path / "runs").unlink()
    (tmp_path / "runs" / "default").mkdir(parents=True)
    write(tmp_path / "runs" / "default" / "1", "a file named like a run\n")
    (tmp_path / "runs" / "default" / "²" / "x").mkdir(parents=True)  # isdigit() says yes
    (tmp_path / "runs" / "default" / "07").mkdir()
    assert cli("train", "--epochs", "2").code == 0
    assert (tmp_path / "runs" / "default" / "2" / "model.npz").is_file()
    assert cli("info", "runs/default").code == 0  # the latest run: 2


def test_predict_evaluate_and_info_take_a_run_directory(cli, tmp_path):
    assert cli("train", str(CONFIGS / "iris.yaml"), "--epochs", "20").code == 0
    assert cli("train", str(CONFIGS / "iris.yaml"), "--epochs", "20", "--seed", "3").code == 0
    by_dir = cli("predict", "runs/iris/2", DATASETS / "iris.csv")
    by_file = cli("predict", "runs/iris/2/model.npz", DATASETS / "iris.csv")
    assert by_dir.code == 0 and by_dir.stdout == by_file.stdout and "p_setosa" in by_dir.stdout
    latest = cli("predict", "runs/iris", DATASETS / "iris.csv")  # a folder of runs: its latest
    assert latest.stdout == by_dir.stdout
    assert cli("predict", "runs/iris/1", DATASETS / "iris.csv").stdout != by_dir.stdout
    assert cli("evaluate", "runs/iris/1", DATASETS / "iris.csv", "--json").code == 0
    assert cli("info", "runs/iris/1").code == 0
    (tmp_path / "empty").mkdir()
    assert_one_line_error(cli("predict", "empty", DATASETS / "iris.csv"), 1, "empty",
                          "no model.npz", "run directory")


def test_resume_from_a_run_directory_writes_a_new_run_that_continues_the_history(cli, tmp_path):
    assert cli("train", "--epochs", "3").code == 0
    run = cli("train", "--resume", "runs/default/1", "--epochs", "2")
    assert run.code == 0, run
    rows = rows_of(tmp_path / "runs/default/2/history.csv")
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4, 5]
    assert len(rows_of(tmp_path / "runs/default/1/history.csv")) == 3


# -- live history and plain progress -----------------------------------------------------


def _train_and_stop(tmp_path, stop):
    """Start a long run, read its history while it trains, then stop it with ``stop``."""
    write(tmp_path / "long.yaml", f"data: {{train: {DATASETS / 'default.csv'}, target: label}}\n"
                                  "training: {epochs: 100000, batch_size: 8, early_stopping: false}\n")
    proc = subprocess.Popen([sys.executable, "-m", "nnctl", "train", "long.yaml"], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=ctrl_c_works)
    history = tmp_path / "runs" / "long" / "1" / "history.csv"
    seen = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (len(seen) < 3 or seen[-1] <= seen[0]):
        if history.exists():
            lines = history.read_text().splitlines()
            if len(lines) > 1:
                seen.append(len(lines))
        time.sleep(0.3)
    proc.send_signal(stop)
    _, err = proc.communicate(timeout=60)
    assert len(seen) >= 3 and seen[-1] > seen[0], seen  # read while training ran: it grew
    rows = rows_of(history)
    assert len(rows) >= seen[-1] - 1
    assert [int(r["epoch"]) for r in rows] == list(range(1, len(rows) + 1))  # whole rows only
    assert all(r["seconds"] and float(r["train_loss"]) > 0 for r in rows)
    return proc, err, rows, history.parent


def test_the_history_grows_while_training_runs_and_ctrl_c_keeps_it(tmp_path):
    proc, err, rows, run_dir = _train_and_stop(tmp_path, signal.SIGINT)
    assert proc.returncode == 130, err
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "interrupted" and metrics["epochs_run"] >= len(rows) - 1
    # Without a terminal, progress is plain lines: some, not one per epoch.
    progress = [line for line in err.splitlines() if line.startswith("epoch ")]
    assert 1 <= len(progress) < len(rows) / 2 + 2, err


def test_a_run_killed_by_kill_9_leaves_a_true_history(tmp_path):
    proc, err, rows, run_dir = _train_and_stop(tmp_path, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    assert not (run_dir / "metrics.json").exists()  # nothing could be done at the end


def test_progress_without_a_terminal_is_a_line_per_tenth_and_v_gives_every_epoch(tmp_path):
    run = nnctl("train", "--epochs", "200", "-o", "m.npz", cwd=tmp_path)
    lines = [line for line in run.stderr.splitlines() if line.startswith("epoch ")]
    assert lines[0].startswith("epoch 1/200  loss") and lines[-1].startswith("epoch 200/200")
    assert 10 <= len(lines) <= 30, lines  # one per 20 epochs, and more only if slow
    verbose = nnctl("train", "--epochs", "30", "-v", "-o", "m.npz", cwd=tmp_path)
    assert len([line for line in verbose.stderr.splitlines() if line.startswith("epoch ")]) == 30


def test_quiet_shows_only_the_result(tmp_path):
    run = nnctl("-q", "train", "--epochs", "3", "--json", cwd=tmp_path)
    assert run.returncode == 0 and run.stderr == "", run.stderr
    out = json.loads(run.stdout)
    assert out["run_dir"] == "runs/default/1" and out["epochs_run"] == 3
    assert set(out["results"]) == {"train", "validation", "test"}
    after = nnctl("train", "-q", "--epochs", "3", cwd=tmp_path)  # after the command too
    assert after.returncode == 0 and after.stderr == "" and after.stdout == ""


# -- output that fits --------------------------------------------------------------------


MNIST = """\
network:
  inputs: 784
  layers: [{units: 256, activation: relu}, {units: 128, activation: relu},
           {units: 10, activation: softmax}]
loss: categorical_crossentropy
training: {batch_size: 128}
"""
WHOLE = ["(784, 128)", "(256, 784)", "(256, 1)", "(256, 128)", "(128, 256)", "(10, 128)",
         "200,960", "32,896", "1,290", "softmax", "235,146"]


@pytest.mark.parametrize("columns", [80, 50])
def test_shapes_of_a_784_256_128_10_network_are_whole_in_a_terminal(tmp_path, columns):
    write(tmp_path / "mnist.yaml", MNIST)
    out = in_terminal("shapes", "mnist.yaml", cwd=tmp_path, columns=columns, env={"NO_COLOR": "1"})
    assert "…" not in out and "..." not in out, out
    for value in WHOLE:
        assert value in out, (value, out)
    width = max(len(line) for line in re.sub(r"\x1b\[[0-9;]*m", "", out).splitlines())
    assert width <= columns, out


def test_shapes_redirected_to_a_file_are_whole_whatever_columns_says(tmp_path):
    write(tmp_path / "mnist.yaml", MNIST.replace("batch_size: 128", "batch_size: 100000"))
    run = nnctl("shapes", "mnist.yaml", cwd=tmp_path, env={"COLUMNS": "40"})
    assert run.returncode == 0, run.stderr
    assert "…" not in run.stdout
    for value in ["(784, 100000)", "(256, 100000)", "200,960", "softmax"]:
        assert value in run.stdout, run.stdout
    assert "\x1b" not in run.stdout


def test_no_color_and_NO_COLOR_leave_no_colour_codes_in_a_terminal(tmp_path):
    coloured = in_terminal("train", "--epochs", "2", "-o", "m.npz", cwd=tmp_path, columns=120)
    assert "\x1b[3" in coloured or "\x1b[9" in coloured  # the check can see colour
    for env, args in (({}, ["--no-color"]), ({"NO_COLOR": "1"}, [])):
        out = in_terminal("train", "--epochs", "2", "-o", "m.npz", *args, cwd=tmp_path,
                          columns=120, env=env)
        assert "saved the model to m.npz" in out
        assert not any(code in out for code in ("\x1b[31", "\x1b[32", "\x1b[33", "\x1b[36",
                                                "\x1b[91", "\x1b[92")), repr(out[:400])


# -- init, config, schema ----------------------------------------------------------------


def test_init_copies_the_examples_and_never_overwrites(cli, tmp_path):
    run = cli("init", "proj")
    assert run.code == 0, run
    copied = sorted(p.relative_to(tmp_path / "proj").as_posix()
                    for p in (tmp_path / "proj").rglob("*") if p.is_file())
    assert "configs/iris.yaml" in copied and "datasets/iris.csv" in copied
    assert "configs/nnctl.schema.json" in copied and "datasets/README.md" in copied
    for name in copied:
        assert (tmp_path / "proj" / name).read_bytes() == (BUNDLED / name).read_bytes()
    (tmp_path / "proj" / "configs" / "iris.yaml").write_text("# mine\n")
    again = cli("init", "proj")
    assert_one_line_error(again, 1, "already exists", "never overwrites")
    assert (tmp_path / "proj" / "configs" / "iris.yaml").read_text() == "# mine\n"
    # One file in the way: nothing at all is copied.
    (tmp_path / "other" / "datasets").mkdir(parents=True)
    write(tmp_path / "other" / "datasets" / "cars.csv", "mine\n")
    assert cli("init", "other").code == 1
    assert sorted(p.name for p in (tmp_path / "other").rglob("*") if p.is_file()) == ["cars.csv"]


def test_init_configs_train_from_their_folder(cli, tmp_path):
    assert cli("init").code == 0  # default: the working directory
    for config in sorted((tmp_path / "configs").glob("*.yaml")):
        run = cli("train", config.relative_to(tmp_path), "--epochs", "2")
        assert run.code == 0, (config, run)
        assert (tmp_path / "runs" / config.stem / "1" / "model.npz").is_file()


def test_config_prints_the_resolved_config_that_trains_the_same(cli, tmp_path):
    run = cli("config", CONFIGS / "iris.yaml")
    assert run.code == 0, run
    resolved = yaml.safe_load(run.stdout)
    assert resolved["training"]["optimizer"] == {"name": "adam", "lr": 0.005, "beta1": 0.9,
                                                 "beta2": 0.999, "eps": 1e-08}
    assert resolved["data"]["validation_split"] == 0.2 and resolved["data"]["stratify"] is True
    assert Path(resolved["data"]["train"]).is_absolute()
    write(tmp_path / "full.yaml", run.stdout)
    again = cli("config", "full.yaml")
    body = lambda text: text.split("\n", 1)[1]  # noqa: E731 - line 1 names the source
    assert body(again.stdout) == body(run.stdout)  # read back: unchanged
    a = cli("train", CONFIGS / "iris.yaml", "--epochs", "5", "-o", "a.npz", "--json")
    b = cli("train", "full.yaml", "--epochs", "5", "-o", "b.npz", "--json")
    assert json.loads(a.stdout)["results"] == json.loads(b.stdout)["results"]
    as_json = cli("config", CONFIGS / "iris.yaml", "--json")
    assert json.loads(as_json.stdout) == resolved


def test_config_of_a_bad_file_is_the_trainers_one_line_error(cli, tmp_path):
    write(tmp_path / "bad.yaml", "training:\n  epochs: -3\n")
    assert_one_line_error(cli("config", "bad.yaml"), 2, "bad.yaml, line 2", "training.epochs")


def test_schema_is_the_bundled_file_and_validates_every_bundled_config(cli):
    jsonschema = pytest.importorskip("jsonschema")
    run = cli("schema")
    assert run.code == 0
    schema = json.loads(run.stdout)
    assert run.stdout == (BUNDLED / "configs" / "nnctl.schema.json").read_text()
    assert str(ROOT) not in run.stdout  # the same text in every install
    validator = jsonschema.Draft202012Validator(schema)
    for config in sorted(CONFIGS.glob("*.yaml")):
        text = config.read_text()
        assert text.startswith("# yaml-language-server: $schema=nnctl.schema.json\n"), config
        validator.validate(yaml.safe_load(text))
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({"training": {"epochs": "many"}})
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({"trainig": {}})


# -- info --------------------------------------------------------------------------------


def test_info_tells_what_a_model_is(cli, tmp_path):
    assert cli("train", CONFIGS / "penguins.yaml", "--epochs", "3", "-o", "p.npz").code == 0
    run = cli("info", "p.npz")
    assert run.code == 0, run
    digest = hashlib.sha256((tmp_path / "p.npz").read_bytes()).hexdigest()
    for text in ("10-32-16-3 (relu, relu, softmax)", "931 (float64)", "species: 3 classes", "Adelie",
                 "island", "one-hot, 3 categories", "missing -> median", digest, "completed",
                 "final metrics", "nnctl 0.", "adam"):
        assert text in run.stdout, (text, run)
    info = json.loads(cli("info", "p.npz", "--json").stdout)
    assert info["sha256"] == digest and info["network"]["parameters"] == 931
    assert info["classes"] == ["Adelie", "Chinstrap", "Gentoo"] and info["task"] == "classification"
    assert info["training"]["epochs_run"] == 3 and info["created"].endswith("+00:00")
    assert {f["name"] for f in info["features"]} >= {"island", "sex", "body_mass_g"}
    assert 0 <= info["results"]["test"]["accuracy"] <= 1
    import nnctl

    assert info["nnctl_version"] == nnctl.__version__


def test_info_on_something_that_is_not_a_model_is_one_line(cli, tmp_path):
    write(tmp_path / "x.npz", "not a zip")
    assert_one_line_error(cli("info", "x.npz"), 1, "x.npz", "not an nnctl model")
    assert_one_line_error(cli("info", "missing.npz"), 1, "missing.npz")


# -- plot --------------------------------------------------------------------------------


def _png(path: Path):
    from PIL import Image

    with Image.open(path) as image:
        image.load()
        return image.convert("RGB")


def test_plot_draws_a_runs_curves_again_as_images(cli, tmp_path):
    pytest.importorskip("matplotlib")
    assert cli("train", "--epochs", "30").code == 0
    run = cli("plot", "runs/default/1", "-o", "again")
    assert run.code == 0, run
    assert "train loss" in run.stderr  # the terminal chart too
    for name in ("loss", "metrics", "confusion"):
        image = _png(tmp_path / "again" / f"{name}.png")
        assert image.size[0] >= 400 and image.size[1] >= 300, image.size
        colours = image.getcolors(maxcolors=1 << 20)
        assert colours is not None and len(colours) > 20, name  # not blank
        assert (tmp_path / "again" / f"{name}.svg").read_text().lstrip().startswith("<?xml")
    # the images training wrote and the ones drawn again from the same history agree
    assert (tmp_path / "again" / "loss.png").read_bytes() == \
        (tmp_path / "runs/default/1/loss.png").read_bytes()


def test_plot_of_a_history_csv_writes_beside_it(cli, tmp_path):
    pytest.importorskip("matplotlib")
    assert cli("train", CONFIGS / "diabetes.yaml", "--epochs", "5", "-o", "d.npz").code == 0
    run = cli("plot", "d.history.csv")
    assert run.code == 0, run
    assert _png(tmp_path / "d.loss.png").size[0] >= 400
    assert (tmp_path / "d.metrics.png").is_file() and not (tmp_path / "d.confusion.png").exists()


def test_plot_of_a_damaged_history_is_one_line_naming_the_place(cli, tmp_path):
    write(tmp_path / "h.csv", "epoch,train_loss\n1,0.5\n2,lots\n")
    assert_one_line_error(cli("plot", "h.csv"), 1, "h.csv, line 3", "train_loss", "'lots'")
    write(tmp_path / "data.csv", "a,b\n1,2\n")
    assert_one_line_error(cli("plot", "data.csv"), 1, "data.csv", "not an nnctl history")


# -- completion --------------------------------------------------------------------------


def test_shell_completion_through_click(tmp_path):
    source = nnctl(cwd=tmp_path, env={"_NNCTL_COMPLETE": "bash_source"})
    assert source.returncode == 0 and "complete -o nosort -F" in source.stdout
    words = nnctl(cwd=tmp_path, env={"_NNCTL_COMPLETE": "bash_complete", "COMP_WORDS": "nnctl in",
                                     "COMP_CWORD": "1"})
    assert "plain,info" in words.stdout and "plain,init" in words.stdout, words.stdout


# -- an install that works anywhere ------------------------------------------------------


def test_a_wheel_from_a_clean_copy_trains_the_default_and_init_configs_anywhere(tmp_path):
    """Build a wheel from the tracked files, install it into a new virtual environment and
    use it from an empty folder. The wheel is installed without its dependencies, which the
    new environment takes from this one (a .pth line), so no index is needed for them."""
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True)
    if tracked.returncode != 0:
        pytest.skip("not a git checkout")
    source = tmp_path / "src"
    for name in tracked.stdout.decode().split("\0"):
        if name and (ROOT / name).exists() and not name.startswith("tests/"):
            dest = source / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            if (ROOT / name).is_symlink():
                os.symlink(os.readlink(ROOT / name), dest)
            else:
                dest.write_bytes((ROOT / name).read_bytes())
    dist = tmp_path / "dist"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", dist,
                            source], capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr
    (wheel,) = dist.glob("nnctl-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True, timeout=300)
    python = venv / "bin" / "python"
    installed = subprocess.run([sys.executable, "-m", "pip", "--python", python, "install",
                                "--no-deps", "--no-index", "-q", wheel],
                               capture_output=True, text=True, timeout=600)
    assert installed.returncode == 0, installed.stderr
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    import numpy  # where this environment's dependencies are

    deps = Path(numpy.__file__).parent.parent
    (Path(site) / "nnctl-test-deps.pth").write_text(f"{deps}\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    command = venv / "bin" / "nnctl"

    def use(*args):
        return subprocess.run([command, *map(str, args)], cwd=empty, capture_output=True,
                              text=True, env=env, timeout=300)

    where = subprocess.run([python, "-c", "import nnctl; print(nnctl.__file__)"], cwd=empty,
                           capture_output=True, text=True, env=env)
    assert where.stdout.startswith(site), where  # the wheel's nnctl, not the checkout
    import nnctl

    assert use("--version").stdout.strip() == f"nnctl, version {nnctl.__version__}"
    trained = use("train")
    assert trained.returncode == 0, trained.stderr
    assert "3-3-2-1 (elu, elu, logistic)" in trained.stderr
    metrics = json.loads((empty / "runs" / "default" / "1" / "metrics.json").read_text())
    assert metrics["epochs_run"] == 200 and metrics["results"]["test"]["accuracy"] > 0.9
    assert use("init").returncode == 0
    for config in sorted((empty / "configs").glob("*.yaml")):
        # -o: a model file each (the run directory and its plots are tested above)
        run = use("train", f"configs/{config.name}", "--epochs", "2", "-o", f"{config.stem}.npz")
        assert run.returncode == 0, (config, run.stderr)
        assert use("info", f"{config.stem}.npz").returncode == 0
    names = subprocess.run([python, "-m", "zipfile", "-l", wheel], capture_output=True,
                           text=True).stdout
    assert "LICENSE" in names and "nnctl/bundled/datasets/README.md" in names


def test_without_matplotlib_one_line_says_how_to_install_the_plot_extra(tmp_path):
    blocker = tmp_path / "blocker" / "matplotlib"
    blocker.mkdir(parents=True)
    write(blocker / "__init__.py", "raise ImportError('matplotlib is not installed here')\n")
    env = {"PYTHONPATH": str(tmp_path / "blocker")}
    run = nnctl("train", "--epochs", "3", cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr
    hints = [line for line in run.stderr.splitlines() if "nnctl[plot]" in line]
    assert hints == ["no plot images: plot images need the plot extra: pip install 'nnctl[plot]'"]
    assert not list((tmp_path / "runs" / "default" / "1").glob("*.png"))
    again = nnctl("plot", "runs/default/1", cwd=tmp_path, env=env)
    assert again.returncode == 1 and "train loss" in again.stderr  # the terminal chart still
    assert again.stderr.splitlines()[-1] == "Error: plot images need the plot extra: pip install 'nnctl[plot]'"


def test_a_run_name_from_an_untrusted_model_stays_inside_the_folder_of_runs(cli, tmp_path):
    import numpy as np

    assert cli("train", "--epochs", "2", "-o", "m.npz").code == 0
    with np.load(tmp_path / "m.npz", allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(str(arrays["metadata"]))
    meta["training"]["run_name"] = "../../escaped"
    arrays["metadata"] = np.array(json.dumps(meta))
    np.savez(tmp_path / "evil.npz", **arrays)
    run = cli("train", "--resume", "evil.npz", "--epochs", "1")
    assert run.code == 0, run
    assert (tmp_path / "runs" / ".._.._escaped" / "1" / "model.npz").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.npz", "m.history.csv", "m.npz", "runs"]
    assert not (tmp_path.parent / "escaped").exists()


def test_long_class_names_in_a_narrow_terminal_lose_nothing(tmp_path):
    long = {"setosa": "Iris setosa subspecies with a very long descriptive name A",
            "versicolor": "Iris setosa subspecies with a very long descriptive name B"}
    text = (DATASETS / "iris.csv").read_text()
    for short, name in long.items():
        text = text.replace(f",{short}\n", f",{name}\n")
    write(tmp_path / "long.csv", text)
    write(tmp_path / "c.yaml", "data: {train: long.csv, target: species}\ntraining: {epochs: 5}\n"
                               "output: {model: m.npz}\n")
    trained = in_terminal("train", "c.yaml", "--no-color", cwd=tmp_path, columns=40)
    assert "…" not in trained and "saved the model to m.npz" in trained, trained
    out = in_terminal("evaluate", "m.npz", "long.csv", "--no-color", cwd=tmp_path, columns=40)
    report = json.loads(nnctl("evaluate", "m.npz", "long.csv", "--json", cwd=tmp_path).stdout)
    assert "…" not in out, out
    # Names and values may wrap over lines (bold stays with --no-color); none is cut.
    flat = " ".join(re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", out).split())
    for name in long.values():
        assert name in flat, (name, out)
        assert f"precision {report['per_class'][name]['precision']:.4f}" in flat, out
    for row in report["confusion_matrix"]:
        for count in row:
            assert f" {count} " in f" {flat} ", out


def test_plot_never_replaces_a_file_outside_the_run_directory_it_draws(cli, tmp_path):
    pytest.importorskip("matplotlib")
    write(tmp_path / "h.csv", "epoch,train_loss\n1,0.5\n2,0.25\n")
    (tmp_path / "mine").mkdir()
    write(tmp_path / "mine" / "loss.png", "precious\n")
    assert_one_line_error(cli("plot", "h.csv", "-o", "mine", "-q"), 1, "mine/loss.png: exists")
    assert (tmp_path / "mine" / "loss.png").read_text() == "precious\n"
    assert cli("plot", "h.csv").code == 0  # beside the history: h.loss.png
    before = (tmp_path / "h.loss.png").read_bytes()
    assert_one_line_error(cli("plot", "h.csv", "-q"), 1, "h.loss.png: exists")
    assert (tmp_path / "h.loss.png").read_bytes() == before
    assert cli("train", "--epochs", "2").code == 0
    assert cli("plot", "runs/default/1").code == 0  # its own images: redrawn in place


@pytest.mark.parametrize("history, fragments", [
    ("epoch,train_loss\n1e308,0.5\n", ["h.csv, line 2, column 'epoch'", "not an epoch number"]),
    ("epoch,train_loss\n1.5,0.5\n", ["h.csv, line 2, column 'epoch'"]),
    ("epoch,train_loss\n1," + "1" * 200_000 + "\n", ["h.csv, line 2", "field larger than field limit"]),
    ("epoch,train_loss\n1,0.5,7\n", ["h.csv, line 2: 3 fields where the header has 2"]),
    ("a,b\n1,2\n", ["h.csv, line 1: not an nnctl history"]),
    ("\xff\xfe", ["h.csv, line 1, column 1: byte 0xff is not UTF-8"]),
])
def test_plot_of_a_damaged_history_names_the_place(cli, tmp_path, history, fragments):
    (tmp_path / "h.csv").write_bytes(history.encode("latin-1"))
    assert_one_line_error(cli("plot", "h.csv", "-o", "out", "-q"), 1, *fragments)


@pytest.mark.parametrize("damage, fragments", [
    (lambda m: m["reports"]["test"].update(confusion_matrix=[[10**400, 0], [0, 1]]), ["confusion_matrix"]),
    (lambda m: m.update(classes="ab"), ["classes is not a list of class names"]),
    (lambda m: m["reports"]["test"].update(confusion_matrix=[[1, 2]]), ["not a 2 x 2 table"]),
])
def test_plot_of_a_damaged_metrics_json_is_one_line(cli, tmp_path, damage, fragments):
    assert cli("train", "--epochs", "2").code == 0
    path = tmp_path / "runs" / "default" / "1" / "metrics.json"
    metrics = json.loads(path.read_text())
    damage(metrics)
    path.write_text(json.dumps(metrics))
    assert_one_line_error(cli("plot", "runs/default/1", "-q"), 1, "metrics.json", *fragments)
    path.write_text("[" * 100_000 + "]" * 100_000)
    assert_one_line_error(cli("plot", "runs/default/1", "-q"), 1, "metrics.json: not JSON (nested too deeply)")


@pytest.mark.parametrize("config", [{"training": {"optimizer": "x"}}, {"data": "x"},
                                    {"training": {"optimizer": 3, "lr": [1]}}])
def test_info_shows_a_saved_config_of_any_shape_without_a_traceback(cli, tmp_path, config):
    import numpy as np

    assert cli("train", "--epochs", "2", "-o", "m.npz").code == 0
    with np.load(tmp_path / "m.npz", allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(str(arrays["metadata"]))
    meta["config"] = config
    arrays["metadata"] = np.array(json.dumps(meta))
    np.savez(tmp_path / "odd.npz", **arrays)
    run = cli("info", "odd.npz")
    assert run.code == 0 and "3-3-2-1 (elu, elu, logistic)" in run.stdout, run
    assert json.loads(cli("info", "odd.npz", "--json").stdout)["network"]["parameters"] == 23


def test_a_runs_own_config_trains_as_a_new_run_of_the_same_name(cli, tmp_path):
    assert cli("train", CONFIGS / "iris.yaml", "--epochs", "2").code == 0
    run = cli("train", "runs/iris/1/config.yaml", "--epochs", "2")
    assert run.code == 0, run
    assert (tmp_path / "runs" / "iris" / "2" / "model.npz").is_file()
    assert not (tmp_path / "runs" / "config").exists()


def test_init_that_fails_midway_leaves_no_folder_it_made(cli, tmp_path):
    (tmp_path / "p").mkdir()
    write(tmp_path / "p" / "datasets", "a file where the datasets folder would go\n")
    assert_one_line_error(cli("init", "p"), 1, "nothing was left behind")
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == ["datasets"]


def test_quiet_evaluate_prints_nothing_but_json_stays(cli, tmp_path):
    assert cli("train", "--epochs", "2", "-o", "m.npz").code == 0
    quiet = cli("evaluate", "m.npz", DATASETS / "default.csv", "-q")
    assert quiet.code == 0 and quiet.stderr == "" and quiet.stdout == ""
    assert json.loads(cli("-q", "evaluate", "m.npz", DATASETS / "default.csv", "--json").stdout)["rows"] == 1000


def test_a_plot_that_fails_to_draw_never_loses_the_run(cli, tmp_path, monkeypatch):
    from nnctl import plots

    def broken(*args, **kwargs):
        raise RuntimeError("a font went missing")

    monkeypatch.setattr(plots, "available", lambda: True)
    monkeypatch.setattr(plots, "images", broken)
    run = cli("train", "--epochs", "2")
    assert run.code == 0, run
    assert "Warning: the plot images could not be drawn (RuntimeError: a font went missing)" in run.stderr
    run_dir = tmp_path / "runs" / "default" / "1"
    assert (run_dir / "model.npz").is_file() and (run_dir / "metrics.json").is_file()


def test_output_plots_false_draws_no_images_and_says_nothing_of_them(cli, tmp_path):
    write(tmp_path / "c.yaml", "training: {epochs: 2}\noutput: {plots: false}\n")
    run = cli("train", "c.yaml")
    assert run.code == 0, run
    files = sorted(p.name for p in (tmp_path / "runs" / "c" / "1").iterdir())
    assert files == ["config.yaml", "history.csv", "metrics.json", "model.npz"]
    assert "plot" not in run.stderr
