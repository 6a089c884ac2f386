"""Gradient-flow diagnostics: measured by hand, free of side effects, and warning only when due."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from nnctl.core import diagnostics as diag
from nnctl.core.network import Network
from nnctl.core.optimizers import SGD, Adam
from nnctl.core.train import fit, history_columns


def blobs(m=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(4, m))
    y = (X[0] + 0.5 * X[1] > 0).astype(float)[None, :]
    return X, y


def test_training_is_bit_for_bit_the_same_with_diagnostics():
    X, Y = blobs()
    runs = []
    for on in (False, True):
        net = Network([4, 8, 6, 1], ["relu", "tanh", "logistic"], loss="binary_crossentropy",
                      rng=np.random.default_rng(1))
        history = fit(net, X, Y, optimizer=Adam(lr=0.01), epochs=5, batch_size=16,
                      rng=np.random.default_rng(2), diagnostics=on)
        runs.append((net.theta.copy(), [r.train_loss for r in history.records], history))
    assert_array_equal(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1]
    assert all(r.diagnostics == {} for r in runs[0][2].records)
    assert list(runs[1][2].records[0].diagnostics) == diag.columns(net)


def test_every_measurement_matches_a_hand_computation():
    rng = np.random.default_rng(5)
    net = Network([3, 5, 4, 2], ["relu", "tanh", "identity"], loss="mse", rng=rng)
    net.layer(1).b[:2] = -50.0  # units 0 and 1 of layer 1 never activate
    net.layer(2).W[:1] *= 300.0  # unit 0 of layer 2 saturates
    X, Y = rng.normal(size=(3, 9)), rng.normal(size=(2, 9))
    before = net.theta.copy()
    W_before = [net.layer(l).W.copy() for l in (1, 2, 3)]
    net.forward(X)
    net.backward(Y)
    opt = SGD(lr=0.1, l2=0.01)
    opt.step(net)
    got = diag.measure(net, before)

    A_prev, expected = X, {}
    for l, W0 in zip((1, 2, 3), W_before):
        layer = net.layer(l)
        Z = W0 @ A_prev + before_b(net, before, l)
        A = {"relu": np.maximum(Z, 0), "tanh": np.tanh(Z), "identity": Z}[layer.activation.name]
        assert_allclose(layer.Z, Z, rtol=1e-12, atol=1e-12)
        if l == 1:
            expected["dead_1"] = np.mean((Z < 0).all(axis=1))
        if l == 2:
            expected["saturated_2"] = np.mean((1 - np.tanh(Z) ** 2 < 0.05).all(axis=1))
        # the gradient the step used includes the L2 term, and the step is -lr times it
        g = layer.dW
        expected[f"grad_norm_{l}"] = np.linalg.norm(g)
        expected[f"update_ratio_{l}"] = np.linalg.norm(layer.W - W0) / np.linalg.norm(layer.W)
        assert_allclose(layer.W - W0, -0.1 * g, rtol=1e-10, atol=1e-14)
        A_prev = A
    assert expected["dead_1"] == 2 / 5 and expected["saturated_2"] >= 1 / 4
    assert set(got) == set(expected) == set(diag.columns(net))
    # plain floats: the history CSV writes them as they print
    assert all(type(v) is float for v in got.values()), got
    for key, value in expected.items():
        assert_allclose(got[key], value, rtol=1e-12, err_msg=key)


def before_b(net, theta, l):
    """``b[l]`` as it was in ``theta`` (the last entry of each row of the layer's block)."""
    off = sum(net.sizes[k] * (net.sizes[k - 1] + 1) for k in range(1, l))
    n, n_prev = net.sizes[l], net.sizes[l - 1]
    return theta[off:off + n * (n_prev + 1)].reshape(n, n_prev + 1)[:, -1:]


def test_columns_follow_the_activations_and_the_history_has_them():
    net = Network([4, 8, 6, 5, 1], ["relu", "tanh", "prelu", "logistic"], loss="binary_crossentropy")
    # a logistic output with a cross-entropy does not vanish when it saturates: no column
    assert diag.columns(net) == ["dead_1", "grad_norm_1", "update_ratio_1", "saturated_2",
                                 "grad_norm_2", "update_ratio_2", "dead_3", "grad_norm_3",
                                 "update_ratio_3", "grad_norm_4", "update_ratio_4"]
    mse = Network([4, 3, 1], ["relu", "logistic"], loss="mse")
    assert "saturated_2" in diag.columns(mse)
    X, Y = blobs()
    history = fit(net, X, Y, optimizer=Adam(), epochs=2, batch_size=32,
                  rng=np.random.default_rng(0), diagnostics=True)
    assert list(history.rows()[0]) == history_columns(net, False, True)


def warnings_of(acts, lr, *, epochs=4, optimizer=SGD, seed=0):
    X, Y = blobs(240)
    X = X * 3
    net = Network([4, 32, 32, 1], acts, loss="binary_crossentropy", rng=np.random.default_rng(seed))
    history = fit(net, X, Y, optimizer=optimizer(lr=lr), epochs=epochs, batch_size=32,
                  rng=np.random.default_rng(seed), diagnostics=True)
    return [w for r in history.records for w in r.warnings]


def test_huge_sgd_steps_kill_relu_units_and_say_so_once():
    said = warnings_of(["relu", "relu", "logistic"], 20.0, epochs=10)
    dead = [w for w in said if "never activated" in w]
    assert len(dead) >= 1 and len(dead) == len(set(w.split(":")[0] for w in dead))
    assert "lower lr (now 20)" in dead[0] and "use prelu/elu" in dead[0]
    assert any("each step rewrites the layer" in w for w in said)


def test_saturated_tanh_and_vanishing_steps_are_named():
    sat = warnings_of(["tanh", "tanh", "logistic"], 50.0)
    assert any("tanh units saturated" in w for w in sat), sat
    low = warnings_of(["tanh", "tanh", "logistic"], 1e-12, epochs=2)
    assert len(low) == 1 and "hardly learns" in low[0] and "layers 1, 2 and 3" in low[0], low


@pytest.mark.parametrize("acts", [["relu", "relu", "logistic"], ["tanh", "elu", "logistic"],
                                  ["prelu", "softplus", "logistic"]])
def test_a_well_behaved_run_warns_about_nothing(acts):
    assert warnings_of(acts, 0.01, epochs=30, optimizer=Adam) == []


def test_layers_below_a_binary_step_are_not_called_slow():
    """No gradient passes a binary step (the network warns before training); its layers
    take no step, which is not a learning-rate problem."""
    said = warnings_of(["binary_step", "relu", "logistic"], 0.01, optimizer=Adam)
    assert not any("layer 1" in w or "layers 1" in w for w in said), said


def test_through_the_cli_huge_steps_warn_and_the_default_says_nothing(cli, tmp_path):
    """The Done-when pair as a user sees it: SGD at lr 8 on iris with ReLU layers warns
    about dead units (and the history has the columns); the bundled default is quiet."""
    from nnctl.config import BUNDLED

    (tmp_path / "relu.yaml").write_text(
        f"data: {{train: {BUNDLED / 'datasets' / 'iris.csv'}, target: species}}\n"
        "network:\n  layers:\n    - {units: 32, activation: relu}\n"
        "    - {units: 32, activation: relu}\n    - {activation: softmax}\n"
        "training: {optimizer: {name: sgd, lr: 8.0}, epochs: 30, l2: 0}\n"
        "output: {plots: false}\n")
    run = cli("train", "relu.yaml", "-q")
    assert run.code == 0, run
    warned = [line for line in run.stderr.splitlines() if line.startswith("Warning:")]
    assert any("of ReLU units never activated" in line and "lower lr (now 8)" in line
               for line in warned), run.stderr
    header = (tmp_path / "runs/relu/1/history.csv").read_text().splitlines()[0].split(",")
    assert {"dead_1", "dead_2", "grad_norm_3", "update_ratio_3"} <= set(header)
    quiet = cli("train", "-q", "--epochs", "200")
    assert quiet.code == 0 and quiet.stderr == "", quiet
