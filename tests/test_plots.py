"""The plot images (nnctl.plots): what they contain, that hostile labels and holes in the
history cannot break them, that they are the same bytes every time, and that importing
nnctl does not import matplotlib."""

from __future__ import annotations

import io
import math
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

pytest.importorskip("matplotlib")
Image = pytest.importorskip("PIL.Image")

from nnctl import plots  # noqa: E402

#: The colour of the first line (matplotlib's C0, the train curve).
TRAIN_BLUE = (0x1F, 0x77, 0xB4)
HOSTILE = ["$x$", "a_b\\c", "\x1b[31mred", "x" * 200, "$\\foo$", "a$b", "$\\frac{$", "a--b -->",
           "<&>", "中文", "", "\u202egnp.exe", "line\nbreak"]


def history(n: int, *, val: bool = True, task: str = "classification") -> list[dict]:
    """``n`` epochs of a run whose loss falls from 2 by orders of magnitude."""
    rows = []
    for i in range(n):
        row = {"epoch": i + 1, "train_loss": 2 * math.exp(-i / 20),
               "val_loss": 2.2 * math.exp(-i / 25) if val else None, "lr": 0.01, "seconds": 0.1}
        if task == "classification":
            row.update(train_accuracy=1 - 0.5 * math.exp(-i / 10),
                       val_accuracy=1 - 0.6 * math.exp(-i / 10) if val else None)
        else:
            row.update(train_r2=1 - math.exp(-i / 10), val_r2=1 - 1.2 * math.exp(-i / 10) if val
                       else None, train_mse=0.1, val_mse=0.2 if val else None)
        rows.append(row)
    return rows


def png(data: bytes):
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    return image.convert("RGB")


def colour_count(image, rgb, tolerance: int = 30) -> int:
    """Pixels within ``tolerance`` of ``rgb`` in every channel."""
    return sum(count for count, p in image.getcolors(maxcolors=1 << 24)
               if all(abs(a - b) <= tolerance for a, b in zip(p, rgb)))


def texts(svg: bytes) -> list[str]:
    """The strings drawn in an SVG: with glyphs as paths, matplotlib writes each as a comment."""
    return [t.strip() for t in re.findall(r"<!--(.*?)-->", svg.decode(), flags=re.S)]


def test_importing_plots_does_not_import_matplotlib():
    code = "import nnctl.plots, sys; print('matplotlib' in sys.modules, nnctl.plots.available())"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "True"]


