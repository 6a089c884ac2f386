"""``nnctl train`` through the real CLI: the config defects of issue 9, each one case.

Every test here failed before its fix (noted per test): a traceback, a refused number, a
column accepted twice, or a 1e154-scale target that trained into non-finite predictions.
"""

from __future__ import annotations

import csv
import io
import math

import numpy as np
import pytest

from nnctl import model_file

from helpers import DATASETS, assert_one_line_error, write


def iris_config(tmp_path, training: str, data: str = "") -> None:
    write(tmp_path / "c.yaml", f"data: {{train: {DATASETS / 'iris.csv'}, target: species{data}}}\n"
                               f"training: {training}\n")


def history(tmp_path, name="m") -> list[dict]:
    return list(csv.DictReader(io.StringIO((tmp_path / f"{name}.history.csv").read_text())))


def test_cosine_schedule_with_its_own_epochs(cli, tmp_path):
    """Defect 1: `schedule: {name: cosine, epochs: 50}` ended in a TypeError traceback."""
    iris_config(tmp_path, "{epochs: 5, optimizer: {name: sgd, lr: 0.1},"
                          " schedule: {name: cosine, epochs: 50}}")
    run = cli("train", "c.yaml", "-o", "m.npz")
    assert run.code == 0, run
    lrs = [float(r["lr"]) for r in history(tmp_path)]
    expected = [0.1 * 0.5 * (1 + math.cos(math.pi * e / 50)) for e in range(5)]
    assert lrs == pytest.approx(expected, rel=1e-12)  # over 50 epochs, not the run's 5


def test_cosine_schedule_defaults_to_the_runs_epochs(cli, tmp_path):
    iris_config(tmp_path, "{epochs: 4, optimizer: {name: sgd, lr: 0.1}, schedule: cosine}")
    assert cli("train", "c.yaml", "-o", "m.npz").code == 0
    lrs = [float(r["lr"]) for r in history(tmp_path)]
    assert lrs == pytest.approx([0.1 * 0.5 * (1 + math.cos(math.pi * e / 4)) for e in range(4)])


@pytest.mark.parametrize("text, key, value", [
    ("training: {epochs: 2, optimizer: {lr: 1e-3}}", ("training", "optimizer", "lr"), 0.001),
    ("training: {epochs: 2, optimizer: {name: adam, lr: 5E-2, eps: 1e-7}}",
     ("training", "optimizer", "eps"), 1e-7),
    ("training: {epochs: 2, l2: 1e-4}", ("training", "l2"), 1e-4),
    ("training: {epochs: 2, early_stopping: {patience: 3, min_delta: 1e-5}}",
     ("training", "early_stopping", "min_delta"), 1e-5),
    ("data: {validation_split: 2e-1}\ntraining: {epochs: 2}", ("data", "validation_split"), 0.2),
    ("training: {epochs: 2, optimizer: {lr: +1.5e-3}}", ("training", "optimizer", "lr"), 0.0015),
    ("training: {epochs: 2, optimizer: {lr: 1.e-3}}", ("training", "optimizer", "lr"), 0.001),
])
def test_numbers_in_scientific_notation_with_or_without_a_dot(cli, tmp_path, text, key, value):
    """Defect 2: YAML 1.1 read `1e-3` (no dot) as a string, and the config was refused."""
    text = text.replace("data: {", f"data: {{train: {DATASETS / 'iris.csv'}, target: species, ", 1) \
        if "data:" in text else f"data: {{train: {DATASETS / 'iris.csv'}, target: species}}\n" + text
    write(tmp_path / "c.yaml", text + "\n")
    run = cli("train", "c.yaml", "-o", "m.npz")
    assert run.code == 0, run
    saved = model_file.load(tmp_path / "m.npz").metadata["config"]
    for part in key:
        saved = saved[part]
    assert saved == value and isinstance(saved, float)


def test_a_string_that_only_looks_like_a_number_is_still_refused(cli, tmp_path):
    iris_config(tmp_path, "{optimizer: {lr: 1e-3x}}")
    assert_one_line_error(cli("train", "c.yaml"), 2, "c.yaml, line 2: training.optimizer.lr",
                          "expected a finite number, got a string '1e-3x'")


