"""``nnctl explain``: every number it prints, recomputed independently with NumPy.

The reference below is the notes' mathematics written again from docs/notation.md, with
the textbook forms of each activation and derivative (not nnctl's stable forms), the
per-sample ``dZ``, ``dW = (1/m) dZ A^T`` and the published optimizer updates. It starts
from the weights and inputs that ``explain --json`` reports, which are checked against
the model file's own arrays and the raw rows of the data file.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose

from nnctl.core.activations import ACTIVATIONS

from helpers import assert_one_line_error

HIDDEN = sorted(name for name, a in ACTIVATIONS.items() if not a.output_only)
#: (output activation, loss, task): the fused pairings and two that are not fused.
PAIRINGS = [
    ("identity", "mse", "regression"),
    ("logistic", "binary_crossentropy", "binary"),
    ("softmax", "categorical_crossentropy", "multiclass"),
    ("logistic", "mse", "regression01"),
    ("tanh", "mse", "regression"),
]
ELU_ALPHA = 0.7


def f_and_fprime(name: str, Z: np.ndarray, alpha) -> tuple[np.ndarray, np.ndarray]:
    """``f(Z)`` and ``f'(Z)`` from the textbook formulas (softmax: f only)."""
    s = 1 / (1 + np.exp(-Z))
    if name == "identity":
        return Z, np.ones_like(Z)
    if name == "binary_step":
        return (Z >= 0).astype(float), np.zeros_like(Z)
    if name == "logistic":
        return s, s * (1 - s)
    if name == "tanh":
        return np.tanh(Z), 1 - np.tanh(Z) ** 2
    if name == "arctan":
        return np.arctan(Z), 1 / (1 + Z ** 2)
    if name == "relu":
        return np.maximum(Z, 0), (Z >= 0).astype(float)
    if name == "prelu":
        return np.where(Z >= 0, Z, alpha * Z), np.where(Z >= 0, 1.0, alpha * np.ones_like(Z))
    if name == "elu":
        return np.where(Z >= 0, Z, alpha * (np.exp(Z) - 1)), np.where(Z >= 0, 1.0, alpha * np.exp(Z))
    if name == "softplus":
        return np.log1p(np.exp(Z)), s
    if name == "softmax":
        E = np.exp(Z - Z.max(axis=0))
        return E / E.sum(axis=0), None
    raise AssertionError(name)


def reference_step(out: dict) -> dict:
    """The whole step from ``out``'s X, Y, w and weights, by the formulas of the notes."""
    X, Y = np.array(out["X"]), np.array(out["Y"])
    w = None if out["w"] is None else np.array(out["w"])
    m, L = X.shape[1], len(out["layers"])
    A, cache = X, []
    for layer in out["layers"]:
        W, b = np.array(layer["forward"]["W"]), np.array(layer["forward"]["b"])
        alpha = layer["alpha"] if not isinstance(layer["alpha"], list) else np.array(layer["alpha"])
        Z = W @ A + b
        A_next, fp = f_and_fprime(layer["activation"], Z, alpha)
        cache.append({"A_prev": A, "Z": Z, "A": A_next, "fp": fp, "W": W, "b": b, "alpha": alpha})
        A = A_next
    if out["loss"] == "mse":
        per = ((A - Y) ** 2).mean(axis=0)
        dA = 2 * (A - Y) / Y.shape[0]
    elif out["loss"] == "binary_crossentropy":
        per = -(Y * np.log(A) + (1 - Y) * np.log(1 - A)).sum(axis=0)
        dA = None
    else:
        per = -(Y * np.log(A)).sum(axis=0)
        dA = None
    weights = np.ones(m) if w is None else w
    J = float((per * weights).sum() / m)
    result = {"J": J, "layers": []}
    dZ = None
    for l in range(L, 0, -1):
        c = cache[l - 1]
        if l == L:
            if dA is None:
                dZ, dA_l = (A - Y) * weights, None
            else:
                dA_l = dA * weights
                dZ = dA_l * c["fp"]
        else:
            dA_l = cache[l]["W"].T @ dZ
            dZ = dA_l * c["fp"]
        entry = {"l": l, **c, "dA": dA_l, "dZ": dZ, "dW": dZ @ c["A_prev"].T / m,
                 "db": dZ.mean(axis=1, keepdims=True),
                 "dA_prev": c["W"].T @ dZ if l > 1 else None,
                 "dalpha": ((dA_l * np.minimum(c["Z"], 0)).sum(axis=1, keepdims=True) / m
                            if isinstance(c["alpha"], np.ndarray) else None)}
        result["layers"].insert(0, entry)
    return result


