"""CSV -> arrays: reading, column selection, target encoding, standardization and splits.

Tables are kept as rows (one sample per row, as in the file); the network's ``(n, m)``
arrays are their transposes, views that cost nothing. Every error names the file, the
line and the column, and says what to do.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from numpy.typing import NDArray

from .activations import did_you_mean
from .errors import DataError

#: Integer-valued numeric targets with at most this many distinct values are classes.
MAX_INTEGER_CLASSES = 20


@dataclass
class Table:
    """A CSV file's cells as text. ``cells: (rows, columns)``; ``lines[i]`` is row i's line."""

    path: str
    columns: list[str]
    cells: NDArray[np.str_]
    lines: list[int]
    header: bool

    @property
    def m(self) -> int:
        return self.cells.shape[0]

    def index(self, column: str | int, what: str) -> int:
        """The position of a column given by name or 0-based index."""
        if isinstance(column, int):
            if column >= len(self.columns):
                raise DataError(f"{self.path}: {what} column index {column} is out of range;"
                                f" the file has {len(self.columns)} columns (0 to {len(self.columns) - 1})")
            return column
        if column in self.columns:
            return self.columns.index(column)
        if not self.header and column.isdigit():
            return self.index(int(column), what)
        shown = ", ".join(self.columns[:12]) + (", ..." if len(self.columns) > 12 else "")
        raise DataError(f"{self.path}, line 1: no {what} column '{column}'{did_you_mean(column, self.columns)};"
                        f" the columns are {shown}")

    def place(self, row: int, col: int) -> str:
        return f"{self.path}, line {self.lines[row]}, column '{self.columns[col]}'"

    def numbers(self, cols: Sequence[int], dtype, what: str) -> NDArray:
        """The columns ``cols`` as a finite ``(rows, len(cols))`` array of ``dtype``."""
        sub = self.cells[:, list(cols)]
        try:
            values = sub.astype(np.float64)
        except ValueError:
            self._raise_first_non_number(sub, cols, what)
        finite = np.isfinite(values)
        if not finite.all():
            r, c = np.argwhere(~finite)[0]
            raise DataError(f"{self.place(r, cols[c])}: {sub[r, c].strip()} in a {what} column;"
                            " replace it with a finite number or remove the row")
        if np.dtype(dtype) == np.float32 and (np.abs(values) > np.finfo(np.float32).max).any():
            r, c = np.argwhere(np.abs(values) > np.finfo(np.float32).max)[0]
            raise DataError(f"{self.place(r, cols[c])}: {sub[r, c].strip()} does not fit float32;"
                            " use training.dtype: float64 or rescale the column")
        return values.astype(dtype, copy=False)

    def _raise_first_non_number(self, sub, cols, what):
        for r in range(sub.shape[0]):
            for c in range(sub.shape[1]):
                cell = sub[r, c]
                try:
                    float(cell)
                except ValueError:
                    if not cell.strip():
                        raise DataError(f"{self.place(r, cols[c])}: empty cell in a {what} column;"
                                        " fill it in or remove the row") from None
                    raise DataError(f"{self.place(r, cols[c])}: '{cell}' is not a number;"
                                    f" {what} columns must be numeric") from None
        raise AssertionError("astype failed but every cell parses")  # pragma: no cover


def read_table(path: str | Path, *, delimiter: str = ",", header: bool = True,
               what: str = "data") -> Table:
    """Read a CSV file (UTF-8, optional BOM, any line ends, quoted fields)."""
    path = Path(path)
    name = str(path)
    if path.is_dir():
        raise DataError(f"{name}: is a directory; the {what} file must be a CSV file")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{name}: no such {what} file") from None
    except OSError as e:
        raise DataError(f"{name}: cannot read the {what} file ({e.strerror})") from None
    return parse_table(raw, name, delimiter=delimiter, header=header, what=what)


def parse_table(raw: bytes, name: str, *, delimiter: str = ",", header: bool = True,
                what: str = "data") -> Table:
    """Parse CSV bytes (see ``read_table``); ``name`` is used in messages."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise DataError(f"{name}, line {line}: byte 0x{raw[e.start]:02x} is not UTF-8;"
                        " save the file as UTF-8") from None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[list[str]] = []
    lines: list[int] = []
    columns: list[str] | None = None
    start = 1
    try:
        for row in reader:
            line, start = start, reader.line_num + 1
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # blank line
            if columns is None:
                if header:
                    columns = [c.strip() for c in row]
                    _check_names(columns, name, line)
                    continue
                columns = [str(i) for i in range(len(row))]
            if len(row) != len(columns):
                raise DataError(f"{name}, line {line}: {len(row)} fields, expected {len(columns)}"
                                f" ({'as in the header' if header else 'as in the first row'});"
                                " check the delimiter and quoting of that row")
            rows.append(row)
            lines.append(line)
    except csv.Error as e:
        raise DataError(f"{name}, line {reader.line_num}: malformed CSV ({e})") from None
    if columns is None:
        raise DataError(f"{name}: the {what} file is empty; it needs "
                        f"{'a header and ' if header else ''}at least one row")
    if not rows:
        raise DataError(f"{name}: the {what} file has a header but no data rows")
    cells = np.array(rows, dtype=str)
    return Table(name, columns, cells, lines, header)


