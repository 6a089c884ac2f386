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
            assert kernels.accelerate_dropout(net)
            assert all(net.layer(l).fused_mask is not None for l in (1, 2, 3))
            if not use:
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

    assert not kernels.accelerate_dropout(net(16, 0.2))  # 195 parameters
    assert not kernels.accelerate_dropout(net(8000, 0.0))  # no dropout
    assert kernels.accelerate_dropout(net(8000, 0.2))  # 96,003 parameters
    monkeypatch.setenv("NNCTL_NO_KERNELS", "1")
    assert not kernels.accelerate_dropout(net(8000, 0.2))