@pytest.mark.parametrize("data, fragments", [
    (", target: [species, species]", ["data.target[1]", "column 'species' is listed twice"]),
    (", features: [sepal_length, sepal_length]", ["data.features[1]", "'sepal_length' is listed twice"]),
    (", features: [sepal_length, species]", ["data.features", "'species' is both a feature and the target"]),
    (", target: [0, 0], header: false", ["data.target[1]", "column 0 is listed twice"]),
])
def test_a_column_named_twice_is_a_config_error(cli, tmp_path, data, fragments):
    """Defect 3: `target: [label, label]` was accepted (and trained on a doubled target)."""
    write(tmp_path / "c.yaml", f"data: {{train: {DATASETS / 'iris.csv'}{data}}}\n"
          .replace(", target: species", "") if "target:" in data
          else f"data: {{train: {DATASETS / 'iris.csv'}, target: species{data}}}\n")
    assert_one_line_error(cli("train", "c.yaml"), 2, "c.yaml, line 1", *fragments)


@pytest.mark.parametrize("scale", [1e154, 1e300])
def test_a_target_on_a_huge_scale_trains_and_predicts_finite_values(cli, tmp_path, scale):
    """Defect 4: a 1e154-scale target overflowed the scaler's squares: non-finite predictions
    with exit 0 (or R^2 = 1.0). Any RuntimeWarning fails this test (pytest: warnings are errors)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 2))
    y = (X @ [1.0, 2.0]) * scale
    rows = "".join(f"{a!r},{b!r},{float(t)!r}\n" for (a, b), t in zip(X.tolist(), y))
    write(tmp_path / "big.csv", "a,b,y\n" + rows)
    write(tmp_path / "c.yaml", "data: {train: big.csv, target: y}\ntraining: {epochs: 40}\n")
    run = cli("train", "c.yaml", "-o", "m.npz")
    assert run.code == 0, run
    results = model_file.load(tmp_path / "m.npz").metadata["training"]["results"]
    assert 0.5 < results["test"]["r2"] < 1.0, results  # 0.83 at 1e154 when written
    run = cli("predict", "m.npz", "big.csv")
    assert run.code == 0, run
    predicted = np.array([float(r["predicted_y"]) for r in csv.DictReader(io.StringIO(run.stdout))])
    assert np.isfinite(predicted).all() and len(predicted) == 400
    assert np.corrcoef(predicted / scale, y / scale)[0, 1] > 0.8


def test_a_target_beyond_what_the_network_can_reach_is_refused_not_written(cli, tmp_path):
    """Without target scaling, the loss overflows: exit 1 with the epoch and layer, no model."""
    rows = "".join(f"{i},{float(i) * 1e200!r}\n" for i in range(50))
    write(tmp_path / "big.csv", "a,y\n" + rows)
    write(tmp_path / "c.yaml", "data: {train: big.csv, target: y, standardize_target: false}\n"
                               "training: {epochs: 3}\n")
    run = cli("train", "c.yaml", "-o", "m.npz")
    assert run.code == 1 and "Traceback" not in run.stderr, run
    errors = [line for line in run.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "became non-finite at epoch 1" in errors[0], run
    assert "so no model was saved" in errors[0]
    assert not (tmp_path / "m.npz").exists()


@pytest.mark.parametrize("extra, fragments", [
    ("task: classification\nloss: mse\n", ["line 3: loss", "task: classification needs a cross-entropy"]),
    ("task: regression\nloss: binary_crossentropy\n", ["task: regression needs loss mse"]),
])
def test_task_and_loss_that_contradict_each_other_are_refused(cli, tmp_path, extra, fragments):
    write(tmp_path / "c.yaml", f"data: {{train: {DATASETS / 'iris.csv'}, target: species}}\n" + extra)
    assert_one_line_error(cli("train", "c.yaml"), 2, "c.yaml", *fragments)


def test_a_type_is_inferred_on_every_row_so_a_stray_cell_in_held_out_rows_is_found(cli, tmp_path):
    rows = "".join(f"{i % 7},{i % 3},{i % 2}\n" for i in range(60))
    write(tmp_path / "s.csv", "x,z,y\n" + rows.replace("6,0,0\n", "oops,0,0\n", 1))
    for seed in range(4):  # wherever the split puts that row
        write(tmp_path / "c.yaml", f"data: {{train: s.csv, target: y}}\ntraining: {{seed: {seed}}}\n")
        assert_one_line_error(cli("train", "c.yaml"), 1, "s.csv, line", "'oops' is not a number")