def test_without_matplotlib_images_raise_the_one_line_hint():
    code = ("import sys; sys.modules['matplotlib'] = None\n"
            "import nnctl.plots as p\n"
            "print(p.available())\n"
            "try:\n    p.images([], task='regression')\n"
            "except ImportError as e:\n    print(e)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.splitlines() == ["False", plots.MISSING]
    assert "\n" not in plots.MISSING and "nnctl[plot]" in plots.MISSING


def test_the_curves_are_800_by_500_and_not_blank():
    out = plots.images(history(30), task="classification")
    assert sorted(out) == ["loss.png", "loss.svg", "metrics.png", "metrics.svg"]
    for name in ("loss.png", "metrics.png"):
        image = png(out[name])
        assert image.size == (800, 500)
        assert len(image.getcolors(maxcolors=1 << 20)) > 2
        assert colour_count(image, TRAIN_BLUE) > 200, name


def test_a_falling_loss_draws_a_line_an_empty_history_does_not():
    empty = png(plots.images([], task="classification")["loss.png"])
    run = png(plots.images(history(50), task="classification")["loss.png"])
    assert empty.size == run.size == (800, 500)
    assert colour_count(empty, TRAIN_BLUE) == 0
    assert colour_count(run, TRAIN_BLUE) > 300
    assert run.tobytes() != empty.tobytes()


def test_a_loss_over_orders_of_magnitude_is_on_a_log_scale_a_flat_one_is_not():
    steep = texts(plots.images(history(200), task="classification")["loss.svg"])
    # Decades as plain numbers (no mathtext: parsing it took a third of the drawing).
    assert {"0.001", "0.01", "0.1", "1"} <= set(steep), steep
    assert not any("10^{" in t for t in steep), steep
    flat = [dict(r, train_loss=1 + 0.01 * i, val_loss=None) for i, r in enumerate(history(20))]
    drawn = texts(plots.images(flat, task="classification")["loss.svg"])
    assert not any("10^{" in t for t in drawn), drawn
    assert any(re.fullmatch(r"1\.\d+", t) for t in drawn), drawn  # plain linear ticks


def test_a_negative_or_zero_loss_is_drawn_on_a_linear_scale():
    rows = [dict(r, train_loss=v) for r, v in zip(history(3), [100.0, 0.0, -1.0])]
    drawn = texts(plots.images(rows, task="classification")["loss.svg"])
    assert not any("10^{" in t for t in drawn) and "loss" in drawn


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_svgs_parse_and_every_file_is_the_same_bytes_twice(task):
    args = dict(task=task, confusion=[[5, 1], [2, 7]], classes=["$x$", "b"])
    first = plots.images(history(40, task=task), **args)
    second = plots.images(history(40, task=task), **args)
    assert first.keys() == second.keys()
    assert len(first) == 6
    for name, data in first.items():
        assert data == second[name], name
        if name.endswith(".svg"):
            root = ET.fromstring(data)
            assert root.tag == "{http://www.w3.org/2000/svg}svg"
            assert b"<dc:date>" not in data
        else:
            assert b"Software" not in data and png(data).size[0] > 0


def test_hostile_labels_are_drawn_as_text_escaped_and_cut():
    n = len(HOSTILE)
    confusion = [[i * n + j for j in range(n)] for i in range(n)]
    out = plots.images([], task="classification", confusion=confusion, classes=HOSTILE)
    svg = out["confusion.svg"]
    ET.fromstring(svg)
    drawn = texts(svg)
    assert "$x$" in drawn and "a_b\\c" in drawn and "$\\foo$" in drawn  # not mathtext
    assert "\\x1b[31mred" in drawn and "\x1b" not in svg.decode()
    assert "line\\x0abreak" in drawn and "\\u202egnp.exe" in drawn
    assert "x" * 19 + "…" in drawn and "x" * 21 not in svg.decode()
    image = png(out["confusion.png"])
    assert 0.8 < image.size[0] / image.size[1] < 1.3


def test_counts_are_annotated_up_to_30_classes_not_beyond():
    few = plots.images([], task="classification", confusion=[[987654, 1], [2, 3]],
                       classes=["a", "b"])
    assert {"987654", "1", "2", "3", "predicted", "true", "a", "b"} <= set(texts(few["confusion.svg"]))
    n = 40
    many = [[987654 if i == j else 0 for j in range(n)] for i in range(n)]
    drawn = texts(plots.images([], task="classification", confusion=many,
                               classes=[f"c{i}" for i in range(n)])["confusion.svg"])
    assert "987654" not in drawn and "c0" in drawn and "predicted" in drawn
    assert len(png(few["confusion.png"]).getcolors(maxcolors=1 << 20)) > 2


def test_the_names_on_a_large_confusion_matrix_are_thinned_out():
    n = 300
    confusion = [[1 if i == j else 0 for j in range(n)] for i in range(n)]
    out = plots.images([], task="classification", confusion=confusion,
                       classes=[f"k{i}" for i in range(n)])
    drawn = [t for t in texts(out["confusion.svg"]) if re.fullmatch(r"k\d+", t)]
    assert 20 <= len(set(drawn)) <= 100 and "k0" in drawn


def test_missing_values_are_skipped():
    rows = [
        {"epoch": 1, "train_loss": 1.0, "val_loss": None, "train_accuracy": "", "val_accuracy": None},
        {"epoch": 2, "train_loss": float("nan"), "val_loss": "", "train_accuracy": float("nan")},
        {"epoch": 3, "train_loss": float("inf"), "val_loss": "nan", "train_accuracy": 0.5},
        {"epoch": "", "train_loss": 0.5, "val_loss": 0.6, "train_accuracy": 0.6},
        {"epoch": 5, "train_loss": "0.25", "val_loss": "not a number", "train_accuracy": 10 ** 400},
        {"epoch": 6, "train_loss": 10 ** 400, "val_loss": True, "lr": None, "seconds": ""},
        {},
    ]
    out = plots.images(rows, task="classification")
    assert sorted(out) == ["loss.png", "loss.svg", "metrics.png", "metrics.svg"]
    # Two finite train losses (epochs 1 and 5), no validation loss at all.
    drawn = texts(out["loss.svg"])
    assert "train" in drawn and "validation" not in drawn
    assert colour_count(png(out["loss.png"]), TRAIN_BLUE) > 100


def test_a_history_of_only_missing_values_says_so():
    rows = [{"epoch": 1, "train_loss": None, "val_loss": float("nan"), "train_accuracy": ""}]
    out = plots.images(rows, task="classification")
    assert sorted(out) == ["loss.png", "loss.svg"]
    assert "loss: no finite value in the history" in texts(out["loss.svg"])
    assert colour_count(png(out["loss.png"]), TRAIN_BLUE) == 0


def test_a_single_epoch_is_a_visible_point():
    empty = png(plots.images([], task="regression")["loss.png"])
    one = plots.images(history(1, task="regression"), task="regression")
    image = png(one["loss.png"])
    assert colour_count(image, TRAIN_BLUE) > 5
    assert image.tobytes() != empty.tobytes()
    assert sorted(one) == ["loss.png", "loss.svg", "metrics.png", "metrics.svg"]


def test_without_validation_only_the_train_curves_are_drawn():
    out = plots.images(history(10, val=False), task="classification")
    for name in ("loss.svg", "metrics.svg"):
        drawn = texts(out[name])
        assert "train" in drawn and "validation" not in drawn, name
    with_val = texts(plots.images(history(10), task="classification")["loss.svg"])
    assert {"train", "validation"} <= set(with_val)


def test_no_epoch_gives_loss_images_with_a_title_that_says_so():
    out = plots.images([], task="classification", confusion=None, classes=None)
    assert sorted(out) == ["loss.png", "loss.svg"]
    assert "loss: no epoch finished" in texts(out["loss.svg"])
    assert png(out["loss.png"]).size == (800, 500)


def test_regression_plots_r2_classification_accuracy():
    regression = plots.images(history(10, task="regression"), task="regression")
    assert "R²" in texts(regression["metrics.svg"])
    classification = plots.images(history(10), task="classification")
    assert "accuracy" in texts(classification["metrics.svg"])
    # A regression history read as classification has no metric to plot, and back.
    assert "metrics.png" not in plots.images(history(10, task="regression"), task="classification")
    assert "metrics.svg" not in plots.images(history(10), task="regression")


def test_only_the_metric_columns_present_are_drawn():
    rows = [{"epoch": i, "train_loss": 1.0, "val_loss": None, "val_r2": 0.1 * i} for i in range(1, 6)]
    drawn = texts(plots.images(rows, task="regression")["metrics.svg"])
    assert "validation" in drawn and "train" not in drawn


def test_confusion_images_only_with_a_matrix_and_classes():
    rows = history(2)
    assert "confusion.png" not in plots.images(rows, task="classification")
    assert "confusion.png" not in plots.images(rows, task="classification", confusion=[[1]])
    assert "confusion.png" not in plots.images(rows, task="classification", classes=["a"])
    out = plots.images(rows, task="classification", confusion=[[1]], classes=["a"])
    assert {"confusion.png", "confusion.svg"} <= out.keys()


@pytest.mark.parametrize("confusion", [[[1, 2]], [[1, 2], [3]], [[1, 2], [3, 4], [5, 6]]])
def test_a_confusion_matrix_of_the_wrong_shape_is_refused(confusion):
    with pytest.raises(ValueError, match="2x2"):
        plots.images([], task="classification", confusion=confusion, classes=["a", "b"])


def test_an_unknown_task_is_refused():
    with pytest.raises(ValueError, match="task"):
        plots.images([], task="clustering")


def diagnosed(n: int, *, layers: int = 3, dead=(1, 2), saturated=()) -> list[dict]:
    """``history(n)`` with the gradient-flow columns of nnctl.core.diagnostics, for
    ``layers`` layers, ``dead_<l>`` for ``dead`` and ``saturated_<l>`` for ``saturated``."""
    rows = history(n)
    for i, row in enumerate(rows):
        for l in range(1, layers + 1):
            row[f"grad_norm_{l}"] = 0.5 * l * math.exp(-i / 10)
            row[f"update_ratio_{l}"] = 0.05 * math.exp(-i / 5) / l
        row.update({f"dead_{l}": min(1.0, 0.1 * i) for l in dead})
        row.update({f"saturated_{l}": 0.5 for l in saturated})
    return rows


def test_the_gradient_image_is_drawn_exactly_when_a_grad_norm_column_has_a_value():
    assert "gradients.png" not in plots.images(history(10), task="classification")
    out = plots.images(diagnosed(10), task="classification")
    assert {"gradients.png", "gradients.svg"} <= out.keys()
    # Update ratios or dead units alone, or grad norms that are all missing, are no image.
    holes = [dict(r, grad_norm_1=None, grad_norm_2=float("nan"), grad_norm_3="")
             for r in diagnosed(5, layers=3)]
    assert sorted(plots.images(holes, task="classification")) == [
        "loss.png", "loss.svg", "metrics.png", "metrics.svg"]


def test_the_gradient_image_has_three_panels_one_line_per_layer_and_the_ratio_band():
    out = plots.images(diagnosed(30), task="classification")
    svg = out["gradients.svg"]
    drawn = texts(svg)
    assert {"layer 1", "layer 2", "layer 3", "layer 1 dead", "layer 2 dead"} <= set(drawn), drawn
    assert "layer 3 dead" not in drawn and not any("saturated" in t for t in drawn), drawn
    assert "dead units (ReLU-like) per layer" in drawn
    assert {"usual 0.0001 to 0.01", "0.001 (rule of thumb)", "epoch", "share of units",
            "0%", "100%"} <= set(drawn), drawn
    assert any(t.startswith("gradient norm") for t in drawn)
    assert any(t.startswith("update ratio ||") for t in drawn)
    assert not any("10^{" in t for t in drawn), drawn  # plain log ticks, no mathtext
    assert drawn.count("epoch") == 1  # the epoch axis is shared: labelled once, at the bottom
    image = png(out["gradients.png"])
    assert image.size == (900, 960)
    assert colour_count(image, TRAIN_BLUE) > 300  # layer 1's lines


def test_a_gradient_norm_of_0_is_named_in_the_legend_not_dropped_silently():
    """A log axis cannot draw 0, and a layer whose gradient is 0 (all its units dead) is
    what the image is for: its legend entry says how many epochs were 0."""
    rows = diagnosed(10)
    for i, row in enumerate(rows):
        row["grad_norm_2"] = 0.0 if i >= 6 else row["grad_norm_2"]  # layer 2 dies at epoch 7
        row["grad_norm_3"] = 0.0
    drawn = texts(plots.images(rows, task="classification")["gradients.svg"])
    assert "layer 2 (0 in 4 epochs, not drawn)" in drawn, drawn
    assert "layer 3 (0 in 10 epochs, not drawn)" in drawn, drawn
    assert "layer 1" in drawn  # no zeros: its plain label


def test_the_gradient_image_is_the_same_bytes_twice_and_its_svg_parses():
    first = plots.images(diagnosed(40, saturated=(3,)), task="classification")
    second = plots.images(diagnosed(40, saturated=(3,)), task="classification")
    for name in ("gradients.png", "gradients.svg"):
        assert first[name] == second[name], name
    root = ET.fromstring(first["gradients.svg"])
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert b"<dc:date>" not in first["gradients.svg"] and b"Software" not in first["gradients.png"]


def test_only_some_layers_have_dead_or_saturated_columns():
    # A ReLU layer 1, a tanh layer 2 and an output layer 3 fused with its loss.
    rows = diagnosed(12, dead=(1,), saturated=(2,))
    drawn = texts(plots.images(rows, task="classification")["gradients.svg"])
    assert {"layer 1 dead", "layer 2 saturated", "layer 3"} <= set(drawn), drawn
    absent = {"layer 1 saturated", "layer 2 dead", "layer 3 dead", "layer 3 saturated"}
    assert not absent & set(drawn), drawn
    assert "dead units (ReLU-like) and saturated units (logistic, tanh, arctan) per layer" in drawn
    # Without any such column the shares' panel is left out.
    out = plots.images(diagnosed(12, dead=()), task="classification")
    assert "share of units" not in texts(out["gradients.svg"])
    assert png(out["gradients.png"]).size == (900, 660)


def test_missing_zero_and_infinite_diagnostics_are_skipped():
    rows = diagnosed(8, dead=(1, 2))
    for i, row in enumerate(rows):
        row.update(grad_norm_2=float("nan"), update_ratio_1=math.inf, update_ratio_2=None,
                   update_ratio_3=0.0, dead_2=float("nan"), grad_norm_3=0.0 if i else 1.0)
    rows[3]["grad_norm_1"] = ""
    rows.append({"epoch": 9, "grad_norm_1": "not a number", "dead_1": 10 ** 400})
    out = plots.images(rows, task="classification")
    ET.fromstring(out["gradients.svg"])
    drawn = texts(out["gradients.svg"])
    # Layer 2 has no grad norm, no ratio, no dead share; a 0 is not on a log axis, but the
    # legend says how many epochs were 0 (layer 3's norm after epoch 1, its ratio always).
    assert {"layer 1", "layer 3 (0 in 7 epochs, not drawn)", "layer 1 dead",
            "layer 3 (0 in 8 epochs, not drawn)"} <= set(drawn), drawn
    assert not [t for t in drawn if t.startswith("layer 2")]
    assert "layer 2 dead" not in drawn
    assert "update ratio ||step of W[l]|| / ||W[l]|| per layer: no value above 0" in drawn
    assert png(out["gradients.png"]).size == (900, 960)


def test_a_long_run_of_diagnostics_is_drawn_from_at_most_max_points():
    n = plots.MAX_POINTS * 3
    rows = [{"epoch": i + 1, "train_loss": 1.0, "grad_norm_1": 1 + i % 7, "update_ratio_1": 1e-3}
            for i in range(n)]
    svg = plots.images(rows, task="regression")["gradients.svg"]
    ET.fromstring(svg)
    # Every vertex of a line is an "L" in its path: about MAX_POINTS per line, not 3 times that.
    vertices = max(len(re.findall(r"\bL\b", d)) for d in re.findall(rb'd="([^"]*)"', svg)
                   for d in [d.decode()])
    assert plots.MAX_POINTS // 2 < vertices <= plots.MAX_POINTS + 2


def test_a_run_directory_has_the_gradient_image_and_plot_draws_it_again(cli, tmp_path):
    run = cli("train", "--epochs", "3")
    assert run.code == 0, run
    directory = tmp_path / "runs" / "default" / "1"
    image = directory / "gradients.png"
    assert image.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert (directory / "gradients.svg").is_file() and "gradients.png" in run.stderr
    history_columns = (directory / "history.csv").read_text().splitlines()[0].split(",")
    assert "grad_norm_1" in history_columns and "dead_1" in history_columns
    again = cli("plot", "runs/default/1", "-o", "plots")
    assert again.code == 0, again
    for name in ("gradients.png", "gradients.svg"):  # the history CSV gives the same image
        assert (tmp_path / "plots" / name).read_bytes() == (directory / name).read_bytes(), name


def test_an_image_of_a_run_that_links_to_a_file_elsewhere_is_not_replaced(cli, tmp_path):
    """`nnctl plot RUN` redraws the run's images; one that is a symlink to the user's own
    file (ln -sf ~/report/loss.png runs/x/1/loss.png) had that file replaced by the plot."""
    from helpers import assert_one_line_error

    assert cli("train", "--epochs", "3").code == 0
    directory = tmp_path / "runs" / "default" / "1"
    mine = tmp_path / "report.png"
    mine.write_bytes(b"my own figure")
    (directory / "loss.png").unlink()
    (directory / "loss.png").symlink_to(mine)
    before = {p.name: p.read_bytes() for p in directory.iterdir() if not p.is_symlink()}
    assert_one_line_error(cli("plot", "runs/default/1"), 1, "loss.png: is a symbolic link (to",
                          "redraws only the images it drew")
    assert mine.read_bytes() == b"my own figure" and (directory / "loss.png").is_symlink()
    assert {p.name: p.read_bytes() for p in directory.iterdir() if not p.is_symlink()} == before


@pytest.mark.parametrize("fmt", plots.FORMATS)
def test_activation_images_are_the_same_bytes_twice(fmt):
    z = [i / 10 for i in range(-40, 41)]
    curves = {"relu": (z, [max(v, 0.0) for v in z], [float(v >= 0) for v in z]),
              "identity": (z, z, [1.0] * len(z)), "$x$": (z, z, z)}
    for chosen in (dict(list(curves.items())[:1]), curves):
        first = plots.activation_image(chosen, fmt=fmt)
        assert first == plots.activation_image(chosen, fmt=fmt)
    one = plots.activation_image({"relu": curves["relu"]}, fmt="svg")
    assert {"relu", "f(z)", "f'(z)", "z"} <= set(texts(one))
    assert "$x$" in texts(plots.activation_image(curves, fmt="svg"))  # text, not mathtext


def test_an_activation_image_of_an_unknown_format_or_of_nothing_is_refused():
    with pytest.raises(ValueError, match="png"):
        plots.activation_image({"relu": ([0.0], [0.0], [1.0])}, fmt="jpg")
    with pytest.raises(ValueError, match="no activation"):
        plots.activation_image({}, fmt="png")


# -- a sweep's images --------------------------------------------------------------------

def sweep_trials() -> list[dict]:
    values = [0.70, 0.90, None, 0.80, 0.95, 0.60]
    states = ["complete", "complete", "pruned", "complete", "complete", "complete"]
    return [{"number": n, "state": s, "value": v} for n, (v, s) in enumerate(zip(values, states))]


def test_the_sweep_history_has_every_completed_trial_and_the_best_so_far():
    out = plots.sweep_images(sweep_trials(), objective="validation accuracy",
                             direction="maximize")
    assert sorted(out) == ["history.png", "history.svg"]  # no importance without figures
    drawn = texts(out["history.svg"])
    assert "sweep history: validation accuracy (5 completed, 1 pruned)" in drawn, drawn
    assert {"completed trial", "best so far (maximize)", "trial"} <= set(drawn), drawn
    root = ET.fromstring(out["history.svg"])
    # The best-so-far step line goes through 0.70, 0.90, 0.90, 0.95, 0.95 (maximize): its
    # path has one vertex per trial plus the steps; the dots are one marker per trial.
    uses = [e for e in root.iter() if e.tag.endswith("use")]
    assert len(uses) >= 5, len(uses)  # five completed trials' markers (the pruned has none)
    image = png(out["history.png"])
    assert image.size == (800, 500)
    assert colour_count(image, TRAIN_BLUE) > 20


def test_the_best_so_far_follows_the_direction():
    # minimize: the best line is the running minimum, so its last value is the smallest.
    trials = [{"number": i, "state": "complete", "value": v} for i, v in enumerate([3.0, 1.0, 2.0])]
    lo = plots._history(trials, "validation loss", "minimize").axes[0].lines[1].get_ydata()
    hi = plots._history(trials, "validation loss", "maximize").axes[0].lines[1].get_ydata()
    assert list(lo) == [3.0, 1.0, 1.0] and list(hi) == [3.0, 3.0, 3.0]


def test_the_importance_image_has_one_bar_per_key_largest_on_top():
    out = plots.sweep_images(sweep_trials(), objective="validation accuracy",
                             direction="maximize",
                             importances={"training.optimizer.lr": 0.7,
                                          "network.layers[0].units": 0.2,
                                          "\x1b[31m" + "k" * 80: 0.1})
    assert {"importance.png", "importance.svg"} <= set(out)
    drawn = texts(out["importance.svg"])
    assert {"training.optimizer.lr", "network.layers[0].units", "0.70", "0.20",
            "parameter importance"} <= set(drawn), drawn
    assert not any("\x1b" in t for t in drawn)  # a hostile key is escaped and cut
    assert any(t.endswith("…") and len(t) == plots.KEY_WIDTH for t in drawn), drawn
    figure = plots._importance({"a": 0.1, "b": 0.9}, "validation loss")
    labels = [t.get_text() for t in figure.axes[0].get_yticklabels()]
    assert labels == ["a", "b"]  # bottom to top: the largest is drawn last, on top


def test_a_sweep_without_completed_trials_says_so_and_is_the_same_bytes_twice():
    trials = [{"number": 0, "state": "fail", "value": None}]
    first = plots.sweep_images(trials, objective="validation r2", direction="maximize")
    second = plots.sweep_images(trials, objective="validation r2", direction="maximize")
    assert first == second
    assert "sweep history: validation r2 (1 failed): no completed trial" in texts(first["history.svg"])
    with pytest.raises(ValueError, match="direction"):
        plots.sweep_images(trials, objective="x", direction="up")
