"""Random tables (hypothesis) through train -> predict -> evaluate, the real CLI each time.

Mixes of numbers, text categories, booleans, empty cells, rows without a target, and at
predict time categories never seen in training. Whatever the mix: a table is trained on
or refused in one line; predict keeps every row, writes a value for every row (it imputes
what is missing) and never a class that training did not have; evaluate counts every row
as scored or skipped.
"""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from nnctl.cli import main


def cli(args, cwd):
    import os

    from click.testing import CliRunner

    old = os.getcwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(main, args)
    finally:
        os.chdir(old)


def clean(result) -> None:
    """Exit 0, or one 'Error:' line and exit 1 or 2; never a traceback or a warning."""
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert (result.exit_code, len(errors)) in ((0, 0), (1, 1), (2, 1)), result.stderr


@st.composite
def tables(draw):
    rows = draw(st.integers(8, 80))
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    task = draw(st.sampled_from(["classes", "numbers"]))
    holes = draw(st.floats(0.0, 0.4))
    df = pd.DataFrame({
        "n1": rng.normal(size=rows),
        "n2": rng.integers(-5, 5, rows).astype(float),
        "c1": rng.choice(draw(st.lists(st.sampled_from(["a", "b", "c", "d e", "f,g"]),
                                       min_size=1, max_size=5, unique=True)), rows),
        "flag": rng.choice(["yes", "no"], rows),
    })
    for col in ("n1", "n2", "c1", "flag"):
        df.loc[rng.random(rows) < holes, col] = np.nan
    if task == "classes":
        labels = draw(st.lists(st.sampled_from(["x", "y", "z", "1", "2"]), min_size=2,
                               max_size=4, unique=True))
        df["target"] = rng.choice(labels, rows)
    else:
        df["target"] = df["n1"].fillna(0) * 2 + rng.normal(size=rows)
    df.loc[rng.random(rows) < holes / 2, "target"] = np.nan
    new = df.sample(frac=1.0, random_state=seed % 1000).reset_index(drop=True)
    new.loc[rng.random(rows) < 0.3, "c1"] = "never seen"
    return df, new, task


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.filter_too_much])
@given(tables())
def test_train_predict_evaluate_never_lose_a_row_or_invent_a_class(tmp_path_factory, table):
    df, new, task = table
    tmp = tmp_path_factory.mktemp("table")
    df.to_csv(tmp / "train.csv", index=False)
    new.to_csv(tmp / "new.csv", index=False)
    (tmp / "c.yaml").write_text("data: {train: train.csv, target: target}\n"
                                "training: {epochs: 3}\n")
    trained = cli(["train", "c.yaml", "-o", "m.npz"], tmp)
    clean(trained)
    assume(trained.exit_code == 0)  # a refused table (a single class left, ...) said why above

    predicted = cli(["predict", "m.npz", "new.csv"], tmp)
    clean(predicted)
    assert predicted.exit_code == 0, predicted.stderr
    rows = list(csv.DictReader(io.StringIO(predicted.stdout)))
    assert len(rows) == len(new)  # every row, with gaps and unseen categories too
    values = [r["predicted_target"] for r in rows]
    assert all(v != "" for v in values)
    if task == "classes":
        classes = set(df["target"].dropna().astype(str))
        assert set(values) <= classes, (set(values), classes)
    else:
        assert np.isfinite([float(v) for v in values]).all()

    evaluated = cli(["evaluate", "m.npz", "new.csv", "--json"], tmp)
    clean(evaluated)
    assert evaluated.exit_code == 0, evaluated.stderr
    report = json.loads(evaluated.stdout)
    assert report["rows"] + report["skipped_rows"] == len(new)
    assert report["skipped_rows"] == int(new["target"].isna().sum())
