"""Everything nnctl shows in a terminal: summary, progress, tables, loss curves, errors.

Progress and messages go to stderr; only data (predictions, ``--json``) goes to stdout,
through ``data``, as plain text. Text from files (paths, column names, labels, cells,
keys) is printed without markup and with control characters escaped (``safe``), so no
file can move the cursor, clear the screen or retitle the terminal.
"""

from __future__ import annotations

import errno
import math
import os
import sys
from typing import Sequence

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from .errors import DataError, Interrupt
from .files import safe  # the one escaping rule for text that reaches a terminal


class _Stderr:
    """The messages' file: ``sys.stderr`` as it is at each write (tests and hosts replace
    it; rich's progress display replaces it with a proxy that writes to this console, so
    the proxied file is taken), until a write fails. A reader that left (``nnctl train
    2>&1 | head``, ``less`` quit) or a full disk then stops the command as SIGPIPE would,
    the way Ctrl-C does: training keeps its best model so far, where rich's own handling
    of a broken pipe exited at once and lost the run. Every later message is dropped
    (none can be read)."""

    broken = False

    @staticmethod
    def _err():
        err = sys.stderr
        return getattr(err, "rich_proxied_file", err)  # None: started with stderr closed

    def write(self, text: str) -> int:
        err = self._err()
        if self.broken or err is None:
            return len(text)
        try:
            return err.write(text)
        except OSError:
            self._broke()
        return len(text)

    def flush(self) -> None:
        err = self._err()
        if not self.broken and err is not None:
            try:
                err.flush()
            except OSError:
                self._broke()

    def _broke(self) -> None:
        self.broken = True
        raise Interrupt(13, "SIGPIPE (stderr could not be written)")  # 13: SIGPIPE

    def isatty(self) -> bool:
        err = self._err()
        return err is not None and err.isatty()

    def fileno(self) -> int:
        err = self._err()
        if err is None:
            raise OSError("stderr is closed")
        return err.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self._err(), "encoding", None) or "utf-8"


_STDERR = _Stderr()
console = Console(file=_STDERR, highlight=False)

#: -q: only warnings, errors and the command's data; -v: every epoch, every column.
QUIET = False
VERBOSE = False


def configure(*, quiet: bool = False, verbose: bool = False, color: bool | None = None) -> None:
    """Apply ``-q``, ``-v`` and ``--no-color`` (or ``NO_COLOR`` set and not empty)."""
    global QUIET, VERBOSE
    QUIET, VERBOSE = quiet, verbose and not quiet
    console.no_color = stdout.no_color = color is False or bool(os.environ.get("NO_COLOR"))

def _text(text, style: str = "", *, lines: bool = False) -> Text:
    """Rich text, never markup, from text that may come from a file."""
    return Text(safe(text, lines=lines), style=style)


class _StdoutConsole(Console):
    """Rich's console, leaving a broken pipe to the command's error handler (one line,
    exit 1, as for the data written to stdout), where rich's own exits 1 without a word."""

    def on_broken_pipe(self) -> None:
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")


#: For output that is the command's result but not machine data (the shapes table).
stdout = _StdoutConsole(highlight=False)


def show(table: Table, con: Console | None = None) -> None:
    """Print ``table`` whole: at its full width when the output is not a terminal (a file,
    a pipe), as it is when it fits the terminal, and otherwise as one block per row, its
    cells one per line, folded rather than cut (a table of name-value lines just wraps)."""
    con = con or console
    # Measured without the console's width, which would clamp the answer to itself.
    need = con.measure(table, options=con.options.update_width(100_000)).maximum
    if need <= con.width:
        con.print(table)
    elif not con.is_terminal:
        width = con.width
        con.width = need  # print(width=) is capped at the console's width
        try:
            con.print(table, crop=False)
        finally:
            con.width = width
    elif not table.show_header:  # name-value lines already: the values wrap, never cut
        for column in table.columns[1:]:
            column.no_wrap, column.overflow = False, "fold"
        con.print(table)
    else:
        if table.title:
            con.print(table.title if isinstance(table.title, Text) else Text(str(table.title)),
                      style="bold", overflow="fold")
        con.print(vertical(table, con.width))


