"""Losses: values against their textbook formulas, stability, and the fused gradients."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose

from nnctl.core.activations import ACTIVATIONS, softmax
from nnctl.errors import ConfigError
from nnctl.core.losses import LOSSES, check_pairing, get_loss

logistic = ACTIVATIONS["logistic"].f


def test_mse_is_mean_over_every_element():
    A = np.array([[1.0, 2.0], [3.0, 5.0]])
    Y = np.array([[0.0, 2.0], [3.0, 3.0]])
    assert LOSSES["mse"].value(None, A, Y) == pytest.approx((1 + 0 + 0 + 4) / 4)


def test_binary_crossentropy_matches_the_formula():
    Z = np.array([[-2.0, 0.3, 1.5, 4.0]])
    Y = np.array([[0.0, 1.0, 1.0, 0.0]])
    A = logistic(Z)
    naive = -np.mean(Y * np.log(A) + (1 - Y) * np.log(1 - A))
    assert LOSSES["binary_crossentropy"].value(Z, A, Y) == pytest.approx(naive, rel=1e-12)


def test_categorical_crossentropy_matches_the_formula():
    Z = np.array([[1.0, -1.0], [2.0, 0.5], [0.1, 3.0]])
    Y = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    A = softmax(Z)
    naive = -np.sum(Y * np.log(A)) / 2
    assert LOSSES["categorical_crossentropy"].value(Z, A, Y) == pytest.approx(naive, rel=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_crossentropies_never_take_log_of_zero(dtype):
    Z = np.array([[-1e3, 1e3]], dtype=dtype)
    Y = np.array([[1.0, 0.0]], dtype=dtype)  # confidently wrong: loss ~ 1000 each
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bce = LOSSES["binary_crossentropy"].value(Z, logistic(Z), Y)
        Z3 = np.array([[1e3, -1e3], [-1e3, 1e3], [0.0, 0.0]], dtype=dtype)
        Y3 = np.array([[0, 1], [1, 0], [0, 0]], dtype=dtype)
        cce = LOSSES["categorical_crossentropy"].value(Z3, softmax(Z3), Y3)
    assert bce == pytest.approx(1000.0, rel=1e-6)
    assert cce == pytest.approx(2000.0, rel=1e-6)


@pytest.mark.parametrize("name, output, n", [
    ("mse", "identity", 2),
    ("binary_crossentropy", "logistic", 1),
    ("categorical_crossentropy", "softmax", 3),
])
def test_output_gradient_matches_finite_differences_in_z(name, output, n):
    """d(m * loss)/dZ[L] is the per-sample gradient the network starts backward from."""
    loss, act = LOSSES[name], ACTIVATIONS[output]
    rng = np.random.default_rng(2)
    m = 5
    Z = rng.normal(size=(n, m))
    Y = rng.uniform(size=(n, m)) if name == "mse" else np.eye(n)[:, rng.integers(0, n, m)]
    if name == "binary_crossentropy":
        Y = rng.integers(0, 2, size=(n, m)).astype(float)
    A = act.f(Z)
    g = loss.gradient(A, Y)
    dZ = g if loss.fused else act.backward(g, Z, A)
    h = 1e-6
    numeric = np.zeros_like(Z)
    for idx in np.ndindex(*Z.shape):
        E = np.zeros_like(Z)
        E[idx] = h
        numeric[idx] = m * (loss.value(Z + E, act.f(Z + E), Y)
                            - loss.value(Z - E, act.f(Z - E), Y)) / (2 * h)
    assert_allclose(dZ, numeric, rtol=1e-6, atol=1e-9)


def test_pairing_rules():
    check_pairing(LOSSES["mse"], ACTIVATIONS["tanh"])
    with pytest.raises(ConfigError, match="needs a 'logistic' output activation, got 'tanh'"):
        check_pairing(LOSSES["binary_crossentropy"], ACTIVATIONS["tanh"])
    with pytest.raises(ConfigError, match="needs a 'softmax'"):
        check_pairing(LOSSES["categorical_crossentropy"], ACTIVATIONS["logistic"])


def test_unknown_loss_lists_choices():
    with pytest.raises(ConfigError) as e:
        get_loss("msee")
    assert "binary_crossentropy, categorical_crossentropy, huber, mae, mse" in str(e.value)
    assert "did you mean 'mse'?" in str(e.value)
    assert get_loss("BCE") is LOSSES["binary_crossentropy"]


@pytest.mark.parametrize("name", ["mse", "mae", "huber"])
def test_a_weighted_loss_needs_no_logits(name):
    """The unfused losses are given Z = None; weighting them once divided by Z's width."""
    rng = np.random.default_rng(0)
    A, Y, w = rng.standard_normal((2, 5)), rng.standard_normal((2, 5)), rng.uniform(0, 2, 5)
    loss = get_loss(name)
    per_sample = loss.per_sample(None, A, Y)
    assert loss.value(None, A, Y, w) == pytest.approx(float(per_sample @ w) / 5, rel=1e-14)