def reference_update(out: dict, ref: dict, state: dict | None = None) -> list[dict]:
    """The optimizer's change to each W, b (and alpha), by the published update rules.

    ``state`` is a trained model's saved optimizer state as flat vectors in theta's order
    (per layer the block [W | b], then the PReLU slopes); None: the first step.
    """
    opt = out["optimizer"]
    grads, params, mask = [], [], []
    for e in ref["layers"]:
        grads += [np.hstack([e["dW"], e["db"]]).ravel()]
        params += [np.hstack([e["W"], e["b"]]).ravel()]
        mask += [np.hstack([np.ones_like(e["W"]), np.zeros_like(e["b"])]).ravel()]
    for e in ref["layers"]:
        if e["dalpha"] is not None:
            grads.append(e["dalpha"].ravel())
            params.append(e["alpha"].ravel())
            mask.append(np.zeros(e["alpha"].size))
    g, theta, mask = np.concatenate(grads), np.concatenate(params), np.concatenate(mask)
    g = g + opt["l2"] * mask * theta
    lr = opt["lr"]
    if opt["name"] == "sgd":
        delta = -lr * g
    elif opt["name"] in ("momentum", "nesterov"):
        v = opt["momentum"] * (np.zeros_like(g) if state is None else state["v"]) - lr * g
        delta = v if opt["name"] == "momentum" else opt["momentum"] * v - lr * g
    else:
        b1, b2, eps, t = opt["beta1"], opt["beta2"], opt["eps"], opt["t"]
        m0 = np.zeros_like(g) if state is None else (1 - b1) * state["M"]  # M = m / (1 - b1)
        v0 = np.zeros_like(g) if state is None else (1 - b2) * state["V"]
        m_t = b1 * m0 + (1 - b1) * g
        v_t = b2 * v0 + (1 - b2) * g * g
        lr_t = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        delta = -lr_t * m_t / (np.sqrt(v_t) + eps)
    changes, off = [], 0
    for e in ref["layers"]:
        n, k = e["W"].shape
        block = delta[off:off + n * (k + 1)].reshape(n, k + 1)
        changes.append({"W": block[:, :-1], "b": block[:, -1:]})
        off += n * (k + 1)
    for e, change in zip(ref["layers"], changes):
        if e["dalpha"] is not None:
            change["alpha"] = delta[off:off + e["alpha"].size].reshape(-1, 1)
            off += e["alpha"].size
    return changes


def check(out: dict, state: dict | None = None) -> None:
    """Every array of ``out`` against the reference (rtol 1e-9: float64 both ways)."""
    ref = reference_step(out)
    tol = {"rtol": 1e-9, "atol": 1e-12}
    assert_allclose(out["J"], ref["J"], **tol)
    changes = reference_update(out, ref, state)
    for layer, r, change in zip(out["layers"], ref["layers"], changes):
        fw, bw = layer["forward"], layer["backward"]
        for key in ("A_prev", "Z", "A"):
            assert_allclose(np.array(fw[key]), r[key], **tol, err_msg=f"{key}[{r['l']}]")
        for key in ("dZ", "dW", "db"):
            assert_allclose(np.array(bw[key]), r[key], **tol, err_msg=f"{key}[{r['l']}]")
        for key in ("dA", "dA_prev", "dalpha"):
            assert (bw[key] is None) == (r[key] is None), (key, r["l"])
            if r[key] is not None:
                assert_allclose(np.array(bw[key]), r[key], **tol, err_msg=f"{key}[{r['l']}]")
        fused_output = r["l"] == len(out["layers"]) and out["fused"]
        assert (bw["f_prime"] is None) == (fused_output or r["fp"] is None)
        if bw["f_prime"] is not None:
            assert_allclose(np.array(bw["f_prime"]), r["fp"], **tol)
        for key in change:
            assert_allclose(np.array(layer["update"][key]), change[key], rtol=1e-7, atol=1e-12,
                            err_msg=f"update {key}[{r['l']}]")


