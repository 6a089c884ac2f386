"""Chunked paths and buffers that must not escape (issue 8).

``Network.predict`` and ``evaluate`` work in passes of ``Network.CHUNK`` columns and the
training loop in mini-batches, all through buffers reused from call to call. These tests
check, across chunk boundaries, that every array handed to a caller is its own, that the
whole equals its pieces, and that both equal a plain NumPy computation from the weights.

Exactness: in float64 a row's prediction is bit-for-bit the same whatever file it is in
(every pass has ``CHUNK`` columns, so BLAS runs one kernel). In float32, OpenBLAS's sgemm
rounds differently by the column's position inside the matrix (measured here: up to 31
ulp on a 784-256-128-10 network), so float32 pieces agree to rounding, not to the bit.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from nnctl.core.network import Network
from nnctl.core.optimizers import SGD
from nnctl.core.train import evaluate, fit

from helpers import targets

NETWORKS = [  # sizes, activations, loss
    ([3, 3, 2, 1], ["elu", "elu", "logistic"], "binary_crossentropy"),
    ([5, 8, 4, 3], ["prelu", "tanh", "softmax"], "categorical_crossentropy"),
    ([4, 6, 2], ["relu", "identity"], "mse"),
]


def plain_forward(arrays: dict, activations, X: np.ndarray) -> np.ndarray:
    """``A[L]`` by the notation, one layer at a time, from the saved arrays alone."""
    from nnctl.core.activations import get_activation

    A = X
    for l, name in enumerate(activations, start=1):
        Z = arrays[f"W{l}"] @ A + arrays[f"b{l}"]
        act = get_activation(name)
        alpha = arrays.get(f"alpha{l}", act.default_alpha)
        A = act.f(Z, alpha)
    return A


def boundary_counts(C: int) -> list[int]:
    return [1, 2, C - 1, C, C + 1, 2 * C - 1, 2 * C, 2 * C + 3, 3 * C + 1]


def build(spec, dtype="float64", chunk=None, seed=0):
    sizes, acts, loss = spec
    net = Network(sizes, acts, loss=loss, dtype=dtype, rng=np.random.default_rng(seed))
    rng = np.random.default_rng(seed + 1)
    net.theta += rng.normal(scale=0.3, size=net.theta.size).astype(dtype)  # biases too
    if chunk is not None:
        net.CHUNK = chunk  # small chunks: many boundaries in a few rows
    return net


@settings(max_examples=60, deadline=None)
@given(spec=st.sampled_from(NETWORKS), chunk=st.sampled_from([1, 3, 16, None]),
       which=st.integers(0, 8), extra=st.integers(0, 2), seed=st.integers(0, 2**31),
       n_cuts=st.integers(1, 5))
def test_predict_of_the_whole_equals_its_pieces_and_a_plain_forward(spec, chunk, which, extra,
                                                                     seed, n_cuts):
    net = build(spec, chunk=chunk)
    C = net.CHUNK
    m = boundary_counts(C)[which] + extra
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(spec[0][0], m))
    whole = net.predict(X)
    assert whole.shape == (spec[0][-1], m)
    cuts = np.sort(rng.choice(np.arange(1, m), size=min(n_cuts, m - 1), replace=False)) if m > 1 else []
    pieces = [net.predict(P) for P in np.split(X, cuts, axis=1)]
    assert_array_equal(np.concatenate(pieces, axis=1), whole)
    assert_allclose(whole, plain_forward(net.arrays(), net.activations, X), rtol=1e-12, atol=1e-14)
    # Every result is the caller's own: later calls did not change the first one.
    assert_array_equal(np.concatenate(pieces, axis=1), net.predict(X))


@pytest.mark.parametrize("spec", NETWORKS)
def test_float32_pieces_agree_to_rounding(spec):
    net = build(spec, dtype="float32")
    C = net.CHUNK
    rng = np.random.default_rng(3)
    X = rng.normal(size=(spec[0][0], 2 * C + 3)).astype(np.float32)
    whole = net.predict(X)
    assert whole.dtype == np.float32
    pieces = np.concatenate([net.predict(P) for P in np.split(X, [1, C - 1, C + 5, 2 * C], axis=1)], axis=1)
    scale = np.abs(whole).max()
    assert_allclose(pieces, whole, rtol=0, atol=1e-5 * scale)
    # ... and no chunk repeats another one (the bug of issue 8 copied the last full chunk)
    assert not np.array_equal(whole[:, :C], whole[:, C:2 * C])


@pytest.mark.parametrize("spec", NETWORKS)
def test_results_never_alias_the_network_buffers(spec):
    net = build(spec)
    rng = np.random.default_rng(0)
    X1, X2 = rng.normal(size=(2, spec[0][0], 7))
    Y = targets(spec[2], spec[0][-1], 7, rng)
    kept = {"predict": net.predict(X1), "outputs": net.outputs(X1, logits=True)[0]}
    with pytest.raises(RuntimeError, match="backward needs a forward"):
        net.backward(Y)  # predict left a padded chunk in the layers, not X1
    kept["forward"] = net.forward(X1)
    net.backward(Y)
    trace = net.trace()
    snapshot = {k: v.copy() for k, v in kept.items()}
    trace_copy = [{k: v.copy() for k, v in entry.items()} for entry in trace]
    net.forward(X2)
    net.backward(Y)
    net.predict(X2)
    for name, value in kept.items():
        assert_array_equal(value, snapshot[name], err_msg=name)
    for entry, copy in zip(trace, trace_copy):
        for k in entry:
            assert_array_equal(entry[k], copy[k], err_msg=k)
    # The layers' own state is readable but not writable through what they hand out.
    layer = net.layer(1)
    for name in ("A_prev", "Z", "A", "dZ", "dW", "db"):
        with pytest.raises(ValueError, match="read-only"):
            getattr(layer, name)[...] = 0
    assert trace[0]["A_prev"].shape == (spec[0][0], 7) and trace[-1]["dZ"].shape == (spec[0][-1], 7)


@settings(max_examples=30, deadline=None)
@given(spec=st.sampled_from(NETWORKS), chunk=st.sampled_from([2, 5, None]),
       which=st.integers(1, 8), seed=st.integers(0, 2**31))
def test_evaluate_across_chunks_equals_a_plain_computation(spec, chunk, which, seed):
    net = build(spec, chunk=chunk)
    m = max(2, boundary_counts(net.CHUNK)[which])  # two rows at least: a split and an R^2
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(spec[0][0], m))
    Y = targets(spec[2], spec[0][-1], m, rng)
    loss, metrics = evaluate(net, X, Y)
    A = plain_forward(net.arrays(), net.activations, X)
    if spec[2] == "mse":
        assert loss == pytest.approx(np.mean((A - Y) ** 2), rel=1e-12)
        ss_res = ((A - Y) ** 2).sum(axis=1)
        ss_tot = ((Y - Y.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
        assert metrics["r2"] == pytest.approx(np.mean(1 - ss_res / ss_tot), rel=1e-9)
    else:
        P = np.vstack([1 - A, A]) if A.shape[0] == 1 else A
        T = np.vstack([1 - Y, Y]) if Y.shape[0] == 1 else Y
        assert loss == pytest.approx(-np.sum(T * np.log(P)) / m, rel=1e-9)
        assert metrics["accuracy"] == np.mean(P.argmax(axis=0) == T.argmax(axis=0))
    # The weighted mean of the pieces' losses is the whole's (m >= 2 here).
    cut = m // 2
    parts = [evaluate(net, X[:, s], Y[:, s])[0] * (s.stop - s.start)
             for s in (slice(0, cut), slice(cut, m))]
    assert sum(parts) / m == pytest.approx(loss, rel=1e-12)


@pytest.mark.parametrize("batch_size, m", [(4, 9), (4, 8), (5, 1), (7, 13), (13, 13)])
def test_training_batches_across_the_last_short_batch_equal_a_plain_sgd_loop(batch_size, m):
    """An epoch of SGD through the reused batch buffers equals a plain NumPy loop."""
    spec = NETWORKS[1]
    net = build(spec, seed=4)
    rng = np.random.default_rng(5)
    X = rng.normal(size=(spec[0][0], m))
    Y = targets(spec[2], spec[0][-1], m, rng)
    ref = build(spec, seed=4)
    history = fit(net, X, Y, optimizer=SGD(lr=0.1), epochs=2, batch_size=batch_size,
                  rng=np.random.default_rng(11))
    order_rng = np.random.default_rng(11)
    losses = []
    for _ in range(2):
        order = order_rng.permutation(m)
        total = 0.0
        for start in range(0, m, batch_size):
            idx = order[start:start + batch_size]
            ref.forward(X[:, idx])
            total += ref.cost(Y[:, idx]) * idx.size
            ref.backward(Y[:, idx])
            ref.theta -= 0.1 * ref.grad
        losses.append(total / m)
    assert_allclose(net.theta, ref.theta, rtol=1e-12, atol=1e-13)
    assert_allclose(history.column("train_loss"), losses, rtol=1e-12)
