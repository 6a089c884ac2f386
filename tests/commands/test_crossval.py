"""``nnctl train --folds K``: each fold is exactly the run a user would make by hand with
that fold as the test file, and the summary is the folds' mean and standard deviation."""

from __future__ import annotations

import json
import statistics

import numpy as np
import pandas as pd
import pytest

from nnctl.config import BUNDLED
from nnctl.data.split import fold_indices

from helpers import assert_one_line_error

IRIS = BUNDLED / "datasets" / "iris.csv"


def test_every_fold_equals_the_run_by_hand_with_that_fold_as_the_test_file(cli, tmp_path):
    (tmp_path / "c.yaml").write_text(f"data: {{train: {IRIS}, target: species}}\n"
                                     "training: {epochs: 15, seed: 4}\n")
    run = cli("train", "c.yaml", "--folds", 3, "--json")
    assert run.code == 0, run
    out = json.loads(run.stdout)
    assert out["folds"] == 3 and out["stratified"] and out["model"] is None
    assert not (tmp_path / "runs").exists()  # no model, no run directory

    df = pd.read_csv(IRIS)
    classes, strata = np.unique(df["species"], return_inverse=True)
    folds = fold_indices(len(df), 3, np.random.default_rng(4), strata)
    for i, test in enumerate(folds):
        train = np.sort(np.concatenate([f for j, f in enumerate(folds) if j != i]))
        df.iloc[train].to_csv(tmp_path / f"train{i}.csv", index=False)
        df.iloc[test].to_csv(tmp_path / f"test{i}.csv", index=False)
        (tmp_path / f"c{i}.yaml").write_text(
            f"data: {{train: train{i}.csv, test: test{i}.csv, target: species}}\n"
            "training: {epochs: 15, seed: 4}\n")
        by_hand = json.loads(cli("train", f"c{i}.yaml", "-o", f"m{i}.npz", "--json").stdout)
        fold = out["per_fold"][i]
        assert fold["rows"]["test"] == len(test)
        assert fold["test"] == by_hand["results"]["test"], i  # the same floats, exactly
    for name, stats in out["summary"].items():
        values = [f["test"][name] for f in out["per_fold"]]
        assert stats["mean"] == pytest.approx(statistics.fmean(values), rel=1e-12)
        assert stats["std"] == pytest.approx(statistics.stdev(values), rel=1e-12)
        assert stats["min"] == min(values) and stats["max"] == max(values)


def test_regression_folds_cover_every_row_once_and_show_a_table(cli, tmp_path):
    (tmp_path / "c.yaml").write_text(
        f"data: {{train: {BUNDLED / 'datasets' / 'diabetes.csv'}, target: progression}}\n"
        "training: {epochs: 5}\n")
    run = cli("train", "c.yaml", "--folds", 4, "--json")
    assert run.code == 0, run
    out = json.loads(run.stdout)
    rows = len(pd.read_csv(BUNDLED / "datasets" / "diabetes.csv"))
    assert sum(f["rows"]["test"] for f in out["per_fold"]) == rows
    assert not out["stratified"] and set(out["summary"]) == {"loss", "r2", "mae", "rmse"}
    assert "4-fold cross-validation of c" in run.stderr and "mean" in run.stderr
    assert "no model saved" in run.stderr


def test_folds_are_a_partition_stratified_even_and_seeded():
    rng = np.random.default_rng(0)
    strata = rng.integers(0, 3, 101)
    folds = fold_indices(101, 5, np.random.default_rng(7), strata)
    assert sorted(np.concatenate(folds).tolist()) == list(range(101))
    assert max(map(len, folds)) - min(map(len, folds)) <= 1
    for c in range(3):
        counts = [int((strata[f] == c).sum()) for f in folds]
        assert max(counts) - min(counts) <= 1, counts
    again = fold_indices(101, 5, np.random.default_rng(7), strata)
    assert all(np.array_equal(a, b) for a, b in zip(folds, again))
    with pytest.raises(ValueError):
        fold_indices(3, 4, np.random.default_rng(0))


def test_what_cross_validation_refuses(cli, tmp_path):
    (tmp_path / "c.yaml").write_text(f"data: {{train: {IRIS}, target: species}}\n"
                                     "training: {epochs: 2}\n")
    assert_one_line_error(cli("train", "c.yaml", "--folds", 3, "-o", "m.npz"), 2, "saves no model")
    assert_one_line_error(cli("train", "c.yaml", "--folds", 151), 2, "--folds 151 (training.folds): 151 folds need")
    assert_one_line_error(cli("train", "c.yaml", "--folds", 1), 2, "--folds")
    assert cli("train", "c.yaml", "-o", "m.npz").code == 0
    assert_one_line_error(cli("train", "c.yaml", "--folds", 3, "--resume", "m.npz"), 2, "resume")


def test_a_class_rarer_than_the_folds_is_warned_about(cli, tmp_path):
    rows = "".join(f"{i},{i % 7},{'rare' if i < 2 else 'a' if i % 2 else 'b'}\n" for i in range(60))
    (tmp_path / "d.csv").write_text("x1,x2,y\n" + rows)
    (tmp_path / "c.yaml").write_text("data: {train: d.csv, target: y}\ntraining: {epochs: 2}\n")
    run = cli("train", "c.yaml", "--folds", 3)
    assert run.code == 0, run
    warned = [line for line in run.stderr.splitlines() if line.startswith("Warning:")]
    assert any("class 'rare' has 2 labelled row(s), fewer than the 3 folds" in w for w in warned), run
