"""The training loop: mini-batch epochs, validation, early stopping. It never prints;
callers follow progress through ``on_epoch`` and ``on_batch``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from numpy.typing import NDArray

from ..errors import (
    ConfigError,
    DataError,
    Interrupt,
    TrainingDiverged,
    TrainingInterrupted,
)
from . import diagnostics as diag
from . import metrics
from .network import Network
from .optimizers import Optimizer
from .schedules import Constant

Array = NDArray[np.floating]


@dataclass
class EpochRecord:
    """What one epoch reached. Train figures are running means over the epoch's batches."""

    epoch: int
    train_loss: float
    val_loss: float | None
    #: ``train_accuracy``/``val_accuracy`` for classification; ``train_r2``, ``train_mse``,
    #: ``val_r2``, ``val_mse`` for regression.
    metrics: dict[str, float]
    lr: float
    seconds: float
    #: gradient-flow measurements per layer (``core.diagnostics``), when training measures them
    diagnostics: dict[str, float] = field(default_factory=dict)
    #: what the measurements of this epoch warn about, a line each (each said once per run)
    warnings: list[str] = field(default_factory=list)

    def row(self) -> dict[str, float | None]:
        """The flat row of a history CSV."""
        return {"epoch": self.epoch, "train_loss": self.train_loss, "val_loss": self.val_loss,
                **self.metrics, "lr": self.lr, "seconds": self.seconds, **self.diagnostics}


@dataclass
class History:
    """Per-epoch records, and which epoch's weights the network holds at the end."""

    records: list[EpochRecord] = field(default_factory=list)
    #: ``val_loss`` when validation data was given, otherwise ``train_loss``.
    monitor: str = "train_loss"
    best_epoch: int | None = None
    stopped_early: bool = False

    def column(self, name: str) -> list[float | None]:
        """One field (or metric) across epochs."""
        return [getattr(r, name) if hasattr(r, name) else r.metrics.get(name) for r in self.records]

    def rows(self) -> list[dict[str, float | None]]:
        """Flat per-epoch rows (for a CSV)."""
        return [r.row() for r in self.records]


def is_classifier(network: Network) -> bool:
    """Whether the network's loss is a cross-entropy (its output is a class probability)."""
    return network.loss.fused


def evaluate(network: Network, X: Array, Y: Array) -> tuple[float, dict[str, float]]:
    """Loss and metrics of ``network`` on ``X: (n[0], m)``, ``Y: (n[L], m)``.

    The outputs come from ``Network.outputs`` (bounded passes, the same numbers as
    ``predict``); the loss and metrics are then one vectorized pass over all ``m``.
    """
    X = np.asarray(X, dtype=network.dtype)
    Y = np.asarray(Y, dtype=network.dtype)
    if X.shape[1] == 0:
        raise DataError("cannot evaluate on 0 samples")
    Z, A = network.outputs(X, logits=network.loss.fused)
    return network.loss.value(Z, A, Y), _metrics(network, A, Y, "")


def history_columns(network: Network, validation: bool, diagnostics: bool = False) -> list[str]:
    """The keys of ``History.rows()`` for a run of ``network``, known before any epoch."""
    names = ["accuracy"] if is_classifier(network) else ["r2", "mse"]
    return ["epoch", "train_loss", "val_loss", *(f"train_{n}" for n in names),
            *(f"val_{n}" for n in names if validation), "lr", "seconds",
            *(diag.columns(network) if diagnostics else ())]


def _metrics(network: Network, A: Array, Y: Array, prefix: str) -> dict[str, float]:
    """Accuracy of a classifier's outputs ``A`` against ``Y``, or R^2 and MSE of a regressor's."""
    if is_classifier(network):
        return {f"{prefix}accuracy": metrics.accuracy(A, Y)}
    return {f"{prefix}r2": metrics.r2(A, Y), f"{prefix}mse": metrics.mse(A, Y)}


