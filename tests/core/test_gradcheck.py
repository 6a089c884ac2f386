"""The gradient check: it passes where backprop is right, and finds a derivative that is not.

Also: kinks and zero gradients get no false verdict, the theta offsets it steps are the
named entries, the sample of entries is deterministic, and the network given is untouched.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from nnctl.core.activations import ACTIVATIONS
from nnctl.core.gradcheck import GradCheck, gradcheck, theta_index
from nnctl.core.network import Network

from helpers import targets

HIDDEN = sorted(name for name, a in ACTIVATIONS.items() if not a.output_only)
OUTPUTS = [  # (output activation, loss, n[L])
    ("identity", "mse", 2),
    ("logistic", "binary_crossentropy", 1),
    ("softmax", "categorical_crossentropy", 3),
]
M = 7


def problem(hidden, output="identity", loss="mse", n_out=2, *, dtype="float64", seed=42):
    """A 4-5-3-n_out network with non-zero biases and a batch of M random samples."""
    rng = np.random.default_rng(seed)
    alphas = [0.7 if hidden == "elu" else None] * 2 + [None]
    net = Network([4, 5, 3, n_out], [hidden, hidden, output], loss=loss, alphas=alphas,
                  dtype=dtype, rng=np.random.default_rng(3))
    net.theta += rng.normal(scale=0.1, size=net.theta.size)  # biases and slopes off their start
    X = rng.normal(size=(4, M))
    Y = targets(loss, n_out, M, rng)
    return net, X, Y, rng


def names(result: GradCheck) -> list[str]:
    return [t.name for t in result.tensors]


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("output, loss, n_out", OUTPUTS)
@pytest.mark.parametrize("hidden", HIDDEN)
def test_passes_for_every_activation_and_loss(hidden, output, loss, n_out, weighted):
    net, X, Y, rng = problem(hidden, output, loss, n_out)
    w = rng.uniform(0.2, 3.0, size=M) if weighted else None
    result = gradcheck(net, X, Y, w=w)
    assert result.passed, result
    assert names(result) == list(net.arrays())
    assert [t.checked for t in result.tensors] == [t.total for t in result.tensors]
    assert_allclose(result.loss, net.compute_loss(X, Y, w), rtol=1e-12, atol=0)
    assert (result.m, result.eps, result.rtol, result.atol) == (M, 1e-6, 1e-5, 1e-8)
    # Far inside the tolerance: float64 central differences are good to ~1e-10 here.
    assert max(t.max_abs for t in result.tensors) < 1e-7


@pytest.mark.parametrize("hidden", HIDDEN)
def test_a_float32_network_is_checked_in_float64_and_left_unchanged(hidden):
    net, X, Y, _ = problem(hidden, "softmax", "categorical_crossentropy", 3, dtype="float32")
    theta = net.theta.copy()
    result = gradcheck(net, X, Y)
    assert result.passed, result
    assert max(t.max_abs for t in result.tensors) < 1e-7  # float32 differences give ~1e-3
    assert net.theta.dtype == np.float32
    assert_array_equal(net.theta.view(np.uint32), theta.view(np.uint32))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_network_given_is_unchanged(dtype):
    net, X, Y, _ = problem("prelu", "identity", "mse", 2, dtype=dtype)
    net.forward(X)
    net.backward(Y)
    theta, grad, Z = net.theta.copy(), net.grad.copy(), net.layer(1).Z.copy()
    gradcheck(net, X, Y, w=np.linspace(0.5, 2, M))
    assert_array_equal(net.theta, theta)
    assert_array_equal(net.grad, grad)
    assert_array_equal(net.layer(1).Z, Z)
    assert_array_equal(np.signbit(net.theta), np.signbit(theta))  # bit-identical, -0.0 too


@pytest.mark.parametrize("hidden", ["prelu", "elu", "tanh"])
def test_theta_offsets_are_the_named_entries(hidden):
    """Stepping theta at an entry's offset changes that entry of ``arrays()`` and no other."""
    net, _, _, _ = problem(hidden)
    index = theta_index(net)
    assert list(index) == list(net.arrays())
    assert_array_equal(np.sort(np.concatenate([k.ravel() for k in index.values()])),
                       np.arange(net.theta.size))
    before = net.arrays()
    for name, k in index.items():
        assert k.shape == before[name].shape, name
        for entry in np.ndindex(k.shape):
            old = net.theta[k[entry]]
            net.theta[k[entry]] = old + 1.0
            after = net.arrays()
            net.theta[k[entry]] = old  # not -= 1.0: that rounds
            for other, value in after.items():
                changed = np.argwhere(value != before[other])
                expected = [list(entry)] if other == name else []
                assert changed.tolist() == expected, (name, entry, other)


