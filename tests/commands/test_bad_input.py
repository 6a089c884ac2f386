"""Bad input through the CLI in this process (CliRunner): the cases that need a fixture
or a look at more than the error line. The table-driven corpus, each case in a
process of its own (a subprocess, or a fork of a zygote that imported nnctl once), is
tests/corpus.py (run by test_corpus.py)."""

from __future__ import annotations


import numpy as np
import pytest

from helpers import DATASETS, assert_one_line_error, write

DEFAULT = DATASETS / "default.csv"
CSV = "a,b,label\n1,2,x\n3,4,y\n5,6,x\n7,8,y\n"


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


def test_model_file_errors_on_resume(cli, tmp_path, model):
    np.savez(tmp_path / "x.npz", W1=np.zeros((3, 3)))
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
