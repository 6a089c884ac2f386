"""Plot images of a run: loss and metric curves, gradient flow and the confusion matrix,
as PNG and SVG; of a sweep: its history and parameter importance; and the curves of
activations (``nnctl activations --plot``).

The only module that imports matplotlib, an optional extra (``pip install 'nnctl[plot]'``),
and only inside ``images``, ``sweep_images`` and ``activation_image``, so importing nnctl
costs nothing without it. Figures are built with matplotlib's object-oriented API
(``Figure`` on an Agg canvas), never pyplot: no global figures, no display, safe headless.

Every image is drawn in matplotlib's default style, whatever the user's matplotlibrc says,
and the same inputs give the same bytes: the SVG has no date and fixed ids, the PNG no
software stamp. Class labels are text from a data file: they are never read as mathtext
or TeX, control characters are escaped, and long ones are cut for display.
"""

from __future__ import annotations

import io
import math
import re
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from .render import safe  # the one escaping rule for text from files

MISSING = "plot images need the plot extra: pip install 'nnctl[plot]'"

DPI = 100
#: Curves are 800x500 px.
CURVE_SIZE = (8.0, 5.0)
#: Class labels longer than this are cut, with an ellipsis.
LABEL_WIDTH = 20
#: A sweep's config keys (``network.layers[0].activation``) longer than this are cut.
KEY_WIDTH = 40
#: Above this many classes the cells are too small to show their counts.
ANNOTATE_UP_TO = 30
#: At most about this many class names on an axis; with more, every k-th one.
TICKS_UP_TO = 60
#: A curve of more epochs than this is drawn from every k-th one (an image is 800 px wide).
MAX_POINTS = 4000
#: Curves with at most this many points mark each one (a single epoch is a dot, not nothing).
MARK_UP_TO = 50
#: Each panel of the gradient-flow image is 900x300 px (the legend is right of the axes).
GRADIENT_PANEL = (9.0, 3.0)
#: The usual range of one step's ||step of W[l]|| / ||W[l]||, around the rule of thumb 1e-3
#: (nnctl.core.diagnostics), shaded on the update-ratio panel.
RATIO_BAND = (1e-4, 1e-2)
#: An activation's curves are 800x500 px alone; in a grid of all of them, 300x230 px each.
ACTIVATION_PANEL = (3.0, 2.3)
ACTIVATION_COLUMNS = 4
FORMATS = ("png", "svg")

#: The per-layer columns of a history (nnctl.core.diagnostics), by kind.
_LAYER_COLUMN = re.compile(r"(grad_norm|update_ratio|dead|saturated)_([1-9][0-9]{0,5})")

#: The metric columns each task plots, and the y-axis label.
_METRICS = {
    "classification": (("train_accuracy", "val_accuracy"), "accuracy"),
    "regression": (("train_r2", "val_r2"), "R²"),
}
_SPLITS = {"train": "train", "val": "validation"}

_RC = {
    # No text is mathtext: class labels are data ("$x$" stays "$x$"), and parsing the
    # log axis's "10^{-2}" labels took a third of the drawing (they are plain "0.01" here).
    "text.parse_math": False,
    "text.usetex": False,
    # SVG ids from a hash of the content and this salt instead of a random uuid.
    "svg.hashsalt": "nnctl",
    # Glyphs as paths: the SVG looks the same on a machine without DejaVu Sans.
    "svg.fonttype": "path",
}
_PNG_METADATA = {"Software": None}  # drops the version stamp
_SVG_METADATA = {"Date": None}      # drops the time of drawing