def write_data(folder: Path, task: str, rows: int = 40, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 3)) * [1.0, 5.0, 0.1] + [0.0, 10.0, -3.0]
    if task.startswith("regression"):
        y = X @ [1.0, -0.3, 4.0] + rng.normal(scale=0.1, size=rows)
        if task == "regression01":  # a logistic output with mse: targets in (0, 1)
            y = 1 / (1 + np.exp(-(y - y.mean())))
        labels = [f"{v:.6f}" for v in y]
    elif task == "binary":
        labels = ["yes" if v > 10 else "no" for v in X[:, 1]]
    else:
        labels = [("a", "b", "c")[int(v)] for v in np.digitize(X[:, 0], [-0.4, 0.4])]
    path = folder / "data.csv"
    lines = ["x1,x2,x3,y"] + [f"{a:.5f},{b:.5f},{c:.5f},{y}" for (a, b, c), y in zip(X, labels)]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_config(folder: Path, hidden: str, output: str, loss: str, *, optimizer: str = "adam",
                 extra: str = "") -> Path:
    alpha = f", alpha: {ELU_ALPHA}" if hidden == "elu" else ""
    path = folder / "c.yaml"
    path.write_text(f"""data: {{train: data.csv, target: y}}
network:
  layers:
    - {{units: 4, activation: {hidden}{alpha}}}
    - {{units: 3, activation: {hidden}{alpha}}}
    - {{activation: {output}}}
loss: {loss}
training: {{optimizer: {{name: {optimizer}, lr: 0.1}}, seed: 3, dtype: float32{extra}}}
""")
    return path


@pytest.mark.parametrize("m", [1, 5])
@pytest.mark.parametrize("output, loss, task", PAIRINGS)
@pytest.mark.parametrize("hidden", HIDDEN)
def test_every_number_matches_the_notes(cli, tmp_path, hidden, output, loss, task, m):
    write_data(tmp_path, task)
    write_config(tmp_path, hidden, output, loss)
    args = ("--sample", 3) if m == 1 else ("--batch", m)
    run = cli("explain", "c.yaml", *args, "--json")
    assert run.code == 0, run
    out = json.loads(run.stdout)
    assert out["m"] == m and out["fused"] == (loss != "mse")
    assert out["rows"] == ([3] if m == 1 else list(range(1, m + 1)))
    assert [layer["activation"] for layer in out["layers"]] == [hidden, hidden, output]
    check(out)


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "nesterov", "adam"])
def test_the_update_is_the_optimizers_first_step_with_l2_and_class_weights(cli, tmp_path, optimizer):
    write_data(tmp_path, "multiclass")
    write_config(tmp_path, "prelu", "softmax", "categorical_crossentropy", optimizer=optimizer,
                 extra=", l2: 0.01, class_weight: balanced")
    out = json.loads(cli("explain", "c.yaml", "--batch", 12, "--json").stdout)
    assert out["optimizer"]["name"] == optimizer and out["optimizer"]["l2"] == 0.01
    w = np.array(out["w"])
    assert w.shape == (12,) and len(set(w.round(9))) > 1  # balanced weights differ per class
    check(out)


