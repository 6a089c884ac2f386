"""The target columns: regression or classification, class labels, encoding as rows."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ..errors import DataError
from .table import Table

#: Integer-valued numeric targets with at most this many distinct values are classes.
MAX_INTEGER_CLASSES = 20


@dataclass
class Target:
    """What the target columns hold: numbers to regress, or class labels."""

    names: list[str]
    kind: str                       # "regression" or "classification"
    classes: list[str] | None = None


def _label(cell: str) -> str:
    """A class label from a cell: numbers compare by value (1, 1.0 and 01 are one class)."""
    text = cell.strip()
    try:
        value = float(text)
    except ValueError:
        return text
    if math.isfinite(value) and value == int(value):
        return str(int(value))
    return text


def labels(table: Table, col: int) -> tuple[NDArray[np.str_], NDArray[np.intp]]:
    """The distinct class labels of a column and, per row, the index of its label.

    Python touches each distinct value once, not each row.
    """
    values = table.maybe_numbers([col])
    if values is not None:
        distinct, inverse = np.unique(values[:, 0], return_inverse=True)
        names = [_label(repr(float(v))) for v in distinct]
    else:
        distinct, inverse = np.unique(table.strings(col), return_inverse=True)
        names = [_label(str(v)) for v in distinct]
    # Cells such as "1" and "1.0" are one class: merge names that normalized alike.
    unique_names = sorted(set(names), key=_class_key)
    position = {name: i for i, name in enumerate(unique_names)}
    mapping = np.array([position[n] for n in names], dtype=np.intp)
    return np.array(unique_names, dtype=str), mapping[inverse.ravel()]


def inspect_target(table: Table, cols: list[int], loss: str) -> tuple[Target, str]:
    """Decide regression or classification (from ``loss``, or from the cells when 'auto').

    Returns the target and the loss to use, with the reason when it was inferred.
    """
    names = [table.columns[c] for c in cols]
    values = table.maybe_numbers(cols)
    numeric = values is not None
    if loss == "mse":
        if not numeric:
            table.numbers(cols, np.float64, "target")  # raises, naming the first label
        return Target(names, "regression"), "mse"
    if loss == "auto":
        integer_valued = numeric and np.isfinite(values).all() and (values == np.round(values)).all()
        few = integer_valued and len(np.unique(values)) <= MAX_INTEGER_CLASSES
        if numeric and not few:
            return Target(names, "regression"), "mse"
    if len(cols) != 1:
        raise DataError(f"{table.path}: classification takes one target column, got {len(cols)}"
                        f" ({', '.join(names)}); list one, or set loss: mse for numeric targets")
    if numeric and not np.isfinite(values).all():
        table.numbers(cols, np.float64, "target")  # raises, naming the first NaN or inf
    if not numeric:
        empty = table.strings(cols[0]) == ""
        if empty.any():
            r = int(np.argmax(empty))
            raise DataError(f"{table.place(r, cols[0])}: empty target cell; fill it in or remove the row")
    classes = [str(c) for c in labels(table, cols[0])[0]]
    if len(classes) < 2:
        raise DataError(f"{table.path}: the target column '{names[0]}' has a single class"
                        f" '{classes[0]}'; a classifier needs at least two")
    if loss == "auto":
        loss = "binary_crossentropy" if len(classes) == 2 else "categorical_crossentropy"
    if loss == "binary_crossentropy" and len(classes) > 2:
        raise DataError(f"{table.path}: loss binary_crossentropy needs two classes, but '{names[0]}'"
                        f" has {len(classes)}; use categorical_crossentropy")
    return Target(names, "classification", classes), loss


def _class_key(label: str):
    try:
        return (0, float(label), "")
    except ValueError:
        return (1, 0.0, label)


def encode_target(table: Table, cols: list[int], target: Target, loss: str, dtype) -> NDArray:
    """Targets as rows: ``(m, n[L])``. Classes are 0/1 for binary, one-hot for categorical."""
    if target.kind == "regression":
        return table.numbers(cols, dtype, "target")
    names, idx = labels(table, cols[0])
    lookup = {c: i for i, c in enumerate(target.classes)}
    known = np.array([str(n) in lookup for n in names])
    if not known[idx].all():
        r = int(np.argmin(known[idx]))
        raise DataError(f"{table.place(r, cols[0])}: class '{names[idx[r]]}' was not in the training"
                        f" data (classes: {', '.join(target.classes)})")
    idx = np.array([lookup.get(str(n), -1) for n in names], dtype=np.intp)[idx]
    if loss == "binary_crossentropy":
        return idx.astype(dtype)[:, None]
    return np.eye(len(target.classes), dtype=dtype)[idx]


def output_size(target: Target, loss: str) -> int:
    """``n[L]`` for a target under a loss."""
    if target.kind == "regression":
        return len(target.names)
    return 1 if loss == "binary_crossentropy" else len(target.classes)