def available() -> bool:
    """Whether matplotlib can be imported (``images`` imports it anyway; the package alone
    takes about 0.1 s, pyplot, never used here, is what is slow)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def warm() -> None:
    """Import what drawing takes (matplotlib's figures, both backends, its fonts: about
    0.7 s), so that a caller with time to spare, a sweep waiting on its workers, does it
    ahead in a thread. Nothing without matplotlib."""
    try:
        import matplotlib.style  # noqa: F401
        from matplotlib.backends import backend_agg, backend_svg  # noqa: F401
        from matplotlib.figure import Figure  # noqa: F401
    except ImportError:
        pass


def images(rows: Sequence[Mapping], *, task: str, confusion: Sequence[Sequence[int]] | None = None,
           classes: Sequence[str] | None = None) -> dict[str, bytes]:
    """The plot files of a run, contents by file name.

    ``rows`` are the history CSV's rows (``epoch``, ``train_loss``, ``val_loss``, metrics,
    and the per-layer diagnostics of nnctl.core.diagnostics: ``grad_norm_<l>``,
    ``update_ratio_<l>``, ``dead_<l>``, ``saturated_<l>``); a missing value (None, ``''``,
    NaN, inf) is skipped. Always ``loss.png``/``loss.svg``; ``metrics.*`` when a metric
    column of ``task`` has a value; ``gradients.*`` when a ``grad_norm_<l>`` column has a
    value: the gradient norm and the update ratio per layer on log scales (the ratio's usual
    ``RATIO_BAND`` shaded), and the dead and saturated shares when such a column has a
    value; ``confusion.*`` when ``confusion`` (rows the true class, columns the predicted
    one) and ``classes`` are given. Raises ImportError (with ``MISSING``) without matplotlib.
    """
    if task not in _METRICS:
        raise ValueError(f"task must be one of {sorted(_METRICS)}, not {task!r}")
    if confusion is not None and classes is not None:
        confusion = _counts(confusion, len(classes))
    out: dict[str, bytes] = {}
    with _style():
        _save(_loss(rows), "loss", out)
        columns, name = _METRICS[task]
        if any(_series(rows, c)[1] for c in columns):
            _save(_metric(rows, columns, name), "metrics", out)
        layers = _layer_columns(rows)
        if layers["grad_norm"]:
            _save(_gradients(rows, layers), "gradients", out)
        if confusion is not None and classes:
            _save(_confusion(confusion, [_label(c) for c in classes]), "confusion", out)
    return out


@contextmanager
def _style() -> Iterator[None]:
    try:
        import matplotlib
        import matplotlib.style
    except ImportError as e:
        raise ImportError(MISSING) from e
    with matplotlib.style.context("default"), matplotlib.rc_context(_RC), \
            warnings.catch_warnings():
        # A label in a script DejaVu Sans lacks is drawn as boxes; not worth a warning.
        warnings.filterwarnings("ignore", "Glyph .* missing from", UserWarning)
        # Values near the float limits overflow inside matplotlib's scaling; drawn anyway.
        warnings.filterwarnings("ignore", category=RuntimeWarning)
        yield


def _figure(size: tuple[float, float], margins=(0.09, 0.11, 0.97, 0.92)):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # Fixed margins rather than a layout engine: constrained layout measured a third of
    # the drawing time, and these images have one axes whose labels are known.
    figure = Figure(figsize=size, dpi=DPI)
    figure.subplots_adjust(*margins)
    FigureCanvasAgg(figure)
    return figure


def _save(figure, stem: str, out: dict[str, bytes]) -> None:
    for fmt in FORMATS:
        out[f"{stem}.{fmt}"] = _bytes(figure, fmt)


def _bytes(figure, fmt: str) -> bytes:
    buffer = io.BytesIO()
    metadata = _PNG_METADATA if fmt == "png" else _SVG_METADATA
    figure.savefig(buffer, format=fmt, dpi=DPI, metadata=metadata)
    return buffer.getvalue()


def _loss(rows: Sequence[Mapping]):
    figure = _figure(CURVE_SIZE)
    ax = figure.add_subplot()
    values = _curves(ax, rows, ("train_loss", "val_loss"))
    # A loss falling by orders of magnitude is flat on a linear scale after the first epochs.
    if values and min(values) > 0 and max(values) > 20 * min(values):
        _log_scale(ax, values)
    if values:
        title = "loss"
    elif rows:
        title = "loss: no finite value in the history"
    else:
        title = "loss: no epoch finished"
    _axes(ax, title, "loss")
    return figure


def _log_scale(ax, values: list[float]) -> None:
    """A log y axis for ``values`` (all above 0), its ticks plain numbers."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_yscale("log")
    plain = FuncFormatter(lambda v, _: f"{v:g}")  # 0.01, not mathtext's 10^{-2}
    ax.yaxis.set_major_formatter(plain)
    if max(values) < 100 * min(values):  # within two decades: label 2 and 5 as well
        ax.yaxis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
        ax.yaxis.set_minor_formatter(plain)
    else:
        ax.yaxis.set_minor_formatter(NullFormatter())