def _check_names(columns: list[str], name: str, line: int) -> None:
    seen: dict[str, int] = {}
    for i, c in enumerate(columns):
        if not c:
            raise DataError(f"{name}, line {line}: column {i + 1} has an empty name; name every column"
                            " or set data.header: false")
        if c in seen:
            raise DataError(f"{name}, line {line}: duplicate column name '{c}' (columns {seen[c] + 1}"
                            f" and {i + 1}); rename one")
        seen[c] = i


# -- targets ---------------------------------------------------------------------------


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


def inspect_target(table: Table, cols: list[int], loss: str) -> tuple[Target, str]:
    """Decide regression or classification (from ``loss``, or from the cells when 'auto').

    Returns the target and the loss to use, with the reason when it was inferred.
    """
    names = [table.columns[c] for c in cols]
    sub = table.cells[:, cols]
    try:
        values = sub.astype(np.float64)
        numeric = True
    except ValueError:
        numeric = False
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
    empty = np.char.strip(sub[:, 0]) == ""
    if empty.any():
        r = int(np.argmax(empty))
        raise DataError(f"{table.place(r, cols[0])}: empty target cell; fill it in or remove the row")
    classes = sorted({_label(c) for c in sub[:, 0]}, key=_class_key)
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
    labels = [_label(c) for c in table.cells[:, cols[0]]]
    lookup = {c: i for i, c in enumerate(target.classes)}
    unknown = [i for i, lab in enumerate(labels) if lab not in lookup]
    if unknown:
        r = unknown[0]
        raise DataError(f"{table.place(r, cols[0])}: class '{labels[r]}' was not in the training data"
                        f" (classes: {', '.join(target.classes)})")
    idx = np.fromiter((lookup[lab] for lab in labels), dtype=np.intp, count=len(labels))
    if loss == "binary_crossentropy":
        return idx.astype(dtype)[:, None]
    return np.eye(len(target.classes), dtype=dtype)[idx]


def output_size(target: Target, loss: str) -> int:
    """``n[L]`` for a target under a loss."""
    if target.kind == "regression":
        return len(target.names)
    return 1 if loss == "binary_crossentropy" else len(target.classes)


# -- standardization and splits -------------------------------------------------------


@dataclass
class Scaler:
    """``(x - shift) / scale`` per feature, fitted on the training rows only."""

    method: str
    shift: NDArray[np.float64]
    scale: NDArray[np.float64]

    @classmethod
    def fit(cls, X_rows: NDArray, method: str) -> Scaler:
        X = X_rows.astype(np.float64, copy=False)
        n = X.shape[1]
        if method == "zscore":
            shift, scale = X.mean(axis=0), X.std(axis=0)
        elif method == "minmax":
            shift, scale = X.min(axis=0), X.max(axis=0) - X.min(axis=0)
        else:
            shift, scale = np.zeros(n), np.ones(n)
        scale = np.where(scale > 0, scale, 1.0)  # a constant column stays constant (0)
        return cls(method, shift, scale)

    def transform(self, X_rows: NDArray) -> NDArray:
        if self.method == "none":
            return X_rows
        dtype = X_rows.dtype
        return ((X_rows - self.shift.astype(dtype)) / self.scale.astype(dtype)).astype(dtype, copy=False)

    def inverse(self, X_rows: NDArray) -> NDArray:
        """Undo ``transform``: back to the file's units."""
        if self.method == "none":
            return X_rows
        dtype = X_rows.dtype
        return (X_rows * self.scale.astype(dtype) + self.shift.astype(dtype)).astype(dtype, copy=False)

    def to_json(self) -> dict:
        return {"method": self.method, "shift": self.shift.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_json(cls, d: dict) -> Scaler:
        return cls(d["method"], np.asarray(d["shift"], dtype=np.float64),
                   np.asarray(d["scale"], dtype=np.float64))


def split_indices(m: int, fractions: Sequence[float], rng: np.random.Generator,
                  strata: NDArray | None = None) -> list[NDArray[np.intp]]:
    """Shuffle ``range(m)`` and cut off parts of the given fractions; the rest comes first.

    With ``strata`` (a class index per row) each class is cut in the same proportions.
    """
    groups = [np.arange(m)] if strata is None else [np.flatnonzero(strata == s) for s in np.unique(strata)]
    parts: list[list[NDArray]] = [[] for _ in range(len(fractions) + 1)]
    for g in groups:
        g = rng.permutation(g)
        start = 0
        for i, f in enumerate(fractions):
            k = int(round(f * g.size))
            parts[i + 1].append(g[start:start + k])
            start += k
        parts[0].append(g[start:])
    return [np.sort(np.concatenate(p)) for p in parts]
