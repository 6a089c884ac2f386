"""Each activation against central finite differences and at the extremes."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose

from nnctl.core.activations import ACTIVATIONS, ALIASES, get_activation, softmax
from nnctl.errors import ConfigError

ELEMENTWISE = sorted(name for name, a in ACTIVATIONS.items() if not a.output_only)
ALPHA = {"elu": 0.7, "prelu": np.array([[0.25], [0.1], [0.6]])}


def alpha_for(name, dtype=np.float64):
    a = ALPHA.get(name)
    return a.astype(dtype) if isinstance(a, np.ndarray) else a


def test_registry_has_the_nine_and_softmax():
    assert set(ELEMENTWISE) == {"identity", "binary_step", "logistic", "tanh", "arctan",
                                "relu", "prelu", "elu", "softplus"}
    assert ACTIVATIONS["softmax"].output_only


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_derivative_matches_central_differences(name):
    act = ACTIVATIONS[name]
    rng = np.random.default_rng(0)
    Z = rng.uniform(-4, 4, size=(3, 200))
    Z = Z[:, np.abs(Z).min(axis=0) > 1e-3]  # away from the kinks at 0
    alpha = alpha_for(name)
    h = 1e-6
    numeric = (act.f(Z + h, alpha) - act.f(Z - h, alpha)) / (2 * h)
    analytic = act.df(Z, act.f(Z, alpha), alpha)
    assert analytic.shape == Z.shape
    assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_formulas_from_the_table(name):
    z = np.array([[-2.0, -0.5, 0.0, 0.5, 2.0]])
    alpha = {"elu": 0.7, "prelu": np.array([[0.25]])}.get(name)
    expected = {
        "identity": z,
        "binary_step": np.array([[0, 0, 1, 1, 1.0]]),
        "logistic": 1 / (1 + np.exp(-z)),
        "tanh": np.tanh(z),
        "arctan": np.arctan(z),
        "relu": np.array([[0, 0, 0, 0.5, 2.0]]),
        "prelu": np.array([[-0.5, -0.125, 0, 0.5, 2.0]]),
        "elu": np.where(z < 0, 0.7 * (np.exp(z) - 1), z),
        "softplus": np.log1p(np.exp(z)),
    }[name]
    assert_allclose(ACTIVATIONS[name].f(z, alpha), expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_finite_without_warnings_at_extremes(name, dtype):
    act = ACTIVATIONS[name]
    Z = np.array([[-1e3, -100, -10, 0, 10, 100, 1e3], [1e3, 1, -1, 0, -1e3, 3e38, -3e38]],
                 dtype=dtype)
    alpha = {"elu": 1.0, "prelu": np.full((2, 1), 0.25, dtype=dtype)}.get(name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
            A = act.f(Z, alpha)
            dZ = act.backward(np.ones_like(Z), Z, A, alpha)
    assert np.isfinite(A).all() and np.isfinite(dZ).all()
    assert A.dtype == dtype and dZ.dtype == dtype


def test_saturation_values():
    Z = np.array([[-1e3, 1e3]])
    assert_allclose(ACTIVATIONS["logistic"].f(Z), [[0.0, 1.0]])
    assert_allclose(ACTIVATIONS["softplus"].f(Z), [[0.0, 1e3]])
    assert_allclose(ACTIVATIONS["elu"].f(Z, 1.0), [[-1.0, 1e3]])
    assert_allclose(ACTIVATIONS["arctan"].df(Z, None), [[1e-6, 1e-6]], rtol=1e-6)


def test_softmax_columns_sum_to_one_and_jvp_matches_differences():
    rng = np.random.default_rng(1)
    Z = rng.normal(size=(4, 6))
    A = softmax(Z)
    assert_allclose(A.sum(axis=0), np.ones(6), rtol=1e-12)
    dA = rng.normal(size=Z.shape)
    # d/dZ of sum(dA * softmax(Z)), element by element.
    h = 1e-6
    numeric = np.zeros_like(Z)
    for idx in np.ndindex(*Z.shape):
        E = np.zeros_like(Z)
        E[idx] = h
        numeric[idx] = (np.sum(dA * softmax(Z + E)) - np.sum(dA * softmax(Z - E))) / (2 * h)
    analytic = ACTIVATIONS["softmax"].backward(dA, Z, A)
    assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)


def test_names_are_trimmed_case_folded_and_dashes_read_as_underscores():
    assert get_activation(" Binary-Step ") is ACTIVATIONS["binary_step"]
    with pytest.raises(ConfigError, match="did you mean 'softplus'"):
        get_activation("soft-plus")  # soft_plus is no name: nothing is guessed beyond - and _


@pytest.mark.parametrize("alias, name", sorted(ALIASES.items()))
def test_aliases(alias, name):
    assert get_activation(alias) is ACTIVATIONS[name]
    assert get_activation(alias.upper()) is ACTIVATIONS[name]


def test_unknown_activation_lists_choices_and_suggests():
    with pytest.raises(ConfigError) as e:
        get_activation("rleu")
    message = str(e.value)
    assert "unknown activation 'rleu'" in message
    assert all(name in message for name in ACTIVATIONS)
    assert "did you mean 'relu'?" in message


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-14), (np.float32, 2e-6)])
def test_fast_paths_match_the_reference(name, dtype, tol):
    """The training loop's in-place forms compute the reference f and dA * f'(Z)."""
    act = ACTIVATIONS[name]
    rng = np.random.default_rng(7)
    Z = (rng.normal(scale=3, size=(3, 50))).astype(dtype)
    Z[0, :4] = [0.0, -1e3, 1e3, -50.0]
    alpha = {"elu": 0.7, "prelu": np.array([[0.25], [1.5], [0.6]], dtype=dtype)}.get(name)
    A_ref = act.f(Z, alpha)
    A = np.empty_like(Z)
    act.into(Z, A, alpha, np.empty_like(Z))
    assert A.dtype == dtype
    assert_allclose(A, A_ref, rtol=tol, atol=tol)
    dA = rng.normal(size=Z.shape).astype(dtype)
    expected = act.backward(dA, Z, A_ref, alpha)
    got = dA.copy()
    act.scale(got, Z, A, alpha, np.empty_like(Z))
    assert got.dtype == dtype
    assert_allclose(got, expected, rtol=tol * 10, atol=tol)