def _metric(rows: Sequence[Mapping], columns: Sequence[str], name: str):
    figure = _figure(CURVE_SIZE)
    ax = figure.add_subplot()
    _curves(ax, rows, columns)
    _axes(ax, name, name)
    return figure


def _layer_columns(rows: Sequence[Mapping]) -> dict[str, list[int]]:
    """The layers ``l`` whose ``<kind>_<l>`` column has a value, in order, by kind."""
    names = dict.fromkeys(k for row in rows for k in row if isinstance(k, str))
    found: dict[str, list[int]] = {"grad_norm": [], "update_ratio": [], "dead": [], "saturated": []}
    for name in names:
        match = _LAYER_COLUMN.fullmatch(name)
        if match and _series(rows, name)[1]:
            found[match[1]].append(int(match[2]))
    return {kind: sorted(set(ls)) for kind, ls in found.items()}


def _gradients(rows: Sequence[Mapping], layers: dict[str, list[int]]):
    """Gradient flow per layer: ||dW[l]||, the update ratio and the dead/saturated shares,
    one panel each over a shared epoch axis, one colour per layer in every panel."""
    shares = bool(layers["dead"] or layers["saturated"])
    n = 3 if shares else 2
    width, height = GRADIENT_PANEL[0], GRADIENT_PANEL[1] * n + 0.6
    # Margins in inches (the legends are right of the axes), as fractions of this height.
    figure = _figure((width, height), margins=(0.09, 0.55 / height, 0.80, 1 - 0.4 / height))
    figure.subplots_adjust(hspace=0.35)
    axes = figure.subplots(n, 1, sharex=True, squeeze=False)[:, 0]
    every = sorted({l for ls in layers.values() for l in ls})
    colour = {l: f"C{i % 10}" for i, l in enumerate(every)}  # layer l, the same in each panel

    ax = axes[0]
    drawn = _layer_curves(ax, rows, [(f"grad_norm_{l}", f"layer {l}", colour[l], "-")
                                     for l in layers["grad_norm"]], positive=True)
    _log_axes(ax, drawn, "gradient norm ||dW[l]|| per layer", "||dW[l]||")

    ax = axes[1]
    low, high = RATIO_BAND
    ax.axhspan(low, high, color="tab:green", alpha=0.12, linewidth=0,
               label=f"usual {low:g} to {high:g}")
    ax.axhline(math.sqrt(low * high), color="tab:green", linestyle="--", linewidth=1,
               label=f"{math.sqrt(low * high):g} (rule of thumb)")
    drawn = _layer_curves(ax, rows, [(f"update_ratio_{l}", f"layer {l}", colour[l], "-")
                                     for l in layers["update_ratio"]], positive=True)
    if drawn:  # the axis spans the band as well as the lines (axhspan widens it)
        drawn += [low, high]
    _log_axes(ax, drawn, "update ratio ||step of W[l]|| / ||W[l]|| per layer", "update ratio")

    if shares:
        from matplotlib.ticker import PercentFormatter

        ax = axes[2]
        lines = [(f"{kind}_{l}", f"layer {l} {kind}", colour[l], style)
                 for l in every for kind, style in (("dead", "-"), ("saturated", "--"))
                 if l in layers[kind]]
        _layer_curves(ax, rows, lines)
        ax.set_ylim(-0.03, 1.03)
        ax.yaxis.set_major_formatter(PercentFormatter(xmax=1, decimals=0))
        kinds = [shown for kind, shown in (
            ("dead", "dead units (ReLU-like)"),
            ("saturated", "saturated units (logistic, tanh, arctan)")) if layers[kind]]
        _axes(ax, " and ".join(kinds) + " per layer", "share of units")
    for ax in axes:
        ax.xaxis.label.set_visible(ax is axes[-1])
    return figure


