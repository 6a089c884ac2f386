"""The network: shapes, whole-network gradient checks, a hand-worked SGD step, dtypes."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from nnctl.core.activations import ACTIVATIONS
from nnctl.errors import ConfigError
from nnctl.core.network import Network
from nnctl.core.optimizers import SGD

from helpers import numeric_gradient, relative_error, targets

HIDDEN = sorted(name for name, a in ACTIVATIONS.items() if not a.output_only)
OUTPUTS = [  # (output activation, loss, n[L])
    ("identity", "mse", 2),
    ("logistic", "binary_crossentropy", 1),
    ("softmax", "categorical_crossentropy", 3),
]


@pytest.mark.parametrize("output, loss, n_out", OUTPUTS)
@pytest.mark.parametrize("hidden", HIDDEN)
def test_whole_network_gradient_matches_finite_differences(hidden, output, loss, n_out):
    rng = np.random.default_rng(42)
    alphas = [0.7 if hidden == "elu" else None] * 2 + [None]
    net = Network([4, 5, 3, n_out], [hidden, hidden, output], loss=loss, alphas=alphas,
                  rng=np.random.default_rng(3))
    net.theta += rng.normal(scale=0.1, size=net.theta.size)  # non-zero biases too
    m = 7
    X = rng.normal(size=(4, m))
    Y = targets(loss, n_out, m, rng)
    net.forward(X)
    net.backward(Y)
    analytic = net.grad.copy()
    numeric = numeric_gradient(net, X, Y)
    assert relative_error(analytic, numeric) < 1e-6
    # The output layer always receives a gradient, whatever the hidden activation.
    assert np.abs(net.layer(3).dW).max() > 0


@pytest.mark.parametrize("hidden", HIDDEN)
def test_layers_run_the_activation_pair(hidden):
    """Each layer's A is f(Z) and its dZ is dA * f'(Z) (dA = W[l+1]^T dZ[l+1]), bit for bit.

    So the derivative checked against finite differences in test_activations is the one
    that trains.
    """
    rng = np.random.default_rng(8)
    net = Network([4, 6, 5, 2], [hidden, hidden, "identity"], loss="mse", rng=rng)
    X = rng.normal(size=(4, 9))
    net.forward(X)
    net.backward(rng.normal(size=(2, 9)))
    for l in (1, 2):
        layer, above = net.layer(l), net.layer(l + 1)
        act = layer.activation
        assert_array_equal(layer.A, act.f(layer.Z, layer.alpha))
        dA = above.W.T @ above.dZ
        assert_array_equal(layer.dZ, act.backward(dA, layer.Z, layer.A, layer.alpha))


def test_prelu_alpha_gradient_and_prelu_output():
    rng = np.random.default_rng(5)
    net = Network([3, 6, 2], ["prelu", "prelu"], loss="mse", alphas=[0.1, 0.3],
                  rng=np.random.default_rng(0))
    X = rng.normal(size=(3, 9))
    Y = rng.normal(size=(2, 9))
    net.forward(X)
    assert (net.layer(1).Z < 0).any(), "the check needs negative z to exercise alpha"
    net.backward(Y)
    numeric = numeric_gradient(net, X, Y)
    assert relative_error(net.grad, numeric) < 1e-6
    for l in (1, 2):
        dalpha = net.layer(l).dalpha
        assert dalpha.shape == (net.sizes[l], 1)
        # alpha is the last block of theta: compare it entry by entry too
        start = net.theta.size - sum(net.sizes[1:]) + sum(net.sizes[1:l])
        assert_allclose(dalpha.ravel(), numeric[start:start + net.sizes[l]], rtol=1e-5, atol=1e-9)


def test_hand_worked_sgd_step_on_the_seed_network():
    """One SGD step (lr = 0.1) on 3-3-2-1, ReLU, ReLU, identity, MSE, one sample (m = 1).

    x = (1, 2, 3), y = 1.
    z1 = W1 x + b1 = (0.1+0.4+0+0.1, 0-0.2+0.3+0, -0.2+0+0) = (0.6, 0.1, -0.2)
    a1 = relu(z1) = (0.6, 0.1, 0)
    z2 = W2 a1 + b2 = (0.3+0.1+0+0, -0.3+0.02+0+0.1) = (0.4, -0.18);  a2 = (0.4, 0)
    z3 = W3 a2 + b3 = 0.4 + 0 + 0.2 = 0.6;  a3 = 0.6;  loss = (0.6 - 1)^2 = 0.16
    dA3 = 2 (a3 - y) = -0.8;  dZ3 = -0.8 (identity)
    dW3 = dZ3 a2^T = (-0.32, 0);  db3 = -0.8
    dA2 = W3^T dZ3 = (-0.8, -1.6);  dZ2 = dA2 * relu'(z2) = (-0.8, 0)
    dW2 = dZ2 a1^T = ((-0.48, -0.08, 0), (0, 0, 0));  db2 = (-0.8, 0)
    dA1 = W2^T dZ2 = (0.5, 1.0, 0.3) * -0.8 = (-0.4, -0.8, -0.24)
    dZ1 = dA1 * relu'(z1) = (-0.4, -0.8, 0)
    dW1 = dZ1 x^T = ((-0.4, -0.8, -1.2), (-0.8, -1.6, -2.4), (0, 0, 0));  db1 = (-0.4, -0.8, 0)
    Then W <- W - 0.1 dW, b <- b - 0.1 db.
    """
    net = Network([3, 3, 2, 1], ["relu", "relu", "identity"], loss="mse")
    net.set_arrays({
        "W1": [[0.1, 0.2, 0.0], [0.0, -0.1, 0.1], [-0.2, 0.0, 0.0]], "b1": [[0.1], [0.0], [0.0]],
        "W2": [[0.5, 1.0, 0.3], [-0.5, 0.2, 0.1]], "b2": [[0.0], [0.1]],
        "W3": [[1.0, 2.0]], "b3": [[0.2]],
    })
    x = np.array([[1.0], [2.0], [3.0]])
    y = np.array([[1.0]])
    assert net.compute_loss(x, y) == pytest.approx(0.16)
    net.backward(y)
    assert_allclose(net.layer(3).dW, [[-0.32, 0.0]], atol=1e-12)
    assert_allclose(net.layer(2).dW, [[-0.48, -0.08, 0.0], [0.0, 0.0, 0.0]], atol=1e-12)
    assert_allclose(net.layer(1).db, [[-0.4], [-0.8], [0.0]], atol=1e-12)
    SGD(lr=0.1).step(net)
    expected = {
        "W1": [[0.14, 0.28, 0.12], [0.08, 0.06, 0.34], [-0.2, 0.0, 0.0]], "b1": [[0.14], [0.08], [0.0]],
        "W2": [[0.548, 1.008, 0.3], [-0.5, 0.2, 0.1]], "b2": [[0.08], [0.1]],
        "W3": [[1.032, 2.0]], "b3": [[0.28]],
    }
    arrays = net.arrays()
    for name, value in expected.items():
        assert_allclose(arrays[name], value, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("trial", range(6))
def test_shapes_of_every_cached_and_gradient_tensor(trial):
    rng = np.random.default_rng(trial)
    L = int(rng.integers(1, 5))
    sizes = [int(s) for s in rng.integers(1, 9, size=L + 1)]
    hidden = [str(rng.choice(HIDDEN)) for _ in range(L - 1)]
    for m in (1, 2, int(rng.integers(3, 40))):
        net = Network(sizes, hidden + ["identity"], loss="mse", rng=rng)
        X = rng.normal(size=(sizes[0], m))
        net.forward(X)
        net.backward(rng.normal(size=(sizes[-1], m)))
        for l in range(1, L + 1):
            layer, n, n_prev = net.layer(l), sizes[l], sizes[l - 1]
            assert layer.W.shape == layer.dW.shape == (n, n_prev)
            assert layer.b.shape == layer.db.shape == (n, 1)
            assert layer.Z.shape == layer.A.shape == layer.dZ.shape == (n, m)
            assert layer.A_prev.shape == (n_prev, m)
        shapes = net.shapes(m)
        assert [s.Z for s in shapes] == [(n, m) for n in sizes[1:]]


@pytest.mark.parametrize("m", [1, 2])
def test_seed_worked_shapes(m):
    """The notes' 3-3-2-1 network for one and two samples."""
    net = Network([3, 3, 2, 1], ["relu", "relu", "logistic"], loss="binary_crossentropy")
    shapes = {s.l: s for s in net.shapes(m)}
    assert (shapes[1].W, shapes[1].b, shapes[1].Z, shapes[1].A) == ((3, 3), (3, 1), (3, m), (3, m))
    assert (shapes[2].W, shapes[2].b, shapes[2].Z, shapes[2].A) == ((2, 3), (2, 1), (2, m), (2, m))
    assert (shapes[3].W, shapes[3].b, shapes[3].Z, shapes[3].A) == ((1, 2), (1, 1), (1, m), (1, m))
    assert [s.params for s in shapes.values()] == [12, 8, 3]
    net.forward(np.ones((3, m)))
    net.backward(np.ones((1, m)))
    assert net.layer(1).dZ.shape == (3, m)
    assert net.n_params == 23


