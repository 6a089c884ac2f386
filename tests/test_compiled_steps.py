"""nnctl.kernels.steps (the fast extra): an epoch's steps as one compiled loop calling
NumPy's own BLAS and ufunc loops. Training with it gives, bit for bit, what NumPy's steps
give (parameters, Adam's moments, the history, the layers' last pass), it runs only where
it applies, and a loop whose trial differs from NumPy's is not used."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

from nnctl import kernels
from nnctl.core import train as train_mod
from nnctl.core.network import Network
from nnctl.core.optimizers import get_optimizer
from nnctl.core.train import fit
from nnctl.kernels import steps as compiled

pytest.importorskip("numba", reason="the fast extra (numba) is in the test extra")


def _data(sizes, m, dtype, loss, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((sizes[0], m)).astype(dtype)
    if loss == "categorical_crossentropy":
        Y = np.eye(sizes[-1], dtype=dtype)[rng.integers(0, sizes[-1], m)].T
    elif loss == "binary_crossentropy":
        Y = (rng.random((1, m)) > 0.5).astype(dtype)
    else:
        Y = (rng.standard_normal((sizes[-1], m)) * 3).astype(dtype)
    return X, Y


def _train(sizes, acts, loss, dtype, m, bs, *, loop, optimizer=("adam", {}), epochs=3,
           on_batch=None, resume_from=None, diagnostics=False):
    X, Y = _data(sizes, m, dtype, loss)
    net = Network(sizes, acts, loss=loss, dtype=dtype, rng=np.random.default_rng(1))
    name, params = optimizer
    opt = get_optimizer(name, lr=1e-2, **params)
    if loop:
        net.fused_steps = compiled.steps_for
    history = fit(net, X, Y, optimizer=opt, epochs=epochs, batch_size=bs,
                  rng=np.random.default_rng(2), on_batch=on_batch, diagnostics=diagnostics)
    if resume_from is not None:  # a second run going on from the first's state
        history = fit(net, X, Y, optimizer=opt, epochs=2, batch_size=bs,
                      rng=np.random.default_rng(3), start_epoch=epochs)
    return net, opt, history


@pytest.fixture
def runs(monkeypatch):
    """Counts the compiled loop's runs (so a test knows it was used)."""
    calls = []
    original = compiled.Loop.run

    def counted(self, order, on_batch=None, first=0):
        calls.append(self)
        return original(self, order, on_batch, first)
    monkeypatch.setattr(compiled.Loop, "run", counted)
    return calls


def ran(runs, net) -> int:
    """How many of the loop's runs trained ``net`` (not the trial's copy of it)."""
    return sum(loop.steps.network is net for loop in runs)


CASES = [
    # sizes, activations, loss, dtype, samples, batch (a shorter last batch where m % bs)
    ([3, 3, 2, 1], ["tanh", "tanh", "identity"], "mse", "float64", 1000, 32),
    ([3, 3, 2, 1], ["tanh", "tanh", "logistic"], "binary_crossentropy", "float64", 999, 32),
    ([64, 64, 64, 10], ["relu", "relu", "softmax"], "categorical_crossentropy", "float32", 1280, 128),
    ([5, 7, 1], ["relu", "identity"], "mse", "float32", 301, 30),
    ([5, 7, 4, 3], ["logistic", "identity", "softmax"], "categorical_crossentropy", "float64", 1001, 16),
    ([4, 9, 2], ["tanh", "tanh"], "mse", "float32", 200, 2),
    ([6, 8, 8, 3], ["relu", "tanh", "logistic"], "mse", "float64", 250, 25),
    ([2, 5, 1], ["logistic", "relu"], "mse", "float32", 64, 64),
]


