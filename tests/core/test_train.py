"""The training loop: learning known problems, batches, validation, early stopping, failures."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal, assert_allclose

from nnctl.errors import TrainingDiverged, TrainingInterrupted
from nnctl.core.network import Network
from nnctl.core.optimizers import get_optimizer
from nnctl.core.schedules import get_schedule
from nnctl.core.train import evaluate, fit

from helpers import numeric_gradient


def xor3(m, rng):
    """Label 1 where x1 x2 > 0: no linear model beats about 50% (x3 is noise)."""
    X = rng.uniform(-1, 1, (3, m))
    return X, (X[0] * X[1] > 0).astype(float)[None]


def rings(m, rng):
    """Three classes by radius in the plane: 0-1, 1-2, 2-3."""
    r, t = rng.uniform(0, 3, m), rng.uniform(0, 2 * np.pi, m)
    c = np.minimum(r.astype(int), 2)
    return np.stack([r * np.cos(t), r * np.sin(t)]), np.eye(3)[:, c]


def wave(m, rng):
    X = rng.uniform(-2, 2, (2, m))
    y = np.sin(2 * X[0]) + 0.5 * X[1] ** 2 + rng.normal(0, 0.05, m)
    return X, y[None]


def train(net, X, Y, *, lr=0.01, epochs=60, batch_size=32, seed=0, **kwargs):
    return fit(net, X, Y, optimizer=get_optimizer("adam", lr=lr), epochs=epochs,
               batch_size=batch_size, rng=np.random.default_rng(seed), **kwargs)


def test_default_3_3_2_1_learns_xor_in_3d():
    rng = np.random.default_rng(0)
    (X, Y), (Xt, Yt) = xor3(2000, rng), xor3(1000, rng)
    net = Network([3, 3, 2, 1], ["tanh", "tanh", "logistic"], loss="binary_crossentropy",
                  rng=np.random.default_rng(0))
    _, before = evaluate(net, Xt, Yt)
    train(net, X, Y, lr=0.02, epochs=100)
    loss, result = evaluate(net, Xt, Yt)
    assert before["accuracy"] < 0.7
    assert result["accuracy"] >= 0.95  # reached 0.98 when last measured
    assert loss < 0.1


def test_three_classes_above_0_9():
    rng = np.random.default_rng(0)
    (X, Y), (Xt, Yt) = rings(3000, rng), rings(1000, rng)
    net = Network([2, 16, 16, 3], ["relu", "relu", "softmax"], loss="categorical_crossentropy",
                  rng=np.random.default_rng(0))
    history = train(net, X, Y)
    _, result = evaluate(net, Xt, Yt)
    assert result["accuracy"] > 0.9  # reached 0.984 when last measured
    assert history.records[-1].metrics["train_accuracy"] > 0.9


def test_regression_r2_above_0_9():
    rng = np.random.default_rng(0)
    (X, Y), (Xt, Yt) = wave(3000, rng), wave(1000, rng)
    net = Network([2, 32, 32, 1], ["tanh", "tanh", "identity"], rng=np.random.default_rng(0))
    train(net, X, Y)
    loss, result = evaluate(net, Xt, Yt)
    assert result["r2"] > 0.9  # reached 0.988 when last measured
    assert result["mse"] == pytest.approx(loss)


def test_partial_last_batch_uses_its_own_m():
    """One epoch of SGD, m = 10 in batches of 4, 4, 2: each step follows the finite-difference
    gradient of the mean loss over that batch alone."""
    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(2, 10)), rng.normal(size=(1, 10))
    nets = [Network([2, 3, 1], ["tanh", "identity"], rng=np.random.default_rng(1)) for _ in range(2)]
    history = fit(nets[0], X, Y, optimizer=get_optimizer("sgd", lr=0.1), epochs=1, batch_size=4,
                  rng=np.random.default_rng(7))
    order = np.random.default_rng(7).permutation(10)
    ref, losses = nets[1], []
    for start in (0, 4, 8):
        idx = order[start:start + 4]
        losses.append(ref.compute_loss(X[:, idx], Y[:, idx]) * idx.size)
        ref.theta -= 0.1 * numeric_gradient(ref, X[:, idx], Y[:, idx])
    assert_allclose(nets[0].theta, ref.theta, rtol=1e-7, atol=1e-9)
    assert history.records[0].train_loss == pytest.approx(sum(losses) / 10)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_same_seed_same_bits(dtype):
    rng = np.random.default_rng(0)
    X, Y = rings(500, rng)
    thetas = []
    for _ in range(2):
        net = Network([2, 8, 3], ["elu", "softmax"], loss="categorical_crossentropy", dtype=dtype,
                      rng=np.random.default_rng(5))
        train(net, X, Y, epochs=5, seed=9, batch_size=50)
        thetas.append(net.theta.copy())
    assert_array_equal(thetas[0], thetas[1])
    assert thetas[0].dtype == dtype


def test_float32_training_end_to_end():
    rng = np.random.default_rng(0)
    X, Y = wave(600, rng)
    net = Network([2, 16, 1], ["prelu", "identity"], dtype="float32", rng=np.random.default_rng(0))
    opt = get_optimizer("momentum", lr=0.01, l2=1e-4, nesterov=True)
    fit(net, X, Y, optimizer=opt, epochs=3, batch_size=64, rng=np.random.default_rng(0),
        X_val=X[:, :100], Y_val=Y[:, :100], schedule=get_schedule("cosine", epochs=3))
    arrays = [net.theta, net.grad, opt.v] + [getattr(layer, name) for layer in net.layers
                                             for name in ("Z", "A", "dZ", "A_prev")]
    assert all(a.dtype == np.float32 for a in arrays)


def test_history_validation_metrics_schedule_and_callbacks():
    rng = np.random.default_rng(1)
    (X, Y), (Xv, Yv) = wave(400, rng), wave(100, rng)
    net = Network([2, 8, 1], ["tanh", "identity"], rng=np.random.default_rng(0))
    epochs_seen, batches = [], []
    history = fit(net, X, Y, optimizer=get_optimizer("sgd", lr=0.1), epochs=4, batch_size=64,
                  rng=np.random.default_rng(0), X_val=Xv, Y_val=Yv,
                  schedule=get_schedule("step", step_size=2, gamma=0.5),
                  on_epoch=epochs_seen.append, on_batch=lambda b, n: batches.append((b, n)))
    assert [r.epoch for r in epochs_seen] == [1, 2, 3, 4]
    assert batches == [(b, 7) for b in range(1, 8)] * 4
    assert history.column("lr") == pytest.approx([0.1, 0.1, 0.05, 0.05])
    last = history.records[-1]
    assert set(last.metrics) == {"train_r2", "train_mse", "val_r2", "val_mse"}
    assert last.val_loss == pytest.approx(evaluate(net, Xv, Yv)[0])
    assert last.val_loss < history.records[0].val_loss
    assert history.monitor == "val_loss" and last.seconds > 0
    assert history.rows()[0]["epoch"] == 1


def test_early_stopping_restores_the_best_weights():
    rng = np.random.default_rng(2)
    # Few noisy samples and a wide network: validation loss turns up after a while.
    X, Y = rng.normal(size=(5, 40)), rng.normal(size=(1, 40))
    Xv, Yv = rng.normal(size=(5, 200)), rng.normal(size=(1, 200))
    net = Network([5, 64, 64, 1], ["relu", "relu", "identity"], rng=np.random.default_rng(0))
    history = train(net, X, Y, lr=0.01, epochs=500, batch_size=8, X_val=Xv, Y_val=Yv, patience=5)
    assert history.stopped_early
    assert len(history.records) == history.best_epoch + 5
    best = history.records[history.best_epoch - 1].val_loss
    assert best == min(history.column("val_loss"))
    assert evaluate(net, Xv, Yv)[0] == pytest.approx(best, rel=1e-12)


def test_divergence_names_epoch_and_layer_and_keeps_best_weights():
    rng = np.random.default_rng(0)
    X, Y = wave(200, rng)
    net = Network([2, 8, 8, 1], ["tanh", "tanh", "identity"], rng=np.random.default_rng(0))
    with pytest.raises(TrainingDiverged) as e:
        fit(net, X, Y * 10, optimizer=get_optimizer("sgd", lr=1.0), epochs=50, batch_size=10,
            rng=np.random.default_rng(0))
    err = e.value
    assert f"at epoch {err.epoch}" in str(err)
    assert err.layer is not None and f"layer {err.layer}" in str(err)
    assert "Lower the learning rate" in str(err)
    assert np.isfinite(net.theta).all()
    best = err.history.best_epoch
    assert (f"the weights of epoch {best} are kept" if best else "no epoch finished") in str(err)


def test_ctrl_c_keeps_best_weights_and_history():
    rng = np.random.default_rng(1)
    (X, Y), (Xv, Yv) = wave(300, rng), wave(100, rng)
    net = Network([2, 8, 1], ["tanh", "identity"], rng=np.random.default_rng(0))

    def interrupt(batch, n):
        if len(seen) == 3 and batch == 2:
            raise KeyboardInterrupt

    seen = []
    with pytest.raises(TrainingInterrupted) as e:
        train(net, X, Y, epochs=10, X_val=Xv, Y_val=Yv, on_epoch=seen.append, on_batch=interrupt)
    history = e.value.history
    assert e.value.epoch == 4 and len(history.records) == 3
    best = history.records[history.best_epoch - 1].val_loss
    assert evaluate(net, Xv, Yv)[0] == pytest.approx(best, rel=1e-12)


def test_ctrl_c_inside_a_compiled_kernel_is_an_interrupt_too():
    """A signal whose handler runs inside a compiled function (numba's, while it boxes the
    array it returns) surfaces as a SystemError caused by the KeyboardInterrupt: `nnctl
    train` then ended in a traceback, exit 1, with no model (seen in CI once small networks
    got the kernels on long runs). It is the interrupt, the best weights kept."""
    rng = np.random.default_rng(1)
    (X, Y), (Xv, Yv) = wave(300, rng), wave(100, rng)
    net = Network([2, 8, 1], ["tanh", "identity"], rng=np.random.default_rng(0))
    layer, calls = net.layer(1), []

    def forward(Z, A, alpha, T):  # as a kernel would, until the signal comes
        calls.append(1)
        np.tanh(Z, out=A)
        if len(calls) == 40:
            try:
                raise KeyboardInterrupt
            except KeyboardInterrupt as e:
                raise SystemError("CPUDispatcher(tanh) returned a result with an exception set") from e
        return A

    layer.fused_forward = forward
    seen = []
    with pytest.raises(TrainingInterrupted) as e:
        train(net, X, Y, epochs=10, X_val=Xv, Y_val=Yv, on_epoch=seen.append)
    assert e.value.epoch == len(seen) + 1 and e.value.history.best_epoch == len(seen) >= 1

    def broken(Z, A, alpha, T):  # a SystemError of any other cause is not an interrupt
        raise SystemError("a real one")

    layer.fused_forward = broken
    with pytest.raises(SystemError, match="a real one"):
        train(net, X, Y, epochs=1)


def test_accuracy_counts_a_tie_as_predict_labels_it():
    """A uniform softmax output is class 0 for predict (argmax), so not 'right' for every
    class; a logistic output of exactly 0.5 is class 0 too."""
    from nnctl.core.metrics import accuracy

    Y = np.eye(4)[:, [0, 1, 2, 3]]
    assert accuracy(np.full((4, 4), 0.25), Y) == 0.25  # was 1.0: every tie counted as right
    A = np.array([[0.1, 0.5, 0.4, 0.5], [0.9, 0.5, 0.6, 0.5]])  # ties in columns 1 and 3
    assert accuracy(A, np.eye(2)[:, [1, 0, 1, 1]]) == 0.75
    assert accuracy(np.array([[0.5, 0.7, 0.2]]), np.array([[0.0, 1.0, 1.0]])) == 2 / 3


@pytest.mark.parametrize("weights", [False, True])
@pytest.mark.parametrize("task", ["binary", "3 regression outputs"])
def test_gathering_the_epoch_whole_or_by_batch_trains_the_same_bits(monkeypatch, weights, task):
    """Small data is gathered whole per epoch and sliced, large data a batch at a time
    (GATHER_WHOLE_BYTES); with a partial last batch, sample weights and dropout, both give
    the same weights and history (every metric too), bit for bit."""
    import nnctl.core.train as train_mod

    rng = np.random.default_rng(3)
    X, Y = xor3(203, rng)  # 203 = 6 batches of 32 and one of 11
    if task == "binary":
        sizes, acts, loss = [3, 8, 4, 1], ["tanh", "relu", "logistic"], "binary_crossentropy"
    else:
        Y = np.vstack([X[0] * X[1], X[2] ** 2, X.sum(axis=0)])
        sizes, acts, loss = [3, 8, 4, 3], ["tanh", "relu", "identity"], "mse"
    w = rng.uniform(0.5, 2.0, 203) if weights else None
    runs = []
    for limit in (0, 2**40):
        monkeypatch.setattr(train_mod, "GATHER_WHOLE_BYTES", limit)
        net = Network(sizes, acts, loss=loss, rng=np.random.default_rng(0), dropout=[0.2, 0.1, 0.0])
        history = fit(net, X, Y, optimizer=get_optimizer("adam", lr=0.01), epochs=4,
                      batch_size=32, rng=np.random.default_rng(1), sample_weight=w,
                      X_val=X[:, :50], Y_val=Y[:, :50])
        runs.append((net.theta.copy(), [(r.train_loss, r.val_loss, r.metrics) for r in history.records]))
    assert_array_equal(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1]
    monkeypatch.undo()
    assert train_mod._Steps(net, get_optimizer("sgd"), X, Y, 32).whole  # the default: whole


def test_fit_does_not_keep_its_copy_of_the_data_alive():
    rng = np.random.default_rng(0)
    X, Y = xor3(4000, rng)
    net = Network([3, 8, 1], ["tanh", "logistic"], loss="binary_crossentropy",
                  rng=np.random.default_rng(0))
    fit(net, X, Y, optimizer=get_optimizer("adam"), epochs=1, batch_size=32,
        rng=np.random.default_rng(1))
    assert net.layer(1).A_prev is None  # the last batch was a view of fit's gathered epoch
    with pytest.raises(RuntimeError, match="needs a forward first"):
        net.backward(Y[:, :32])


def _first_failure(net, optimizer, X, Y, order, batch_size):
    """Where an epoch from a fresh optimizer first breaks, found step by step (the truth a
    diverged epoch's replay must report)."""
    import nnctl.core.train as train_mod

    steps = train_mod._Steps(net, optimizer, X, Y, batch_size)
    steps.begin(order)
    for b in range(steps.n_batches):
        Xb, Yb, _ = steps.batch(order, b)
        net.forward_cached(Xb)
        if not np.isfinite(net.cost(Yb)):
            return f"the training loss (batch {b + 1})"
        net.backward(Yb)
        optimizer.step(net)
        if not np.isfinite(net.theta).all():
            return f"the parameters (after batch {b + 1})"
    return None


@pytest.mark.parametrize("name, lr", [("momentum", 0.01), ("adam", 1e18)])
def test_a_diverged_first_epoch_is_replayed_from_a_fresh_optimizer(name, lr):
    """The replay starts from the optimizer as it was before the epoch: in the first epoch
    that is no velocity or moments at all (it once kept the diverged ones, and so always
    blamed batch 1)."""
    rng = np.random.default_rng(0)
    X = (rng.standard_normal((4, 400)) * 10).astype(np.float32)  # as fit takes them
    Y = X.sum(axis=0, keepdims=True) * np.float32(1e3)
    make = lambda: Network([4, 16, 1], ["relu", "identity"], loss="mse", dtype="float32",
                           rng=np.random.default_rng(1))
    with np.errstate(all="ignore"):
        truth = _first_failure(make(), get_optimizer(name, lr=lr), X, Y,
                               np.random.default_rng(2).permutation(400), 16)
    assert truth is not None and "batch 1)" not in truth, truth
    with pytest.raises(TrainingDiverged) as e:
        fit(make(), X, Y, optimizer=get_optimizer(name, lr=lr), epochs=1, batch_size=16,
            rng=np.random.default_rng(2))
    assert truth in str(e.value), (truth, str(e.value))
