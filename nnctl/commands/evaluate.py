"""``nnctl evaluate``: a trained model's metrics on any labelled file.

Classification: accuracy, balanced accuracy, per-class precision, recall, F1 and support,
macro and weighted averages, the confusion matrix, log loss and ROC AUC. Regression: MAE,
RMSE and R^2 in the target's own units. Rows whose target is missing are skipped and
counted; rows the model cannot read are errors naming the line.
"""

from __future__ import annotations

import json
import math

import numpy as np

from .. import model_file, render
from ..core import metrics
from ..data.prepare import frame_for_model
from ..data.scaling import Scaler
from ..data.target import Target, encode_target
from ..errors import DataError
from ..files import read_stdin
from .predict import model_inputs, unseen_warnings


def report(A: np.ndarray, Y_rows: np.ndarray, target: Target, target_scaler: Scaler | None) -> dict:
    """The metrics of network outputs ``A: (n[L], m)`` against targets ``Y_rows: (m, n[L])``.

    Both are on the training scale (z-scores for a scaled regression target); the
    regression metrics are computed after both are mapped back to the target's units.
    """
    if not np.isfinite(A).all():
        raise DataError("the network's output is not finite on these rows; the model diverged"
                        " or the features are far outside the training range")
    if target.kind == "classification":
        return metrics.classification_report(A, Y_rows.T, target.classes)
    Y = Y_rows
    if target_scaler is not None:
        with np.errstate(over="ignore"):
            A = target_scaler.inverse(A.T).T
            Y = target_scaler.inverse(Y_rows)
    return metrics.regression_report(A, Y.T, target.names)


def headline(rep: dict, task: str) -> dict[str, float | None]:
    """The figures of a report that the results table shows."""
    if task == "classification":
        return {"accuracy": rep["accuracy"], "balanced_accuracy": rep["balanced_accuracy"],
                "macro_f1": rep["macro"]["f1"], "log_loss": rep["log_loss"],
                "roc_auc": rep["roc_auc"]}
    return {"r2": rep["r2"], "mae": rep["mae"], "rmse": rep["rmse"]}


def run(model: str, data: str = "-", *, as_json: bool = False) -> dict:
    """``nnctl evaluate``: the report as tables on stderr, or as JSON on stdout."""
    loaded = model_file.load(model)
    meta = loaded.metadata["data"]
    if data == "-":
        frame = frame_for_model("<stdin>", meta, what="labelled", raw=read_stdin("labelled"),
                                model=loaded.path)
    else:
        frame = frame_for_model(data, meta, what="labelled", model=loaded.path)
    names = meta["target"]
    for name in names:
        frame.column(name, "target")
    present = frame.df[names].notna().all(axis=1).to_numpy()
    skipped = int(present.size - present.sum())
    if not present.any():
        raise DataError(f"{frame.path}: no row has a target ({', '.join(names)}); evaluate needs"
                        " labelled rows")
    if skipped:
        frame = frame.take(present)
    target = Target(names, meta["task"], meta["classes"])
    X, unseen = model_inputs(loaded, frame)
    warnings = unseen_warnings(frame.path, unseen)
    Y = encode_target(frame, target, meta["loss"], loaded.network.dtype)
    target_scaler = Scaler.from_json(meta["target_scaler"]) if meta.get("target_scaler") else None
    if target_scaler is not None:
        Y = target_scaler.transform(Y)
    with np.errstate(over="ignore", invalid="ignore"):  # report() refuses non-finite outputs
        A = loaded.network.predict(X.T)
    rep = report(A, Y, target, target_scaler)
    out = {"model": str(model), "data": frame.path, "rows": frame.m, "skipped_rows": skipped,
           "task": target.kind, **rep}
    for warning in warnings:
        render.warning(warning)
    if as_json:
        render.data(json.dumps(finite(out), indent=2) + "\n")
    else:
        render.evaluation(out)
    return out


def finite(value):
    """``value`` with every non-finite float made None: JSON has no inf or NaN."""
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
