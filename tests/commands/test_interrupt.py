"""Ctrl-C on a real `nnctl train` process: the best model so far is saved and said so."""

import os
import signal
import subprocess
import sys
import time

import numpy as np

from nnctl import model_file

from helpers import DATASETS, write


def test_sigint_saves_the_best_model_and_history(tmp_path):
    write(tmp_path / "long.yaml", f"data: {{train: {DATASETS / 'default.csv'}}}\n"
          "training: {epochs: 1000000, batch_size: 32, early_stopping: false}\noutput: {model: m.npz}\n")
    proc = subprocess.Popen([sys.executable, "-m", "nnctl", "train", "long.yaml"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "COLUMNS": "200"})
    try:
        # The summary is printed just before the first epoch; give it a few epochs more.
        seen = ""
        while "training" not in seen:
            line = proc.stderr.readline()
            assert line, f"nnctl exited early: {proc.wait()}"
            seen += line
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "Error: interrupted during epoch" in err
    assert "saved the best model so far (epoch" in err and "to m.npz" in err, err
    model = model_file.load(tmp_path / "m.npz")
    assert model.metadata["training"]["status"] == "interrupted"
    assert np.isfinite(model.network.theta).all()
    history = (tmp_path / "m.history.csv").read_text().splitlines()
    assert history[0].startswith("epoch,train_loss") and len(history) >= 2
