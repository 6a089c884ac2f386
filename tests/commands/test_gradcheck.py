"""``nnctl gradcheck``: passes on every bundled config and a trained model, and finds a
derivative broken on purpose, through the real CLI."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from nnctl.config import BUNDLED
from nnctl.core.activations import ACTIVATIONS

from helpers import assert_one_line_error

CONFIGS = sorted(p.name for p in (BUNDLED / "configs").glob("*.yaml"))


@pytest.mark.parametrize("name", CONFIGS)
def test_every_bundled_config_passes(cli, name):
    run = cli("gradcheck", BUNDLED / "configs" / name, "--json")
    assert run.code == 0, run
    out = json.loads(run.stdout)
    assert out["passed"] and out["computed_in"] == "float64" and out["m"] == 16
    names = [t["name"] for t in out["tensors"]]
    assert names[:2] == ["W1", "b1"] and len(names) >= 2 * (len(out["network"].split("-")) - 1)
    for t in out["tensors"]:
        assert t["passed"] and t["checked"] == min(t["total"], 1000)
        assert t["max_rel"] < 1e-5 or t["max_abs"] < 1e-8, t


def test_the_table_names_every_tensor_and_the_rule(cli):
    run = cli("gradcheck")
    assert run.code == 0, run
    for text in ("W1", "b3", "(3, 3)", "max rel error", "eps = 1e-06",
                 "1e-08 + 1e-05 max(|backprop|, |numeric|)", "passed: backpropagation matches"):
        assert text in run.stdout, text


def test_a_trained_model_in_float32_is_checked_in_float64(cli, tmp_path):
    (tmp_path / "c.yaml").write_text(
        f"data: {{train: {BUNDLED / 'datasets' / 'iris.csv'}, target: species}}\n"
        "network:\n  layers:\n    - {units: 8, activation: prelu}\n    - {activation: softmax}\n"
        "training: {epochs: 5, dtype: float32}\n")
    assert cli("train", "c.yaml").code == 0
    out = json.loads(cli("gradcheck", "runs/c/1", "--batch", 40, "--json").stdout)
    assert out["passed"] and out["dtype"] == "float32" and out["m"] == 40
    assert "trained for 5 epoch(s)" in out["weights"]
    assert [t["name"] for t in out["tensors"]] == ["W1", "b1", "alpha1", "W2", "b2"]


def test_a_broken_derivative_fails_with_exit_1(cli, monkeypatch):
    """tanh's derivative 1% too large in the registry: the layers at and below it fail."""
    tanh = ACTIVATIONS["tanh"]

    def too_steep(dA, Z, A, alpha, T):
        dZ = tanh.derivative(dA, Z, A, alpha, T)
        dZ *= 1.01
        return dZ

    monkeypatch.setitem(ACTIVATIONS._entries, "tanh", dataclasses.replace(tanh, derivative=too_steep))
    config = BUNDLED / "configs" / "iris.yaml"  # tanh in layer 1
    run = cli("gradcheck", config)
    assert_one_line_error(run, 1, "gradient check failed for W1, b1", "layer 1's activation")
    assert "FAIL" in run.stdout and "passed:" not in run.stdout
    out = json.loads(cli("gradcheck", config, "--json").stdout)
    assert [t["name"] for t in out["tensors"] if not t["passed"]] == ["W1", "b1"]
    worst = [t["max_rel"] for t in out["tensors"] if not t["passed"]]
    assert min(worst) > 1e-3  # 1% on dZ[1] is a 0.5% relative error at least


def test_a_binary_step_layer_is_no_false_failure(cli, tmp_path):
    (tmp_path / "c.yaml").write_text(
        f"data: {{train: {BUNDLED / 'datasets' / 'default.csv'}, target: label}}\n"
        "network:\n  layers:\n    - {units: 4, activation: relu}\n"
        "    - {units: 3, activation: binary_step}\n    - {activation: logistic}\n")
    run = cli("gradcheck", "c.yaml", "--max-entries", 0)
    assert run.code == 0, run
    assert "no gradient reaches it" in run.stdout and "no gradient passes a binary step" in run.stdout
    out = json.loads(cli("gradcheck", "c.yaml", "--json").stdout)
    by = {t["name"]: t for t in out["tensors"]}
    assert by["W1"]["no_gradient"] and by["b1"]["no_gradient"] and not by["W3"]["no_gradient"]
    assert np.isclose(by["W1"]["max_abs"], 0.0)


def test_max_entries_caps_each_tensor(cli, tmp_path):
    (tmp_path / "c.yaml").write_text(
        f"data: {{train: {BUNDLED / 'datasets' / 'default.csv'}, target: label}}\n"
        "network:\n  layers:\n    - {units: 40, activation: tanh}\n    - {activation: logistic}\n")
    out = json.loads(cli("gradcheck", "c.yaml", "--max-entries", 50, "--json").stdout)
    assert [t["checked"] for t in out["tensors"]] == [50, 40, 40, 1]
    assert out["passed"]


def test_no_verdict_where_finite_differences_mean_nothing(cli, tmp_path):
    """A loss of 1e80 (a diverged model's best epoch) or an eps that leaves theta unchanged:
    one line saying so, never 'the derivative is wrong'."""
    (tmp_path / "c.yaml").write_text(
        f"data: {{train: {BUNDLED / 'datasets' / 'iris.csv'}, target: species}}\n"
        "network:\n  layers:\n    - {units: 4, activation: relu}\n    - {activation: softmax}\n")
    assert_one_line_error(cli("gradcheck", "c.yaml", "--eps", "1e-20"), 2, "--eps 1e-20 is too small")
    assert cli("train", "c.yaml", "--epochs", 1, "-o", "m.npz").code == 0
    import numpy as np

    with np.load(tmp_path / "m.npz", allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["W1"] = arrays["W1"] * 1e200  # logits of 1e200: the loss's differences overflow
    np.savez(tmp_path / "huge.npz", **arrays)
    run = cli("gradcheck", "huge.npz")
    assert run.code == 1 and "derivative" not in run.stderr, run
    assert "not finite" in run.stderr or "finite differences" in run.stderr, run


def test_a_batch_larger_than_the_data_says_so(cli, tmp_path):
    run = cli("gradcheck", BUNDLED / "configs" / "iris.yaml", "--batch", 1000, "--max-entries", 5)
    assert run.code == 0 and "150 labelled rows, fewer than --batch 1000: m = 150" in run.stderr, run
