"""Runs that go wrong: divergence, and a process killed while it saves a model."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np

from nnctl import model_file

from helpers import DATASETS, write


def test_divergence_exits_1_names_epoch_and_layer_and_saves_the_best_model(cli, tmp_path):
    write(tmp_path / "div.yaml", textwrap.dedent(f"""\
        data: {{train: {DATASETS / 'diabetes.csv'}, target: progression, standardize_target: false}}
        network: {{layers: [{{units: 8, activation: tanh}}, 1]}}
        loss: mse
        training: {{epochs: 30, optimizer: {{name: sgd, lr: 1.0}}, l2: 0, early_stopping: false}}
        output: {{model: d.npz}}
        """))
    run = cli("train", "div.yaml")
    assert run.code == 1, run
    assert "Traceback" not in run.stderr
    lines = [line for line in run.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, run
    error = lines[0]
    assert "became non-finite at epoch" in error and "first in layer" in error
    assert "Lower the learning rate" in error
    assert "saved the best model so far (epoch 1) to d.npz" in error  # 23 diverged when written
    model = model_file.load(tmp_path / "d.npz")
    assert model.metadata["training"]["status"] == "diverged"
    assert np.isfinite(model.network.theta).all()
    assert (tmp_path / "d.history.csv").read_text().startswith("epoch,train_loss")


SAVER = textwrap.dedent("""\
    import sys
    import numpy as np
    from nnctl import model_file
    from nnctl.core.network import Network

    # Two different models, saved in turn to the same path as fast as possible.
    nets = [Network([20, 400, 300, 1], ["tanh", "tanh", "identity"], rng=np.random.default_rng(s))
            for s in (1, 2)]
    print("ready", flush=True)
    i = 0
    while True:
        model_file.save(sys.argv[1], nets[i % 2], {"saved": i % 2})
        i += 1
    """)


def test_sigkill_while_saving_never_leaves_a_broken_model(tmp_path):
    target = tmp_path / "m.npz"
    expected = {}
    for seed in (1, 2):
        from nnctl.core.network import Network
        expected[seed - 1] = Network([20, 400, 300, 1], ["tanh", "tanh", "identity"],
                                     rng=np.random.default_rng(seed)).theta
    write(tmp_path / "saver.py", SAVER)
    rng = np.random.default_rng(0)
    for attempt in range(8):
        proc = subprocess.Popen([sys.executable, "saver.py", str(target)], cwd=tmp_path,
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.2 + rng.uniform(0, 0.3))  # many saves in, somewhere in the middle of one
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        with np.load(target, allow_pickle=False) as npz:  # raises if the archive is broken
            arrays = {k: npz[k] for k in npz.files}
        which = json.loads(str(arrays.pop("metadata")))["saved"]
        net = Network([20, 400, 300, 1], ["tanh", "tanh", "identity"])
        net.set_arrays(arrays)
        np.testing.assert_array_equal(net.theta, expected[which])
    # Temporary files of interrupted saves may stay behind, never in place of the model.
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".m.npz.")]
    assert all(name.endswith(".tmp") for name in leftovers)