@pytest.mark.parametrize("sizes, acts, loss, dtype, m, bs", CASES)
def test_training_with_the_compiled_steps_is_bit_for_bit_numpys(runs, sizes, acts, loss, dtype,
                                                                m, bs):
    plain, plain_opt, plain_history = _train(sizes, acts, loss, dtype, m, bs, loop=False)
    assert not runs
    fast, fast_opt, fast_history = _train(sizes, acts, loss, dtype, m, bs, loop=True)
    assert ran(runs, fast) == 3  # one an epoch: the loop ran them
    assert fast.theta.dtype == np.dtype(dtype)
    assert np.array_equal(plain.theta, fast.theta), \
        f"{np.count_nonzero(plain.theta != fast.theta)} of {plain.theta.size} differ"
    assert np.array_equal(plain_opt.M, fast_opt.M) and np.array_equal(plain_opt.V, fast_opt.V)
    assert plain_opt.t == fast_opt.t == 3 * -(-m // bs)
    assert [r.train_loss for r in plain_history.records] == \
        [r.train_loss for r in fast_history.records]
    assert [r.metrics for r in plain_history.records] == [r.metrics for r in fast_history.records]
    assert not np.array_equal(fast.theta, Network(sizes, acts, loss=loss, dtype=dtype,
                                                  rng=np.random.default_rng(1)).theta)


def test_the_layers_hold_the_last_batch_as_after_numpys_steps(runs):
    """The last pass's tensors (what ``trace`` and the diagnostics read): with no shorter
    last batch, the loop ran the epoch's last step itself."""
    args = ([5, 7, 4, 3], ["relu", "tanh", "softmax"], "categorical_crossentropy", "float64", 320, 32)
    plain, _, _ = _train(*args, loop=False)
    fast, _, _ = _train(*args, loop=True)
    assert ran(runs, fast) == 3
    for mine, theirs in zip(fast.trace(), plain.trace()):
        assert mine.keys() == theirs.keys()
        for name in mine:
            assert np.array_equal(mine[name], theirs[name]), name
    # and fit let go of its copy of the data, as it does after NumPy's steps
    assert fast.layers[0]._A_prev_ones is None


def test_large_data_gathered_a_batch_at_a_time_and_progress_in_chunks(runs, monkeypatch):
    """Data over GATHER_WHOLE_BYTES is gathered per batch (inside the loop here), and with
    on_batch the loop runs in chunks between its calls: the same bits either way."""
    monkeypatch.setattr(train_mod, "GATHER_WHOLE_BYTES", 0)
    seen = []
    args = ([6, 8, 8, 3], ["relu", "relu", "softmax"], "categorical_crossentropy", "float32", 1000, 8)
    plain, _, _ = _train(*args, loop=False)
    fast, _, _ = _train(*args, loop=True, on_batch=lambda b, n: seen.append((b, n)))
    assert ran(runs, fast) == 3 and not runs[-1].steps.whole
    assert np.array_equal(plain.theta, fast.theta)
    assert seen[-1] == (125, 125) and all(0 < b <= n == 125 for b, n in seen)


def test_with_the_diagnostics_the_first_batch_is_numpys_and_the_rest_the_loops(runs):
    """The gradient-flow diagnostics measure the first batch's pass (on by default in
    ``nnctl train``): that step is NumPy's, the others the loop's, and the records agree."""
    args = ([6, 8, 8, 3], ["relu", "tanh", "softmax"], "categorical_crossentropy", "float32", 640, 32)
    plain, _, plain_history = _train(*args, loop=False, diagnostics=True)
    fast, _, fast_history = _train(*args, loop=True, diagnostics=True)
    assert ran(runs, fast) == 3
    assert np.array_equal(plain.theta, fast.theta)
    assert [r.diagnostics for r in plain_history.records] == \
        [r.diagnostics for r in fast_history.records]
    assert fast_history.records[0].diagnostics  # it measured something


@pytest.mark.parametrize("optimizer", [("adamw", {"weight_decay": 0.5}), ("adam", {"beta1": 0.5})])
def test_adamw_and_a_resumed_run(runs, optimizer):
    args = ([4, 6, 2], ["tanh", "softmax"], "categorical_crossentropy", "float32", 400, 20)
    plain, plain_opt, _ = _train(*args, loop=False, optimizer=optimizer, resume_from=True)
    fast, fast_opt, _ = _train(*args, loop=True, optimizer=optimizer, resume_from=True)
    assert ran(runs, fast) == 5
    assert np.array_equal(plain.theta, fast.theta) and plain_opt.t == fast_opt.t == 100


def test_it_runs_only_where_it_applies():
    net = Network([4, 6, 2], ["tanh", "softmax"], loss="categorical_crossentropy")
    adam = get_optimizer("adam")
    assert compiled.applies(net, adam, 32)
    assert not compiled.applies(net, adam, 1)  # a batch of one: other products
    assert not compiled.applies(net, adam, 32, weighted=True)
    for name, params in (("sgd", {}), ("momentum", {}), ("adam", {"l2": 0.1}),
                         ("adam", {"clip_norm": 1.0}), ("adam", {"clip_value": 1.0})):
        assert not compiled.applies(net, get_optimizer(name, **params), 32), name
    assert not compiled.applies(Network([4, 6, 2], ["softplus", "softmax"],
                                        loss="categorical_crossentropy"), adam, 32)
    assert not compiled.applies(Network([4, 6, 1], ["relu", "identity"], loss="mae"), adam, 32)
    assert not compiled.applies(Network([4, 6, 2], ["relu", "softmax"], loss="mse"), adam, 32)
    dropping = Network([4, 6, 2], ["tanh", "softmax"], loss="categorical_crossentropy",
                       dropout=[0.5, 0.0])
    assert not compiled.applies(dropping, adam, 32)
    # the logistic on more than 4,096 values a batch takes core's other form
    wide = Network([4, 64, 1], ["logistic", "identity"], loss="mse")
    assert compiled.applies(wide, adam, 64) and not compiled.applies(wide, adam, 65)


def test_plans_follow_numpys_calls():
    plan = compiled.plan([3, 3, 2, 1], 32)
    GEMM, GEMV, OUTER = compiled.GEMM, compiled.GEMV, compiled.OUTER
    assert plan[:, 0, 0].tolist() == [GEMM, GEMM, GEMV]  # a one-unit layer: a row @ a matrix
    assert plan[:, 1, 0].tolist() == [GEMM, GEMM, GEMV]
    assert plan[1:, 2, 0].tolist() == [GEMM, OUTER]      # W^T dZ of a one-unit layer: matmul's loop
    assert compiled.plan([3, 1, 4], 32) is None          # a one-unit hidden layer's W^T dZ
    assert compiled.plan([3, 4, 1], 1) is None


def test_numpys_inner_loops_are_the_ones_numpy_calls():
    """The addresses the loop calls, called here through ctypes, give np.tanh's, np.exp's
    and np.logaddexp's bits (nan, inf, -0, subnormals, across SIMD widths)."""
    proto = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)
    rng = np.random.default_rng(0)
    for dtype in ("float32", "float64"):
        fn = compiled.natives(dtype)
        assert fn is not None
        for n in (1, 7, 16, 33, 1000):
            x = (rng.standard_normal(n) * 10.0 ** rng.integers(-40, 3, n)).astype(dtype)
            x[:4] = [np.nan, np.inf, -np.inf, -0.0][:min(4, n)] if n >= 4 else x[:4]
            for at, ufunc in ((2, np.tanh), (4, np.exp), (6, np.logaddexp)):
                y = np.empty_like(x)
                zero = np.zeros(1, dtype)
                operands = [x, y] if ufunc.nin == 1 else [zero, x, y]
                args = (ctypes.c_void_p * 3)(*[a.ctypes.data for a in operands])
                steps = (ctypes.c_ssize_t * 3)(*[0 if a is zero else a.itemsize for a in operands])
                dims = (ctypes.c_ssize_t * 1)(n)
                proto(int(fn[at]))(ctypes.addressof(args), ctypes.addressof(dims),
                                   ctypes.addressof(steps), int(fn[at + 1]) or None)
                with np.errstate(all="ignore"):
                    expected = ufunc(x) if ufunc.nin == 1 else ufunc(0, x)
                assert np.array_equal(y.view(f"u{x.itemsize}"), expected.view(f"u{x.itemsize}")), \
                    (dtype, n, ufunc.__name__)


