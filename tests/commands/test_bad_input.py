"""A corpus of bad input, each case through the real CLI.

Every case writes real files into a fresh directory, runs one command and checks the exit
code, that stderr holds exactly one 'Error:' line naming the place (file, line, row,
column or key) and what to do, and that no traceback is printed. A second table holds
inputs that look odd but must simply work.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pytest

from helpers import DATASETS, assert_one_line_error, load_arrays, write

DEFAULT = DATASETS / "default.csv"
CSV = "a,b,label\n1,2,x\n3,4,y\n5,6,x\n7,8,y\n"


@dataclass
class Case:
    name: str
    files: dict[str, str | bytes]
    args: list[str]
    code: int
    fragments: list[str] = field(default_factory=list)


def config_case(name, yaml_text, fragments, code=2, csv=CSV):
    """``nnctl train c.yaml`` where c.yaml reads data.csv unless it says otherwise."""
    if "train:" not in yaml_text:
        yaml_text = "data:\n  train: data.csv\n" + yaml_text if "data:" not in yaml_text else \
            yaml_text.replace("data:\n", "data:\n  train: data.csv\n", 1)
    return Case(name, {"c.yaml": yaml_text, "data.csv": csv}, ["train", "c.yaml"], code,
                ["c.yaml", *fragments])


def csv_case(name, csv, fragments, data="", extra="training: {epochs: 2}\n"):
    """``nnctl train c.yaml`` on a bad data.csv: exit 1, the file and place named."""
    return Case(name, {"c.yaml": f"data: {{train: data.csv{data}}}\n" + extra, "data.csv": csv},
                ["train", "c.yaml"], 1, ["data.csv", *fragments])


CONFIG = [
    config_case("yaml syntax: unclosed list", "network:\n  layers: [3, 1\n",
                ["line 5, column 1", "YAML syntax error"]),
    config_case("yaml syntax: bad mapping", "training:\n  epochs: 3: 4\n",
                ["line 4, column 12", "YAML syntax error", "mapping values are not allowed"]),
    config_case("yaml syntax: tab indent", "training:\n\tepochs: 3\n", ["line 4, column 1", "YAML syntax error"]),
    Case("not a mapping", {"c.yaml": "- 1\n- 2\n"}, ["train", "c.yaml"], 2,
         ["c.yaml, line 1", "must be a mapping of sections", "got a list"]),
    Case("a scalar document", {"c.yaml": "hello\n"}, ["train", "c.yaml"], 2,
         ["c.yaml, line 1", "got a string"]),
    Case("empty file", {"c.yaml": ""}, ["train", "c.yaml"], 2,
         ["c.yaml: the config file is empty", "give no config to use the defaults"]),
    Case("only comments", {"c.yaml": "# nothing\n"}, ["train", "c.yaml"], 2, ["the config file is empty"]),
    config_case("unknown top-level key", "netwrok:\n  layers: [3, 1]\n",
                ["line 3: netwrok", "unknown key 'netwrok'", "did you mean 'network'?"]),
    config_case("unknown data key", "data:\n  targte: label\n",
                ["line 3: data.targte", "did you mean 'target'?"]),
    config_case("unknown network key", "network:\n  layer: [3, 1]\n",
                ["line 4: network.layer", "did you mean 'layers'?"]),
    config_case("unknown layer key", "network:\n  layers:\n    - {units: 3, activaton: tanh}\n    - 1\n",
                ["line 5: network.layers[0].activaton", "did you mean 'activation'?"]),
    config_case("unknown training key", "training:\n  epochs: 3\n  bacth_size: 8\n",
                ["line 5: training.bacth_size", "did you mean 'batch_size'?"]),
    config_case("unknown optimizer parameter", "training:\n  optimizer: {name: adam, momentum: 0.9}\n",
                ["training.optimizer.momentum", "optimizer 'adam' takes no parameter 'momentum'"]),
    config_case("unknown output key", "output:\n  modle: m.npz\n", ["line 4: output.modle", "did you mean 'model'?"]),
    config_case("wrong type: epochs", "training:\n  epochs: many\n",
                ["line 4: training.epochs", "expected an integer, got a string 'many'"]),
    config_case("wrong type: layers", "network:\n  layers: 5\n",
                ["network.layers", "expected a list of layers, got an integer"]),
    config_case("wrong type: header", "data:\n  header: maybe\n", ["data.header", "expected true or false"]),
    config_case("wrong type: lr", "training:\n  optimizer: {name: sgd, lr: fast}\n",
                ["line 4: training.optimizer.lr", "expected a finite number, got a string 'fast'"]),
    config_case("negative units", "network:\n  layers:\n    - units: -3\n    - 1\n",
                ["line 5: network.layers[0].units", "must be from 1 to"]),
    config_case("zero units", "network:\n  layers:\n    - units: 0\n    - 1\n", ["network.layers[0].units"]),
    config_case("absurd units", "network:\n  layers:\n    - units: 100000000\n    - 1\n",
                ["network.layers[0].units", "must be from 1 to 1000000"]),
    config_case("too big for memory",
                "network:\n  layers:\n    - 200000\n    - 200000\n    - 1\n",
                ["network.layers", "parameters would need about", "GiB", "use smaller layers"]),
    config_case("zero layers", "network:\n  layers: []\n", ["network.layers", "at least one layer"]),
    config_case("unknown activation", "network:\n  layers:\n    - {units: 3, activation: rleu}\n    - 1\n",
                ["line 5: network.layers[0].activation", "expected one of arctan, binary_step, elu",
                 "did you mean 'relu'?"]),
    config_case("softmax in a hidden layer", "network:\n  layers:\n    - {units: 3, activation: softmax}\n    - 1\n",
                ["network.layers[0].activation", "only allowed in the output layer"]),
    config_case("alpha on tanh", "network:\n  layers:\n    - {units: 3, activation: tanh, alpha: 0.1}\n    - 1\n",
                ["network.layers[0].alpha", "takes no alpha; only elu and prelu do"]),
    config_case("unknown loss", "loss: hinge\n",
                ["line 3: loss", "unknown loss 'hinge'", "binary_crossentropy, categorical_crossentropy, mse"]),
    config_case("unknown optimizer", "training:\n  optimizer: adagrad\n",
                ["line 4: training.optimizer: unknown optimizer", "expected one of adam, momentum, nesterov, sgd"]),
    config_case("unknown schedule", "training:\n  schedule: linear\n",
                ["line 4: training.schedule: unknown schedule 'linear'", "cosine, exponential"]),
    config_case("unknown dtype", "training:\n  dtype: float16\n",
                ["training.dtype", "expected one of float32, float64"]),
    config_case("loss vs output activation", "network:\n  layers:\n    - 3\n    - {units: 1, activation: tanh}\n",
                ["line 6: network.layers[1].activation", "needs a 'logistic' output activation, got 'tanh'"]),
    config_case("softmax output with binary loss", "loss: binary_crossentropy\nnetwork:\n  layers:\n"
                "    - 3\n    - {activation: softmax}\n",
                ["network.layers[1].activation", "needs a 'logistic' output activation, got 'softmax'"]),
    config_case("n[0] mismatch", "network:\n  inputs: 4\n  layers: [3, 1]\n",
                ["line 4: network.inputs", "n[0] = 4, but the data has 2 feature column(s)"]),
    config_case("n[L] mismatch", "network:\n  layers: [3, 2]\n",
                ["line 4: network.layers[1].units", "n[L] = 2, but the target needs 1 output(s)"]),
    config_case("split fractions sum to 1", "data:\n  validation_split: 0.6\n  test_split: 0.4\n",
                ["data.test_split", "leaves no training rows"]),
    config_case("negative split", "data:\n  validation_split: -0.1\n", ["data.validation_split", "must be in [0.0, 1.0)"]),
    config_case("data path missing", "data:\n  train: nope.csv\n", ["line 2: data.train", "nope.csv: no such file"]),
    config_case("data path is a directory", "data:\n  train: .\n", ["data.train", "is a directory"]),
    config_case("validation path missing", "data:\n  validation: val.csv\n", ["data.validation", "val.csv: no such file"]),
    config_case("duplicate key", "training:\n  epochs: 3\n  epochs: 4\n", ["line 5: training.epochs", "duplicate key"]),
    config_case("feature is the target", "data:\n  features: [a, label]\n", ["data.features", "both a feature and the target"]),
    config_case("two-character delimiter", "data:\n  delimiter: ';;'\n", ["data.delimiter", "expected one character"]),
    Case("missing config file", {}, ["train", "nope.yaml"], 2, ["nope.yaml: no such config file"]),
    Case("config is a directory", {"d/x": ""}, ["train", "d"], 2, ["d: is a directory"]),
]

DATA = [
    csv_case("empty file", "", ["the training file is empty"]),
    csv_case("blank lines only", "\n\n  \n", ["the training file is empty"]),
    csv_case("header only", "a,b,label\n", ["has a header but no data rows"]),
    csv_case("ragged row, too many", "a,b,label\n1,2,x\n3,4,5,y\n", ["line 3: 4 fields, expected 3"]),
    csv_case("ragged row, too few", "a,b,label\n1,2,x\n3,y\n", ["line 3: 2 fields, expected 3", "check the delimiter"]),
    csv_case("non-numeric cell", "a,b,label\n1,2,x\n3,oops,y\n", ["line 3, column 'b'", "'oops' is not a number"]),
    csv_case("inf cell", "a,b,label\n1,2,x\n3,-inf,y\n", ["line 3, column 'b'", "-inf in a feature column"]),
    csv_case("missing target column", "a,b,class\n1,2,x\n3,4,y\n", ["line 1: no target column 'label'", "the columns are a, b, class"]),
    csv_case("misspelt target column", "a,b,lable\n1,2,x\n3,4,y\n", ["no target column 'label'", "did you mean 'lable'?"]),
    csv_case("missing feature column", "a,b,label\n1,2,x\n3,4,y\n", ["no feature column 'c'"],
             data=", features: [a, c]"),
    csv_case("single-class target", "a,b,label\n1,2,x\n3,4,x\n", ["target column 'label' has a single class 'x'"]),
    csv_case("duplicate column names", "a,a,label\n1,2,x\n3,4,y\n", ["line 1: duplicate column name 'a'"]),
    csv_case("unnamed column", "a,,label\n1,2,x\n3,4,y\n", ["line 1: column 2 has an empty name"]),
    csv_case("non-UTF-8 bytes", b"a,b,label\n1,2,x\n3,4,caf\xe9\n", ["line 3: byte 0xe9 is not UTF-8", "save the file as UTF-8"]),
    csv_case("target index out of range", "1,2,x\n3,4,y\n", ["target column index 7 is out of range"],
             data=", header: false, target: 7"),
    csv_case("three classes for a binary loss", "a,b,label\n1,2,x\n3,4,y\n5,6,z\n",
             ["loss binary_crossentropy needs two classes", "use categorical_crossentropy"],
             extra="loss: binary_crossentropy\n"),
    csv_case("labels for a regression loss", "a,b,label\n1,2,x\n3,4,y\n", ["line 2, column 'label'", "'x' is not a number"],
             extra="loss: mse\n"),
    csv_case("unclosed quote", 'a,b,label\n1,2,"x\n3,4,y\n', ["line 2", "malformed CSV", "an unclosed quote"]),
]

# Inputs that look odd but are fine: each must train (exit 0).
GOOD = {
    "UTF-8 BOM": "\ufeffa,b,label\n1,2,x\n3,4,y\n5,6,x\n7,8,y\n".encode(),
    "CRLF line ends": b"a,b,label\r\n1,2,x\r\n3,4,y\r\n5,6,x\r\n7,8,y\r\n",
    "old Mac line ends": b"a,b,label\r1,2,x\r3,4,y\r5,6,x\r7,8,y\r",
    "quoted fields": b'a,b,label\n"1",2,"x, left"\n3,"4",y\n5,6,"x, left"\n7,8,y\n',
    "blank lines and spaces": b"a, b ,label\n\n 1 ,2, x\n3,4,y\n\n5,6,x \n7,8,y\n\n",
    "no final newline": b"a,b,label\n1,2,x\n3,4,y\n5,6,x\n7,8,y",
    "integer labels": b"a,b,label\n1,2,0\n3,4,1\n5,6,0\n7,8,1.0\n",
}


def run_case(cli, tmp_path, case: Case):
    for name, text in case.files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)
    return cli(*case.args)


@pytest.mark.parametrize("case", CONFIG, ids=[c.name for c in CONFIG])
def test_config_errors(cli, tmp_path, case):
    assert_one_line_error(run_case(cli, tmp_path, case), case.code, *case.fragments)


@pytest.mark.parametrize("case", DATA, ids=[c.name for c in DATA])
def test_data_errors(cli, tmp_path, case):
    assert_one_line_error(run_case(cli, tmp_path, case), case.code, *case.fragments)


# Missing cells (issue 10): features are imputed, rows without a target left out, counted.
MISSING = [  # (csv, target, summary fragments)
    ("a,b,label\n1,2,x\n3,,y\n5,6,x\n7,8,y\n", "label", ["b (numeric)", "train 4"]),
    ("a,b,label\n1,2,x\nnan,4,y\n5,6,x\n7,8,y\n", "label", ["a (numeric)", "train 4"]),
    ("a,b,y\n1,2,0.5\n3,4,nan\n5,6,0.1\n7,8,0.3\n", "y", ["train 3; 1 without a target left out",
                                                            "y (regression)"]),
    ("a,b,label\n1,2,x\n3,4,\n5,6,y\n7,8,x\n", "label", ["train 3; 1 without a target left out",
                                                         "2 classes (x, y)"]),
]


@pytest.mark.parametrize("text, target, fragments", MISSING)
def test_missing_cells_are_imputed_and_rows_without_a_target_counted(cli, tmp_path, text, target,
                                                                     fragments):
    write(tmp_path / "data.csv", text)
    write(tmp_path / "c.yaml", f"data: {{train: data.csv, target: {target}, validation_split: 0,"
                               " test_split: 0}\ntraining: {epochs: 2, batch_size: 2}\n")
    run = cli("train", "c.yaml")
    assert run.code == 0, run
    for fragment in fragments:
        assert fragment in run.stderr, (fragment, run)


@pytest.mark.parametrize("name", sorted(GOOD))
def test_odd_but_valid_csv_trains(cli, tmp_path, name):
    (tmp_path / "data.csv").write_bytes(GOOD[name])
    write(tmp_path / "c.yaml", "data: {train: data.csv, validation_split: 0, test_split: 0}\n"
                               "training: {epochs: 2, batch_size: 2}\n")
    run = cli("train", "c.yaml")
    assert run.code == 0, run
    assert "features     2: a (numeric), b (numeric)" in run.stderr
    assert "2 classes (" in run.stderr


def test_another_delimiter_works(cli, tmp_path):
    write(tmp_path / "data.csv", "a;b;label\n1;2;x\n3;4;y\n5;6;x\n7;8;y\n")
    write(tmp_path / "c.yaml", "data: {train: data.csv, delimiter: ';', validation_split: 0, test_split: 0}\n"
                               "training: {epochs: 2}\n")
    run = cli("train", "c.yaml")
    assert run.code == 0, run


def test_no_good_row_is_dropped(cli, tmp_path):
    """Every row of a file with blank lines, quotes and CRLF is trained on."""
    rows = "".join(f'{i},"{i % 3}",{"x" if i % 2 else "y"}\r\n\r\n' for i in range(50))
    (tmp_path / "data.csv").write_bytes(("a,b,label\r\n" + rows).encode())
    write(tmp_path / "c.yaml", "data: {train: data.csv, validation_split: 0, test_split: 0}\n"
                               "training: {epochs: 1}\n")
    run = cli("train", "c.yaml")
    assert run.code == 0, run
    assert "rows         train 50" in run.stderr


# -- model files -------------------------------------------------------------------------


@pytest.fixture
def model(cli, tmp_path):
    assert cli("train", "--epochs", "2", "-o", "m.npz").code == 0
    return tmp_path / "m.npz"


def arrays_of(path):
    return load_arrays(path)


def save_edited(tmp_path, arrays, name="x.npz"):
    np.savez(tmp_path / name, **arrays)
    return name


def edit_meta(arrays, change):
    meta = json.loads(str(arrays["metadata"]))
    change(meta)
    arrays["metadata"] = np.array(json.dumps(meta))
    return arrays


MODEL_CASES = {
    "text file": (lambda p, a: p.parent.joinpath("x.npz").write_text("hello") and "x.npz",
                  ["x.npz: not an nnctl model (not an .npz archive)"]),
    "a .npy file": (lambda p, a: np.save(p.parent / "x.npy", np.zeros(3)) or "x.npy",
                    ["x.npy: not an nnctl model (a single .npy array"]),
    "empty file": (lambda p, a: p.parent.joinpath("x.npz").write_bytes(b"") or "x.npz",
                   ["x.npz: not an nnctl model"]),
    "truncated": (lambda p, a: p.parent.joinpath("x.npz").write_bytes(p.read_bytes()[:len(p.read_bytes()) // 2])
                  and "x.npz", ["x.npz: not an nnctl model, or truncated"]),
    "npz without metadata": (lambda p, a: save_edited(p.parent, {"W1": np.zeros((3, 3))}),
                             ["x.npz: not an nnctl model (no metadata)"]),
    "metadata not JSON": (lambda p, a: save_edited(p.parent, {**a, "metadata": np.array("{oops")}),
                          ["metadata is not valid JSON"]),
    "another program's JSON": (lambda p, a: save_edited(p.parent, edit_meta(a, lambda m: m.update(format="keras"))),
                               ["metadata format is not 'nnctl-model'"]),
    "newer format version": (lambda p, a: save_edited(p.parent, edit_meta(a, lambda m: m.update(format_version=99))),
                             ["model format version 99 is newer", "upgrade nnctl"]),
    "wrong array shape": (lambda p, a: save_edited(p.parent, {**a, "W2": np.zeros((3, 2))}),
                          ["inconsistent model", "W2 has shape (3, 2), expected (2, 3)"]),
    "missing array": (lambda p, a: save_edited(p.parent, {k: v for k, v in a.items() if k != "b3"}),
                      ["inconsistent model", "missing parameter array(s): b3"]),
    "NaN weights": (lambda p, a: save_edited(p.parent, {**a, "W1": np.full((3, 3), np.nan)}),
                    ["holds non-finite parameters"]),
    "object array (pickle)": (lambda p, a: save_edited(p.parent, {**a, "W1": np.array([{"x": 1}], dtype=object)}),
                              ["holds pickled objects, which nnctl never loads"]),
    "pickled metadata": (lambda p, a: save_edited(p.parent, {"metadata": np.array([{"evil": 1}], dtype=object)}),
                         ["holds pickled objects"]),
    "string weights": (lambda p, a: save_edited(p.parent, {**a, "W1": np.array([["a"] * 3] * 3)}),
                       ["inconsistent model", "array W1 has dtype <U1, expected floating point"]),
    "missing model file": (lambda p, a: "nope.npz", ["nope.npz: no such model file"]),
}


@pytest.mark.parametrize("kind", sorted(MODEL_CASES))
def test_model_file_errors(cli, tmp_path, model, kind):
    make, fragments = MODEL_CASES[kind]
    name = make(model, arrays_of(model))
    assert_one_line_error(cli("predict", name, DEFAULT), 1, *fragments)


def test_model_file_errors_on_resume(cli, tmp_path, model):
    save_edited(tmp_path, {"W1": np.zeros((3, 3))})
    assert_one_line_error(cli("train", "--resume", "x.npz"), 1, "x.npz: not an nnctl model (no metadata)")


# -- the command line ---------------------------------------------------------------------


def test_unknown_option(cli):
    assert_one_line_error(cli("train", "--epoch", "3"), 2, "No such option '--epoch'", "Did you mean '--epochs'?")


def test_unknown_command(cli):
    assert_one_line_error(cli("trian"), 2, "No such command 'trian'")


def test_bad_option_value(cli):
    assert_one_line_error(cli("train", "--lr", "0"), 2, "Invalid value for '--lr'")


def test_unwritable_output_directory_before_training(cli, tmp_path):
    run = cli("train", "-o", tmp_path / "no" / "dir" / "m.npz")
    assert_one_line_error(run, 1, "does not exist; create it first")
    assert "results" not in run.stderr and not (tmp_path / "no").exists()


def test_output_under_a_file_is_refused_before_training(cli, tmp_path):
    # As root every directory is writable, so a path through a file stands in for one that
    # cannot be written.
    write(tmp_path / "file", "x")
    run = cli("train", "-o", tmp_path / "file" / "m.npz")
    assert_one_line_error(run, 1, "m.npz: the directory", "does not exist; create it first")
    assert "results" not in run.stderr


def test_output_is_a_directory(cli, tmp_path):
    (tmp_path / "out").mkdir()
    assert_one_line_error(cli("train", "-o", "out"), 1, "out: is a directory; give a file name")


def test_predict_rows_missing_feature_columns(cli, tmp_path, model):
    write(tmp_path / "new.csv", "x1,x3\n0.1,0.2\n")
    assert_one_line_error(cli("predict", model, "new.csv"), 1,
                          "new.csv, line 1: no feature column 'x2'", "the columns are x1, x3")


def test_predict_on_an_empty_csv(cli, tmp_path, model):
    write(tmp_path / "empty.csv", "")
    assert_one_line_error(cli("predict", model, "empty.csv"), 1, "empty.csv: the input file is empty")


def test_predict_on_empty_stdin(cli, model):
    assert_one_line_error(cli("predict", model, "-", input=""), 1, "<stdin>: the input file is empty")


def test_predict_non_numeric_feature(cli, tmp_path, model):
    write(tmp_path / "new.csv", "x1,x2,x3\n0.1,abc,0.2\n")
    assert_one_line_error(cli("predict", model, "new.csv"), 1, "new.csv, line 2, column 'x2'", "'abc' is not a number")


def test_predict_output_directory_missing(cli, tmp_path, model):
    assert_one_line_error(cli("predict", model, DEFAULT, "-o", tmp_path / "no" / "p.csv"), 1,
                          "p.csv: the directory", "does not exist")


def test_shapes_on_a_bad_config(cli, tmp_path):
    write(tmp_path / "c.yaml", "network:\n  layers: [0]\n")
    assert_one_line_error(cli("shapes", "c.yaml"), 2, "network.layers[0].units")


def test_corpus_size():
    """The issue asks for at least 60 table-driven cases."""
    assert len(CONFIG) + len(DATA) + len(GOOD) + len(MODEL_CASES) >= 60
