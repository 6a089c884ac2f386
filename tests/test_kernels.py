"""nnctl.kernels (the fast extra, numba): each compiled kernel gives, bit for bit, what its
NumPy reference in core gives, and training uses it only where it is meant to."""

from __future__ import annotations

import numpy as np
import pytest

from nnctl import kernels
from nnctl.core.network import Network
from nnctl.core.optimizers import get_optimizer
from nnctl.core.train import fit

pytest.importorskip("numba", reason="the fast extra (numba) is in the test extra")


def _steps(optimizer, theta, grads):
    class Net:  # what Optimizer.step reads of a network
        pass
    net = Net()
    net.theta, net.weight_mask = theta, (np.arange(theta.size) % 3 != 0).astype(theta.dtype)
    for g in grads:
        net.grad = g.copy()
        optimizer.step(net)
    return theta


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("size", [1, 7, 4097, 100_003])  # across the threads' chunk edges
@pytest.mark.parametrize("name, params", [("adam", {}), ("adam", {"l2": 0.01, "clip_norm": 0.5}),
                                          ("adamw", {"weight_decay": 0.1}),
                                          ("adam", {"lr": np.float64(1e-3) * np.exp(-0.1)})])
def test_fused_adam_is_bit_for_bit_numpys(dtype, size, name, params):
    """(The last case: a NumPy float64 rate, as a custom schedule may give, which once made
    the NumPy passes compute in float64 and round apart from the kernel.)"""
    rng = np.random.default_rng(size)
    theta = rng.standard_normal(size).astype(dtype)
    grads = [(rng.standard_normal(size) * 10.0 ** rng.integers(-6, 3, size)).astype(dtype)
             for _ in range(6)]
    params = {"lr": 3e-3, **params}
    plain, fused = get_optimizer(name, **params), get_optimizer(name, **params)
    plain.lr = fused.lr = params["lr"]  # as fit sets it each epoch (the type kept)
    fused.fused = kernels.adam()
    a, b = _steps(plain, theta.copy(), grads), _steps(fused, theta.copy(), grads)
    assert a.dtype == b.dtype == np.dtype(dtype)
    assert np.array_equal(a, b), f"{np.count_nonzero(a != b)} of {size} differ"
    assert np.array_equal(plain.M, fused.M) and np.array_equal(plain.V, fused.V)
    assert not np.array_equal(a, theta)  # the steps did move it


def test_training_with_the_kernel_is_bit_for_bit_the_same():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((32, 600)).astype(np.float32)
    Y = np.eye(4, dtype=np.float32)[rng.integers(0, 4, 600)].T
    thetas = []
    for use in (False, True):
        net = Network([32, 256, 256, 4], ["relu", "tanh", "softmax"],
                      loss="categorical_crossentropy", dtype="float32", rng=np.random.default_rng(1))
        opt = get_optimizer("adam", lr=1e-3)
        assert kernels.accelerate(opt, net.theta.size) and opt.fused is not None
        if not use:
            opt.fused = None
        fit(net, X, Y, optimizer=opt, epochs=3, batch_size=64, rng=np.random.default_rng(2))
        thetas.append(net.theta.copy())
    assert np.array_equal(*thetas)


def test_the_kernel_is_used_only_for_adam_on_large_networks(monkeypatch):
    large = kernels.MIN_PARAMETERS
    assert not kernels.accelerate(get_optimizer("adam"), large - 1)
    assert not kernels.accelerate(get_optimizer("sgd"), large)
    assert not kernels.accelerate(get_optimizer("momentum"), large)
    assert kernels.accelerate(get_optimizer("adamw"), large)
    monkeypatch.setenv("NNCTL_NO_KERNELS", "1")
    assert not kernels.accelerate(get_optimizer("adam"), large)