@pytest.mark.parametrize("output, loss, n_out", OUTPUTS)
@pytest.mark.parametrize("hidden", ["prelu", "elu", "logistic", "relu"])
def test_float32_stays_float32(hidden, output, loss, n_out):
    rng = np.random.default_rng(0)
    net = Network([4, 5, 3, n_out], [hidden, hidden, output], loss=loss, dtype="float32", rng=rng)
    X = rng.normal(size=(4, 6)).astype(np.float32)
    Y = targets(loss, n_out, 6, rng).astype(np.float32)
    net.forward(X)
    net.backward(Y)
    for layer in net.layers:
        for name in ("W", "b", "A_prev", "Z", "A", "dZ", "dW", "db"):
            assert getattr(layer, name).dtype == np.float32, name
    assert net.theta.dtype == net.grad.dtype == np.float32


def test_views_share_the_flat_vectors():
    net = Network([2, 3, 1], ["prelu", "identity"], rng=np.random.default_rng(0))
    net.layer(1).W[0, 0] = 7.0
    assert 7.0 in net.theta
    assert net.n_weights == 2 * 3 + 3 * 1
    assert net.theta.size == 9 + 3 + 1 + 3  # weights, biases, PReLU alphas
    assert_allclose(net.layer(1).alpha, 0.25)
    assert set(net.arrays()) == {"W1", "W2", "b1", "b2", "alpha1"}


