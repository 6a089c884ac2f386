"""Bad input through the real CLI: exit code, one line naming the place, no traceback.

Each case writes real files into a fresh directory, runs one command and checks the
single 'Error:' line on stderr for fragments that name the place and what to do.
"""

import json

import numpy as np
import pytest

from conftest import DATASETS, assert_one_line_error, write

DEFAULT = DATASETS / "default.csv"
GOOD_CSV = "a,b,label\n1,2,x\n3,4,y\n5,6,x\n7,8,y\n"


def cfg(body: str, data: str = "data.csv") -> str:
    """A config whose data section points at ``data`` (relative to the config)."""
    return f"data:\n  train: {data}\n{body}"


# (name, files, args, exit code, fragments)
CONFIG_CASES = [
    ("yaml syntax", {"c.yaml": "network:\n  layers: [3, 1\n"}, ["train", "c.yaml"], 2,
     ["c.yaml, line 3, column 1", "YAML syntax error"]),
    ("not a mapping", {"c.yaml": "- 1\n- 2\n"}, ["train", "c.yaml"], 2,
     ["c.yaml, line 1", "must be a mapping"]),
    ("unknown top key", {"c.yaml": "netwrok:\n  layers: [3, 1]\n"}, ["train", "c.yaml"], 2,
     ["c.yaml, line 1: netwrok", "unknown key 'netwrok'", "did you mean 'network'?"]),
    ("unknown nested key", {"c.yaml": "training:\n  epochs: 3\n  bacth_size: 8\n"}, ["train", "c.yaml"], 2,
     ["line 3: training.bacth_size", "did you mean 'batch_size'?"]),
    ("wrong type", {"c.yaml": "training:\n  epochs: many\n"}, ["train", "c.yaml"], 2,
     ["line 2: training.epochs", "expected an integer, got string 'many'"]),
    ("out of range", {"c.yaml": "training:\n  optimizer:\n    name: adam\n    lr: -0.1\n"}, ["train", "c.yaml"], 2,
     ["line 4: training.optimizer.lr", "lr must be in (0.0, inf]"]),
    ("zero units", {"c.yaml": "network:\n  layers:\n    - units: 0\n    - units: 1\n"}, ["train", "c.yaml"], 2,
     ["line 3: network.layers[0].units", "must be from 1 to"]),
    ("unknown activation", {"c.yaml": "network:\n  layers:\n    - {units: 3, activation: rleu}\n    - 1\n"},
     ["train", "c.yaml"], 2,
     ["line 3: network.layers[0].activation", "expected one of arctan, binary_step, elu", "did you mean 'relu'?"]),
    ("unknown loss", {"c.yaml": "loss: hinge\n"}, ["train", "c.yaml"], 2,
     ["line 1: loss", "unknown loss 'hinge'", "binary_crossentropy, categorical_crossentropy, mse"]),
    ("unknown optimizer", {"c.yaml": "training:\n  optimizer: adagrad\n"}, ["train", "c.yaml"], 2,
     ["training.optimizer.name", "expected one of adam, momentum, nesterov, sgd"]),
    ("n[0] mismatch", {"c.yaml": cfg("network:\n  inputs: 4\n  layers: [3, 1]\n"), "data.csv": GOOD_CSV},
     ["train", "c.yaml"], 2, ["line 4: network.inputs", "n[0] = 4, but the data has 2 feature column(s)"]),
    ("n[L] mismatch", {"c.yaml": cfg("network:\n  layers: [3, 2]\n"), "data.csv": GOOD_CSV},
     ["train", "c.yaml"], 2,
     ["line 4: network.layers[1].units", "n[L] = 2, but the target needs 1 output(s) for loss binary_crossentropy"]),
    ("loss vs output activation", {"c.yaml": cfg("network:\n  layers:\n    - 3\n    - {units: 1, activation: tanh}\n"),
                                   "data.csv": GOOD_CSV},
     ["train", "c.yaml"], 2,
     ["line 6: network.layers[1].activation", "needs a 'logistic' output activation, got 'tanh'"]),
    ("missing config", {}, ["train", "nope.yaml"], 2, ["nope.yaml: no such config file"]),
    ("bad option", {}, ["train", "--epochs", "0"], 2, ["Invalid value for '--epochs'"]),
]

