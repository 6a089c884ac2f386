"""Property-based tests (hypothesis) of random networks: shapes and gradients."""

from __future__ import annotations

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from nnctl.core.activations import ACTIVATIONS
from nnctl.core.network import Network

from helpers import numeric_gradient, relative_error, targets

ELEMENTWISE = sorted(name for name, a in ACTIVATIONS.items() if not a.output_only)
OUTPUT_LOSSES = [(name, "mse") for name in ELEMENTWISE] + [
    ("logistic", "binary_crossentropy"), ("softmax", "categorical_crossentropy")]


@st.composite
def networks(draw):
    L = draw(st.integers(1, 5))
    sizes = draw(st.lists(st.integers(1, 16), min_size=L + 1, max_size=L + 1))
    hidden = draw(st.lists(st.sampled_from(ELEMENTWISE), min_size=L - 1, max_size=L - 1))
    output, loss = draw(st.sampled_from(OUTPUT_LOSSES))
    if output == "softmax" and sizes[-1] < 2:
        sizes[-1] = 2
    m = draw(st.integers(1, 64))
    seed = draw(st.integers(0, 2**32 - 1))
    return sizes, hidden + [output], loss, m, seed


@settings(max_examples=40, deadline=None)
@given(networks())
def test_random_networks_have_notation_shapes_and_exact_gradients(spec):
    sizes, acts, loss, m, seed = spec
    rng = np.random.default_rng(seed)
    net = Network(sizes, acts, loss=loss, rng=rng)
    net.theta += rng.normal(scale=0.1, size=net.theta.size)
    X = rng.normal(size=(sizes[0], m))
    Y = targets(loss, sizes[-1], m, rng)
    net.forward(X)
    net.backward(Y)
    for l, layer in enumerate(net.layers, start=1):
        n, n_prev = sizes[l], sizes[l - 1]
        assert layer.W.shape == layer.dW.shape == (n, n_prev)
        assert layer.b.shape == layer.db.shape == (n, 1)
        assert layer.Z.shape == layer.A.shape == layer.dZ.shape == (n, m)
        assert layer.A_prev.shape == (n_prev, m)
    # A draw whose pre-activations sit within the step of a kink (relu, step, ...) has no
    # derivative there to check: hypothesis draws another one instead.
    assume(all(np.abs(layer.Z).min() >= 1e-4 for layer in net.layers))
    analytic = net.grad.copy()
    assert relative_error(analytic, numeric_gradient(net, X, Y)) < 1e-6