# Overflow is detected by the loop and reported as TrainingDiverged, not as numpy warnings.
@np.errstate(over="ignore", invalid="ignore", divide="ignore")
def fit(network: Network, X: Array, Y: Array, *, optimizer: Optimizer, epochs: int,
        batch_size: int, rng: np.random.Generator, X_val: Array | None = None,
        Y_val: Array | None = None, schedule: Callable[[float, int], float] | None = None,
        patience: int | None = None, min_delta: float = 0.0,
        on_epoch: Callable[[EpochRecord], None] | None = None,
        on_batch: Callable[[int, int], None] | None = None, start_epoch: int = 0,
        sample_weight: Array | None = None, diagnostics: bool = False) -> History:
    """Train ``network`` in place on ``X: (n[0], m)``, ``Y: (n[L], m)``.

    ``sample_weight: (m,)`` weights each sample's loss (class weights): the training loss
    is ``(1/m) sum_i w_i l_i``; validation stays unweighted.

    Each epoch visits the samples in a fresh order drawn from ``rng``; the last batch may
    be smaller (its ``m`` is its own size). With ``patience``, training stops once the
    monitored loss (validation if given, else training) has not improved by more than
    ``min_delta`` for that many epochs, and the best weights are restored.

    With ``diagnostics``, each epoch's record holds the gradient-flow measurements of its
    first batch (``core.diagnostics``) and the warnings they raise; training itself is the
    same, bit for bit.

    Epochs are numbered from ``start_epoch + 1`` (a resumed run goes on counting, and its
    schedule too). Raises ``TrainingDiverged`` on a non-finite loss or parameter and
    ``TrainingInterrupted`` on Ctrl-C; both leave the best weights so far in ``network``.
    """
    X, Y = _check_xy(network, X, Y, "training")
    if (X_val is None) != (Y_val is None):
        raise ConfigError("give both X_val and Y_val, or neither")
    if X_val is not None:
        X_val, Y_val = _check_xy(network, X_val, Y_val, "validation")
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    if patience is not None and (isinstance(patience, bool) or not isinstance(patience, int)
                                 or patience < 1):
        raise ConfigError(f"patience must be a positive integer, got {patience!r}")
    schedule = schedule or Constant()
    observe = getattr(schedule, "observe", None)

    history = History(monitor="val_loss" if X_val is not None else "train_loss")
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight, dtype=network.dtype)
        if sample_weight.shape != (X.shape[1],) or not (np.isfinite(sample_weight).all()
                                                        and (sample_weight >= 0).all()):
            raise DataError(f"sample_weight must be {X.shape[1]} finite weights >= 0, got shape"
                            f" {sample_weight.shape}")
    steps = _Steps(network, optimizer, X, Y, batch_size, sample_weight)
    try:
        best_theta = network.theta.copy()
        epoch_theta = np.empty_like(network.theta)
        epoch_state = None  # the optimizer's state at the epoch's start, for a replay
        monitor = diag.Monitor(network) if diagnostics else None
        measured: dict[str, float] = {}

        def after_first_step() -> None:  # the layers still hold the first batch's pass
            measured.clear()
            measured.update(monitor.measure(epoch_theta))
        best_loss = math.inf
        lr0 = optimizer.lr
        since_best = 0
        epoch = start_epoch
        try:
            for epoch in range(start_epoch + 1, start_epoch + epochs + 1):
                start = time.perf_counter()
                optimizer.lr = float(schedule(lr0, epoch - 1))  # a Python float: no float64 pass
                order = rng.permutation(steps.m)
                np.copyto(epoch_theta, network.theta)
                epoch_state = optimizer.state_into(epoch_state)
                steps.run(order, on_batch, after_first_step if monitor is not None else None, rng)
                train_loss, record_metrics = steps.figures(order)
                if not math.isfinite(train_loss) or not np.isfinite(network.theta).all():
                    where = steps.replay(order, epoch_theta, epoch_state)
                    _diverged(network, history, best_theta, epoch, where)
                val_loss = None
                if X_val is not None:
                    val_loss, val_metrics = evaluate(network, X_val, Y_val)
                    if not math.isfinite(val_loss):
                        _diverged(network, history, best_theta, epoch, ("the validation loss", None))
                    record_metrics.update({f"val_{k}": v for k, v in val_metrics.items()})
                record = EpochRecord(epoch, train_loss, val_loss, record_metrics, optimizer.lr,
                                     time.perf_counter() - start)
                if monitor is not None:
                    record.diagnostics = dict(measured)
                    record.warnings = monitor.warnings(measured, epoch=epoch, lr=optimizer.lr,
                                                       batch=steps.batch_size)
                history.records.append(record)

                monitored = val_loss if val_loss is not None else record.train_loss
                if observe is not None:  # a schedule that watches the loss (reduce_on_plateau)
                    observe(monitored)
                if monitored < best_loss - min_delta:
                    best_loss, since_best = monitored, 0
                    history.best_epoch = epoch
                    np.copyto(best_theta, network.theta)
                else:
                    since_best += 1
                if on_epoch is not None:
                    on_epoch(record)
                if patience is not None and since_best >= patience:
                    history.stopped_early = True
                    break
        except (KeyboardInterrupt, SystemError) as caught:
            # A signal whose handler ran inside a compiled function (a kernel of the fast
            # extra) comes out as a SystemError caused by the interrupt.
            e = caught if isinstance(caught, KeyboardInterrupt) else caught.__cause__
            if not isinstance(e, KeyboardInterrupt):
                raise
            if history.best_epoch is not None:
                np.copyto(network.theta, best_theta)
            by = f" by {e.name}" if isinstance(e, Interrupt) else ""
            done = bool(history.records) and history.records[-1].epoch == epoch
            when = f"after epoch {epoch}" if done else f"during epoch {epoch}"
            raise TrainingInterrupted(f"interrupted{by} {when}", epoch=epoch,
                                      history=history, signum=getattr(e, "signum", 2)) from None
        optimizer.lr = lr0
        if patience is not None and history.best_epoch is not None:
            np.copyto(network.theta, best_theta)
        return history
    finally:
        # If the last pass was a training batch, its input is a view of this call's copy of
        # the data (the whole epoch, for small data): the network must not keep it alive.
        last_input = network.layers[0]._A_prev_ones
        if last_input is not None and any(np.may_share_memory(last_input, data)
                                          for data in steps.inputs()):
            network.forget_pass()