def test_a_trained_models_step_uses_its_weights_inputs_and_adam_state(cli, tmp_path):
    data = write_data(tmp_path, "binary")
    write_config(tmp_path, "tanh", "logistic", "binary_crossentropy")
    assert cli("train", "c.yaml", "--epochs", 3, "-o", "m.npz").code == 0
    run = cli("explain", "m.npz", "--sample", 7, "--json")
    assert run.code == 0, run
    out = json.loads(run.stdout)
    with np.load(tmp_path / "m.npz", allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays["metadata"]))
    for layer in out["layers"]:
        l = layer["l"]
        # the model's own float32 weights, exactly (float64 holds every float32)
        assert np.array_equal(np.array(layer["forward"]["W"]), arrays[f"W{l}"].astype(np.float64))
        assert np.array_equal(np.array(layer["forward"]["b"]), arrays[f"b{l}"].astype(np.float64))
    # A[0] is row 7 of the file, standardized with the model's scaler
    raw = np.array([float(v) for v in data.read_text().splitlines()[7].split(",")[:3]])
    scaler = meta["data"]["scaler"]
    expected = ((raw - scaler["shift"]) / np.array(scaler["scale"])).astype(np.float32)
    assert_allclose(np.array(out["X"])[:, 0], expected, rtol=1e-6)
    assert out["Y"] == [[1.0 if data.read_text().splitlines()[7].endswith("yes") else 0.0]]
    assert out["optimizer"]["t"] == int(arrays["optimizer.t"]) + 1
    state = {"M": arrays["optimizer.M"].astype(np.float64), "V": arrays["optimizer.V"].astype(np.float64)}
    check(out, state)


def test_the_default_fits_one_screen_and_names_every_equation(tmp_path):
    # A process of its own: rich takes its width from COLUMNS once, when it is imported.
    run = subprocess.run([sys.executable, "-m", "nnctl", "explain"], cwd=tmp_path, text=True,
                         capture_output=True, env={**os.environ, "COLUMNS": "100"}, timeout=120)
    assert run.returncode == 0, run.stderr
    text = run.stdout
    assert len(text.splitlines()) <= 50, len(text.splitlines())
    for eq in ("Z[1] = W[1] A[0] + b[1]", "A[3] = logistic(Z[3])", "dZ[3] = (A[3] - Y)",
               "dZ[2] = dA[2] * elu'(Z[2])", "dW[1] = dz[1] a[0]^T (m = 1: an outer product)",
               "dA[1] = W[2]^T dZ[2]", "Update: adam, lr 0.05"):
        assert eq in text, eq
    for title in ("W[1] (3, 3)", "A[0] (3, 1)", "dW[2] (2, 3)", "db[3] (1, 1)", "W[3] change (1, 2)"):
        assert title in text, title
    assert "..." not in text  # nothing elided in a 3-3-2-1 network


def test_large_tensors_are_elided_and_say_so(cli, tmp_path):
    write_data(tmp_path, "binary", rows=60)
    (tmp_path / "c.yaml").write_text("data: {train: data.csv, target: y}\nnetwork:\n  layers:\n"
                                     "    - {units: 20, activation: relu}\n    - {activation: logistic}\n")
    run = cli("explain", "c.yaml", "--batch", 30)
    assert run.code == 0, run
    assert "W[1] (20, 3)" in run.stdout and "A[0] (3, 30)" in run.stdout
    words = " ".join(run.stdout.split())  # however the terminal wraps it
    assert "show 3 at each end" in words and "--json gives every array whole" in words
    rows = [line for line in run.stdout.splitlines() if re.match(r"\s+\[?\[ *-?\d", line)]
    assert rows and max(len(re.findall(r"-?\d+\.\d+", line)) for line in rows) <= 40
    full = json.loads(cli("explain", "c.yaml", "--batch", 30, "--json").stdout)
    assert np.array(full["layers"][0]["forward"]["Z"]).shape == (20, 30)


def test_bad_choices_are_one_line_errors(cli, tmp_path):
    write_data(tmp_path, "binary", rows=10)
    write_config(tmp_path, "relu", "logistic", "binary_crossentropy")
    assert_one_line_error(cli("explain", "c.yaml", "--sample", 11), 1, "outside its 10 data rows")
    assert_one_line_error(cli("explain", "c.yaml", "--sample", 1, "--batch", 2), 2, "not both")
    assert cli("train", "c.yaml", "--epochs", 1, "-o", "m.npz").code == 0
    (tmp_path / "data.csv").unlink()
    assert_one_line_error(cli("explain", "m.npz"), 1, "give labelled rows with --data FILE")
