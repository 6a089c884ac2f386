"""``nnctl plot``: a run's curves drawn again, in the terminal and as images."""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path

from .. import plots, render
from ..errors import DataError, OutputError
from ..files import Output, byte_place, check_outputs, read_input, write_outputs
from .train import report_split

MAX_HISTORY_BYTES = 64 << 20  # about 900,000 epochs
MAX_EPOCH = 10**9
MAX_METRICS_BYTES = 64 << 20


def read_history(path: Path) -> list[dict]:
    """The rows of a history CSV (``epoch``, ``train_loss``, ...), numbers as floats and
    empty cells as ``None``; anything else is an error naming its line and column."""
    raw = read_input(path, "history", error=DataError, limit=MAX_HISTORY_BYTES,
                     too_big="a history has a line per epoch; is this a data file?")
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")  # (utf-8-sig's error offsets skip the BOM)
    except UnicodeDecodeError as e:
        raise DataError(f"{path}, {byte_place(raw, e.start)}: byte 0x{raw[e.start]:02x} is not"
                        " UTF-8 text; give a history.csv written by nnctl train") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if not header or "epoch" not in header or "train_loss" not in header:
            raise DataError(f"{path}, line 1: not an nnctl history (no epoch and train_loss"
                            " columns); give a run directory or its history.csv")
        rows = [_row(path, reader.line_num, header, cells) for cells in reader if cells]
    except csv.Error as e:
        raise DataError(f"{path}, line {reader.line_num}: not a history CSV ({e}); the file is"
                        " damaged") from None
    return rows


def _row(path: Path, line: int, header: list[str], cells: list[str]) -> dict:
    if len(cells) != len(header):
        raise DataError(f"{path}, line {line}: {len(cells)} fields where the header has"
                        f" {len(header)}; the file is damaged")
    row = {}
    for name, cell in zip(header, cells):
        if cell == "":
            row[name] = None
            continue
        try:
            value = float(cell)
        except ValueError:
            raise DataError(f"{path}, line {line}, column {name!r}: {cell[:40]!r} is not a"
                            " number; the file is damaged") from None
        row[name] = value if math.isfinite(value) else None
    epoch = row["epoch"]
    if epoch is None or epoch != int(epoch) or not 1 <= epoch <= MAX_EPOCH:
        raise DataError(f"{path}, line {line}, column 'epoch': {row['epoch']!r} is not an epoch"
                        f" number (1 to {MAX_EPOCH:,}); the file is damaged")
    return row


def _confusion(metrics_path: Path) -> tuple[str | None, list | None, list | None]:
    """The task, confusion matrix and classes a run's metrics.json holds (checked)."""
    if not metrics_path.is_file():
        return None, None, None
    raw = read_input(metrics_path, "metrics", error=DataError, limit=MAX_METRICS_BYTES)
    try:
        metrics = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        why = "nested too deeply" if isinstance(e, RecursionError) else str(e)
        raise DataError(f"{metrics_path}: not JSON ({why}); the run directory is damaged") from None
    task = metrics.get("task") if isinstance(metrics, dict) else None
    reports = metrics.get("reports") if isinstance(metrics, dict) else None
    classes = metrics.get("classes") if isinstance(metrics, dict) else None
    if task != "classification" or not isinstance(reports, dict) or not reports:
        return task if task in ("classification", "regression") else None, None, None
    split = report_split(reports)
    matrix = (reports.get(split) or {}).get("confusion_matrix") if isinstance(reports.get(split), dict) else None
    if not (isinstance(classes, list) and classes and all(isinstance(c, str) for c in classes)):
        raise DataError(f"{metrics_path}: classes is not a list of class names; the run"
                        " directory is damaged")
    k = len(classes)
    ok = (isinstance(matrix, list) and len(matrix) == k
          and all(isinstance(r, list) and len(r) == k
                  and all(type(v) is int and 0 <= v < 2**53 for v in r) for r in matrix))
    if not ok:
        raise DataError(f"{metrics_path}: reports.{split}.confusion_matrix is not a {k} x {k}"
                        " table of counts; the run directory is damaged")
    return task, matrix, classes


def run(target: str, *, output: str | None = None) -> list[Path]:
    """Draw RUN's curves in the terminal, then write its images (with the plot extra)."""
    path = Path(target)
    own = False  # whether the images go back into the run directory they came from
    if path.is_dir():
        history_path, prefix, own = path / "history.csv", "", output is None
        if not history_path.exists():
            raise DataError(f"{path}: no history.csv; give a run directory of 'nnctl train' or a"
                            " history CSV")
        task, matrix, classes = _confusion(path / "metrics.json")
        directory = path
    else:
        history_path = path
        stem = path.name.removesuffix(".csv").removesuffix(".history")
        prefix = f"{stem}." if stem not in ("history", "") else ""
        task, matrix, classes = None, None, None
        directory = path.parent
    rows = read_history(history_path)
    if task is None:
        task = "classification" if any(k.endswith("accuracy") for row in rows[:1] for k in row) \
            else "regression"
    def curves() -> None:
        render.curves([r.get("train_loss") for r in rows], [r.get("val_loss") for r in rows],
                      first_epoch=int(rows[0]["epoch"]) if rows and rows[0].get("epoch") else 1)

    if not plots.available():
        curves()  # the terminal's chart still, then how to get the images
        raise DataError(plots.MISSING)
    if output is not None:
        directory, prefix = Path(output), ""
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OutputError(f"{directory}: cannot make the folder ({e.strerror}); choose"
                              " another with -o") from None
    try:
        images = plots.images(rows, task=task, confusion=matrix, classes=classes)
    except (ValueError, OverflowError) as e:
        raise DataError(f"{history_path}: cannot draw its values ({e}); the file is damaged") from None
    paths = {directory / f"{prefix}{name}": data for name, data in images.items()}
    check_outputs([("plot", p) for p in paths], [("history", history_path)])
    # A run directory's own images are redrawn; anywhere else a file is never replaced.
    existing = [p for p in paths if not own and os.path.lexists(p)]
    linked = [p for p in paths if own and os.path.islink(p)]
    if linked:  # a file of the user's elsewhere, which the redraw would replace
        raise OutputError(f"{linked[0]}: is a symbolic link (to {os.readlink(linked[0])}); nnctl"
                          " plot redraws only the images it drew: remove the link, or give -o a"
                          " new folder")
    if existing:
        raise OutputError(f"{existing[0]}: exists; nnctl plot replaces images only in the run"
                          " directory it draws: give -o a new folder, or remove the file")
    curves()  # once nothing refuses the images: a refusal is one line
    write_outputs([Output(p, (lambda data: lambda f: f.write(data))(data), DataError, "plot")
                   for p, data in paths.items()])
    render.note("wrote " + ", ".join(str(p) for p in paths), style="green")
    return list(paths)