def test_a_loop_whose_trial_differs_is_not_used(runs, monkeypatch):
    """Given exp's loop where tanh's should be (as another NumPy's struct could give), the
    trial against NumPy's steps differs, and training keeps NumPy's steps: the same bits."""
    real = compiled.natives("float64")
    wrong = real.copy()
    wrong[2:4] = real[4:6]
    monkeypatch.setattr(compiled, "natives", lambda dtype: wrong)
    monkeypatch.setattr(compiled, "_VERIFIED", {})
    args = ([3, 3, 2, 1], ["tanh", "tanh", "identity"], "mse", "float64", 320, 32)
    fast, _, _ = _train(*args, loop=True)
    assert runs and ran(runs, fast) == 0  # the trial ran it, training did not
    assert list(compiled._VERIFIED.values()) == [False]
    plain, _, _ = _train(*args, loop=False)
    assert np.array_equal(plain.theta, fast.theta)


def test_the_train_command_gives_it_to_long_runs_of_small_networks(tmp_path, runs):
    from nnctl import config
    from nnctl.commands.train import Session

    cfg = config.load(config.BUNDLED / "configs" / "iris.yaml").with_values(
        {"output.runs": str(tmp_path), "training.early_stopping": False,
         "training.batch_size": 8, "training.l2": 0.0,
         "network.layers": [{"units": 16, "activation": "tanh"},
                            {"units": 8, "activation": "relu"}, {"activation": "softmax"}]})
    session = Session(cfg)
    needed = kernels.START_UP / kernels.saving(session.network.theta.size, loop=True)
    epochs = -(-int(needed) // session.steps_per_epoch)
    long = Session(cfg.with_values({"training.epochs": epochs}))
    assert long._loop and long.fused and long.network.fused_steps is compiled.steps_for
    assert not Session(cfg.with_values({"training.epochs": epochs - 1})).fused
    # class weights make the steps weighted: the loop would not run, so it is not counted
    weighted = Session(cfg.with_values({"training.epochs": epochs, "training.class_weight": "balanced"}))
    assert not weighted._loop and not weighted.fused
    long.cfg = long.cfg.with_values({"training.epochs": 2})
    long.fit()
    assert ran(runs, long.network) == 2
