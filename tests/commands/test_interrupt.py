"""Ctrl-C on a real `nnctl train` process: the best model so far is saved and said so."""

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from nnctl import model_file

from helpers import DATASETS, ctrl_c_works, write


def test_sigint_saves_the_best_model_and_history(tmp_path):
    proc = _train_until_summary(tmp_path, f"data: {{train: {DATASETS / 'default.csv'}}}\n"
                                "training: {epochs: 1000000, batch_size: 32, early_stopping: false}\n"
                                "output: {model: m.npz}\n")
    try:
        time.sleep(1.0)  # the summary is printed just before the first epoch: a few epochs more
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert re.search(r"Error: interrupted (during|after) epoch \d+;", err), err
    assert "saved the best model so far (epoch" in err and "to m.npz" in err, err
    model = model_file.load(tmp_path / "m.npz")
    assert model.metadata["training"]["status"] == "interrupted"
    assert np.isfinite(model.network.theta).all()
    history = (tmp_path / "m.history.csv").read_text().splitlines()
    assert history[0].startswith("epoch,train_loss") and len(history) >= 2


def _train_until_summary(tmp_path, yaml_text):
    write(tmp_path / "c.yaml", yaml_text)
    proc = subprocess.Popen([sys.executable, "-m", "nnctl", "train", "c.yaml"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=ctrl_c_works,
                            env={**os.environ, "COLUMNS": "200"})
    seen = ""
    while "training" not in seen:
        line = proc.stderr.readline()
        assert line, f"nnctl exited early: {proc.wait()}"
        seen += line
    return proc


def test_sigterm_in_the_first_epoch_says_so_and_leaves_a_true_history(tmp_path):
    rows = np.random.default_rng(0).normal(size=(40_000, 3))
    write(tmp_path / "big.csv", "x1,x2,x3,y\n" + "".join(f"{a:.4f},{b:.4f},{c:.4f},{a + b:.4f}\n"
                                                         for a, b, c in rows))
    proc = _train_until_summary(tmp_path, "data: {train: big.csv, target: y}\n"
                                "training: {epochs: 5, batch_size: 1}\noutput: {model: m.npz}\n")
    try:
        time.sleep(0.3)  # an epoch of 28,000 single-row steps takes seconds
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 143, err
    assert "Error: interrupted by SIGTERM during epoch 1; 0 epochs finished, so no model was saved;" \
           " the history is in m.history.csv" in err, err
    assert not (tmp_path / "m.npz").exists()
    assert (tmp_path / "m.history.csv").read_text() == "epoch,train_loss,val_loss,lr,seconds\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.csv", "c.yaml", "m.history.csv"]


def test_sighup_saves_like_ctrl_c(tmp_path):
    proc = _train_until_summary(tmp_path, f"data: {{train: {DATASETS / 'default.csv'}}}\n"
                                "training: {epochs: 1000000, early_stopping: false}\noutput: {model: m.npz}\n")
    try:
        time.sleep(1.0)
        proc.send_signal(signal.SIGHUP)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 129, err
    assert "Error: interrupted by SIGHUP during epoch" in err and "saved the best model so far" in err, err
    model = model_file.load(tmp_path / "m.npz")
    ran = model.metadata["training"]["epochs_run"]
    history = (tmp_path / "m.history.csv").read_text().splitlines()
    assert len(history) == ran + 1 and f"; {ran} epochs finished;" in err  # the truth, three ways


def test_a_kill_while_predictions_are_written_leaves_the_old_file(tmp_path):
    write(tmp_path / "c.yaml", f"data: {{train: {DATASETS / 'default.csv'}}}\ntraining: {{epochs: 1}}\n")
    assert subprocess.run([sys.executable, "-m", "nnctl", "train", "c.yaml", "-o", "m.npz"],
                          cwd=tmp_path, capture_output=True).returncode == 0
    body = (DATASETS / "default.csv").read_text().split("\n", 1)[1]
    write(tmp_path / "big.csv", "x1,x2,x3,label\n" + body * 600)  # 600,000 rows: seconds of work
    write(tmp_path / "p.csv", "the old predictions\n")
    outcomes = set()
    for delay in (0.4, 0.8, 1.2, 1.6, 30):
        proc = subprocess.Popen([sys.executable, "-m", "nnctl", "predict", "m.npz", "big.csv", "-o", "p.csv"],
                                cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            proc.wait(delay)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        text = (tmp_path / "p.csv").read_text()
        # the old file, or the whole new one: never a part
        assert text == "the old predictions\n" or (text.count("\n") == 600_001 and text.endswith("\n"))
        outcomes.add("old" if text.startswith("the old") else "new")
    assert outcomes == {"old", "new"}  # killed mid-way at least once, and let finish at last
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert all(name.startswith(".p.csv.") and name.endswith(".tmp") for name in leftovers)


SLOW_SAVE = textwrap.dedent("""\
    import pathlib, sys, time
    from nnctl import plots
    from nnctl.cli import main

    def slow_images(*args, **kwargs):  # the final save, slowed down so a signal lands in it
        pathlib.Path("saving").write_text("now")
        time.sleep(2)
        return {}

    plots.available = lambda: True
    plots.images = slow_images
    main(sys.argv[1:], prog_name="nnctl")
    """)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_stop_during_the_final_save_comes_after_the_run_is_saved(tmp_path, stop):
    write(tmp_path / "slow.py", SLOW_SAVE)
    proc = subprocess.Popen([sys.executable, "slow.py", "train", "--epochs", "3", "-q"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=ctrl_c_works)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "saving").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(stop)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == (130 if stop == signal.SIGINT else 128 + stop), err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    run = tmp_path / "runs" / "default" / "1"
    assert json.loads((run / "metrics.json").read_text())["status"] == "completed"
    assert model_file.load(run).metadata["training"]["status"] == "completed"


@pytest.mark.parametrize("signum, code", [(None, 130), (15, 143)])
def test_an_interrupt_from_inside_a_compiled_kernel_outside_training_is_the_interrupt(
        cli, tmp_path, monkeypatch, signum, code):
    """predict and evaluate run the kernels too (a layer's fused forward): a signal whose
    handler ran inside one surfaces as a SystemError caused by the interrupt, which is
    answered as that interrupt (exit 130 or 128 + signal), one line, no traceback."""
    from nnctl.commands import predict
    from nnctl.errors import Interrupt

    from helpers import assert_one_line_error

    assert cli("train", "--epochs", "1", "-o", "m.npz", "-q").code == 0

    def interrupted(*args, **kwargs):
        try:
            raise KeyboardInterrupt if signum is None else Interrupt(signum, "SIGTERM")
        except KeyboardInterrupt as e:
            raise SystemError("CPUDispatcher(relu) returned a result with an exception set") from e

    monkeypatch.setattr(predict, "run", interrupted)
    run = cli("predict", "m.npz", str(DATASETS / "default.csv"))
    assert_one_line_error(run, code, "interrupted" if signum is None else "stopped by SIGTERM")
