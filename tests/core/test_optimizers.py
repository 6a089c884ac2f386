"""Optimizers against textbook formulas written out plainly, and the schedules."""

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose

from nnctl.errors import ConfigError
from nnctl.core.network import Network
from nnctl.core.optimizers import get_optimizer
from nnctl.core.schedules import get_schedule


def run(optimizer, steps=3, dtype="float64"):
    """Apply ``steps`` updates with fixed, known gradients; return theta after each."""
    net = Network([2, 3, 1], ["prelu", "identity"], dtype=dtype, rng=np.random.default_rng(0))
    rng = np.random.default_rng(1)
    grads = [rng.normal(size=net.theta.size).astype(dtype) for _ in range(steps)]
    thetas = [net.theta.copy()]
    for g in grads:
        net.grad[...] = g
        optimizer.step(net)
        thetas.append(net.theta.copy())
    return net, thetas, grads


def decay_mask(net):
    """1 for every entry of theta that is a weight (written through the layers' W views)."""
    probe = Network(net.sizes, net.activations, loss=net.loss.name)
    probe.theta[...] = 0
    for layer in probe.layers:
        layer.W[...] = 1
    return probe.theta.copy()


def test_sgd_with_l2():
    net, thetas, grads = run(get_optimizer("sgd", lr=0.1, l2=0.01))
    mask = decay_mask(net)
    for t, g in enumerate(grads):
        assert_allclose(thetas[t + 1], thetas[t] - 0.1 * (g + 0.01 * mask * thetas[t]), rtol=1e-12)


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum(nesterov):
    net, thetas, grads = run(get_optimizer("momentum", lr=0.1, momentum=0.8, nesterov=nesterov))
    v = np.zeros_like(thetas[0])
    for t, g in enumerate(grads):
        v = 0.8 * v - 0.1 * g
        step = 0.8 * v - 0.1 * g if nesterov else v
        assert_allclose(thetas[t + 1], thetas[t] + step, rtol=1e-12, atol=1e-15)


def test_nesterov_by_name():
    assert get_optimizer("nesterov").nesterov is True


def test_adam_matches_the_paper():
    net, thetas, grads = run(get_optimizer("adam", lr=0.01, beta1=0.9, beta2=0.99, eps=1e-8), steps=4)
    m = v = np.zeros_like(thetas[0])
    theta = thetas[0]
    for t, g in enumerate(grads, start=1):
        m = 0.9 * m + 0.1 * g
        v = 0.99 * v + 0.01 * g * g
        # Kingma & Ba, Algorithm 1 with the efficient ordering of section 2
        lr_t = 0.01 * math.sqrt(1 - 0.99 ** t) / (1 - 0.9 ** t)
        theta = theta - lr_t * m / (np.sqrt(v) + 1e-8)
        assert_allclose(thetas[t], theta, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "adam"])
def test_float32_state_stays_float32(name):
    opt = get_optimizer(name, lr=0.01, l2=0.1)
    net, thetas, _ = run(opt, dtype="float32")
    assert all(t.dtype == np.float32 for t in thetas)
    arrays = [value for value in opt.state().values() if value.ndim]  # not Adam's step count
    assert (name == "sgd") == (not arrays)  # plain SGD keeps no state
    assert all(value.dtype == np.float32 for value in arrays)


def test_state_round_trip_resumes_identically():
    a = get_optimizer("adam", lr=0.01)
    net_a, thetas_a, grads = run(a, steps=4)
    b = get_optimizer("adam", lr=0.01)
    net_b, thetas_b, _ = run(b, steps=2)
    c = get_optimizer("adam", lr=0.01)
    c.load_state(b.state())
    for g in grads[2:]:
        net_b.grad[...] = g
        c.step(net_b)
    assert_allclose(net_b.theta, thetas_a[-1], rtol=0, atol=0)


@pytest.mark.parametrize("name, params, message", [
    ("adma", {}, r"unknown optimizer 'adma'; expected one of adam, adamw, momentum, nesterov, sgd \(did you mean 'adam'\?\)"),
    ("sgd", {"lr": 0}, r"lr must be in \(0.0, inf\]"),
    ("sgd", {"lr": -1}, "lr must be in"),
    ("adam", {"beta1": 1.0}, r"beta1 must be in \[0.0, 1.0\)"),
    ("momentum", {"momentum": "x"}, "momentum must be a finite number"),
    ("sgd", {"l2": -0.1}, "l2 must be in"),
    ("sgd", {"beta1": 0.9}, "optimizer 'sgd' takes no parameter 'beta1'; expected one of lr, l2"),
])
def test_invalid_optimizers(name, params, message):
    with pytest.raises(ConfigError, match=message):
        get_optimizer(name, **params)


def test_schedules():
    assert get_schedule(None)(0.1, 50) == 0.1
    step = get_schedule("step", step_size=10, gamma=0.5)
    assert [step(0.1, e) for e in (0, 9, 10, 25)] == pytest.approx([0.1, 0.1, 0.05, 0.025])
    exp = get_schedule("exponential", gamma=0.9)
    assert exp(0.1, 3) == pytest.approx(0.1 * 0.9 ** 3)
    cos = get_schedule("cosine", epochs=10, min_lr=0.01)
    assert cos(0.1, 0) == pytest.approx(0.1)
    assert cos(0.1, 5) == pytest.approx(0.055)
    assert cos(0.1, 10) == pytest.approx(0.01)
    assert cos(0.1, 20) == pytest.approx(0.01)
    with pytest.raises(ConfigError, match="unknown schedule 'cosin'.*did you mean 'cosine'"):
        get_schedule("cosin")
    with pytest.raises(ConfigError, match="schedule 'step' takes no parameter 'step'.*did you mean 'step_size'"):
        get_schedule("step", step=3)
    with pytest.raises(ConfigError, match="gamma must be in"):
        get_schedule("exponential", gamma=1.5)


@pytest.mark.parametrize("name", ["momentum", "adam", "adamw"])
def test_state_is_a_copy_and_state_into_reuses_the_callers_arrays(name):
    """A saved state (a model file's, an epoch's snapshot) must not change as training goes
    on; state_into copies into the arrays of the state it is given."""
    net = Network([3, 4, 1], ["tanh", "identity"], rng=np.random.default_rng(0))
    opt = get_optimizer(name, lr=0.1)
    assert opt.state() == {} and opt.state_into(None) == {}
    net.grad[...] = 1.0
    opt.step(net)
    saved = opt.state()
    kept = {k: np.array(v) for k, v in saved.items()}
    snapshot = opt.state_into(None)
    arrays = {k: v for k, v in snapshot.items()}
    net.grad[...] = -2.0
    opt.step(net)
    for k in kept:
        np.testing.assert_array_equal(saved[k], kept[k])  # untouched by the step
    again = opt.state_into(snapshot)
    assert again is snapshot and all(again[k] is arrays[k] for k in arrays)  # reused
    now = opt.state()
    for k in now:
        np.testing.assert_array_equal(again[k], now[k])
    assert any(not np.array_equal(now[k], kept[k]) for k in now)