#: Training data up to this size (X and Y) is gathered whole in each epoch's order, then
#: sliced into batches: on a 2-core Xeon, 10,000 rows of 3 features took 0.5 ms an epoch in
#: per-batch gathers and 0.03 ms whole; at 60,000 rows of 784 (188 MB) the batches were
#: faster (24 ms against 35 ms) and needed no second copy.
GATHER_WHOLE_BYTES = 32 * 2**20


class _Steps:
    """The mini-batch steps of an epoch, with every buffer they need allocated once.

    Samples are rows here, so a shuffled batch is a gather of contiguous rows into a reused
    buffer; its transpose is the ``(n, m)`` view the network wants. Each step only stores
    the output layer's values; the epoch's loss and metrics are computed from them at the
    end in one vectorized pass, so no step pays for a loss it does not need.
    """

    def __init__(self, network: Network, optimizer: Optimizer, X: Array, Y: Array,
                 batch_size: int, w: Array | None = None) -> None:
        self.network, self.optimizer = network, optimizer
        self.m = X.shape[1]
        self.batch_size = bs = min(batch_size, self.m)
        self.n_batches = math.ceil(self.m / bs)
        dtype, n_out = network.dtype, Y.shape[0]
        # Each row ends with a 1 for the first layer's bias (see Dense).
        self.X_rows = np.empty((self.m, X.shape[0] + 1), dtype=dtype)
        self.X_rows[:, :-1] = X.T
        self.X_rows[:, -1] = 1
        self.Y_rows = np.ascontiguousarray(Y.T)
        self.X_buf = np.empty((bs, X.shape[0] + 1), dtype=dtype)
        self.Y_buf = np.empty((bs, n_out), dtype=dtype)
        self.w = w
        self.w_buf = None if w is None else np.empty(bs, dtype=dtype)
        # Z[L] for a fused loss (its value needs the logits), else A[L]; a column per
        # sample in visiting order.
        self.keep_Z = network.loss.fused
        self.out = np.empty((n_out, self.m), dtype=dtype)
        self.dropout = any(layer.p > 0 for layer in network.layers)
        self.rng_state: tuple | None = None
        # The network's compiled steps (``Network.fused_steps``), made for these steps when
        # it is first seen: a loop over the full batches, or None (NumPy's steps).
        self._factory = None
        self.loop = None
        # Small data is gathered whole in each epoch's order, and each batch is then a
        # slice; large data a batch at a time, as a second copy would cost its size again.
        self.whole = self.X_rows.nbytes + self.Y_rows.nbytes <= GATHER_WHOLE_BYTES
        if self.whole:
            self.X_perm, self.Y_perm = np.empty_like(self.X_rows), np.empty_like(self.Y_rows)
            self.w_perm = None if w is None else np.empty_like(self.w)
        else:
            self.Y_cols = np.ascontiguousarray(Y)  # for the epoch's figures

    def inputs(self) -> list[Array]:
        """The arrays a batch's ``X`` is a view of."""
        return [self.X_perm, self.X_buf] if self.whole else [self.X_buf]

    def begin(self, order: NDArray) -> None:
        """An epoch visiting the samples in ``order``: for small data, gather them now."""
        if self.whole:
            # mode="clip": with out=, the default mode buffers the whole gather (3x slower).
            np.take(self.X_rows, order, axis=0, out=self.X_perm, mode="clip")
            np.take(self.Y_rows, order, axis=0, out=self.Y_perm, mode="clip")
            if self.w is not None:
                np.take(self.w, order, out=self.w_perm, mode="clip")

    def batch(self, order: NDArray, b: int) -> tuple[Array, Array, Array | None]:
        """Batch ``b`` of the epoch ``begin`` started: ``X: (n[0] + 1, m_b)``, ``Y``, weights."""
        bs = self.batch_size
        if self.whole:
            rows = slice(b * bs, (b + 1) * bs)
            return (self.X_perm[rows].T, self.Y_perm[rows].T,
                    None if self.w is None else self.w_perm[rows])
        idx = order[b * bs:(b + 1) * bs]
        X_buf, Y_buf = (self.X_buf, self.Y_buf) if idx.size == bs else (
            self.X_buf[:idx.size], self.Y_buf[:idx.size])
        w = None
        if self.w is not None:
            w = np.take(self.w, idx, out=self.w_buf[:idx.size], mode="clip")
        return (np.take(self.X_rows, idx, axis=0, out=X_buf, mode="clip").T,
                np.take(self.Y_rows, idx, axis=0, out=Y_buf, mode="clip").T, w)

    def run(self, order: NDArray, on_batch, after_first=None,
            rng: np.random.Generator | None = None) -> None:
        """One epoch's steps; ``after_first()`` is called once the first step is taken.
        The dropout masks, if any layer has dropout, are drawn from ``rng``."""
        network, optimizer, out, n, bs = self.network, self.optimizer, self.out, self.n_batches, self.batch_size
        last = network.layers[-1]
        drop = rng if self.dropout else None
        if drop is not None:  # so that replay draws the same masks
            self.rng_state = (type(drop.bit_generator), drop.bit_generator.state)
        self.begin(order)
        if network.fused_steps is not self._factory:  # given, or taken away, since the last epoch
            self._factory = network.fused_steps
            self.loop = None if self._factory is None else self._factory(self, optimizer)

        def steps(first: int, stop: int) -> None:
            for b in range(first, stop):
                Xb, Yb, wb = self.batch(order, b)
                network.forward_cached(Xb, drop)
                # The layer's own buffers, not its read-only views (a new view each step).
                buf = last._current
                out[:, b * bs:b * bs + Xb.shape[1]] = buf.Z if self.keep_Z else buf.A
                network.backward(Yb, wb)
                optimizer.step(network)
                if b == 0 and after_first is not None:
                    after_first()
                if on_batch is not None:
                    on_batch(b + 1, n)

        if self.loop is None:
            steps(0, n)
            return
        # The compiled loop runs the full batches, bit for bit these steps; the first is
        # taken here when after_first measures its pass, and a shorter last one too.
        first = 0 if after_first is None else 1
        steps(0, first)
        steps(self.loop.run(order, on_batch, first), n)

    def figures(self, order: NDArray) -> tuple[float, dict[str, float]]:
        """The epoch's mean training loss and metrics, from the stored outputs."""
        network, out = self.network, self.out
        # in visiting order, like the stored outputs
        # (C order either way: the metrics' sums then add in the same order, bit for bit)
        Y = np.ascontiguousarray(self.Y_perm.T) if self.whole else np.take(self.Y_cols, order, axis=1)
        if self.keep_Z:
            Z, A = out, network.layers[-1].activation.f(out)
        else:
            Z, A = None, out
        w = None if self.w is None else self.w_perm if self.whole else self.w[order]
        return network.loss.value(Z, A, Y, w), _metrics(network, A, Y, "train_")

    def replay(self, order: NDArray, theta: Array, state: dict) -> tuple[str, tuple[int, str] | None]:
        """Rerun the epoch from its start, checking every step, to find where it broke."""
        network, optimizer = self.network, self.optimizer
        np.copyto(network.theta, theta)
        optimizer.load_state(state)
        drop = None
        if self.dropout:  # a generator at the epoch's start: the same masks again
            kind, state_now = self.rng_state
            drop = np.random.Generator(kind())
            drop.bit_generator.state = state_now
        self.begin(order)
        for b in range(self.n_batches):
            Xb, Yb, wb = self.batch(order, b)
            network.forward_cached(Xb, drop)
            if not math.isfinite(network.cost(Yb, wb)):
                return f"the training loss (batch {b + 1})", network.first_nonfinite()
            network.backward(Yb, wb)
            optimizer.step(network)
            if not np.isfinite(network.theta).all():
                return f"the parameters (after batch {b + 1})", network.first_nonfinite()
        return "the training loss", None