def test_theta_offsets_follow_the_documented_layout():
    """[W | b] blocks of (n, n_prev + 1) in layer order, then the PReLU alphas."""
    net = Network([4, 5, 3, 2], ["prelu", "tanh", "prelu"], loss="mse")
    index = theta_index(net)
    block, alpha = 0, sum(net.sizes[l] * (net.sizes[l - 1] + 1) for l in range(1, 4))
    for l in range(1, 4):
        n, n_prev = net.sizes[l], net.sizes[l - 1]
        i, j = np.indices((n, n_prev))
        assert_array_equal(index[f"W{l}"], block + i * (n_prev + 1) + j)
        assert_array_equal(index[f"b{l}"][:, 0], block + np.arange(n) * (n_prev + 1) + n_prev)
        block += n * (n_prev + 1)
    assert_array_equal(index["alpha1"][:, 0], alpha + np.arange(5))
    assert_array_equal(index["alpha3"][:, 0], alpha + 5 + np.arange(2))
    assert "alpha2" not in index


def times_1_01(activation):
    """``activation`` with its derivative 1% too large: the kind of slip the check is for."""
    def wrong(dA, Z, A, alpha, T):
        dZ = activation.derivative(dA, Z, A, alpha, T)
        dZ *= 1.01
        return dZ
    return dataclasses.replace(activation, derivative=wrong)


def logistic_slope(activation):
    """tanh's forward with the logistic's derivative ``a (1 - a)``."""
    return dataclasses.replace(activation, derivative=ACTIVATIONS["logistic"].derivative)


@pytest.mark.parametrize("broken", [times_1_01, logistic_slope])
@pytest.mark.parametrize("l, failing", [(1, ["W1", "b1"]), (2, ["W1", "b1", "W2", "b2"])])
def test_a_broken_derivative_is_found_at_and_below_its_layer(l, failing, broken):
    net, X, Y, _ = problem("tanh")
    net.layers[l - 1].activation = broken(net.layers[l - 1].activation)
    result = gradcheck(net, X, Y)
    assert not result.passed
    assert [t.name for t in result.tensors if not t.passed] == failing
    for t in result.tensors:
        assert t.worst is not None and len(t.worst) == len(t.shape), t
        assert all(0 <= i < n for i, n in zip(t.worst, t.shape)), t
    assert min(t.max_rel for t in result.tensors if not t.passed) > 1e-3


@pytest.mark.parametrize("first", ["relu", "binary_step"])
def test_a_unit_exactly_at_its_kink_is_skipped_not_failed(first):
    """Z[1] of unit 2, sample 0 is exactly 0: stepping its W or b crosses the kink."""
    net = Network([4, 5, 3, 1], [first, "relu", "identity"], loss="mse",
                  rng=np.random.default_rng(3))
    rng = np.random.default_rng(11)
    net.theta += rng.normal(scale=0.1, size=net.theta.size)  # no Z[2] column of exact zeros
    X = rng.normal(size=(4, M))
    X[:, 0] = [1.0, 2.0, 0.5, 3.0]
    net.layer(1).W[2] = [0.5, -0.25, 1.0, 0.0]
    net.layer(1).b[2] = -0.5  # 0.5 - 0.5 + 0.5 + 0 - 0.5 = 0, exactly, in binary too
    Y = rng.normal(size=(1, M))
    net.forward(X)
    assert net.layer(1).Z[2, 0] == 0.0
    result = gradcheck(net, X, Y)
    assert result.passed, result
    assert {t.name: t.kinks for t in result.tensors} == {"W1": 4, "b1": 1, "W2": 0, "b2": 0,
                                                         "W3": 0, "b3": 0}
    # Why they are skipped: at relu's kink the central difference averages the two
    # one-sided slopes of b1[2] and backprop takes the right-hand one (relu'(0) = 1); at
    # the step's jump it is about (jump in J) / 2 eps, and backprop's is 0.
    net.forward(X)
    net.backward(Y)
    bp, eps, b = float(net.layer(1).db[2, 0]), 1e-6, net.layer(1).b
    b[2] = -0.5 + eps
    up = net.compute_loss(X, Y)
    b[2] = -0.5 - eps
    down = net.compute_loss(X, Y)
    b[2] = -0.5
    assert abs((up - down) / (2 * eps) - bp) > 1e-3