DATA_CASES = [
    ("non-numeric cell", "a,b,label\n1,2,x\n3,oops,y\n", ["line 3, column 'b'", "'oops' is not a number"]),
    ("empty cell", "a,b,label\n1,2,x\n3,,y\n", ["line 3, column 'b'", "empty cell", "fill it in or remove the row"]),
    ("nan cell", "a,b,label\n1,2,x\nnan,4,y\n", ["line 3, column 'a'", "nan in a feature column"]),
    ("inf cell", "a,b,label\n1,2,x\n3,-inf,y\n", ["line 3, column 'b'", "-inf in a feature column"]),
    ("ragged row", "a,b,label\n1,2,x\n3,4,5,y\n", ["line 3: 4 fields, expected 3", "check the delimiter"]),
    ("missing target", "a,b,class\n1,2,x\n3,4,y\n", ["line 1: no target column 'label'", "the columns are a, b, class"]),
    ("single class", "a,b,label\n1,2,x\n3,4,x\n", ["target column 'label' has a single class 'x'"]),
    ("empty file", "", ["the training file is empty"]),
    ("header only", "a,b,label\n", ["has a header but no data rows"]),
    ("duplicate column", "a,a,label\n1,2,x\n3,4,y\n", ["line 1: duplicate column name 'a'"]),
]


@pytest.mark.parametrize("name, files, args, code, fragments", CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_config_errors(cli, tmp_path, name, files, args, code, fragments):
    for fname, text in files.items():
        write(tmp_path / fname, text)
    assert_one_line_error(cli(*args), code, *fragments)


@pytest.mark.parametrize("name, csv_text, fragments", DATA_CASES, ids=[c[0] for c in DATA_CASES])
def test_data_errors(cli, tmp_path, name, csv_text, fragments):
    write(tmp_path / "c.yaml", cfg("training: {epochs: 2}\n"))
    write(tmp_path / "data.csv", csv_text)
    assert_one_line_error(cli("train", "c.yaml"), 1, "data.csv", *fragments)


def test_missing_feature_column_in_predict(cli, tmp_path):
    cli("train", "--epochs", "2", "-o", "m.npz")
    write(tmp_path / "new.csv", "x1,x3\n0.1,0.2\n")
    assert_one_line_error(cli("predict", "m.npz", "new.csv"), 1,
                          "new.csv, line 1: no feature column 'x2'", "the columns are x1, x3")


def model_with_metadata(tmp_path, change):
    """A real model file whose metadata was edited by ``change``."""
    with np.load(tmp_path / "m.npz", allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(str(arrays["metadata"]))
    change(meta)
    arrays["metadata"] = np.array(json.dumps(meta))
    np.savez(tmp_path / "edited.npz", **arrays)
    return "edited.npz"


@pytest.mark.parametrize("kind", ["text file", "truncated", "newer version", "pickle", "wrong shape"])
def test_model_file_errors(cli, tmp_path, kind):
    assert cli("train", "--epochs", "2", "-o", "m.npz").code == 0
    if kind == "text file":
        write(tmp_path / "x.npz", "hello")
        name, fragments = "x.npz", ["x.npz: not an nnctl model"]
    elif kind == "truncated":
        data = (tmp_path / "m.npz").read_bytes()
        (tmp_path / "x.npz").write_bytes(data[: len(data) // 2])
        name, fragments = "x.npz", ["x.npz: not an nnctl model, or truncated"]
    elif kind == "newer version":
        name = model_with_metadata(tmp_path, lambda m: m.update(format_version=99))
        fragments = ["model format version 99 is newer", "upgrade nnctl"]
    elif kind == "pickle":
        np.savez(tmp_path / "x.npz", metadata=np.array([{"evil": 1}], dtype=object))
        name, fragments = "x.npz", ["x.npz: holds pickled objects, which nnctl never loads"]
    else:
        with np.load(tmp_path / "m.npz", allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        arrays["W2"] = np.zeros((3, 2))
        np.savez(tmp_path / "x.npz", **arrays)
        name, fragments = "x.npz", ["x.npz: inconsistent model", "W2 has shape (3, 2), expected (2, 3)"]
    assert_one_line_error(cli("predict", name, DEFAULT), 1, *fragments)


def test_unwritable_output_is_reported_before_training(cli, tmp_path):
    run = cli("train", "-o", tmp_path / "no" / "such" / "dir" / "m.npz")
    assert_one_line_error(run, 1, "does not exist; create it first")
    assert "results" not in run.stderr
