"""``nnctl predict``: a trained model on new rows, written as CSV with prediction columns."""

from __future__ import annotations

import math
import sys

import numpy as np

from .. import model_file, render
from ..data.scaling import Scaler
from ..data.table import Table, parse_table, read_table
from ..errors import DataError
from ..files import csv_text, write_text


def prediction_columns(meta: dict) -> list[str]:
    """Names of the columns ``predict`` appends (documented in README.md)."""
    data = meta["data"]
    if data["task"] == "classification":
        target = data["target"][0]
        return [f"predicted_{target}"] + [f"p_{c}" for c in data["classes"]]
    return [f"predicted_{t}" for t in data["target"]]


def predict_text(model: model_file.Model, table: Table) -> str:
    """The input rows plus prediction columns, as CSV text with a header row.

    Rows that are plain lines in the file are copied as they are; otherwise (quoted
    fields) they are written back through the csv module.
    """
    data = model.metadata["data"]
    net = model.network
    if table.header:
        cols = [table.index(f, "feature") for f in data["features"]]
    else:
        cols = [table.index(int(c), "feature") for c in data["feature_columns"]]
    X = table.numbers(cols, net.dtype, "feature")
    X = Scaler.from_json(data["scaler"]).transform(X)
    with np.errstate(over="ignore", invalid="ignore"):  # checked below, row by row
        A = net.predict(X.T).T  # (m, n[L])
    _check_finite(A, table, "the network's output")
    if data["task"] == "classification":
        P = np.hstack([1 - A, A]) if A.shape[1] == 1 else A
        labels = np.asarray(data["classes"], dtype=object)[P.argmax(axis=1)]
        extra = [[lab, *map(_fmt, row)] for lab, row in zip(labels, P.tolist())]
    else:
        if data.get("target_scaler"):
            with np.errstate(over="ignore"):
                A = Scaler.from_json(data["target_scaler"]).inverse(A)
            _check_finite(A, table, "the prediction in the target's units")
        extra = [list(map(_fmt, row)) for row in A.tolist()]
    d = table.delimiter
    names = [_csv_cell(n, d) for n in prediction_columns(model.metadata)]
    lines = table.data_lines()
    if lines is None or d in "0123456789.+-eEinfa":
        return csv_text(table.columns + prediction_columns(model.metadata),
                        [list(r) + e for r, e in zip(table.cells.tolist(), extra)], d)
    label = {c: _csv_cell(c, d) for c in data.get("classes") or []}
    out = [(table.header_line() if table.header else d.join(table.columns)) + d + d.join(names)]
    for line, e in zip(lines, extra):
        if label:
            e[0] = label[e[0]]
        out.append(line + d + d.join(e))
    return "\n".join(out) + "\n"


def _check_finite(A, table: Table, what: str) -> None:
    """Refuse to write a non-finite prediction: name the first row that has one."""
    bad = ~np.isfinite(A).all(axis=1)
    if bad.any():
        r = int(np.argmax(bad))
        raise DataError(f"{table.path}, line {table.row_line(r)}: {what} is not finite for this"
                        f" row ({bad.sum()} row(s) in all); its features are far outside the"
                        " range the model was trained on")


def _csv_cell(value: str, delimiter: str) -> str:
    """``value`` as one CSV field: quoted when it holds the delimiter, a quote or a line end."""
    if any(c in value for c in (delimiter, '"', "\n", "\r")):
        return '"' + value.replace('"', '""') + '"'
    return value


def _fmt(x) -> str:
    return repr(float(x)) if math.isfinite(x) else str(float(x))


def run(model: str, csv: str = "-", *, output: str | None = None) -> None:
    """``nnctl predict``: the input rows plus prediction columns, to ``output`` or stdout."""
    loaded = model_file.load(model)
    meta = loaded.metadata.get("data", {})
    options = {"delimiter": meta.get("delimiter", ","), "header": meta.get("header", True),
               "what": "input"}
    if csv == "-":
        table = parse_table(sys.stdin.buffer.read(), "<stdin>", **options)
    else:
        table = read_table(csv, **options)
    text = predict_text(loaded, table)
    if output:
        write_text(output, text)
    else:
        render.data(text)