def test_nnctl_train_uses_it_on_a_large_network(tmp_path):
    from nnctl import config
    from nnctl.commands.train import Session

    big = config.load(config.BUNDLED / "configs" / "iris.yaml").with_values(
        {"network.layers": [{"units": 256}, {"units": 256}, {"activation": "softmax"}],
         "output.runs": str(tmp_path)})
    small = config.load(config.BUNDLED / "configs" / "iris.yaml").with_values(
        {"output.runs": str(tmp_path)})
    assert Session(big).fused and not Session(small).fused
    # and the dropout mask, on a large network that drops units (only there)
    dropping = big.with_values({"network.layers[0].dropout": 0.2})
    assert Session(dropping).network.layer(1).fused_mask is not None
    assert Session(big).network.layer(1).fused_mask is None
    assert Session(small.with_values({"network.layers[0].dropout": 0.2})).network.layer(1).fused_mask is None
    # and the activations' loops (iris.yaml's hidden layers are relu)
    assert Session(big).network.layer(1).fused_forward is kernels.activations()["relu"][0]
    assert Session(small).network.layer(1).fused_forward is None
    # and on the small network too when its run is long enough to pay for numba's start-up
    session = Session(small)
    params, each = session.network.theta.size, -(-session.prep.splits["train"].m // 32)  # steps an epoch
    epochs = -(-int(kernels.START_UP / kernels.saving(params)) // each)
    planned = small.with_values({"training.early_stopping": False, "training.batch_size": 32})
    long = planned.with_values({"training.epochs": epochs})
    short = planned.with_values({"training.epochs": epochs - 1})
    assert Session(long).fused and Session(long).network.layer(1).fused_derivative is not None
    assert not Session(short).fused and Session(short).network.layer(1).fused_derivative is None
    # with early stopping the run may end early: not at the start, however many epochs
    assert not Session(long.with_values({"training.early_stopping": 20})).fused


def test_with_early_stopping_the_kernels_come_once_the_run_has_lasted_and_results_agree(
        tmp_path, monkeypatch):
    """A run planned long but stopping early paid numba's start-up for a few epochs (1.30 s
    against 0.79 s, found by a hostile review); now the kernels come once the epochs run
    and the epochs still planned would each have paid for them, and the weights are the
    same bits as a run without them."""
    from nnctl import config
    from nnctl.commands.train import Session

    cfg = config.load(config.BUNDLED / "configs" / "iris.yaml").with_values(
        {"output.runs": str(tmp_path), "training.epochs": 40, "training.batch_size": 8,
         "training.early_stopping": {"patience": 1000}})
    session = Session(cfg)
    per_epoch, params = session.steps_per_epoch, session.network.theta.size
    # a start-up that 10 epochs of steps pay for: the kernels from epoch 10 (of 40)
    monkeypatch.setattr(kernels, "START_UP", 10 * per_epoch * kernels.saving(params) * 0.999)
    seen = []
    session.fit(on_epoch=lambda r: seen.append((r.epoch, session.optimizer.fused is not None)))
    assert seen[8] == (9, False) and seen[9] == (10, True) and seen[-1] == (40, True)
    monkeypatch.setenv("NNCTL_NO_KERNELS", "1")
    plain = Session(cfg)
    plain.fit()
    assert plain.optimizer.fused is None
    assert np.array_equal(session.network.theta, plain.network.theta)


def test_a_small_network_gains_from_its_steps_saving_more_than_the_start_up():
    tiny = 23  # a 3-3-2-1 network's parameters
    needed = kernels.START_UP / kernels.saving(tiny)
    assert 140_000 < needed < 160_000  # the docstring's 150,000 steps
    assert kernels.worth_it(tiny, int(needed) + 1) and not kernels.worth_it(tiny, int(needed) - 1)
    # with the compiled steps, which save the step's Python calls: 40,000
    looped = kernels.START_UP / kernels.saving(tiny, loop=True)
    assert 39_000 < looped < 41_000
    assert kernels.worth_it(tiny, int(looped) + 1, loop=True)
    assert not kernels.worth_it(tiny, int(looped) - 1, loop=True)
    assert not kernels.worth_it(tiny) and kernels.worth_it(kernels.MIN_PARAMETERS, 1)
    assert kernels.accelerate(get_optimizer("adam"), tiny, 10**6)
    assert not kernels.accelerate(get_optimizer("sgd"), tiny, 10**6)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (257, 129)])
