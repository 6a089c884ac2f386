"""``nnctl predict``: a trained model on new rows, written as CSV with prediction columns."""

from __future__ import annotations

import csv
import io
import sys

import numpy as np

from .. import model_file, render
from ..data.columns import Preprocessor
from ..data.prepare import frame_for_model
from ..data.read import Frame
from ..data.scaling import Scaler
from ..errors import DataError
from ..files import write_text


def prediction_columns(meta: dict) -> list[str]:
    """Names of the columns ``predict`` appends (documented in README.md)."""
    data = meta["data"]
    if data["task"] == "classification":
        target = data["target"][0]
        return [f"predicted_{target}"] + [f"p_{c}" for c in data["classes"]]
    return [f"predicted_{t}" for t in data["target"]]


def predict_text(model: model_file.Model, frame: Frame) -> tuple[str, list[str]]:
    """The input rows plus prediction columns, as CSV text with a header row; and warnings.

    Rows that are plain lines in the file are copied as they are; otherwise (quoted
    fields) the table is written back by pandas (numbers in pandas' form).
    """
    data = model.metadata["data"]
    X, warnings = model_inputs(model, frame)
    with np.errstate(over="ignore", invalid="ignore"):  # checked below, row by row
        A = model.network.predict(X.T).T  # (m, n[L])
    _check_finite(A, frame, "the network's output")
    d = frame.delimiter
    # Whole columns of text (a list per column, not per row: a million small lists keep
    # the garbage collector busy); the values are finite, so repr is what _fmt gives.
    if data["task"] == "classification":
        P = np.hstack([1 - A, A]) if A.shape[1] == 1 else A
        classes = np.asarray([_csv_cell(c, d) for c in data["classes"]], dtype=object)
        columns = [classes[P.argmax(axis=1)].tolist()] + [list(map(repr, P[:, j].tolist()))
                                                          for j in range(P.shape[1])]
    else:
        if data.get("target_scaler"):
            with np.errstate(over="ignore"):
                A = Scaler.from_json(data["target_scaler"]).inverse(A)
            _check_finite(A, frame, "the prediction in the target's units")
        columns = [list(map(repr, A[:, j].tolist())) for j in range(A.shape[1])]
    names = d.join(_csv_cell(n, d) for n in prediction_columns(model.metadata))
    lines = frame.raw_lines
    if lines is None or d in "0123456789.+-eEinfa":
        # Quoted fields: each row's cells as the file has them, through the csv module.
        buf = io.StringIO()
        writer = csv.writer(buf, delimiter=d, lineterminator="\n")
        header, rows = frame.text_rows()
        writer.writerow(header + prediction_columns(model.metadata))
        labels = [[str(c) for c in data["classes"]][i] for i in P.argmax(axis=1)] \
            if data["task"] == "classification" else None
        for i, row in enumerate(rows):
            extra = [col[i] for col in columns]
            if labels is not None:
                extra[0] = labels[i]
            writer.writerow(row + extra)
        return buf.getvalue(), warnings
    header = frame.header_text if frame.header else d.join(frame.columns)
    body = "\n".join(map(d.join, zip(lines, *columns)))
    return f"{header}{d}{names}\n{body}\n", warnings


def model_inputs(model: model_file.Model, frame: Frame) -> tuple[np.ndarray, list[str]]:
    """``X: (m, n[0])`` for ``frame``'s rows, as training saw its own; and warnings."""
    data = model.metadata["data"]
    preprocessor = Preprocessor.from_json(data["preprocess"], model.path)
    if not frame.header:  # columns are positions: name them as training did
        for name in preprocessor.names:
            frame.column(name, "feature")
    X, unseen = preprocessor.transform(frame, model.network.dtype)
    if X.shape[1] != model.network.sizes[0]:
        raise DataError(f"{model.path}: its feature steps give {X.shape[1]} inputs but its network"
                        f" takes {model.network.sizes[0]}; retrain it")
    X = Scaler.from_json(data["scaler"]).transform(X)
    warnings = [f"{frame.path}: {count} row(s) of column '{column}' hold a category the model"
                " never saw; they are encoded as all zeros" for column, count in unseen.items()]
    return X, warnings


def _check_finite(A, frame: Frame, what: str) -> None:
    """Refuse to write a non-finite prediction: name the first row that has one."""
    bad = ~np.isfinite(A).all(axis=1)
    if bad.any():
        r = int(np.argmax(bad))
        raise DataError(f"{frame.path}, {frame.line(r)}: {what} is not finite for this"
                        f" row ({bad.sum()} row(s) in all); its features are far outside the"
                        " range the model was trained on")


def _csv_cell(value: str, delimiter: str) -> str:
    """``value`` as one CSV field: quoted when it holds the delimiter, a quote or a line end."""
    if any(c in value for c in (delimiter, '"', "\n", "\r")):
        return '"' + value.replace('"', '""') + '"'
    return value


def run(model: str, csv: str = "-", *, output: str | None = None) -> None:
    """``nnctl predict``: the input rows plus prediction columns, to ``output`` or stdout."""
    loaded = model_file.load(model)
    data = loaded.metadata["data"]
    if csv == "-":
        frame = frame_for_model("<stdin>", data, raw=sys.stdin.buffer.read())
    else:
        frame = frame_for_model(csv, data)
    text, warnings = predict_text(loaded, frame)
    for warning in warnings:
        render.warning(warning)
    if output:
        write_text(output, text)
    else:
        render.data(text)
