"""The target columns: regression or classification, class labels, encoding as rows.

A target is numeric (regression) or a set of class labels. The config's ``task`` decides
if given; else the loss, if given; else the cells: text or booleans are classes, integers
with at most ``MAX_INTEGER_CLASSES`` distinct values are classes, other numbers are
regressed. Missing target cells never become a class: those rows are dropped before
(``prepare``), and counted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ..core.losses import REGRESSION_LOSSES
from ..errors import DataError

#: Integer-valued numeric targets with at most this many distinct values are classes.
MAX_INTEGER_CLASSES = 20
#: More classes than this is almost surely a regression target read as text, or an id.
MAX_CLASSES = 1000


@dataclass
class Target:
    """What the target columns hold: numbers to regress, or class labels."""

    names: list[str]
    kind: str                       # "regression" or "classification"
    classes: list[str] | None = None


def labels(series) -> NDArray[np.object_]:
    """Each cell's class label as text: numbers by value (1, 1.0 and a float column with
    gaps are one class), booleans as True/False, text as written (only spaces stripped)."""
    from .columns import cell_text

    return cell_text(series).to_numpy(dtype=object, copy=True)


def class_key(label: str):
    """Classes sort by number where they are numbers, then by text."""
    try:
        return (0, float(label), "")
    except ValueError:
        return (1, 0.0, label)


def inspect_target(frame, names: list[str], loss: str, task: str = "auto") -> tuple[Target, str]:
    """Decide regression or classification; returns the target and the loss to use.

    ``frame`` holds only rows whose target cells are all present.
    """
    import pandas as pd

    columns = [frame.df[n] for n in names]
    numeric = all(pd.api.types.is_numeric_dtype(c.dtype) and not pd.api.types.is_bool_dtype(c.dtype)
                  for c in columns)
    if task == "regression" or loss in REGRESSION_LOSSES:
        for name, c in zip(names, columns):
            try:
                _require_numbers(frame, name, c)
            except DataError as e:
                if task == "regression":
                    raise
                raise DataError(f"{e}; loss {loss} is for regression: for classes set loss:"
                                " auto") from None
        return Target(list(names), "regression"), "mse" if loss == "auto" else loss
    if task == "auto" and loss == "auto" and numeric:
        values = np.concatenate([c.to_numpy(dtype=np.float64) for c in columns])
        integer_valued = bool((values == np.round(values)).all())
        if not integer_valued or len(np.unique(values)) > MAX_INTEGER_CLASSES:
            return Target(list(names), "regression"), "mse"
    if len(names) != 1:
        raise DataError(f"{frame.path}: classification takes one target column, got {len(names)}"
                        f" ({', '.join(names)}); list one, or set task: regression for numbers")
    classes = sorted(set(labels(columns[0]).tolist()), key=class_key)
    if len(classes) < 2:
        raise DataError(f"{frame.path}: the target column '{names[0]}' has a single class"
                        f" '{classes[0]}'; a classifier needs at least two")
    if len(classes) > MAX_CLASSES:
        raise DataError(f"{frame.path}: the target column '{names[0]}' has {len(classes)} distinct"
                        " values, too many for classes; for numbers set task: regression")
    if loss == "auto":
        loss = "binary_crossentropy" if len(classes) == 2 else "categorical_crossentropy"
    if loss == "binary_crossentropy" and len(classes) > 2:
        raise DataError(f"{frame.path}: loss binary_crossentropy needs two classes, but '{names[0]}'"
                        f" has {len(classes)}; use categorical_crossentropy")
    return Target(list(names), "classification", classes), loss


def _require_numbers(frame, name: str, series) -> None:
    import pandas as pd

    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
        values = series.to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values)
        if bad.any():
            r = int(np.argmax(bad))
            raise DataError(f"{frame.place(r, name)}: {values[r]} in a target column; replace it"
                            " with a finite number or remove the row")
        return
    text = series.astype(str).str.strip()
    numbers = pd.to_numeric(text, errors="coerce")
    r = int(np.argmax(numbers.isna().to_numpy()))
    raise DataError(f"{frame.place(r, name)}: '{text.iloc[r]}' is not a number, in a regression"
                    " target; fix it, or list it in data.na_values if it means missing")


def class_indices(frame, name: str, target: Target) -> NDArray[np.intp]:
    """Each row's class index in ``target.classes``; a label training never saw is an error."""
    from .columns import lookup_codes

    row_labels = labels(frame.df[name])
    idx = lookup_codes(row_labels, {c: i for i, c in enumerate(target.classes)})
    if (idx < 0).any():
        r = int(np.argmax(idx < 0))
        raise DataError(f"{frame.place(r, name)}: class '{row_labels[r]}' was not in the training"
                        f" data (classes: {', '.join(target.classes)})")
    return idx


def encode_target(frame, target: Target, loss: str, dtype) -> NDArray:
    """Targets as rows ``(m, n[L])``: numbers; 0/1 for two classes; one-hot for more."""
    if target.kind == "regression":
        for name in target.names:
            _require_numbers(frame, name, frame.df[name])
        return np.column_stack([frame.df[n].to_numpy(dtype=np.float64) for n in target.names]
                               ).astype(dtype, copy=False)
    idx = class_indices(frame, target.names[0], target)
    if loss == "binary_crossentropy":
        return idx.astype(dtype)[:, None]
    return np.eye(len(target.classes), dtype=dtype)[idx]


def output_size(target: Target, loss: str) -> int:
    """``n[L]``: one per target column, one for two classes, else one per class."""
    if target.kind == "regression":
        return len(target.names)
    return 1 if loss == "binary_crossentropy" else len(target.classes)
