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