def _diverged(network: Network, history: History, best_theta: Array, epoch: int,
              where: tuple[str, tuple[int, str] | None]):
    what, place = where
    # Every tensor may still be finite when only the loss overflowed: then it is the output's.
    layer, name = place or (network.L, "loss")
    # best_theta holds the best epoch's weights, or the initial ones if none finished.
    np.copyto(network.theta, best_theta)
    kept = (f"the weights of epoch {history.best_epoch} are kept" if history.best_epoch
            else "no epoch finished")
    raise TrainingDiverged(
        f"{what} became non-finite at epoch {epoch}; first in layer {layer} ({name}); {kept}."
        " Lower the learning rate, clip the gradients (training.clip_norm), warm the rate up"
        " (training.warmup) or standardize the data",
        epoch=epoch, layer=layer, history=history)


def _check_xy(network: Network, X, Y, what: str) -> tuple[Array, Array]:
    X = np.asarray(X, dtype=network.dtype)
    Y = np.asarray(Y, dtype=network.dtype)
    if X.ndim != 2 or X.shape[0] != network.sizes[0]:
        raise DataError(f"{what} X must have shape (n[0]={network.sizes[0]}, m), got {X.shape}")
    if Y.ndim != 2 or Y.shape[0] != network.sizes[-1]:
        raise DataError(f"{what} Y must have shape (n[L]={network.sizes[-1]}, m), got {Y.shape}")
    if X.shape[1] != Y.shape[1]:
        raise DataError(f"{what} X has {X.shape[1]} samples but Y has {Y.shape[1]}")
    if X.shape[1] == 0:
        raise DataError(f"{what} data has no samples")
    return X, Y