@pytest.mark.parametrize("l", [1, 2])
def test_below_a_binary_step_every_compared_gradient_is_exactly_zero(l):
    acts = ["tanh", "tanh", "identity"]
    acts[l - 1] = "binary_step"
    net = Network([4, 5, 3, 2], acts, loss="mse", rng=np.random.default_rng(3))
    rng = np.random.default_rng(5)
    net.theta += rng.normal(scale=0.1, size=net.theta.size)
    X, Y = rng.normal(size=(4, M)), rng.normal(size=(2, M))
    result = gradcheck(net, X, Y)
    assert result.passed, result
    below = [t for t in result.tensors if t.l <= l]
    assert [t.zero for t in below] == [t.checked - t.kinks for t in below]
    assert all(t.zero > 0 and t.max_abs == 0.0 for t in below)


@pytest.mark.parametrize("max_entries", [1, 4, 12, 100])
def test_max_entries_samples_that_many_deterministically(max_entries):
    net, X, Y, _ = problem("softplus")
    first = gradcheck(net, X, Y, max_entries=max_entries, rng=np.random.default_rng(9))
    again = gradcheck(net, X, Y, max_entries=max_entries, rng=np.random.default_rng(9))
    assert first == again
    assert gradcheck(net, X, Y, max_entries=max_entries) == gradcheck(net, X, Y,
                                                                      max_entries=max_entries)
    assert [t.checked for t in first.tensors] == [min(max_entries, t.total)
                                                  for t in first.tensors]
    assert first.passed


def test_max_entries_with_another_rng_checks_other_entries():
    """With one entry per tensor, ``worst`` is the entry drawn: seeds draw different ones."""
    net, X, Y, _ = problem("softplus")
    drawn = {gradcheck(net, X, Y, max_entries=1, rng=np.random.default_rng(seed)).tensors[0].worst
             for seed in range(10)}
    assert len(drawn) > 1, drawn


@pytest.mark.parametrize("change, match", [
    (dict(eps=0.0), "eps"),
    (dict(eps=-1e-6), "eps"),
    (dict(eps=float("nan")), "eps"),
    (dict(rtol=-1.0), "rtol"),
    (dict(atol=float("inf")), "atol"),
    (dict(max_entries=0), "max_entries"),
    (dict(max_entries=2.5), "max_entries"),
    (dict(X=np.zeros((3, M))), r"X must have shape \(n\[0\]=4, m\)"),
    (dict(X=np.zeros(4)), "X must have shape"),
    (dict(Y=np.zeros((2, M + 1))), r"Y must have shape \(n\[L\]=2, m=7\)"),
    (dict(Y=np.zeros((1, M))), "Y must have shape"),
    (dict(w=np.ones(M - 1)), r"w must have shape \(m=7,\)"),
    (dict(X=np.full((4, M), np.nan)), "non-finite"),
])
def test_bad_arguments_raise_value_error(change, match):
    net, X, Y, _ = problem("tanh")
    kwargs = dict(X=X, Y=Y) | change
    with pytest.raises(ValueError, match=match):
        gradcheck(net, kwargs.pop("X"), kwargs.pop("Y"), **kwargs)


def test_categorical_targets_must_sum_to_one_per_column():
    """The fused dZ[L] = A - Y is the gradient only then: otherwise a false failure."""
    net, X, Y, _ = problem("tanh", "softmax", "categorical_crossentropy", 3)
    with pytest.raises(ValueError, match="sum to 1"):
        gradcheck(net, X, 2 * Y)
