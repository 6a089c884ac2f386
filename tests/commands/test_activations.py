"""``nnctl activations``: the registry's formulas, and curves that are the functions training runs."""

from __future__ import annotations

import json

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
