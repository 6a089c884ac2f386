"""Issue 15's additions to the mathematics, checked numerically in float64: dropout's
gradient (a fixed mask) against central differences, AdamW against the published update
rule, gradient clipping against hand-worked steps, the MAE and Huber losses' gradients,
and the warm-up and reduce-on-plateau schedules."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from nnctl.core.gradcheck import gradcheck
from nnctl.core.losses import Huber, get_loss
from nnctl.core.network import Network
from nnctl.core.optimizers import SGD, Adam, AdamW, get_optimizer
from nnctl.core.schedules import ReduceOnPlateau, get_schedule
from nnctl.core.train import fit
from nnctl.errors import ConfigError

M = 9


def problem(loss="mse", *, dropout=None, seed=1):
    rng = np.random.default_rng(seed)
    net = Network([4, 6, 5, 2], ["tanh", "elu", "identity"], loss=loss, dropout=dropout,
                  rng=np.random.default_rng(7))
    net.theta += rng.normal(scale=0.1, size=net.theta.size)
    return net, rng.normal(size=(4, M)), rng.normal(size=(2, M))


# -- dropout -----------------------------------------------------------------------------

def dropped_loss(net, X_ones, Y, seed):
    """J with the masks a generator seeded by ``seed`` draws (the same masks every call)."""
    net.forward_cached(X_ones, np.random.default_rng(seed))
    return net.cost(Y)


def test_dropout_backprop_equals_central_differences_with_a_fixed_mask():
    net, X, Y = problem(dropout=[0.4, 0.3, 0.0])
    X_ones = np.vstack([X, np.ones((1, M))])
    dropped_loss(net, X_ones, Y, seed=5)
    net.backward(Y)
    bp = net.grad.copy()
    num = np.zeros_like(bp)
    h = 1e-6
    for i in range(net.theta.size):
        old = net.theta[i]
        net.theta[i] = old + h
        plus = dropped_loss(net, X_ones, Y, 5)
        net.theta[i] = old - h
        minus = dropped_loss(net, X_ones, Y, 5)
        net.theta[i] = old
        num[i] = (plus - minus) / (2 * h)
    assert_allclose(bp, num, rtol=1e-6, atol=1e-9)
    # and the masks did something: without them the gradient differs
    net.forward_cached(X_ones)
    net.backward(Y)
    assert np.abs(net.grad - bp).max() > 1e-3


def test_a_mask_keeps_a_share_1_minus_p_scaled_by_1_over_1_minus_p():
    net = Network([3, 400, 1], ["relu", "identity"], dropout=[0.25, 0.0], rng=np.random.default_rng(0))
    X_ones = np.vstack([np.random.default_rng(1).normal(size=(3, 300)), np.ones((1, 300))])
    net.forward_cached(X_ones, np.random.default_rng(2))
    buf = net.layers[0]._current
    assert set(np.unique(buf.M)) == {0.0, 1 / 0.75}
    kept = (buf.M > 0).mean()
    assert abs(kept - 0.75) < 0.01, kept  # 120,000 draws: within 0.01 of 1 - p
    assert_array_equal(buf.D_ones[:-1], buf.A * buf.M)  # A[l] * M / (1 - p)
    assert (buf.D_ones[-1] == 1).all()
    # the expectation of the dropped output is A itself (inverted dropout)
    assert abs((buf.D_ones[:-1].mean() - buf.A.mean()) / buf.A.mean()) < 0.02


def test_no_dropout_without_a_generator_predict_is_the_plain_network():
    net, X, _ = problem(dropout=[0.5, 0.5, 0.0])
    plain, _, _ = problem()
    assert_array_equal(net.predict(X), plain.predict(X))
    assert_array_equal(net.forward(X), plain.forward(X))
    assert net.copy().dropout == [0.5, 0.5, 0.0]


def test_dropout_on_the_output_layer_or_outside_0_1_is_refused():
    with pytest.raises(ConfigError, match="output layer"):
        Network([2, 3, 1], ["relu", "identity"], dropout=[0.0, 0.5])
    for p in (1.0, 0.9995, -0.1):
        with pytest.raises(ConfigError, match=r"\[0, 0.999\]"):
            Network([2, 3, 1], ["relu", "identity"], dropout=[p, 0.0])


def test_a_rate_below_half_a_step_of_the_16_bit_draws_is_refused_not_silently_none():
    """Below 2^-17 the threshold round(65536 p) is 0 and every unit would be kept; the
    lowest rates that are applied keep their effect (one unit in 65536 dropped)."""
    from nnctl.core.network import DROP_STEPS

    half = 0.5 / DROP_STEPS  # round(0.5) is 0: half a step is still nothing
    for p in (1e-9, 1e-6, half):
        with pytest.raises(ConfigError, match="lowest rate dropout can apply"):
            Network([2, 3, 1], ["relu", "identity"], dropout=[p, 0.0])
    for p in (np.nextafter(half, 1.0), 1 / DROP_STEPS):
        net = Network([2, 400, 1], ["relu", "identity"], dropout=[p, 0.0])
        assert net.dropout[0] == p
        assert round(p * DROP_STEPS) == 1  # one step of the draws: it does drop


def test_training_with_dropout_is_reproducible_and_without_it_unchanged():
    def run(dropout, seed=0):
        net, X, Y = problem(dropout=dropout)
        h = fit(net, X, Y, optimizer=Adam(lr=0.01), epochs=5, batch_size=4,
                rng=np.random.default_rng(seed))
        return net.theta.copy(), [r.train_loss for r in h.records]

    a, b = run([0.3, 0.3, 0.0]), run([0.3, 0.3, 0.0])
    assert_array_equal(a[0], b[0])
    zero, plain = run([0.0, 0.0, 0.0]), run(None)
    assert_array_equal(zero[0], plain[0])  # rate 0 draws nothing: bit for bit the same
    assert np.abs(a[0] - plain[0]).max() > 1e-4


# -- AdamW ---------------------------------------------------------------------------------

def test_adamw_matches_the_published_update_rule_to_1e_12():
    """Loshchilov and Hutter's Algorithm 2 with Adam's epsilon-hat form (Kingma and Ba,
    section 2, as nnctl's adam): theta <- theta - lr wd theta (weights only) - lr_t m / (sqrt(v)
    + eps), lr_t = lr sqrt(1 - b2^t) / (1 - b1^t), m and v the plain moving averages."""
    net, _, _ = problem()
    lr, wd, b1, b2, eps = 0.01, 0.1, 0.9, 0.999, 1e-8
    opt = AdamW(lr=lr, weight_decay=wd, beta1=b1, beta2=b2, eps=eps)
    rng = np.random.default_rng(3)
    theta = net.theta.copy()
    mask = net.weight_mask.copy()
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    for t in range(1, 6):
        g = rng.normal(size=theta.size)
        net.grad[...] = g
        opt.step(net)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        lr_t = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        theta = theta - lr * wd * mask * theta - lr_t * m / (np.sqrt(v) + eps)
        assert_allclose(net.theta, theta, rtol=0, atol=1e-12)


def test_adamw_decays_weights_not_biases_or_slopes_and_differs_from_l2():
    net = Network([3, 4, 2], ["prelu", "identity"], rng=np.random.default_rng(0))
    net.theta += 0.5
    before = net.theta.copy()
    net.grad[...] = 0  # only the decay moves theta
    AdamW(lr=0.1, weight_decay=0.2).step(net)
    w = net.weight_mask.astype(bool)
    assert_allclose(net.theta[w], before[w] * (1 - 0.1 * 0.2), rtol=1e-15)
    assert_array_equal(net.theta[~w], before[~w])  # biases and the PReLU slopes
    # an L2 penalty goes through Adam's 1/sqrt(v) instead: its step is lr, not lr wd W
    net.theta[...] = before
    net.grad[...] = 0
    Adam(lr=0.1, l2=0.2).step(net)
    assert not np.allclose(net.theta[w], before[w] * (1 - 0.1 * 0.2))


def test_adamw_is_a_registered_optimizer_with_its_defaults():
    opt = get_optimizer("adamw")
    assert isinstance(opt, AdamW) and opt.weight_decay == 0.01 and opt.lr == 0.001
    with pytest.raises(ConfigError, match="weight_decay"):
        get_optimizer("adamw", weight_decay=-1)


# -- clipping ------------------------------------------------------------------------------

def tiny():
    """n[0] = 1, n[1] = 1: theta is [W, b], two numbers."""
    net = Network([1, 1], ["identity"], rng=np.random.default_rng(0))
    net.theta[...] = [1.0, 1.0]
    return net


@pytest.mark.parametrize("clip, grad, step", [
    ({"clip_norm": 1.0}, [3.0, 4.0], [0.6, 0.8]),        # norm 5 scaled to 1
    ({"clip_norm": 10.0}, [3.0, 4.0], [3.0, 4.0]),       # shorter than 10: unchanged
    ({"clip_value": 2.0}, [3.0, -0.5], [2.0, -0.5]),     # each entry into [-2, 2]
    ({"clip_value": 2.0, "clip_norm": 1.0}, [3.0, 4.0], [0.7071067811865476] * 2),  # value first
])
def test_clipping_by_norm_and_by_value_hand_worked(clip, grad, step):
    net = tiny()
    net.grad[...] = grad
    SGD(lr=1.0, **clip).step(net)
    assert_allclose(1.0 - net.theta, step, rtol=1e-15)


def test_clipping_applies_to_the_gradient_with_its_l2_term():
    net = tiny()
    net.grad[...] = [0.0, 0.0]
    SGD(lr=1.0, l2=3.0, clip_value=1.0).step(net)  # l2 W = 3 on the weight, clipped to 1
    assert_allclose(net.theta, [0.0, 1.0])


# -- MAE and Huber --------------------------------------------------------------------------

def numeric_dA(loss, A, Y, h=1e-6):
    g = np.zeros_like(A)
    for idx in np.ndindex(A.shape):
        up, down = A.copy(), A.copy()
        up[idx] += h
        down[idx] -= h
        g[idx] = (loss.value(None, up, Y) - loss.value(None, down, Y)) / (2 * h)
    return g


@pytest.mark.parametrize("loss", [get_loss("mae"), get_loss("huber"), Huber(0.3), Huber(5.0)])
def test_regression_loss_gradients_equal_central_differences(loss):
    rng = np.random.default_rng(0)
    A, Y = rng.normal(size=(3, 11)) * 2, rng.normal(size=(3, 11))
    D = np.abs(A - Y)
    # away from the kinks: a = y for MAE, |a - y| = delta for Huber's second derivative
    assert D.min() > 1e-3 and (not hasattr(loss, "delta") or np.abs(D - loss.delta).min() > 1e-3)
    bp = loss.gradient(A, Y, scale=1 / A.shape[1])  # dJ/dA of the batch's mean
    assert_allclose(bp, numeric_dA(loss, A, Y), rtol=1e-6, atol=1e-10)


def test_huber_is_half_the_square_inside_delta_and_linear_beyond():
    h = Huber(2.0)
    A = np.array([[0.5, 3.0, -5.0]])
    Y = np.zeros_like(A)
    assert_allclose(h.per_sample(None, A, Y), [0.125, 2 * (3 - 1), 2 * (5 - 1)])
    assert_allclose(h.gradient(A, Y), [[0.5, 2.0, -2.0]])
    assert_allclose(get_loss("mae").per_sample(None, A, Y), [0.5, 3.0, 5.0])
    with pytest.raises(ConfigError, match="huber_delta"):
        Huber(0)


@pytest.mark.parametrize("loss", ["mae", "huber"])
def test_a_network_with_a_robust_loss_passes_the_gradient_check(loss):
    net, X, Y = problem(loss)
    check = gradcheck(net, X, Y * 3)  # errors beyond delta too
    assert check.passed, [(t.name, t.max_rel) for t in check.tensors]


def test_huber_delta_goes_through_copies_and_its_default_is_1():
    net = Network([2, 1], ["identity"], loss="huber", huber_delta=0.25)
    assert net.loss.delta == 0.25 and net.copy().loss.delta == 0.25
    assert Network([2, 1], ["identity"], loss="huber").loss.delta == 1.0


# -- schedules ----------------------------------------------------------------------------

def test_warmup_rises_linearly_then_follows_the_schedule():
    s = get_schedule("step", warmup=4, step_size=5, gamma=0.5)
    lrs = [s(0.1, e) for e in range(12)]
    assert_allclose(lrs[:4], [0.025, 0.05, 0.075, 0.1])
    assert_allclose(lrs[4:], [0.1, 0.05, 0.05, 0.05, 0.05, 0.05, 0.025, 0.025])
    assert get_schedule("constant", warmup=0)(0.1, 0) == 0.1


def test_reduce_on_plateau_by_hand():
    s = ReduceOnPlateau(factor=0.5, patience=2, min_lr=0.02)
    lrs = []
    for loss in [1.0, 0.9, 0.95, 0.92, 0.8, 0.85, 0.86, 0.87, 0.88, 0.89, 0.9]:
        lrs.append(s(0.1, len(lrs)))
        s.observe(loss)
    # two epochs without a new best halve the rate: after 0.92 and after 0.86, 0.88, ...
    assert_allclose(lrs, [0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.02, 0.02])
    again = ReduceOnPlateau(factor=0.5, patience=2, min_lr=0.02)
    again.load_state(s.state())
    assert again.state() == s.state()


def test_the_history_lr_column_shows_warmup_and_plateau():
    net, X, Y = problem()
    # at lr 1e-9 no epoch improves the loss by min_delta: every epoch after the first is a
    # plateau of patience 1, and halves the rate, warm-up or not
    sched = get_schedule("reduce_on_plateau", warmup=3, factor=0.5, patience=1, min_delta=1e-3)
    h = fit(net, X, Y, optimizer=SGD(lr=1e-9), epochs=8, batch_size=M,
            rng=np.random.default_rng(0), schedule=sched)
    lrs = [r.lr for r in h.records]
    assert_allclose(lrs, 1e-9 * np.array([1 / 3, 2 / 3, 1 / 2, 1 / 4, 1 / 8, 1 / 16, 1 / 32, 1 / 64]))


def test_reduce_on_plateau_never_raises_the_rate_even_with_min_lr_above_it():
    s = ReduceOnPlateau(factor=0.5, patience=1, min_lr=0.5)
    s.observe(1.0)
    s.observe(2.0)  # a plateau: scale 0.5, and min_lr 0.5 is above lr 0.001
    assert s(0.001, 2) == 0.001


@pytest.mark.parametrize("state", [{"scale": 0, "best": 1, "wait": 0},
                                   {"scale": 0.5, "best": float("inf"), "wait": 0},
                                   {"scale": 0.5, "best": 1, "wait": True}])
def test_a_plateau_state_no_run_can_have_is_refused(state):
    with pytest.raises(ValueError):
        ReduceOnPlateau().load_state(state)


def test_huber_with_a_huge_delta_is_the_half_square_without_overflow():
    with np.errstate(all="raise"):
        assert_allclose(Huber(1e300).per_sample(None, np.array([[3.0]]), np.zeros((1, 1))), [4.5])
