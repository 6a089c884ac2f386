"""``nnctl activations``: the registry's formulas, curves that are the functions training
runs, and ``--plot``, which draws them by the output policy."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from helpers import assert_one_line_error

#: Each activation written again from its formula, independently of nnctl's stable forms.
REFERENCE = {
    "identity": lambda z: z,
    "binary_step": lambda z: (z >= 0).astype(float),
    "logistic": lambda z: 1 / (1 + np.exp(-z)),
    "tanh": np.tanh,
    "arctan": np.arctan,
    "relu": lambda z: np.maximum(z, 0),
    "prelu": lambda z: np.where(z >= 0, z, 0.25 * z),
    "elu": lambda z: np.where(z >= 0, z, np.exp(z) - 1),
    "softplus": lambda z: np.log1p(np.exp(z)),
    "softmax": lambda z: np.exp(z) / (np.exp(z) + 1),  # unit 0 of softmax(z, 0)
}
#: Where f has a kink or a jump, a finite difference is not its derivative.
KINKS = {"binary_step", "relu", "prelu"}


def test_the_table_lists_every_activation_with_its_formulas(cli):
    run = cli("activations")
    assert run.code == 0, run
    for name in REFERENCE:
        assert name in run.stdout, name
    assert "1 / (1 + e^-z)" in run.stdout and "logistic (sigmoid)" in run.stdout
    assert "…" not in run.stdout


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_the_curves_are_the_function_and_its_derivative(cli, name):
    info = json.loads(cli("activations", name, "--json").stdout)
    z, f, df = (np.array(info[k]) for k in ("z", "f", "df"))
    assert z.shape == (161,) and z[0] == -4 and z[-1] == 4 and 0.0 in z
    reference = REFERENCE[name]
    np.testing.assert_allclose(f, reference(z), rtol=1e-12, atol=1e-15)
    h = 1e-6
    numeric = (reference(z + h) - reference(z - h)) / (2 * h)
    smooth = np.abs(z) > 2 * h if name in KINKS else np.ones_like(z, dtype=bool)
    np.testing.assert_allclose(df[smooth], numeric[smooth], rtol=1e-6, atol=1e-8)
    assert info["formula"] and info["derivative"] and info["range"] and info["stable_form"]


@pytest.mark.parametrize("name, at_zero", [("relu", 1.0), ("prelu", 1.0), ("binary_step", 0.0)])
def test_at_the_kink_the_derivative_is_the_documented_side(cli, name, at_zero):
    info = json.loads(cli("activations", name, "--json").stdout)
    z, df = np.array(info["z"]), np.array(info["df"])
    assert df[z == 0].tolist() == [at_zero]  # z >= 0 is the positive side (docs/notation.md)


def test_no_gradient_passes_a_binary_step_anywhere(cli):
    assert set(json.loads(cli("activations", "step", "--json").stdout)["df"]) == {0.0}


def test_one_activation_is_drawn_and_an_alias_names_it(cli):
    run = cli("activations", "sigmoid")
    assert run.code == 0, run
    assert run.stdout.startswith("logistic")
    assert "computed as" in run.stdout and "* f(z)   o f'(z)" in run.stdout
    assert "exp(-logaddexp(0, -z))" in run.stdout


def test_an_unknown_activation_is_one_line_with_a_suggestion(cli):
    assert_one_line_error(cli("activations", "rleu"), 2, "unknown activation 'rleu'",
                          "did you mean 'relu'?")


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_plot_writes_a_png_of_one_activation(cli, tmp_path):
    pytest.importorskip("matplotlib")
    run = cli("activations", "elu", "--plot", "elu.png")
    assert run.code == 0, run
    assert (tmp_path / "elu.png").read_bytes().startswith(PNG_SIGNATURE)
    assert run.stdout.startswith("elu") and "wrote elu.png" in run.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["elu.png"]  # no temporary file left


def test_plot_without_a_name_writes_an_svg_of_every_activation(cli, tmp_path):
    pytest.importorskip("matplotlib")
    run = cli("activations", "--plot", "all.SVG")
    assert run.code == 0, run
    svg = (tmp_path / "all.SVG").read_bytes()
    assert ET.fromstring(svg).tag == "{http://www.w3.org/2000/svg}svg"
    for name in REFERENCE:  # each panel's title (glyphs are paths; the text is a comment)
        assert f"<!-- {name} -->".encode() in svg, name
    again = cli("activations", "--plot", "all.SVG", "--json")  # replaced atomically, same bytes
    assert again.code == 0, again
    assert (tmp_path / "all.SVG").read_bytes() == svg
    assert len(json.loads(again.stdout)) == len(REFERENCE)


@pytest.mark.parametrize("path", ["elu.jpg", "elu", "-", "elu.png.txt"])
def test_plot_to_a_file_that_is_not_png_or_svg_is_one_line_and_writes_nothing(cli, tmp_path, path):
    run = cli("activations", "elu", "--plot", path)
    assert_one_line_error(run, 2, f"{path}: --plot writes a .png or .svg image")
    assert run.stdout == "" and list(tmp_path.iterdir()) == []


def test_plot_into_a_missing_directory_is_one_line(cli, tmp_path):
    pytest.importorskip("matplotlib")
    run = cli("activations", "relu", "--plot", "no/such/relu.png")
    assert_one_line_error(run, 1, "no/such/relu.png", "does not exist")
    assert run.stdout == "" and list(tmp_path.iterdir()) == []


def test_plot_without_matplotlib_says_to_install_the_plot_extra(cli, tmp_path, monkeypatch):
    from nnctl import plots

    monkeypatch.setattr(plots, "available", lambda: False)
    run = cli("activations", "elu", "--plot", "elu.png")
    assert_one_line_error(run, 1, "pip install 'nnctl[plot]'")
    assert run.stdout == "" and list(tmp_path.iterdir()) == []


def test_a_failed_write_leaves_the_old_image_whole(cli, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    import errno
    import os

    old = tmp_path / "elu.png"
    old.write_bytes(b"the old image")

    def full_disk(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full_disk)
    run = cli("activations", "elu", "--plot", "elu.png")
    assert_one_line_error(run, 1, "elu.png: cannot write the image", "nothing was changed")
    assert old.read_bytes() == b"the old image"
    assert [p.name for p in tmp_path.iterdir()] == ["elu.png"]  # the temporary file is gone
