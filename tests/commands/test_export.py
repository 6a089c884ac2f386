"""``nnctl export``: the ONNX graph run by onnxruntime gives what ``nnctl predict`` gives.

Each test trains a real model, exports it, feeds the raw CSV rows to onnxruntime (numbers
as numbers, NaN for a missing one; text as the file writes it, '' for a missing cell) and
compares the labels exactly and every probability or value to 1e-6 with the predict CSV.
"""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from nnctl.config import BUNDLED
from nnctl.core.activations import ACTIVATIONS

from helpers import assert_one_line_error

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

HIDDEN = sorted(name for name, a in ACTIVATIONS.items() if not a.output_only)


def feed(session, path, na_values=("", "NA", "N/A", "NaN", "nan", "null", "None", "?")):
    """The file's rows as the graph's inputs (the README's rule for each input)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    feeds = {}
    for inp in session.get_inputs():
        if inp.name == "input":  # every feature numeric: one matrix, in the model's order
            meta = session.get_modelmeta()
            names = json.loads(meta.custom_metadata_map["feature_columns"])
            cells = [[r[n].strip() for n in names] for r in rows]
            X = np.array([[np.nan if c in na_values else float(c) for c in row] for row in cells])
            feeds["input"] = X.astype(np.float32 if "float)" in inp.type else np.float64)
        elif inp.type == "tensor(string)":
            cells = [r[inp.name].strip() for r in rows]
            feeds[inp.name] = np.array([["" if c in na_values else c] for c in cells], dtype=object)
        else:
            cells = [r[inp.name].strip() for r in rows]
            x = np.array([[np.nan if c in na_values else float(c)] for c in cells])
            feeds[inp.name] = x.astype(np.float32 if "float)" in inp.type else np.float64)
    return feeds


def compare(cli, model, data, tmp_path, *, tol=1e-6):
    """Export ``model``, run onnxruntime on ``data`` and check it against ``nnctl predict``."""
    out = tmp_path / "m.onnx"
    run = cli("export", model, "-o", out, "--json")
    assert run.code == 0, run
    info = json.loads(run.stdout)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = dict(zip([o.name for o in session.get_outputs()], session.run(None, feed(session, data))))
    predicted = list(csv.DictReader(io.StringIO(cli("predict", model, data).stdout)))
    assert len(predicted) == len(next(iter(got.values())))
    if "label" in got:
        target = [k for k in predicted[0] if k.startswith("predicted_")][0]
        assert got["label"].tolist() == [r[target] for r in predicted]
        columns = [f"p_{c}" for c in info["outputs"][1]["columns"]]
        expected = np.array([[float(r[c]) for c in columns] for r in predicted])
        assert_close(got["probabilities"], expected, tol)
    else:
        columns = [f"predicted_{c}" for c in info["outputs"][0]["columns"]]
        expected = np.array([[float(r[c]) for c in columns] for r in predicted])
        assert_close(got["value"], expected, tol)
    return info


def assert_close(got, expected, tol):
    err = np.abs(got - expected) / np.maximum(1.0, np.abs(expected))
    assert got.shape == expected.shape and err.max() <= tol, err.max()


CONFIGS = sorted(p.stem for p in (BUNDLED / "configs").glob("*.yaml"))


@pytest.mark.parametrize("name", CONFIGS)
def test_every_bundled_dataset_gives_predicts_output(cli, tmp_path, name):
    config = BUNDLED / "configs" / f"{name}.yaml"
    assert cli("train", config, "--epochs", 3, "-o", tmp_path / "m.npz").code == 0
    data = __import__("yaml").safe_load(config.read_text())["data"]["train"]
    compare(cli, tmp_path / "m.npz", (config.parent / data).resolve(), tmp_path)


MIXED = """num,flag,colour,code,y
1.5,yes,red,7,a
2.0,no,blue,3,b
,YES,red,7,a
3.5,,green,5,c
-1.0,no,,3,b
0.5,True,red,3,a
2.5,no,blue,7,c
1.0,yes,violet,5,a
4.0,no,blue,3,b
0.0,yes,red,7,c
"""


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("hidden", HIDDEN)
def test_every_activation_in_both_dtypes_and_mixed_columns(cli, tmp_path, hidden, dtype):
    """Numeric with gaps (and an indicator), boolean text, categories with gaps and a rare one
    (-> (other)), a numeric code read as categorical; a softmax classifier."""
    header, body = MIXED.split("\n", 1)
    (tmp_path / "d.csv").write_text(header + "\n" + body * 3)
    alpha = ", alpha: 0.7" if hidden == "elu" else ""
    (tmp_path / "c.yaml").write_text(
        "data:\n  train: d.csv\n  target: y\n  columns: {code: {type: categorical},"
        " flag: {type: boolean}}\n  missing_indicator: true\n  max_categories: 2\n"
        f"network:\n  layers:\n    - {{units: 6, activation: {hidden}{alpha}}}\n"
        f"    - {{units: 4, activation: {hidden}{alpha}}}\n    - {{activation: softmax}}\n"
        f"training: {{epochs: 3, dtype: {dtype}, seed: 1}}\n")
    assert cli("train", "c.yaml", "-o", "m.npz").code == 0, cli("train", "c.yaml", "-o", "m.npz")
    tol = 1e-6 if dtype == "float64" else 1e-5
    info = compare(cli, tmp_path / "m.npz", tmp_path / "d.csv", tmp_path, tol=tol)
    assert [i["name"] for i in info["inputs"]] == ["num", "flag", "colour", "code"]
    assert [i["type"] for i in info["inputs"]] == ["number", "string", "string", "string"]


@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("output, loss", [("identity", "mse"), ("logistic", "binary_crossentropy")])
def test_regression_and_binary_outputs(cli, tmp_path, hidden, output, loss):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(60, 3)) * [1, 10, 0.1] + [0, 50, 0]
    y = X @ [1.0, 0.2, -3.0] if loss == "mse" else (X[:, 0] > 0).astype(int)
    lines = ["a,b,c,y"] + [f"{a:.6f},{b:.6f},{c:.6f},{v}" for (a, b, c), v in zip(X, y)]
    (tmp_path / "d.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "c.yaml").write_text(
        f"data: {{train: d.csv, target: y}}\nnetwork:\n  layers:\n"
        f"    - {{units: 5, activation: {hidden}}}\n    - {{activation: {output}}}\n"
        f"loss: {loss}\ntraining: {{epochs: 3}}\n")
    assert cli("train", "c.yaml", "-o", "m.npz").code == 0
    info = compare(cli, tmp_path / "m.npz", tmp_path / "d.csv", tmp_path)
    assert info["inputs"][0]["name"] == "input" and info["inputs"][0]["shape"] == ["N", 3]
    assert [o["name"] for o in info["outputs"]] == (["value"] if loss == "mse" else ["label", "probabilities"])


def test_default_path_is_beside_the_model_and_refusals_are_one_line(cli, tmp_path, monkeypatch):
    assert cli("train", "--epochs", 2).code == 0
    run = cli("export", "runs/default/1")
    assert run.code == 0, run
    assert (tmp_path / "runs/default/1/model.onnx").is_file() and "opset 20" in run.stderr
    model = tmp_path / "runs/default/1/model.npz"
    assert_one_line_error(cli("export", model, "-o", model), 2, "model")
    from nnctl import onnx_graph

    monkeypatch.setattr(onnx_graph, "available", lambda: False)
    assert_one_line_error(cli("export", "runs/default/1", "-o", "x.onnx"), 1, "pip install 'nnctl[export]'")


def test_dates_become_year_month_day_and_weekday_as_in_training(cli, tmp_path):
    """ISO dates over several years, months and weekdays (leap days, January and February,
    which Sakamoto's method counts in the year before), with missing cells."""
    import datetime

    days = [datetime.date(1999, 12, 25) + datetime.timedelta(days=37 * k + k * k) for k in range(40)]
    lines = ["when,x,y"] + [f"{'' if k % 9 == 4 else d.isoformat()},{k % 5},{(d.weekday() >= 5) * 1}"
                            for k, d in enumerate(days)]
    (tmp_path / "d.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "c.yaml").write_text("data: {train: d.csv, target: y, missing_indicator: true}\n"
                                     "training: {epochs: 2}\n")
    assert cli("train", "c.yaml", "-o", "m.npz").code == 0
    info = compare(cli, tmp_path / "m.npz", tmp_path / "d.csv", tmp_path)
    assert info["inputs"][0] == {"name": "when", "type": "string", "shape": ["N", 1]}
    with np.load(tmp_path / "m.npz", allow_pickle=False) as z:
        encoded = json.loads(str(z["metadata"]))["data"]["encoded"]
    assert {"when.year", "when.month", "when.day", "when.weekday", "when_missing"} <= set(encoded)


def test_a_column_named_like_the_graphs_own_values_is_still_an_input(cli, tmp_path):
    """The graph's values are named nnctl/<hint>_<n>; a column may have such a name too."""
    rows = "".join(f"{i * 0.37 % 5:.3f},{'pq'[i % 2]},{(i * 7) % 3 % 2}\n" for i in range(40))
    (tmp_path / "d.csv").write_text("nnctl/fill_2,nnctl/Z1_3,y\n" + rows)
    (tmp_path / "c.yaml").write_text("data: {train: d.csv, target: y}\ntraining: {epochs: 2}\n")
    assert cli("train", "c.yaml", "-o", "m.npz").code == 0
    info = compare(cli, tmp_path / "m.npz", tmp_path / "d.csv", tmp_path)
    assert [i["name"] for i in info["inputs"]] == ["nnctl/fill_2", "nnctl/Z1_3"]
