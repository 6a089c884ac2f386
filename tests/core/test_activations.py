"""Each activation's forward and derivative, the pair training runs, against central finite
differences, the textbook formulas and the extremes."""

import inspect
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from nnctl.core.activations import ACTIVATIONS, ALIASES, get_activation, prelu_dalpha, softmax
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


def forward(act, Z, alpha):
    """``act.forward`` (what ``Dense`` runs) into a new buffer."""
    return act.forward(Z, np.empty_like(Z), alpha, np.empty_like(Z))


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_each_activation_is_a_forward_and_its_derivative_right_below_it(name):
    act = ACTIVATIONS[name]
    assert act.forward.__name__ == name
    assert act.derivative.__name__ == f"{name}_derivative"
    lines, first = inspect.getsourcelines(act.forward)
    # Two blank lines, then the derivative: nothing between a forward and its derivative.
    assert act.derivative.__code__.co_firstlineno == first + len(lines) + 2


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_derivative_matches_central_differences(name):
    """The derivative training runs, against d/dZ of sum(dA * f(Z)) by central differences.

    Softmax couples the units of a column (its derivative is a Jacobian-vector product), the
    others none, and no activation couples columns: so moving unit i of every column at once
    gives row i of dZ, for every activation alike.
    """
    act = ACTIVATIONS[name]
    rng = np.random.default_rng(0)
    Z = rng.uniform(-4, 4, size=(3, 200))
    Z = Z[:, np.abs(Z).min(axis=0) > 1e-3]  # away from the kinks at 0
    alpha = alpha_for(name)
    A = forward(act, Z, alpha)
    dA = rng.normal(size=Z.shape)
    buffer = dA.copy()
    dZ = act.derivative(buffer, Z, A, alpha, np.empty_like(Z))
    assert dZ is buffer, "the derivative works in place: dA's buffer becomes dZ"
    h = 1e-6
    numeric = np.empty_like(Z)
    for i in range(Z.shape[0]):
        E = np.zeros_like(Z)
        E[i] = h
        diff = forward(act, Z + E, alpha) - forward(act, Z - E, alpha)
        numeric[i] = (dA * diff).sum(axis=0) / (2 * h)
    # atol: softmax's entries can cancel to near 0; the others' relative error is dA-free.
    assert_allclose(dZ, numeric, rtol=1e-6, atol=1e-9)


def test_prelu_dalpha_matches_central_differences():
    """d/dalpha of sum(dA * prelu(Z, alpha)), one learned slope per unit (row)."""
    act = ACTIVATIONS["prelu"]
    rng = np.random.default_rng(3)
    Z = rng.uniform(-4, 4, size=(3, 50))
    alpha = alpha_for("prelu")
    dA = rng.normal(size=Z.shape)
    dalpha = np.empty_like(alpha)
    prelu_dalpha(dA, Z, np.empty_like(Z), dalpha)
    assert act.dalpha is prelu_dalpha
    h = 1e-6
    numeric = np.empty_like(alpha)
    for i in range(alpha.shape[0]):
        E = np.zeros_like(alpha)
        E[i] = h
        diff = forward(act, Z, alpha + E) - forward(act, Z, alpha - E)
        numeric[i] = np.sum(dA * diff) / (2 * h)
    assert_allclose(dalpha, numeric, rtol=1e-6, atol=1e-9)


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
    arctan = ACTIVATIONS["arctan"]
    f_prime = arctan.backward(np.ones_like(Z), Z, arctan.f(Z))  # 1 / (1 + z^2)
    assert_allclose(f_prime, [[1e-6, 1e-6]], rtol=1e-6)


def test_softmax_columns_sum_to_one():
    Z = np.random.default_rng(1).normal(size=(4, 6))
    A = softmax(Z)
    assert_allclose(A.sum(axis=0), np.ones(6), rtol=1e-12)
    assert_array_equal(A, ACTIVATIONS["softmax"].f(Z))


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
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_f_and_backward_are_the_pair_on_new_arrays(name, dtype):
    """The allocating forms are the forward and derivative training runs, bit for bit."""
    act = ACTIVATIONS[name]
    rng = np.random.default_rng(7)
    Z = rng.normal(scale=3, size=(3, 50)).astype(dtype)
    Z[0, :4] = [0.0, -1e3, 1e3, -50.0]
    alpha = {"elu": 0.7, "prelu": np.array([[0.25], [1.5], [0.6]], dtype=dtype)}.get(name)
    Z_before = Z.copy()
    A = act.f(Z, alpha)
    assert A.dtype == dtype and A is not Z
    assert_array_equal(A, forward(act, Z, alpha))
    dA = rng.normal(size=Z.shape).astype(dtype)
    dA_before = dA.copy()
    dZ = act.backward(dA, Z, A, alpha)
    assert dZ.dtype == dtype and not np.shares_memory(dZ, dA)
    assert_array_equal(dZ, act.derivative(dA.copy(), Z, A, alpha, np.empty_like(Z)))
    assert_array_equal(Z, Z_before)
    assert_array_equal(dA, dA_before)


@pytest.mark.parametrize("dtype, size", [("float64", 100), ("float64", 10_000),
                                         ("float32", 100), ("float32", 10_000)])
def test_logistic_keeps_its_relative_accuracy_in_the_left_tail(dtype, size):
    """(1 + tanh(z/2)) / 2 alone gave a probability of exactly 0 below z = -37: a log loss
    of inf, and p_<class> columns of 0.0 in predict. Both code paths (small and large
    arrays) are checked against e^z / (1 + e^z) in float64."""
    low = -700.0 if dtype == "float64" else -80.0
    Z = np.linspace(low, 30.0, size).astype(dtype)[None]
    A = ACTIVATIONS["logistic"].f(Z)
    exact = 1 / (1 + np.exp(-Z.astype(np.float64)))
    normal = exact > np.finfo(dtype).tiny * 1e3  # beyond that the dtype has no such number
    bound = 1e-9 if dtype == "float64" else 1e-3
    assert (A[normal] > 0).all()
    assert np.max(np.abs(A[normal] - exact[normal]) / exact[normal]) < bound