def _layer_curves(ax, rows: Sequence[Mapping], lines: Sequence[tuple[str, str, str, str]], *,
                  positive: bool = False) -> list[float]:
    """One line per ``(column, label, colour, linestyle)`` that has values (above 0 only
    for a log axis, whose label then says how many epochs were 0 and are not drawn: a
    gradient norm of 0 is a finding, not noise); the legend right of the axes. Returns
    every value drawn."""
    drawn: list[float] = []
    for column, label, colour, style in lines:
        x, y = _series(rows, column)
        if positive:
            zeros = sum(v <= 0 for v in y)
            x, y = [e for e, v in zip(x, y) if v > 0], [v for v in y if v > 0]
            if zeros:
                label = f"{label} (0 in {zeros} epoch{'s' if zeros > 1 else ''}, not drawn)"
                if not y:  # all 0: the legend still names it, with nothing to draw
                    ax.plot([], [], label=label, color=colour, linestyle=style)
        if y:
            ax.plot(x, y, label=label, color=colour, linestyle=style, linewidth=1.2,
                    marker="o" if len(y) <= MARK_UP_TO else None, markersize=3)
            drawn += y
    _legend(ax)
    return drawn


def _legend(ax) -> None:
    handles, _ = ax.get_legend_handles_labels()
    if handles:  # an empty legend is a matplotlib warning
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small",
                  ncol=math.ceil(len(handles) / 12), borderaxespad=0)


def _log_axes(ax, values: list[float], title: str, ylabel: str) -> None:
    """A log y axis with plain tick labels (``0.001``, not mathtext) when there are values."""
    if values:
        _log_scale(ax, values)
    else:
        title += ": no value above 0"
    _axes(ax, title, ylabel)


def activation_image(curves: Mapping[str, tuple[Sequence[float], Sequence[float], Sequence[float]]],
                     *, fmt: str) -> bytes:
    """An image of each activation's ``f`` and ``f'`` against ``z``, by name ``(z, f, df)``
    (as ``nnctl activations`` samples them), in ``fmt`` (``png`` or ``svg``): one 800x500 px
    axes for one activation, a grid of small panels for several. Raises ImportError (with
    ``MISSING``) without matplotlib."""
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {list(FORMATS)}, not {fmt!r}")
    if not curves:
        raise ValueError("no activation to draw")
    with _style():
        if len(curves) == 1:
            figure = _figure(CURVE_SIZE)
            axes = [figure.add_subplot()]
        else:
            cols = min(ACTIVATION_COLUMNS, len(curves))
            n_rows = math.ceil(len(curves) / cols)
            size = (ACTIVATION_PANEL[0] * cols, ACTIVATION_PANEL[1] * n_rows + 0.5)
            figure = _figure(size, margins=(0.05, 0.35 / size[1], 0.98, 1 - 0.75 / size[1]))
            figure.subplots_adjust(hspace=0.45, wspace=0.25)
            grid = figure.subplots(n_rows, cols, squeeze=False).ravel()
            for ax in grid[len(curves):]:
                ax.set_visible(False)
            axes = list(grid[:len(curves)])
        for ax, (name, (z, f, df)) in zip(axes, curves.items()):
            ax.axhline(0, color="0.6", linewidth=0.8)
            ax.axvline(0, color="0.6", linewidth=0.8)
            ax.plot(z, f, label="f(z)", color="C0", linewidth=1.6)
            ax.plot(z, df, label="f'(z)", color="C1", linewidth=1.4, linestyle="--")
            ax.set_title(_label(name), fontsize=None if len(axes) == 1 else "medium")
            ax.grid(alpha=0.3)
        if len(axes) == 1:
            axes[0].set_xlabel("z")
            axes[0].legend()
        else:
            handles, labels = axes[0].get_legend_handles_labels()
            figure.legend(handles, labels, loc="upper right", ncol=2, frameon=False)
            z = [v for z, _, _ in curves.values() for v in z]
            figure.suptitle(f"activations: f and f' for z in [{min(z):g}, {max(z):g}]", x=0.05,
                            ha="left")
        return _bytes(figure, fmt)