def test_initialization_scales_and_seed():
    a = Network([400, 300, 1], ["relu", "identity"], rng=np.random.default_rng(1))
    b = Network([400, 300, 1], ["relu", "identity"], rng=np.random.default_rng(1))
    assert_allclose(a.theta, b.theta, rtol=0, atol=0)
    assert a.layer(1).W.std() == pytest.approx(np.sqrt(2 / 400), rel=0.02)  # He
    t = Network([400, 300, 1], ["tanh", "identity"], rng=np.random.default_rng(1))
    assert t.layer(1).W.std() == pytest.approx(np.sqrt(2 / 700), rel=0.02)  # Glorot
    g = Network([400, 300, 1], ["relu", "identity"], init="glorot_normal", rng=np.random.default_rng(1))
    assert g.layer(1).W.std() == pytest.approx(np.sqrt(2 / 700), rel=0.02)
    assert not a.layer(1).b.any()


def test_binary_step_in_a_hidden_layer_warns():
    net = Network([3, 3, 2, 1], ["binary_step", "tanh", "logistic"], loss="binary_crossentropy")
    assert len(net.warnings) == 1 and "layer 1: binary_step" in net.warnings[0]
    assert Network([3, 3, 1], ["tanh", "logistic"], loss="binary_crossentropy").warnings == []


@pytest.mark.parametrize("kwargs, message", [
    (dict(sizes=[3, 0, 1], activations=["tanh", "identity"]), r"n\[1\] must be a positive integer"),
    (dict(sizes=[3], activations=[]), "at least an input and an output"),
    (dict(sizes=[3, 2, 1], activations=["tanh"]), "2 layer"),
    (dict(sizes=[3, 2, 1], activations=["softmax", "identity"]), "only allowed in the output"),
    (dict(sizes=[3, 2, 1], activations=["tanh", "tanh"], loss="binary_crossentropy"), "needs a 'logistic'"),
    (dict(sizes=[3, 1], activations=["identity"], dtype="float16"), "dtype must be one of"),
    (dict(sizes=[3, 1], activations=["identity"], init="lecun"), "unknown init"),
    (dict(sizes=[3, 1], activations=["tanh"], alphas=[0.5]), "takes no alpha"),
])
def test_invalid_networks_raise_config_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        Network(kwargs.pop("sizes"), kwargs.pop("activations"), **kwargs)


def test_set_arrays_rejects_wrong_shapes():
    net = Network([3, 2, 1], ["tanh", "identity"])
    arrays = net.arrays()
    arrays["W1"] = np.zeros((3, 2))
    with pytest.raises(ConfigError, match=r"W1 has shape \(3, 2\), expected \(2, 3\)"):
        net.set_arrays(arrays)


def test_first_nonfinite_names_the_layer_and_tensor():
    net = Network([2, 3, 2, 1], ["tanh", "tanh", "identity"], rng=np.random.default_rng(0))
    net.forward(np.ones((2, 4)))
    assert net.first_nonfinite() is None
    net.layer(2).W[0, 1] = np.inf
    with np.errstate(invalid="ignore", over="ignore"):
        net.forward(np.ones((2, 4)))
    assert net.first_nonfinite() == (2, "W")


@pytest.mark.parametrize("output, loss, n_out", OUTPUTS)
def test_weighted_loss_gradient_matches_finite_differences(output, loss, n_out):
    """Sample weights w (class weights): J = (1/m) sum_i w_i l_i, so dZ[L] of sample i is
    w_i (a_i - y_i) / m; checked against central differences of the weighted loss."""
    rng = np.random.default_rng(7)
    net = Network([3, 4, n_out], ["tanh", output], loss=loss, rng=np.random.default_rng(1))
    m = 9
    X, Y = rng.normal(size=(3, m)), targets(loss, n_out, m, rng)
    w = rng.uniform(0.2, 3.0, size=m)
    net.forward(X)
    net.backward(Y, w)
    analytic = net.grad.copy()
    numeric = np.zeros_like(analytic)
    for i in range(net.theta.size):
        old = net.theta[i]
        net.theta[i] = old + 1e-6
        plus = net.compute_loss(X, Y, w)
        net.theta[i] = old - 1e-6
        minus = net.compute_loss(X, Y, w)
        net.theta[i] = old
        numeric[i] = (plus - minus) / 2e-6
    assert relative_error(analytic, numeric) < 1e-6
    # and weights of 1 are the plain mean, to the last bits of the loss
    assert net.compute_loss(X, Y, np.ones(m)) == pytest.approx(net.compute_loss(X, Y), rel=1e-14)
