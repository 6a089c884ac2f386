"""The real CLI on the real bundled configs and datasets."""

import csv
import io
import json

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import nnctl
from nnctl import model_file
from nnctl.data.scaling import Scaler

from helpers import CONFIGS, DATASETS, load_arrays, write


def metadata(path):
    return model_file.load(path).metadata


def test_help_and_version(cli):
    run = cli("--help")
    assert run.code == 0 and "Examples:" in run.stdout
    for command in ("train", "shapes", "predict"):
        run = cli(command, "--help")
        assert run.code == 0 and "Examples:" in run.stdout, command
    run = cli("--version")
    assert run.code == 0 and nnctl.__version__ in run.stdout


def test_train_with_no_arguments_trains_the_default(cli, tmp_path):
    run = cli("train")
    assert run.code == 0, run
    assert "3-3-2-1 (elu, elu, logistic)" in run.stderr
    assert "results" in run.stderr and "train loss" in run.stderr
    run_dir = tmp_path / "runs" / "default" / "1"
    model, history = run_dir / "model.npz", run_dir / "history.csv"
    assert "saved the run to runs/default/1/" in run.stderr
    meta = metadata(model)
    assert meta["training"]["results"]["test"]["accuracy"] >= 0.9
    rows = list(csv.DictReader(io.StringIO(history.read_text())))
    assert len(rows) == 200 and rows[0]["epoch"] == "1"
    assert float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"])


@pytest.mark.parametrize("config, split, metric, at_least", [
    ("default", "test", "accuracy", 0.9),       # 1.000 when written
    ("iris", "test", "accuracy", 0.9),          # 0.967
    ("breast_cancer", "test", "accuracy", 0.93),
    ("diabetes", "test", "r2", 0.3),            # 0.40; about half the variance is explainable
])
def test_every_bundled_config_trains_to_its_stated_quality(cli, tmp_path, config, split, metric, at_least):
    run = cli("train", CONFIGS / f"{config}.yaml", "-o", tmp_path / "m.npz")
    assert run.code == 0, run
    results = metadata(tmp_path / "m.npz")["training"]["results"]
    assert results[split][metric] >= at_least, results


def test_model_file_is_plain_numpy(cli, tmp_path):
    cli("train", CONFIGS / "iris.yaml", "--epochs", "3", "-o", "iris.npz")
    arrays = load_arrays(tmp_path / "iris.npz")
    assert arrays["W1"].shape == (16, 4) and arrays["b1"].shape == (16, 1)
    assert arrays["W2"].shape == (8, 16) and arrays["alpha2"].shape == (8, 1)
    assert arrays["W3"].shape == (3, 8) and arrays["b3"].shape == (3, 1)
    meta = json.loads(str(arrays["metadata"]))
    assert meta["format"] == "nnctl-model" and meta["format_version"] == 2
    assert meta["nnctl_version"] == nnctl.__version__
    assert meta["data"]["features"] == ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    assert meta["data"]["classes"] == ["setosa", "versicolor", "virginica"]
    assert meta["config"]["training"]["epochs"] == 3
    assert {"optimizer.M", "optimizer.V", "optimizer.t"} <= set(arrays)


@pytest.mark.parametrize("m", [1, 2])
def test_shapes_of_the_default_network_match_notation(cli, m):
    run = cli("shapes", "-m", m, "--json")
    assert run.code == 0, run
    report = json.loads(run.stdout)
    expected = {  # NOTATION.md: W (n[l], n[l-1]), b (n[l], 1), Z, A, dZ, dA (n[l], m)
        1: {"W": [3, 3], "b": [3, 1], "Z": [3, m], "A": [3, m]},
        2: {"W": [2, 3], "b": [2, 1], "Z": [2, m], "A": [2, m]},
        3: {"W": [1, 2], "b": [1, 1], "Z": [1, m], "A": [1, m]},
    }
    for layer in report["layers"]:
        shapes = layer["shapes"]
        for name, shape in expected[layer["l"]].items():
            assert shapes[name] == shape and shapes["d" + name] == shape
    assert [layer["params"] for layer in report["layers"]] == [12, 8, 3]
    totals = report["totals"]
    assert totals["params"] == 23 and totals["param_bytes"] == 23 * 8
    assert totals["activation_bytes"] == (3 + 2 * (3 + 2 + 1)) * m * 8
    # forward: 2*9m + 3m, 2*6m + 2m, 2*2m + m;  backward adds dA_prev above layer 1
    assert totals["forward_flops"] == (21 + 14 + 5) * m
    assert totals["backward_flops"] == (18 + 6) * m + (12 + 4 + 12) * m + (4 + 2 + 4) * m