def sweep_images(trials: Sequence[Mapping], *, objective: str, direction: str,
                 importances: Mapping[str, float] | None = None) -> dict[str, bytes]:
    """The plot files of a sweep, contents by file name.

    ``trials`` are the sweep's trials (``number``, ``state``, ``value``) as ``nnctl sweep
    --json`` gives them. ``history.*``: each completed trial's ``objective`` by trial number,
    with the best so far (``direction`` is ``maximize`` or ``minimize``), as Optuna's
    optimization-history plot. ``importance.*`` when ``importances`` (the share of the
    objective's variation owed to each key of the space, as Optuna's importance evaluators
    give it) has an entry: one bar per key, the largest on top. Raises ImportError (with
    ``MISSING``) without matplotlib.
    """
    if direction not in ("maximize", "minimize"):
        raise ValueError(f"direction must be maximize or minimize, not {direction!r}")
    out: dict[str, bytes] = {}
    with _style():
        _save(_history(trials, objective, direction), "history", out)
        if importances:
            _save(_importance(importances, objective), "importance", out)
    return out


def _history(trials: Sequence[Mapping], objective: str, direction: str):
    figure = _figure(CURVE_SIZE)
    ax = figure.add_subplot()
    done = sorted((int(t["number"]), v) for t in trials if t.get("state") == "complete"
                  and (v := _number(t.get("value"))) is not None)
    counts = {}
    for t in trials:
        counts[t.get("state")] = counts.get(t.get("state"), 0) + 1
    if done:
        x = [n for n, _ in done]
        y = [v for _, v in done]
        better = max if direction == "maximize" else min
        best = [y[0]]
        for v in y[1:]:
            best.append(better(best[-1], v))
        ax.plot(x, y, "o", markersize=4, label="completed trial", color="C0")
        ax.step(x, best, where="post", color="C1", linewidth=1.6, label=f"best so far ({direction})")
        ax.legend()
    shown = ", ".join(f"{n} {word}" for state, word in (
        ("complete", "completed"), ("pruned", "pruned"), ("fail", "failed"), ("running", "running"))
        if (n := counts.get(state)))
    title = f"sweep history: {_label_text(objective)}" + (f" ({shown})" if shown else "")
    if not done:
        title += ": no completed trial"
    ax.set_title(title)
    ax.set_xlabel("trial")
    ax.set_ylabel(_label_text(objective))
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    return figure


def _importance(importances: Mapping[str, float], objective: str):
    items = sorted(((_label_text(k, KEY_WIDTH), float(v)) for k, v in importances.items()),
                   key=lambda kv: kv[1])
    height = max(2.5, 0.9 + 0.35 * len(items))
    # The keys (up to KEY_WIDTH characters) take the left third.
    figure = _figure((CURVE_SIZE[0], height), margins=(0.34, 0.7 / height, 0.95, 1 - 0.45 / height))
    ax = figure.add_subplot()
    names = [k for k, _ in items]
    values = [v for _, v in items]
    ax.barh(range(len(items)), values, color="C0")
    ax.set_yticks(range(len(items)), names, parse_math=False)
    for i, v in enumerate(values):
        ax.text(v, i, f" {v:.2f}", va="center", fontsize="small")
    ax.set_xlim(0, max(1.0, max(values) * 1.15) if values else 1.0)
    ax.set_xlabel(f"importance for {_label_text(objective)}")
    ax.set_title("parameter importance")
    ax.grid(alpha=0.3, axis="x")
    return figure