def vertical(table: Table, width: int = 80):
    """``table`` as blocks: each row's first cell as a heading, then ``header  value``
    lines. Everything wraps (headings, names and values), so nothing is cut at any width."""
    from rich.console import Group

    columns = [(c.header, list(c.cells)) for c in table.columns]
    blocks = []
    if not columns:
        return Group()
    first_header, firsts = columns[0]
    for i, first in enumerate(firsts):
        heading = Text(f"{_plain(first_header)} " if _plain(first_header) else "", style="bold")
        heading.append_text(first if isinstance(first, Text) else Text(str(first)))
        heading.overflow = "fold"
        lines = Table(box=None, show_header=False, padding=(0, 1), pad_edge=False)
        # A name takes at most half the width, so its value always has room.
        lines.add_column(style="cyan", overflow="fold", max_width=max(4, width // 2))
        lines.add_column(overflow="fold")
        for header, cells in columns[1:]:
            cell = cells[i]
            if _plain(cell):
                lines.add_row(Text("  ") + (header if isinstance(header, Text) else Text(header)), cell)
        blocks.extend([heading, lines])
    return Group(*blocks)


def _plain(cell) -> str:
    return cell.plain if isinstance(cell, Text) else str(cell)


def data(text: str) -> None:
    """The command's machine-readable result (CSV, JSON) on stdout, exactly as given."""
    _require_stdout()
    sys.stdout.write(text)
    sys.stdout.flush()


def _require_stdout() -> None:
    if sys.stdout is None:  # started with stdout closed (>&-)
        raise DataError("stdout is closed; the result goes to stdout: redirect it to a file"
                        " (> FILE), or use -o FILE where the command has it")


def error(message: str) -> None:
    """One line on stderr (no markup, no traceback). Never raises for a stderr that cannot
    be written: the command is ending with this error, which then has no reader."""
    try:
        console.print(_text(f"Error: {message}", style="bold red"), soft_wrap=True)
    except Interrupt:
        if not _STDERR.broken:  # a signal, not the write
            raise


def note(message: str, style: str = "") -> None:
    if not QUIET:
        console.print(_text(message, style=style), soft_wrap=True)


def warning(message: str) -> None:
    console.print(_text(f"Warning: {message}", style="yellow"), soft_wrap=True)


def summary(info: dict) -> None:
    """The one-screen summary before training."""
    if QUIET:
        return
    t = Table(box=box.SIMPLE, show_header=False, title="nnctl train", title_justify="left",
              title_style="bold")
    t.add_column(style="cyan", no_wrap=True)
    t.add_column()
    rows = info["rows"]
    t.add_row("config", _text(info["config"]))
    t.add_row("data", _text(info["data"]))
    dropped_rows = info.get("dropped_rows") or 0
    t.add_row("rows", ", ".join(f"{k} {v:,}" for k, v in rows.items())
              + (f"; {dropped_rows:,} without a target left out" if dropped_rows else ""))
    columns = info.get("columns") or info["features"]
    few = len(columns) if VERBOSE else 8
    shown = ", ".join(columns[:few]) + (f", ... ({len(columns) - few} more; -v lists all)"
                                        if len(columns) > few else "")
    encoded = info.get("encoded", len(columns))
    t.add_row("features", _text(f"{len(columns)}: {shown}"
                               + (f"; {encoded} inputs encoded" if encoded != len(columns) else "")))
    for name, why in (info.get("dropped_columns") or {}).items():
        t.add_row("", _text(f"{name}: not used ({why})"))
    target = ", ".join(info["target"])
    if info["task"] == "classification":
        classes = info["classes"]
        shown = ", ".join(classes[:10]) + (" ..." if len(classes) > 10 else "")
        t.add_row("target", _text(f"{target}: {len(classes)} classes ({shown})"))
    else:
        t.add_row("target", _text(f"{target} (regression)"))
    loss = info["loss"] + (" (chosen from the target)" if info["loss_inferred"] else "")
    if info.get("huber_delta") is not None:
        loss += f" (delta {info['huber_delta']:g})"
    t.add_row("loss", loss)
    dropout = info.get("dropout") or []
    t.add_row("network", _text(info["network"] + (
        "; dropout " + ", ".join(f"{p:g}" for p in dropout[:-1]) if any(dropout) else "")))
    t.add_row("parameters", f"{info['params']:,} ({info['dtype']})")
    extras = "".join([f", weight decay {info['weight_decay']:g}" if info.get("weight_decay") else "",
                      f", l2 {info['l2']:g}" if info["l2"] else "",
                      f", clip norm {info['clip_norm']:g}" if info.get("clip_norm") else "",
                      f", clip value {info['clip_value']:g}" if info.get("clip_value") else "",
                      f", warm-up {info['warmup']} epochs" if info.get("warmup") else "",
                      f", {info['schedule']} schedule" if info["schedule"] != "constant" else "",
                      f", early stopping (patience {info['patience']})" if info["patience"] else ""])
    t.add_row("training", f"{info['optimizer']}, lr {info['lr']:g}, {info['epochs']} epochs,"
              f" batch {info['batch_size']}{extras}; standardize {info['standardize']}")
    if info.get("class_weights"):
        t.add_row("weights", _text(", ".join(f"{c} {w:.3g}" for c, w in info["class_weights"].items())))
    settings = info.get("settings")
    if settings:
        over = settings["overridden"]
        t.add_row("settings", _text(
            f"{settings['file']} from the config, {len(over)} overridden"
            + (f" ({', '.join(f'{k} by {how}' for k, how in over.items())})" if over else "")
            + f", {len(settings['defaults'])} defaults"
            + ("" if VERBOSE or not settings["defaults"] else " (-v lists them)")))
        if VERBOSE:
            for key, value in settings["defaults"].items():
                t.add_row("", _text(f"{key}: {_setting(value)} (default)"))
    if info.get("resumed_from_epoch") is not None:
        t.add_row("resumed", f"from epoch {info['resumed_from_epoch']}")
    if info.get("output"):
        t.add_row("output", _text(info["output"]))
    show(t)
    for w in info.get("warnings", []):
        warning(w)


def progress(epochs: int, start_epoch: int = 0, *, lines: bool = True):
    """Training's progress on stderr, as a context manager with ``epoch`` and ``batch``:
    a live bar in a terminal, plain lines otherwise (a pipe, a file, CI; not with
    ``lines=False`` unless -v), nothing with -q."""
    if QUIET or (not lines and not VERBOSE and not console.is_terminal):
        return _NoProgress()
    if console.is_terminal and console.width >= 80:  # narrower, the bar would cut its text
        return TrainingProgress(epochs, start_epoch)
    return PlainProgress(epochs, start_epoch)


def _status(record) -> str:
    status = f"loss {record.train_loss:.4g}"
    if record.val_loss is not None:
        status += f"  val {record.val_loss:.4g}"
    m = record.metrics
    key = "val_accuracy" if "val_accuracy" in m else "train_accuracy" if "train_accuracy" in m \
        else "val_r2" if "val_r2" in m else "train_r2"
    if key in m:
        # _figure: an R^2 of -1e240 (a run diverging) in fixed point is 240 digits long
        status += f"  {key.replace('_', ' ')} {_figure(m[key])}"
    return status


class _NoProgress:
    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass

    def batch(self, b: int, n: int) -> None:
        pass

    def epoch(self, record) -> None:
        pass


class PlainProgress(_NoProgress):
    """One line per tenth of the epochs, and at least one every ``every`` seconds in long
    epochs; every epoch with -v. For logs: no cursor movement, nothing redrawn."""

    def __init__(self, epochs: int, start_epoch: int = 0, every: float = 10.0) -> None:
        import time

        self.clock = time.monotonic
        self.epochs, self.start_epoch, self.every = epochs, start_epoch, every
        self.stride = 1 if VERBOSE else max(1, epochs // 10)
        self.started = self.last = self.clock()

    def epoch(self, record) -> None:
        done = record.epoch - self.start_epoch
        now = self.clock()
        if done in (1, self.epochs) or done % self.stride == 0 or now - self.last >= self.every:
            self.last = now
            console.print(_text(f"epoch {record.epoch}/{self.start_epoch + self.epochs}  "
                                f"{_status(record)}  ({now - self.started:.1f} s)"), soft_wrap=True)


class TrainingProgress(_NoProgress):
    """A rich progress bar over epochs with live loss and metric; use as a context manager."""

    def __init__(self, epochs: int, start_epoch: int = 0) -> None:
        self.epochs = epochs
        self.start_epoch = start_epoch
        self.progress = Progress(
            TextColumn("epoch {task.fields[epoch]}/{task.fields[last]}"),
            BarColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(), TextColumn("<"), TimeRemainingColumn(),
            console=console, transient=False,
        )
        self.task = None

    def __enter__(self) -> TrainingProgress:
        self.progress.__enter__()
        self.task = self.progress.add_task("train", total=self.epochs, epoch=self.start_epoch,
                                           last=self.start_epoch + self.epochs, status="")
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)

    def batch(self, b: int, n: int) -> None:
        # Moving the bar within an epoch matters only for long epochs: touch it 20 times.
        if n >= 20 and b % (n // 20) == 0:
            done = self.progress.tasks[0].fields["epoch"] - self.start_epoch
            self.progress.update(self.task, completed=done + b / n)

    def epoch(self, record) -> None:
        if VERBOSE:  # a line per epoch above the bar
            self.progress.console.print(_text(f"epoch {record.epoch}  {_status(record)}"))
        self.progress.update(self.task, completed=record.epoch - self.start_epoch,
                             epoch=record.epoch, status=_status(record))


_HEADS = {"accuracy": "accuracy", "balanced_accuracy": "balanced acc", "macro_f1": "macro F1",
          "log_loss": "log loss", "roc_auc": "ROC AUC", "r2": "R^2", "mae": "MAE", "rmse": "RMSE"}


def _figure(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and (abs(value) >= 1e5 or 0 < abs(value) < 1e-3):
        return f"{value:.4g}"
    return f"{value:.4f}"


def results(res: dict[str, dict[str, float]], task: str, confusion_of: tuple | None = None) -> None:
    """The final table: loss and the headline metrics per split (regression in the
    target's units); ``confusion_of = (matrix, classes, split)`` adds that split's matrix."""
    if QUIET:
        return
    show(_results_table(res, task, "results"))
    if confusion_of is not None:
        matrix, classes, split = confusion_of
        confusion(matrix, classes, f"confusion matrix ({split})")


def _results_table(res: dict[str, dict], task: str, title: str) -> Table:
    t = Table(box=box.SIMPLE_HEAD, title=title, title_justify="left", title_style="bold")
    t.add_column("split")
    t.add_column("loss", justify="right")
    names = ["accuracy", "balanced_accuracy", "macro_f1", "log_loss", "roc_auc"] \
        if task == "classification" else ["r2", "mae", "rmse"]
    names = [n for n in names if any(n in v for v in res.values())]
    for name in names:
        t.add_column(_HEADS[name], justify="right")
    for split, values in res.items():
        t.add_row(_text(split), _figure(values.get("loss")), *(_figure(values.get(k)) for k in names))
    return t


def fold_done(fold: dict, k: int) -> None:
    """One line as each fold of a cross-validation ends."""
    if QUIET:
        return
    test = fold["test"]
    shown = ", ".join(f"{_HEADS.get(n, n)} {_figure(v)}" for n, v in test.items())
    console.print(_text(f"fold {fold['fold']}/{k}: {fold['rows'].get('test', 0)} test rows,"
                        f" {fold['epochs_run']} epochs; {shown}", style="dim"))


def cross_validation(out: dict) -> None:
    """``train --folds``: a row per fold and the mean, std, min and max of each metric."""
    if QUIET:
        return
    summary = out["summary"]
    names = list(summary)
    kind = "stratified " if out["stratified"] else ""
    t = Table(box=box.SIMPLE_HEAD, title=f"{out['folds']}-fold {kind}cross-validation of"
              f" {out['config']} (test split of each fold; seed {out['seed']})",
              title_justify="left", title_style="bold")
    t.add_column("fold")
    t.add_column("test rows", justify="right")
    for name in names:
        t.add_column(_HEADS.get(name, name), justify="right")
    for f in out["per_fold"]:
        t.add_row(str(f["fold"]), str(f["rows"].get("test", 0)), *(_figure(f["test"][n]) for n in names))
    t.add_section()
    for stat in ("mean", "std", "min", "max"):
        t.add_row(stat, "", *(_figure(summary[n][stat]) for n in names))
    show(t)
    console.print(_text("no model saved: cross-validation estimates how well this config"
                        " trains; train without --folds for the model", style="dim"))


def confusion(matrix: list[list[int]], classes: list[str], title: str) -> None:
    """A confusion matrix: rows the true class, columns the predicted one."""
    t = Table(box=box.SIMPLE_HEAD, title=title, title_justify="left", title_style="bold")
    t.add_column(_text("true \\ predicted"))
    for c in classes:
        t.add_column(_text(c), justify="right")
    for c, row in zip(classes, matrix):
        t.add_row(_text(c), *(str(v) for v in row))
    show(t)


def evaluation(out: dict) -> None:
    """``nnctl evaluate``'s report: totals, per-class (or per-target) tables, the confusion."""
    if QUIET:
        return
    skipped = f"; {out['skipped_rows']:,} without a target skipped" if out["skipped_rows"] else ""
    console.print(_text(f"{out['data']}: {out['rows']:,} rows{skipped}"))
    if out["task"] == "classification":
        t = Table(box=box.SIMPLE_HEAD, title="per class", title_justify="left", title_style="bold")
        for col in ("class", "precision", "recall", "F1", "support", "ROC AUC"):
            t.add_column(col, justify="left" if col == "class" else "right")
        for c in out["classes"]:
            r = out["per_class"][c]
            t.add_row(_text(c), _figure(r["precision"]), _figure(r["recall"]), _figure(r["f1"]),
                      str(r["support"]), _figure(r["roc_auc"]))
        for avg in ("macro", "weighted"):
            r = out[avg]
            t.add_row(f"({avg})", _figure(r["precision"]), _figure(r["recall"]), _figure(r["f1"]), "", "")
        show(t)
        summary_rows = [("accuracy", out["accuracy"]), ("balanced accuracy", out["balanced_accuracy"]),
                        ("log loss", out["log_loss"]), ("ROC AUC", out["roc_auc"])]
        _pairs(summary_rows)
        confusion(out["confusion_matrix"], out["classes"], "confusion matrix")
    else:
        t = Table(box=box.SIMPLE_HEAD, title="per target", title_justify="left", title_style="bold")
        for col in ("target", "MAE", "RMSE", "R^2"):
            t.add_column(col, justify="left" if col == "target" else "right")
        for name in out["targets"]:
            r = out["per_target"][name]
            t.add_row(_text(name), _figure(r["mae"]), _figure(r["rmse"]), _figure(r["r2"]))
        show(t)
        _pairs([("MAE", out["mae"]), ("RMSE", out["rmse"]), ("R^2", out["r2"])])


def _pairs(rows) -> None:
    t = Table(box=None, show_header=False)
    t.add_column(style="cyan")
    t.add_column(justify="right")
    for name, value in rows:
        t.add_row(_text(name), _figure(value))
    show(t)


def curves(train: Sequence[float], val: Sequence[float | None], *, width: int = 60,
           height: int = 12, first_epoch: int = 1) -> None:
    """Train and validation loss against epoch, drawn in text."""
    if QUIET:
        return
    width = max(10, min(width, console.width - 14))  # the axis labels take about 14
    console.print(_text(loss_chart(train, val, width=width, height=height, first_epoch=first_epoch),
                        lines=True))


def loss_chart(train: Sequence[float], val: Sequence[float | None], *, width: int = 60,
               height: int = 12, first_epoch: int = 1) -> str:
    """A plain-text chart: '*' train loss, 'o' validation loss; a log scale for wide ranges."""
    n = len(train)
    cols = min(width, max(n, 2))

    def buckets(s: Sequence[float | None]) -> list[float | None]:
        # Each column shows the mean of its bucket of epochs, so long runs read smoothly.
        out = []
        for c in range(cols):
            part = [v for v in s[c * n // cols:max((c + 1) * n // cols, c * n // cols + 1)]
                    if v is not None and math.isfinite(v)]
            out.append(sum(part) / len(part) if part else None)
        return out

    series = [("*", buckets(train))]
    if any(v is not None for v in val):
        series.append(("o", buckets(val)))
    values = [v for _, s in series for v in s if v is not None]
    if not values:
        return ""
    lo, hi = min(values), max(values)
    log = lo > 0 and hi / lo > 20
    f = math.log10 if log else (lambda v: v)
    span = (f(hi) - f(lo)) or 1.0
    grid = [[" "] * cols for _ in range(height)]
    for mark, s in series:
        for c, v in enumerate(s):
            if v is not None:
                r = height - 1 - round((f(v) - f(lo)) / span * (height - 1))
                grid[r][c] = mark if grid[r][c] in (" ", mark) else "#"
    top, bottom = f"{hi:.4g}", f"{lo:.4g}"
    pad = max(len(top), len(bottom))
    lines = [f"{top if r == 0 else bottom if r == height - 1 else '':>{pad}} |" + "".join(row)
             for r, row in enumerate(grid)]
    lines.append(" " * pad + " +" + "-" * cols)
    left, right = f"epoch {first_epoch}", f"epoch {first_epoch + n - 1}"
    lines.append(" " * pad + "  " + left + right.rjust(max(cols - len(left), len(right) + 1)))
    legend = "* train loss" + ("   o validation loss   # both" if len(series) > 1 else "")
    lines.append(" " * pad + "  " + legend + ("   (log scale)" if log else ""))
    return "\n".join(lines)


def saved(model_path, history_path, run_dir=None, images=()) -> None:
    if run_dir is not None:
        files = ", ".join(["model.npz", "config.yaml", "history.csv", "metrics.json", *images])
        note(f"saved the run to {run_dir}/: {files}", style="green")
        return
    model = "stdout" if str(model_path) == "-" else model_path
    history = f" and the history to {history_path}" if history_path is not None else ""
    note(f"saved the model to {model}{history}", style="green")


def shapes_table(info: dict) -> None:
    """``nnctl shapes``: per-layer shapes, parameters, FLOPs and bytes (on stdout)."""
    m = info["m"]
    t = Table(box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False, collapse_padding=True,
              title=f"{info['network']}, m = {m}, {info['dtype']}", title_justify="left",
              title_style="bold")
    # A gradient has its tensor's shape, so each pair shares a column (JSON lists all eight).
    for col in ("l", "n[l]", "activation", "W, dW", "b, db", "Z, dZ", "A, dA", "params"):
        t.add_column(escape(col), justify="right" if col in ("l", "n[l]", "params") else "left", no_wrap=True)
    t.add_row("0", str(info["inputs"]), "(input)", "", "", "", _shape((info["inputs"], m)), "")
    for layer in info["layers"]:
        s = layer["shapes"]
        t.add_row(str(layer["l"]), str(layer["n"]), layer["activation"],
                  *(_shape(s[k]) for k in ("W", "b", "Z", "A")), f"{layer['params']:,}")
    _require_stdout()
    show(t, stdout)
    tot = info["totals"]
    stdout.print(_text(
        f"parameters {tot['params']:,} ({_bytes(tot['param_bytes'])}); cached A[0], Z and A for"
        f" m = {m}: {_bytes(tot['activation_bytes'])}\n"
        f"FLOPs per pass: forward {tot['forward_flops']:,}, backward {tot['backward_flops']:,}",
        lines=True))


def _shape(s) -> str:
    return f"({s[0]}, {s[1]})"


def _bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""  # pragma: no cover


def model_info(info: dict) -> None:
    """``nnctl info``: what a model file is (on stdout: it is the command's result)."""
    _require_stdout()
    net, training = info["network"], info["training"]
    t = Table(box=box.SIMPLE, show_header=False, title=_text(f"model {info['file']}"),
              title_justify="left", title_style="bold")
    t.add_column(style="cyan", no_wrap=True)
    t.add_column(overflow="fold")
    dropout = net.get("dropout") or []
    t.add_row("network", _text(net["layers"] + (
        "; dropout " + ", ".join(f"{p:g}" for p in dropout[:-1]) if any(dropout) else "")))
    t.add_row("parameters", f"{net['parameters']:,} ({net['dtype']})")
    t.add_row("loss", net["loss"] + (f" (delta {net['huber_delta']:g})"
                                     if net.get("huber_delta") is not None else ""))
    target = ", ".join(info.get("target") or [])
    if info.get("task") == "classification":
        t.add_row("target", _text(f"{target}: {len(info['classes'])} classes ("
                                  + ", ".join(info["classes"]) + ")"))
    else:
        t.add_row("target", _text(f"{target} (regression)"))
    t.add_row("inputs", f"{info['inputs']} encoded from {len(info['features'])} feature columns;"
              f" standardize {info.get('standardize') or 'none'}")
    status = training.get("status") or "unknown"
    if training.get("epochs_run") is not None:
        status += f", {training['epochs_run']} epochs, weights of epoch {training.get('best_epoch')}"
        status += " (stopped early)" if training.get("stopped_early") else ""
    t.add_row("training", status)
    opt = info["config"]["training"]
    if opt:
        o = opt.get("optimizer")
        o = o if isinstance(o, dict) else {"name": o}
        extras = "".join(f", {label} {value}" for label, value in (
            ("weight decay", o.get("weight_decay")), ("clip norm", opt.get("clip_norm")),
            ("clip value", opt.get("clip_value")), ("warm-up", opt.get("warmup") or None))
            if value is not None)
        schedule = opt.get("schedule")
        schedule = schedule.get("name") if isinstance(schedule, dict) else schedule
        if schedule not in (None, "constant"):
            extras += f", {schedule} schedule"
        t.add_row("config", _text(f"{o.get('name')}, lr {o.get('lr')}, batch {opt.get('batch_size')},"
                                  f" l2 {opt.get('l2')}{extras}, seed {opt.get('seed')},"
                                  f" dtype {opt.get('dtype')}"))
    if info["config"]["data"].get("train"):
        t.add_row("trained on", _text(info["config"]["data"]["train"]))
    t.add_row("created", _text(f"{info.get('created') or 'unknown'} by nnctl"
                               f" {info.get('nnctl_version') or 'unknown'}"))
    t.add_row("sha256", info.get("sha256") or "(read from a stream)")
    show(t, stdout)
    f = Table(box=box.SIMPLE_HEAD, title="features", title_justify="left", title_style="bold")
    for col in ("column", "type", "preprocessing"):
        f.add_column(col, overflow="fold")
    for c in info["features"]:
        f.add_row(_text(c["name"]), c["type"], _text(c["preprocessing"]))
    for name, why in (info.get("dropped_columns") or {}).items():
        f.add_row(_text(name), "-", _text(f"not used ({why})"))
    show(f, stdout)
    if info.get("results"):
        show(_results_table(info["results"], info.get("task"), "final metrics"), stdout)


def activations(rows: list[dict]) -> None:
    """``nnctl activations``: every activation's formula, derivative and range (on stdout)."""
    _require_stdout()
    t = Table(box=box.SIMPLE_HEAD, title="activations (nnctl activations NAME for one, with its"
              " curves)", title_justify="left", title_style="bold")
    for col in ("name", "f(z)", "f'(z)", "range"):
        t.add_column(col, overflow="fold")
    for r in rows:
        name = r["name"] + (f" ({', '.join(r['aliases'])})" if r["aliases"] else "")
        t.add_row(name, r["formula"].removeprefix("f(z) = "), r["derivative"].removeprefix("f'(z) = "),
                  r["range"])
    show(t, stdout)


def activation(info: dict) -> None:
    """One activation: its formulas, the stable form computed, and f and f' drawn in text."""
    _require_stdout()
    t = Table(box=None, show_header=False, title=info["name"], title_justify="left",
              title_style="bold", padding=(0, 1))
    t.add_column(style="cyan", no_wrap=True)
    t.add_column(overflow="fold")
    for key, label in (("formula", "function"), ("derivative", "derivative"), ("range", "range"),
                       ("stable_form", "computed as")):
        t.add_row(label, info[key])
    if info["aliases"]:
        t.add_row("aliases", ", ".join(info["aliases"]))
    notes = []
    if info["output_only"]:
        notes.append("output layer only; the curves are unit 0 of softmax(z, 0)")
    if not info["passes_gradient"]:
        notes.append("no gradient passes: the layers below it cannot learn")
    if info["alpha"]:
        notes.append(f"alpha {info['alpha']} (default {info['default_alpha']:g}; curves at the default)")
    for note_text in notes:
        t.add_row("note", note_text)
    show(t, stdout)
    stdout.print(Text(function_chart(info["z"], info["f"], info["df"],
                                     width=max(20, min(61, stdout.width - 12)))))


def function_chart(z: Sequence[float], f: Sequence[float], df: Sequence[float], *,
                   width: int = 61, height: int = 15) -> str:
    """``f`` ('*') and ``f'`` ('o') against ``z`` in text, on one axis, with ``y = 0`` marked."""
    n = len(z)
    cols = [round(i * (n - 1) / (width - 1)) for i in range(width)]
    values = [v for s in (f, df) for v in s]
    lo, hi = min(min(values), 0.0), max(max(values), 0.0)
    span = (hi - lo) or 1.0

    def row(v: float) -> int:
        return height - 1 - round((v - lo) / span * (height - 1))

    grid = [[" "] * width for _ in range(height)]
    zero = row(0.0)
    grid[zero] = ["-"] * width
    grid[zero][width // 2] = "+"
    for mark, s in (("o", df), ("*", f)):
        for c, i in enumerate(cols):
            r = row(s[i])
            grid[r][c] = "#" if grid[r][c] in ("*", "o") and grid[r][c] != mark else mark
    pad = max(len(f"{hi:.3g}"), len(f"{lo:.3g}"), 1)
    lines = [f"{(f'{hi:.3g}' if r == 0 else f'{lo:.3g}' if r == height - 1 else '0' if r == zero else ''):>{pad}} |"
             + "".join(line) for r, line in enumerate(grid)]
    left, right = f"z = {z[0]:g}", f"{z[-1]:g}"
    lines.append(" " * pad + "  " + left + right.rjust(width - len(left)))
    lines.append(" " * pad + "  * f(z)   o f'(z)   # both")
    return "\n".join(lines)


def gradcheck(out: dict) -> None:
    """``nnctl gradcheck``: a row per tensor (layer by layer), the rule, the verdict (stdout)."""
    _require_stdout()
    dtype = out["dtype"] + ("" if out["dtype"] == "float64" else ", checked in float64")
    # The title on a line of its own: a table's title wraps at the (narrower) table's width.
    stdout.print(_text(f"gradcheck: {out['network']}, {out['weights']}, m = {out['m']}, {dtype}",
                       style="bold"))
    t = Table(box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False, collapse_padding=True)
    for col in ("l", "tensor", "shape", "checked", "kinks", "max abs error", "max rel error", "result"):
        t.add_column(col, justify="left" if col in ("tensor", "shape", "result") else "right",
                     no_wrap=col != "result")
    for r in out["tensors"]:
        checked = f"{r['checked']:,}" + ("" if r["checked"] == r["total"] else f" of {r['total']:,}")
        if not r["passed"]:
            result = Text("FAIL", style="bold red")
        elif r["no_gradient"]:
            result = Text("pass (no gradient reaches it)", style="yellow")
        elif r["kinks"] == r["checked"]:
            result = Text("no verdict (every step crossed a kink)", style="yellow")
        else:
            result = Text("pass", style="green")
        t.add_row(str(r["l"]), r["name"], _shape(r["shape"]) if len(r["shape"]) == 2 else str(r["shape"]),
                  checked, str(r["kinks"]), f"{r['max_abs']:.1e}", f"{r['max_rel']:.1e}", result)
    show(t, stdout)
    lines = [f"{out['source']}; {out['data']}, {out['m']} rows; loss {out['loss']}, J = {out['J']:.6g}",
             f"central differences (J(theta + eps) - J(theta - eps)) / 2 eps, eps = {out['eps']:g};"
             f" an entry passes when |backprop - numeric| <= {out['atol']:g} + {out['rtol']:g}"
             " max(|backprop|, |numeric|)"]
    kinks = sum(r["kinks"] for r in out["tensors"])
    if kinks:
        lines.append(f"{kinks} entries not compared: a step of eps moved some z across the kink"
                     f" of {', '.join(out['kink_activations'])} at 0, where f or f' has no"
                     " derivative")
    if any(r["no_gradient"] for r in out["tensors"]):
        lines.append("no gradient passes a binary step (its derivative is 0), so the layers"
                     " below it have none to check: backprop and the differences are both 0")
    stdout.print(_text("\n".join(lines), lines=True, style="dim"))
    if out["passed"]:
        stdout.print(_text("passed: backpropagation matches the finite differences for every"
                           " tensor", style="bold green"))


def exported(out: dict) -> None:
    """``nnctl export``: where the graph went and its inputs and outputs (stderr)."""
    if QUIET:
        return
    number = "float32" if out["dtype"] == "float32" else "float64"

    def kind(t: dict) -> str:
        shape = "(" + ", ".join(map(str, t["shape"])) + ")"
        return f"{number if t['type'] == 'number' else 'string'} {shape}"

    t = Table(box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False, collapse_padding=True)
    for col in ("", "name", "type", "columns"):
        t.add_column(col, overflow="fold")
    for io_, items in (("input", out["inputs"]), ("output", out["outputs"])):
        for item in items:
            names = item.get("columns", [])
            cols = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
            t.add_row(io_, _text(item["name"]), kind(item), _text(cols))
    console.print(_text(f"wrote {out['onnx']} (ONNX opset {out['opset']}, {_bytes(out['bytes'])})",
                        style="green"))
    show(t, console)


def sweep(out: dict) -> None:
    """``nnctl sweep``: the trials ranked by their objective, best first (stderr)."""
    if QUIET:
        return
    keys = list(dict.fromkeys(k for t in out["trials"] for k in t["params"]))
    t = Table(box=box.SIMPLE_HEAD, title=f"sweep {out['sweep']}: {out['completed']} completed,"
              f" {out['pruned']} pruned, {out['failed']} failed; {out['direction']}"
              f" {out['objective']}", title_justify="left", title_style="bold")
    for col in ("rank", "trial", "state", out["objective"].removeprefix("validation "), *keys, "run"):
        t.add_column(_text(col), justify="right" if col in ("rank", "trial") else "left",
                     overflow="fold")
    for rank, trial in enumerate(out["trials"], start=1):
        t.add_row(str(rank), str(trial["number"]), trial["state"], _figure(trial["value"]),
                  *(_text(_param(trial["params"].get(k))) for k in keys),
                  _text(trial["run_dir"] or ""))
    show(t)
    if out.get("best_config"):
        console.print(_text(f"best config: {out['best_config']} (nnctl train"
                            f" {out['best_config']} trains it again)", style="green"))
    if out.get("images"):
        folders = sorted({os.path.dirname(p) for p in out["images"]})
        names = ", ".join(os.path.basename(p) for p in out["images"] if p.endswith(".png"))
        console.print(_text(f"plots: {names} (and .svg) in {', '.join(folders)}", style="dim"))


def _setting(value) -> str:
    """A config value as YAML writes it (true, null, [], 0.001)."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, (list, dict)) and not value:
        return "[]" if isinstance(value, list) else "{}"
    return _param(value)


def _param(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value) if not isinstance(value, (list, dict)) else f"{type(value).__name__} of {len(value)}"


# -- explain -----------------------------------------------------------------------------

#: Tensors with more rows or columns than this show EDGE at each end, as NumPy's print does.
ELIDE, EDGE = 6, 3


def explain(out: dict, *, precision: int = 4) -> None:
    """``nnctl explain``: one step's equations with every tensor's numbers (on stdout)."""
    _require_stdout()
    m, L = out["m"], len(out["layers"])
    one = m == 1
    elided = [False]

    def block(title: str, a) -> tuple[str, list[str]]:
        lines, cut = _matrix(a, precision)
        elided[0] |= cut
        return f"{title} {_shape(_shape_of(a))}", lines

    def heading(text: str) -> None:
        stdout.print(_text(text, style="bold"))

    def equation(text: str) -> None:
        stdout.print(_text(text, style="cyan"))

    width = max(40, stdout.width)
    dtype = out["dtype"] + ("" if out["dtype"] == "float64" else ", shown in float64")
    heading(f"explain: {out['network']}, {out['weights']}, {dtype}")
    stdout.print(_text(out["source"], style="dim"))
    rows = out["rows"]
    where = (f"row {rows[0]} (line {out['lines'][0]})" if one else
             f"rows {rows[0]} to {rows[-1]}" if rows == list(range(rows[0], rows[0] + m)) else
             f"{m} rows")
    values = ""
    if one and out["raw"] and len(out["raw"]) <= 12:
        values = ": " + ", ".join(f"{k} = {'(missing)' if v[0] is None else v[0]}"
                                  for k, v in out["raw"].items())
    stdout.print(_text(f"data {out['data']}, {where}{values}; m = {m}", style="dim"))
    target, classes = ", ".join(out["target"]), out["classes"]
    if classes and len(classes) == 2:
        y = f"Y = 1 for '{classes[1]}', 0 for '{classes[0]}'"
    elif classes:
        y = "Y one-hot over " + ", ".join(classes[:8]) + (", ..." if len(classes) > 8 else "")
    else:
        y = "Y its z-score, the scale training works on" if out["target_scaled"] else "Y its value"
    stdout.print(_text(f"target {target}: {y}", style="dim"))

    stdout.print()
    heading("Forward")
    for layer in out["layers"]:
        l, f, fw = layer["l"], layer["activation"], layer["forward"]
        alpha = layer["alpha"]
        shown = "" if alpha is None else f", alpha = {alpha:g}" if isinstance(alpha, float) \
            else f", alpha[{l}] learned per unit"
        equation(f"Z[{l}] = W[{l}] A[{l - 1}] + b[{l}];  A[{l}] = {f}(Z[{l}]){shown}")
        blocks = [block(f"W[{l}]", fw["W"]), block(f"A[{l - 1}]", fw["A_prev"]),
                  block(f"b[{l}]", fw["b"]), block(f"Z[{l}]", fw["Z"])]
        if isinstance(alpha, list):
            blocks.append(block(f"alpha[{l}]", alpha))
        _blocks(blocks + [block(f"A[{l}]", fw["A"])], width)

    weighted = ", each sample's loss times its class weight w" if out["w"] is not None else ""
    stdout.print()
    heading(f"Backward: loss {out['loss']}, J = {out['J']:.{precision + 2}g}"
            f" (the mean over the m samples{weighted})")
    for layer in reversed(out["layers"]):
        l, f, bw = layer["l"], layer["activation"], layer["backward"]
        w = " w" if out["w"] is not None else ""
        if l == L and out["fused"]:
            start = (f"dZ[{l}] = (A[{l}] - Y){w} ({out['loss']} with a {f} output: dA[{l}] * f'(Z[{l}])"
                     " reduces to it)")
        elif l == L:
            start = f"dA[{l}] = dl/dA[{l}]{w};  dZ[{l}] = dA[{l}] * {f}'(Z[{l}])"
        else:
            start = f"dA[{l}] = W[{l + 1}]^T dZ[{l + 1}];  dZ[{l}] = dA[{l}] * {f}'(Z[{l}])"
        dW = (f"dW[{l}] = dz[{l}] a[{l - 1}]^T (m = 1: an outer product);  db[{l}] = dz[{l}]" if one
              else f"dW[{l}] = (1/m) dZ[{l}] A[{l - 1}]^T;  db[{l}] = (1/m) sum of dZ[{l}]'s columns")
        equation(f"{start};  {dW}" + (f";  dA[{l - 1}] = W[{l}]^T dZ[{l}]" if l > 1 else ""))
        blocks = []
        if l == L:
            blocks += [block(f"A[{l}]", layer["forward"]["A"]), block("Y", out["Y"])]
            if out["w"] is not None:
                blocks.append(block("w", [out["w"]]))
        if bw["dA"] is not None and l == L:
            blocks.append(block(f"dA[{l}]", bw["dA"]))
        if bw["f_prime"] is not None:
            blocks.append(block(f"{f}'(Z[{l}])", bw["f_prime"]))
        blocks += [block(f"dZ[{l}]", bw["dZ"]), block(f"dW[{l}]", bw["dW"]), block(f"db[{l}]", bw["db"])]
        if bw["dalpha"] is not None:
            blocks.append(block(f"dalpha[{l}]", bw["dalpha"]))
        if bw["dA_prev"] is not None:
            blocks.append(block(f"dA[{l - 1}]", bw["dA_prev"]))
        _blocks(blocks, width)

    opt = out["optimizer"]
    extra = ", ".join(f"{k} {v:g}" for k, v in opt.items()
                      if k in ("momentum", "beta1", "beta2", "eps", "t", "l2") and v)
    stdout.print()
    heading(f"Update: {opt['name']}, lr {opt['lr']:g}" + (f", {extra}" if extra else ""))
    decay = " + l2 W" if opt["l2"] else ""
    equation(f"{opt['update']}  (g = dW{decay} for W, db for b)")
    blocks = []
    for layer in out["layers"]:
        l, up = layer["l"], layer["update"]
        blocks += [block(f"W[{l}] change", up["W"]), block(f"b[{l}] change", up["b"])]
        if up["alpha"] is not None:
            blocks.append(block(f"alpha[{l}] change", up["alpha"]))
    _blocks(blocks, width)
    if elided[0]:
        stdout.print()
        stdout.print(_text(f"tensors with more than {ELIDE} rows or columns show {EDGE} at each"
                           " end (...), as NumPy prints them; --json gives every array whole",
                           style="dim"))


def _shape_of(a) -> tuple[int, ...]:
    if isinstance(a, list) and a and isinstance(a[0], list):
        return (len(a), len(a[0]))
    return (len(a),) if isinstance(a, list) else ()


def _number(v, precision: int) -> str:
    if v is None:
        return "nan"
    if v == int(v) and abs(v) < 10 ** 5:  # 0 and 1 (targets, biases at the start) exactly
        return str(int(v))
    if abs(v) >= 10 ** 5 or abs(v) < 10 ** -precision:
        return f"{v:.{max(precision - 1, 1)}e}"
    return f"{v:.{precision}f}"


def _matrix(a, precision: int) -> tuple[list[str], bool]:
    """A 2-D list as right-aligned rows in brackets, eliding the middle of a long side."""
    rows = a if a and isinstance(a[0], list) else [[v] for v in a]
    cut = False

    def keep(n: int) -> list[int | None]:
        nonlocal cut
        if n <= ELIDE:
            return list(range(n))
        cut = True
        return [*range(EDGE), None, *range(n - EDGE, n)]

    r_idx, c_idx = keep(len(rows)), keep(len(rows[0]) if rows else 0)
    cells = [[("..." if c is None or r is None else _number(rows[r][c], precision)) for c in c_idx]
             for r in r_idx]
    # One width for every column, as NumPy prints: the columns line up with each other.
    widths = [max(len(cell) for row in cells for cell in row)] * len(c_idx)
    lines = []
    for i, (r, row) in enumerate(zip(r_idx, cells)):
        body = " ".join("..." .center(w) if r is None else cell.rjust(w) for cell, w in zip(row, widths))
        lines.append(("[" if i == 0 else " ") + "[" + body + "]" + ("]" if i == len(cells) - 1 else ""))
    return lines, cut


def _blocks(blocks: list[tuple[str, list[str]]], width: int) -> None:
    """Tensors side by side under their titles, as many per line as ``width`` allows."""
    gap, line = 2, []
    groups, used = [], 0
    for title, lines in blocks:
        w = max(len(title), *(len(s) for s in lines))
        if line and used + gap + w > width - 2:
            groups.append(line)
            line, used = [], 0
        line.append((title, lines, w))
        used += (gap if used else 0) + w
    if line:
        groups.append(line)
    for group in groups:
        height = max(len(lines) for _, lines, _ in group)
        titles = (" " * gap).join(t.ljust(w) for t, _, w in group)
        stdout.print(_text("  " + titles.rstrip(), style="bold"))
        for i in range(height):
            row = (" " * gap).join((lines[i] if i < len(lines) else "").ljust(w) for _, lines, w in group)
            stdout.print(_text("  " + row.rstrip()), soft_wrap=True)