def test_shapes_table(cli):
    run = cli("shapes", "-m", "2")
    assert run.code == 0, run
    assert "3-3-2-1 (elu, elu, logistic), m = 2, float64" in run.stdout
    assert "(3, 3)" in run.stdout and "(1, 2)" in run.stdout
    assert "parameters 23 (184 B)" in run.stdout


def test_shapes_takes_sizes_from_the_data(cli):
    run = cli("shapes", CONFIGS / "iris.yaml", "--json")
    report = json.loads(run.stdout)
    assert report["network"] == "4-16-8-3 (tanh, prelu, softmax)" and report["m"] == 16
    assert report["layers"][1]["params"] == 8 * 16 + 8 + 8  # PReLU's alphas count


def in_memory_predictions(model_path, csv_path):
    """The same predictions without nnctl's reader: pandas, the saved scaler, the network."""
    import pandas as pd

    model = model_file.load(model_path)
    data = model.metadata["data"]
    X = pd.read_csv(csv_path)[data["features"]].to_numpy(np.float64)  # numeric, no gaps
    assert [c["type"] for c in data["preprocess"]["columns"]] == ["numeric"] * X.shape[1]
    A = model.network.predict(Scaler.from_json(data["scaler"]).transform(X).T).T
    if data.get("target_scaler"):
        A = Scaler.from_json(data["target_scaler"]).inverse(A)
    return A


def test_predict_round_trip_classification(cli, tmp_path):
    cli("train", CONFIGS / "iris.yaml", "--epochs", "20", "-o", "iris.npz")
    run = cli("predict", "iris.npz", DATASETS / "iris.csv", "-o", "out.csv")
    assert run.code == 0 and run.stdout == "", run
    rows = list(csv.DictReader(io.StringIO((tmp_path / "out.csv").read_text())))
    assert list(rows[0]) == ["sepal_length", "sepal_width", "petal_length", "petal_width",
                             "species", "predicted_species", "p_setosa", "p_versicolor", "p_virginica"]
    P = np.array([[float(r[f"p_{c}"]) for c in ("setosa", "versicolor", "virginica")] for r in rows])
    assert_array_equal(P, in_memory_predictions(tmp_path / "iris.npz", DATASETS / "iris.csv"))
    labels = np.array(["setosa", "versicolor", "virginica"])[P.argmax(axis=1)]
    assert [r["predicted_species"] for r in rows] == list(labels)
    assert rows[0]["sepal_length"] == "5.1"  # the input passes through unchanged


def test_predict_from_stdin_regression(cli, tmp_path):
    cli("train", CONFIGS / "diabetes.yaml", "--epochs", "5", "-o", "d.npz")
    text = (DATASETS / "diabetes.csv").read_text()
    run = cli("predict", "d.npz", "-", input=text)
    assert run.code == 0, run
    rows = list(csv.DictReader(io.StringIO(run.stdout)))
    assert len(rows) == 442 and list(rows[0])[-1] == "predicted_progression"
    values = np.array([[float(r["predicted_progression"])] for r in rows])
    assert_array_equal(values, in_memory_predictions(tmp_path / "d.npz", DATASETS / "diabetes.csv"))
    assert 50 < values.mean() < 300  # back in the file's units, not z-scores