@pytest.mark.parametrize("p", [0.001, 0.2, 0.5, 0.999])
def test_fused_dropout_mask_is_bit_for_bit_numpys(dtype, shape, p):
    """The kernel against Dense._forward's three NumPy lines, on values that tell a wrong
    order or dtype apart: nan, inf, -0 and tiny and huge numbers (a masked -x is -0)."""
    from nnctl.core.network import DROP_STEPS

    rng = np.random.default_rng(shape[0])
    A = (rng.standard_normal(shape) * 10.0 ** rng.integers(-30, 30, shape)).astype(dtype)
    A.flat[:3] = [np.nan, np.inf, -0.0][:A.size]
    u = rng.integers(0, DROP_STEPS, shape, dtype=np.uint16)
    dropped = round(p * DROP_STEPS)
    scale = DROP_STEPS / (DROP_STEPS - dropped)
    M, D = np.empty_like(A), np.empty_like(A)
    with np.errstate(all="ignore"):  # inf * 0 is nan, and huge * 1/q may overflow: as training
        np.greater_equal(u, dropped, out=M)
        M *= scale
        np.multiply(A, M, out=D)
    M2, D2 = np.full_like(A, 7.0), np.full_like(A, 7.0)
    kernels.dropout_mask()(u, dropped, M.dtype.type(scale), A, M2, D2)
    assert M2.dtype == D2.dtype == np.dtype(dtype)
    assert np.array_equal(M, M2) and np.array_equal(D, D2, equal_nan=True)
    assert np.array_equal(np.signbit(D), np.signbit(D2))
    assert np.count_nonzero(M2) == np.count_nonzero(u >= dropped)  # the kept units, scaled


def test_training_with_the_fused_dropout_mask_is_bit_for_bit_the_same():
    """Across batch sizes (the last batch is smaller: another buffer) and both dtypes."""
    rng = np.random.default_rng(0)
    for dtype in ("float32", "float64"):
        X = rng.standard_normal((32, 500)).astype(dtype)
        Y = np.eye(4, dtype=dtype)[rng.integers(0, 4, 500)].T
        thetas = []
        for use in (False, True):
            net = Network([32, 256, 256, 4], ["relu", "identity", "softmax"],
                          loss="categorical_crossentropy", dtype=dtype,
                          rng=np.random.default_rng(1), dropout=[0.3, 0.1, 0.0])
            assert kernels.accelerate_layers(net)
            assert all(net.layer(l).fused_mask is not None for l in (1, 2, 3))
            if not use:  # the mask alone left out: both runs have the activations' loops
                for l in (1, 2, 3):
                    net.layer(l).fused_mask = None
            fit(net, X, Y, optimizer=get_optimizer("adam", lr=1e-3), epochs=2, batch_size=64,
                rng=np.random.default_rng(2))
            thetas.append(net.theta.copy())
        assert np.array_equal(*thetas)


def test_the_fused_mask_is_given_only_to_large_networks_that_drop_units(monkeypatch):
    def net(units, dropout):
        return Network([8, units, 3], ["relu", "softmax"], loss="categorical_crossentropy",
                       dropout=[dropout, 0.0])

    small = net(16, 0.2)  # 195 parameters
    assert not kernels.accelerate_layers(small) and small.layer(1).fused_mask is None
    plain = net(8000, 0.0)  # no dropout
    assert kernels.accelerate_layers(plain) and plain.layer(1).fused_mask is None
    assert plain.layer(1).fused_forward is not None  # the activation's loop, though
    large = net(8000, 0.2)  # 96,003 parameters
    assert kernels.accelerate_layers(large) and large.layer(1).fused_mask is not None
    monkeypatch.setenv("NNCTL_NO_KERNELS", "1")
    off = net(8000, 0.2)
    assert not kernels.accelerate_layers(off)
    assert off.layer(1).fused_mask is None and off.layer(1).fused_forward is None