def _curves(ax, rows: Sequence[Mapping], columns: Sequence[str]) -> list[float]:
    """Draws one line per column that has values; returns every value drawn."""
    drawn: list[float] = []
    for column in columns:
        x, y = _series(rows, column)
        if y:
            ax.plot(x, y, label=_SPLITS.get(column.split("_", 1)[0], column),
                    marker="o" if len(y) <= MARK_UP_TO else None, markersize=3)
            drawn += y
    if drawn:  # an empty legend is a matplotlib warning
        ax.legend()
    return drawn


def _axes(ax, title: str, ylabel: str) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.set_title(title)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)


def _confusion(counts: list[list[int]], labels: list[str]):
    n = len(labels)
    side = min(6.0 + 0.12 * n, 14.0)
    # The colour bar takes the extra width; the margins leave room for 20-character labels.
    figure = _figure((side + 1.0, side), margins=(0.2, 0.2, 0.98, 0.94))
    ax = figure.add_subplot()
    top = max(1, max(max(row) for row in counts))
    image = ax.imshow([[float(v) for v in row] for row in counts], cmap="Blues",
                      interpolation="nearest", vmin=0, vmax=top)
    figure.colorbar(image, ax=ax, shrink=0.8)
    # Sizes in points from the room there is: the axes take about 80% of the side.
    room = side * 72 * 0.8
    ticks = range(0, n, math.ceil(n / TICKS_UP_TO))
    size = max(4.0, min(9.0, 0.6 * room / len(ticks)))
    # Labels are text, not formulas: "$x$" stays "$x$", and "$\\foo$" cannot raise at draw.
    ax.set_xticks(ticks, [labels[i] for i in ticks], rotation=45, ha="right",
                  rotation_mode="anchor", fontsize=size, parse_math=False)
    ax.set_yticks(ticks, [labels[i] for i in ticks], fontsize=size, parse_math=False)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("confusion matrix")
    if n <= ANNOTATE_UP_TO:
        cell = room / n
        digits = max(len(str(v)) for row in counts for v in row)
        size = max(4.0, min(10.0, 0.45 * cell, 1.4 * cell / digits))
        for i, row in enumerate(counts):
            for j, v in enumerate(row):
                # Light text on the dark cells, dark on the light ones.
                ax.text(j, i, str(v), ha="center", va="center", fontsize=size,
                        color="white" if v > top / 2 else "black")
    return figure


def _counts(confusion: Sequence[Sequence[int]], n: int) -> list[list[int]]:
    counts = [[int(v) for v in row] for row in confusion]
    if len(counts) != n or any(len(row) != n for row in counts):
        raise ValueError(f"the confusion matrix must be {n}x{n}, one row and column per class")
    return counts


def _series(rows: Sequence[Mapping], column: str) -> tuple[list[float], list[float]]:
    """Epochs and values of ``column``, without the rows where either is missing."""
    points = [(_number(row.get("epoch")), _number(row.get(column))) for row in rows]
    points = [(e, v) for e, v in points if e is not None and v is not None]
    if len(points) > MAX_POINTS:  # more points than pixels: every k-th, and the last
        points = points[::math.ceil(len(points) / MAX_POINTS)] + points[-1:]
    return [e for e, _ in points], [v for _, v in points]


def _number(value) -> float | None:
    """A finite float, or None for a missing one (None, '', NaN, inf, text that is no number)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        x = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return x if math.isfinite(x) else None


def _label(text) -> str:
    """A class label for display: control characters escaped, cut to ``LABEL_WIDTH``."""
    return _label_text(text, LABEL_WIDTH)


def _label_text(text, width: int = 60) -> str:
    """Text from a file for display: control characters escaped, cut to ``width``."""
    text = safe(text)
    return text if len(text) <= width else text[:width - 1] + "…"