def test_predict_ignores_extra_columns_and_order(cli, tmp_path):
    cli("train", "--epochs", "3", "-o", "m.npz")
    write(tmp_path / "new.csv", "note,x3,x2,x1\nhello,0.1,0.5,0.5\nbye,0.0,-0.5,0.5\n")
    run = cli("predict", "m.npz", "new.csv")
    assert run.code == 0, run
    header, *rows = list(csv.reader(io.StringIO(run.stdout)))
    assert header == ["note", "x3", "x2", "x1", "predicted_label", "p_0", "p_1"]
    assert rows[0][:4] == ["hello", "0.1", "0.5", "0.5"]
    assert float(rows[0][5]) + float(rows[0][6]) == pytest.approx(1.0)


def test_same_config_and_seed_give_identical_models(cli, tmp_path):
    for name in ("a.npz", "b.npz"):
        assert cli("train", CONFIGS / "breast_cancer.yaml", "--epochs", "5", "-o", name).code == 0
    a, b = load_arrays(tmp_path / "a.npz"), load_arrays(tmp_path / "b.npz")
    arrays = [key for key in a if key != "metadata"]
    assert "W1" in arrays and sorted(arrays) == sorted(k for k in b if k != "metadata")
    for key in arrays:
        assert_array_equal(a[key], b[key], err_msg=key)
    cli("train", CONFIGS / "breast_cancer.yaml", "--epochs", "5", "--seed", "1", "-o", "c.npz")
    assert not np.array_equal(load_arrays(tmp_path / "c.npz")["W1"], a["W1"])


def test_resume_continues_from_the_saved_weights(cli, tmp_path):
    assert cli("train", "--epochs", "30", "-o", "m.npz").code == 0
    first = list(csv.DictReader(io.StringIO((tmp_path / "m.history.csv").read_text())))
    saved = load_arrays(tmp_path / "m.npz")
    run = cli("train", "--resume", "m.npz", "--epochs", "10", "-o", "m2.npz")
    assert run.code == 0, run
    assert "from epoch 30" in run.stderr
    whole = list(csv.DictReader(io.StringIO((tmp_path / "m2.history.csv").read_text())))
    assert [r["epoch"] for r in whole] == [str(e) for e in range(1, 41)]  # continued, not cut
    assert whole[:30] == first  # the earlier epochs as they were
    second = whole[30:]
    # The resumed run starts where the first left off, far below a fresh start's loss.
    assert float(second[0]["train_loss"]) < 0.5 * float(first[0]["train_loss"])
    assert abs(float(second[0]["train_loss"]) - float(first[-1]["train_loss"])) < 0.1
    assert metadata(tmp_path / "m2.npz")["training"]["epochs_run"] == 40
    assert not np.array_equal(load_arrays(tmp_path / "m2.npz")["W1"], saved["W1"])


def test_resume_with_another_network_is_refused(cli, tmp_path):
    cli("train", "--epochs", "2", "-o", "m.npz")
    run = cli("train", CONFIGS / "iris.yaml", "--resume", "m.npz")
    assert run.code == 2 and "resume with the config the model was trained with" in run.stderr, run
    write(tmp_path / "wider.yaml", f"data: {{train: {DATASETS / 'default.csv'}}}\n"
          "network: {layers: [5, 1]}\n")
    run = cli("train", "wider.yaml", "--resume", "m.npz")
    assert run.code == 2 and "the model's network 3-3-2-1 (elu, elu, logistic) does not match" in run.stderr
    assert "3-5-1 (relu, logistic)" in run.stderr, run


def test_overrides(cli, tmp_path):
    run = cli("train", "--epochs", "4", "--lr", "0.1", "--batch-size", "64", "--seed", "3", "-o", "x.npz")
    assert run.code == 0, run
    cfg = metadata(tmp_path / "x.npz")["config"]["training"]
    assert (cfg["epochs"], cfg["optimizer"]["lr"], cfg["batch_size"], cfg["seed"]) == (4, 0.1, 64, 3)