def _hostile(rng, shape, dtype):
    """Values that tell a wrong order, dtype or select apart: nan, +-inf, -0, subnormals,
    huge and tiny numbers of both signs."""
    x = rng.standard_normal(shape) * 10.0 ** rng.integers(-40, 40, shape)
    specials = [np.nan, np.inf, -np.inf, -0.0, 0.0, np.finfo(dtype).smallest_subnormal,
                -np.finfo(dtype).smallest_subnormal, np.finfo(dtype).max, -np.finfo(dtype).max]
    k = min(x.size, len(specials))
    x.flat[rng.choice(x.size, k, replace=False)] = specials[:k]
    with np.errstate(over="ignore"):
        return x.astype(dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (257, 129)])
def test_fused_relu_is_bit_for_bit_numpys(dtype, shape):
    """The forward loop against core.activations.relu on hostile values, in Dense's
    buffers (the only forward with a loop: see kernels.activations)."""
    from nnctl.core.activations import relu

    assert [k for k, (forward, _) in kernels.activations().items() if forward] == ["relu"]
    Z = _hostile(np.random.default_rng(shape[0]), shape, dtype)
    A, A2 = np.empty_like(Z), np.full_like(Z, 7.0)
    with np.errstate(all="ignore"):
        relu(Z, A, None, np.empty_like(Z))
        assert kernels.activations()["relu"][0](Z, A2, None, np.full_like(Z, 7.0)) is A2
    assert A2.dtype == np.dtype(dtype)
    assert np.array_equal(A, A2, equal_nan=True)
    assert np.array_equal(np.signbit(A), np.signbit(A2))  # z = -0 gives +0, as z/2 + |z/2|


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (257, 129)])
@pytest.mark.parametrize("name", ["relu", "tanh", "logistic"])
def test_fused_derivatives_are_bit_for_bit_numpys(dtype, shape, name):
    """Each derivative loop against its NumPy function in core.activations, on hostile
    values, with ``A = f(Z)`` as training gives it and with any ``A`` the loop reads."""
    from nnctl.core.activations import get_activation

    act = get_activation(name)
    derivative = kernels.activations()[name][1]
    rng = np.random.default_rng(shape[0])
    Z = _hostile(rng, shape, dtype)
    A, T = np.empty_like(Z), np.empty_like(Z)
    with np.errstate(all="ignore"):
        act.forward(Z, A, None, T)
        for A_used in (A, _hostile(rng, shape, dtype)):
            dA = _hostile(rng, shape, dtype)
            dA2 = dA.copy()
            act.derivative(dA, Z, A_used, None, T)
            assert derivative(dA2, Z, A_used, None, np.full_like(Z, 7.0)) is dA2
            assert dA2.dtype == np.dtype(dtype)
            assert np.array_equal(dA, dA2, equal_nan=True), f"{np.count_nonzero(dA != dA2)} differ"
            assert np.array_equal(np.signbit(dA), np.signbit(dA2))


def test_training_with_the_activations_loops_is_bit_for_bit_the_same():
    """relu, tanh and logistic hidden layers, both dtypes, a smaller last batch (another
    buffer) and validation (predict's padded chunks go through the loops too)."""
    rng = np.random.default_rng(3)
    for dtype in ("float32", "float64"):
        X = rng.standard_normal((32, 500)).astype(dtype)
        Y = np.eye(4, dtype=dtype)[rng.integers(0, 4, 500)].T
        results = []
        for use in (False, True):
            net = Network([32, 256, 128, 96, 4], ["relu", "tanh", "logistic", "softmax"],
                          loss="categorical_crossentropy", dtype=dtype,
                          rng=np.random.default_rng(1))
            assert kernels.accelerate_layers(net)
            assert [net.layer(l).fused_derivative is not None for l in (1, 2, 3, 4)] == [
                True, True, True, False]
            if not use:
                for l in (1, 2, 3):
                    net.layer(l).fused_forward = net.layer(l).fused_derivative = None
            history = fit(net, X, Y, optimizer=get_optimizer("adam", lr=1e-2), epochs=2,
                          batch_size=64, rng=np.random.default_rng(2), X_val=X[:, :77],
                          Y_val=Y[:, :77])
            results.append((net.theta.copy(), history.column("val_loss")))
        assert np.array_equal(results[0][0], results[1][0])
        assert results[0][1] == results[1][1]
