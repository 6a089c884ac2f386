"""nnctl's defaults against a scikit-learn Pipeline on the same split of real tables.

The Pipeline is the one issue 10 names: mean imputation and scaling for numbers,
most-frequent imputation and one-hot encoding for text, an MLP of (32, 16) (adam,
random_state 0, early_stopping off, max_iter 500). nnctl gets a minimal config: the
training file, the target, and the test file. Both see the same rows: the table is split
once (stratified for classes, seed 0) into train.csv and test.csv.

    python benchmarks/bench_tabular.py                 # the bundled tables and synthetic ones
    python benchmarks/bench_tabular.py my.csv:target   # any table exported with to_csv

The goal: nnctl within 0.05 accuracy (classification) or 0.10 R^2 (regression) of it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent


def synthetic(kind: str, rows: int, seed: int = 0) -> pd.DataFrame:
    """A table with numbers, text categories, empty cells and (for classes) imbalance."""
    rng = np.random.default_rng(seed)
    x1, x2, x3 = rng.normal(size=(3, rows))
    city = rng.choice([f"city{i:03d}" for i in range(300)], rows)
    effect = {c: v for c, v in zip(np.unique(city), rng.normal(size=300))}
    color = rng.choice(["red", "green", "blue", "black"], rows, p=[0.4, 0.3, 0.2, 0.1])
    score = 1.5 * x1 - x2 * x3 + np.array([effect[c] for c in city]) + (color == "red") * 0.8
    df = pd.DataFrame({"x1": x1, "x2": x2, "x3": x3, "city": city, "color": color})
    for col in ("x2", "color", "city"):
        df.loc[rng.random(rows) < 0.05, col] = np.nan
    if kind == "classification":
        df["label"] = np.where(score + rng.normal(scale=0.5, size=rows) > 1.2, "yes", "no")
    else:
        df["label"] = score + rng.normal(scale=0.3, size=rows)
    return df


def split(df: pd.DataFrame, target: str, classification: bool, seed: int = 0):
    from sklearn.model_selection import train_test_split

    df = df[df[target].notna()]
    return train_test_split(df, test_size=0.2, random_state=seed,
                            stratify=df[target] if classification else None)


def sklearn_score(train: pd.DataFrame, test: pd.DataFrame, target: str, classification: bool):
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.metrics import accuracy_score, r2_score
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    X, y = train.drop(columns=[target]), train[target]
    numbers = [c for c in X if pd.api.types.is_numeric_dtype(X[c])]
    text = [c for c in X if c not in numbers]
    prep = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy="mean"), StandardScaler()), numbers),
        ("txt", make_pipeline(SimpleImputer(strategy="most_frequent"),
                              OneHotEncoder(handle_unknown="ignore")), text)])
    mlp = (MLPClassifier if classification else MLPRegressor)(
        hidden_layer_sizes=(32, 16), random_state=0, max_iter=500)
    model = Pipeline([("prep", prep), ("mlp", mlp)])
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
    seconds = time.perf_counter() - start
    predicted = model.predict(test.drop(columns=[target]))
    score = accuracy_score(test[target], predicted) if classification else r2_score(test[target], predicted)
    return float(score), seconds


def nnctl_score(train: pd.DataFrame, test: pd.DataFrame, target: str, classification: bool,
                work: Path):
    train.to_csv(work / "train.csv", index=False)
    test.to_csv(work / "test.csv", index=False)
    (work / "c.yaml").write_text(f"data: {{train: train.csv, test: test.csv, target: {target}}}\n")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "nnctl", "train", str(work / "c.yaml"), "-o",
                    str(work / "m.npz")], check=True, capture_output=True, cwd=work)
    seconds = time.perf_counter() - start
    out = subprocess.run([sys.executable, "-m", "nnctl", "evaluate", str(work / "m.npz"),
                          str(work / "test.csv"), "--json"], check=True, capture_output=True)
    report = json.loads(out.stdout)
    return float(report["accuracy"] if classification else report["r2"]), seconds


def main() -> None:
    tables = []
    for arg in sys.argv[1:]:
        path, target = arg.rsplit(":", 1)
        tables.append((Path(path).stem, pd.read_csv(path), target))
    if not tables:
        tables = [("penguins", pd.read_csv(ROOT / "datasets/penguins.csv"), "species"),
                  ("cars", pd.read_csv(ROOT / "datasets/cars.csv"), "Miles_per_Gallon"),
                  ("synthetic-cls-5k", synthetic("classification", 5_000), "label"),
                  ("synthetic-reg-5k", synthetic("regression", 5_000), "label"),
                  ("synthetic-cls-50k", synthetic("classification", 50_000), "label")]
    print(f"{'table':20s} {'rows':>7s} {'metric':>8s} {'nnctl':>7s} {'sklearn':>7s} {'gap':>7s}"
          f" {'nnctl s':>8s} {'sklearn s':>9s}")
    for name, df, target in tables:
        classification = not pd.api.types.is_float_dtype(df[target]) or df[target].nunique() <= 20
        train, test = split(df, target, classification)
        with tempfile.TemporaryDirectory() as tmp:
            ours, our_s = nnctl_score(train, test, target, classification, Path(tmp))
        theirs, their_s = sklearn_score(train, test, target, classification)
        metric = "accuracy" if classification else "R^2"
        print(f"{name:20s} {len(df):7d} {metric:>8s} {ours:7.4f} {theirs:7.4f} {ours - theirs:+7.4f}"
              f" {our_s:8.1f} {their_s:9.1f}", flush=True)


if __name__ == "__main__":
    main()
