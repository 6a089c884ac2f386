"""``nnctl predict``: a trained model on new rows, written as CSV with prediction columns.

A large plain file is read, predicted and written in pieces of whole lines, so memory
stays bounded whatever the file's size; the output appears only when every row is done
(a file is renamed into place, stdout is written from a spool), so an error on the last
row leaves no partial output.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable

import numpy as np

from .. import model_file, render
from ..data.columns import Preprocessor
from ..data.prepare import chunks_for_model, frame_for_model
from ..data.read import Frame
from ..data.scaling import Scaler
from ..errors import DataError
from ..files import read_stdin
from ..files import STDOUT, check_outputs, write_output

#: Files of at least this many bytes are predicted in pieces of about ``BLOCK`` bytes.
STREAM_ABOVE = 1 << 23
BLOCK = 1 << 19


def prediction_columns(meta: dict) -> list[str]:
    """Names of the columns ``predict`` appends (documented in README.md)."""
    data = meta["data"]
    if data["task"] == "classification":
        target = data["target"][0]
        return [f"predicted_{target}"] + [f"p_{c}" for c in data["classes"]]
    return [f"predicted_{t}" for t in data["target"]]


def predict_text(model: model_file.Model, frame: Frame, *, header: bool = True
                 ) -> tuple[str, dict[str, int]]:
    """The frame's rows plus prediction columns as CSV text (after a header row if
    ``header``); and, per column, how many cells held a category the model never saw.

    Rows that are plain lines in the file are copied as they are; otherwise (quoted
    fields) each row's cells are written back through the csv module.
    """
    data = model.metadata["data"]
    names = prediction_columns(model.metadata)
    if header and frame.header:  # the output's header would name a column twice
        columns = [str(c) for c in frame.df.columns]
        taken = [n for n in names if n in columns]
        if taken:
            raise DataError(f"{frame.path}, line 1: already has a column '{taken[0]}' (column"
                            f" {columns.index(taken[0]) + 1}), which predict adds; predict from"
                            f" the data without the earlier predictions, or rename that column")
    X, unseen = model_inputs(model, frame)
    with np.errstate(over="ignore", invalid="ignore"):  # checked below, row by row
        A = model.network.predict(X.T).T  # (m, n[L])
    del X
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
    lines = frame.raw_lines
    if lines is None or d in "0123456789.+-eEinfa":
        # Quoted fields: each row's cells as the file has them, through the csv module.
        buf = io.StringIO()
        writer = csv.writer(buf, delimiter=d, lineterminator="\n")
        # The csv module quotes a cell with a line feed, not one with a lone carriage
        # return, which a reader takes for a line end: such a row is written all quoted.
        quoted = csv.writer(buf, delimiter=d, lineterminator="\n", quoting=csv.QUOTE_ALL)
        first, rows = frame.text_rows()
        if len(rows) != len(A):  # the csv module and pandas disagree on the rows: refuse
            raise DataError(f"{frame.path}: {len(rows)} rows read by the csv module but"
                            f" {len(A)} by pandas; check the file's quotes and line ends")
        if header:
            writer.writerow(first + names)
        labels = [[str(c) for c in data["classes"]][i] for i in P.argmax(axis=1)] \
            if data["task"] == "classification" else None
        for i, row in enumerate(rows):
            extra = [col[i] for col in columns]
            if labels is not None:
                extra[0] = labels[i]
            (quoted if any("\r" in cell for cell in row) else writer).writerow(row + extra)
        return buf.getvalue(), unseen
    body = "\n".join(map(d.join, zip(lines, *columns))) + "\n"
    if not header:
        return body, unseen
    first = frame.header_text if frame.header else d.join(frame.columns)
    return f"{first}{d}{d.join(_csv_cell(n, d) for n in names)}\n{body}", unseen


def model_inputs(model: model_file.Model, frame: Frame) -> tuple[np.ndarray, dict[str, int]]:
    """``X: (m, n[0])`` for ``frame``'s rows, as training saw its own; and, per column, the
    count of cells with a category training never saw (encoded as all zeros)."""
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
    return X, unseen


def unseen_warnings(path: str, unseen: dict[str, int]) -> list[str]:
    return [f"{path}: {count} row(s) of column '{column}' hold a category the model never saw;"
            " they are encoded as all zeros" for column, count in unseen.items()]


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


def frames(model: model_file.Model, csv: str) -> Iterable[Frame]:
    """The input's rows: in pieces for a large plain file, else as one frame."""
    data = model.metadata["data"]
    if csv == "-":
        return [frame_for_model("<stdin>", data, raw=read_stdin("input"), model=model.path)]
    pieces = chunks_for_model(csv, data, model=model.path, block=BLOCK, smallest=STREAM_ABOVE)
    return pieces if pieces is not None else [frame_for_model(csv, data, model=model.path)]


def run(model: str, csv: str = "-", *, output: str | None = None) -> None:
    """``nnctl predict``: the input rows plus prediction columns, to ``output`` or stdout."""
    check_outputs([("predictions", output)], [("model", model), ("input", csv)])
    loaded = model_file.load(model)
    unseen: Counter[str] = Counter()
    path = "<stdin>" if csv == "-" else csv

    def write(f) -> None:
        pieces = 0
        for frame in frames(loaded, csv):
            text, counts = predict_text(loaded, frame, header=pieces == 0)
            f.write(text.encode("utf-8"))
            unseen.update(counts)
            pieces += 1
        if not pieces:  # a header and blank lines only (read whole, that is an error too)
            raise DataError(f"{path}: has a header but no data rows")

    write_output(output or STDOUT, write, error=DataError, what="predictions")
    for warning in unseen_warnings(path, dict(unseen)):
        render.warning(warning)
