"""Gradient flow per layer and epoch: dead and saturated units, gradient and update sizes.

Measured once an epoch, on the epoch's first mini-batch, from what its step left behind:
the layers' ``Z[l]`` and ``A[l]``, the gradient the optimizer used (``dW[l]``, with the L2
term), and the change the step made to ``W[l]``. So training pays a few reductions per layer
per epoch and nothing per step, and no extra pass runs.

- ``dead_<l>`` (ReLU, PReLU, ELU layers): the share of units with ``z < 0`` on every sample
  of the batch. A dead ReLU unit passes no gradient (``f'(z) = 0`` there), so it stays dead.
- ``saturated_<l>`` (logistic, tanh, arctan layers): the share of units whose ``f'(z)`` is
  below ``SATURATED`` of its peak ``f'(0)`` on every sample: their gradient all but vanishes.
- ``grad_norm_<l>``: ``||dW[l]||``, the Frobenius norm of the gradient the step used.
- ``update_ratio_<l>``: ``||step of W[l]|| / ||W[l]||``. Around 1e-3 is the usual rule of
  thumb; far above, a step rewrites the layer; far below, the layer hardly learns.

``Monitor.warnings`` turns a measurement past ``DEAD``, ``SATURATED_SHARE``,
``RATIO_HIGH`` or ``RATIO_LOW`` into one line with the likely cause and a fix, once per
layer and kind for a whole run.
"""

from __future__ import annotations

import numpy as np

from .network import Network

#: Dead units are measured for these, and ReLU's are warned about (its f' is 0 below 0).
RELU_LIKE = ("relu", "prelu", "elu")
#: f'(z) / f'(0) below which a logistic, tanh or arctan unit counts as saturated.
SATURATED = 0.05
SATURATING = {
    # f'(z) / f'(0) from A[l] (or Z[l] for arctan): a (1 - a) / (1/4), 1 - a^2, 1 / (1 + z^2)
    "logistic": lambda Z, A: 4 * A * (1 - A),
    "tanh": lambda Z, A: 1 - A * A,
    "arctan": lambda Z, A: 1 / (1 + np.minimum(np.abs(Z), 1e150) ** 2),
}
#: Warn when at least this share of a ReLU layer is dead, or a layer is saturated.
DEAD = 0.5
SATURATED_SHARE = 0.5
#: Warn when one step changes W[l] by more than RATIO_HIGH of its norm, or less than RATIO_LOW.
RATIO_HIGH = 0.5
RATIO_LOW = 1e-7  # in the first epoch of a run only


def columns(network: Network) -> list[str]:
    """The history columns of ``network``'s diagnostics, in order."""
    out = []
    for l, layer in enumerate(network.layers, start=1):
        name = layer.activation.name
        if name in RELU_LIKE:
            out.append(f"dead_{l}")
        if _saturates(network, l):
            out.append(f"saturated_{l}")
        out += [f"grad_norm_{l}", f"update_ratio_{l}"]
    return out


def measure(network: Network, theta_before: np.ndarray) -> dict[str, float]:
    """The diagnostics of the step just taken, from ``theta_before`` it (see the module)."""
    return _Layout(network).measure(theta_before)


class _Layout:
    """Where each layer's ``W`` lies in ``theta``, so that every norm of every layer is three
    reductions over the whole network (``np.add.reduceat``) instead of three calls a layer:
    a small network's epoch is a few milliseconds, and this runs once in each."""

    def __init__(self, network: Network) -> None:
        self.network = network
        self.weights = np.flatnonzero(network.weight_mask)  # W1's entries, then W2's, ...
        sizes = [layer.W.size for layer in network.layers]
        self.starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        self.keys = [(l, layer.activation.name in RELU_LIKE, _saturates(network, l))
                     for l, layer in enumerate(network.layers, start=1)]

    def measure(self, theta_before: np.ndarray) -> dict[str, float]:
        net, idx, starts = self.network, self.weights, self.starts
        W = net.theta[idx]
        sq_W = np.add.reduceat(W * W, starts)
        dW = net.grad[idx]  # the gradient the step used (with the L2 term)
        sq_g = np.add.reduceat(dW * dW, starts)
        W -= theta_before[idx]  # now the step of each W
        sq_step = np.add.reduceat(W * W, starts)
        norm_W, norm_g, norm_step = np.sqrt(sq_W).tolist(), np.sqrt(sq_g).tolist(), np.sqrt(sq_step).tolist()
        out: dict[str, float] = {}
        for (l, relu_like, saturates), w, g, st in zip(self.keys, norm_W, norm_g, norm_step):
            layer = net.layers[l - 1]
            if relu_like:
                Z = layer._current.Z  # the buffer itself: no view to make
                out[f"dead_{l}"] = int(np.count_nonzero((Z < 0).all(axis=1))) / Z.shape[0]
            if saturates:
                buf = layer._current
                with np.errstate(over="ignore", invalid="ignore"):
                    low = SATURATING[layer.activation.name](buf.Z, buf.A) < SATURATED
                out[f"saturated_{l}"] = int(np.count_nonzero(low.all(axis=1))) / low.shape[0]
            out[f"grad_norm_{l}"] = g
            # W = 0 after the step means it did not move (it was 0 and its gradient too)
            out[f"update_ratio_{l}"] = st / w if w > 0 else 0.0
        return out


def _saturates(network: Network, l: int) -> bool:
    """Whether layer ``l`` can saturate: a logistic, tanh or arctan layer, except an output
    whose loss is fused with it (``dZ[L] = A[L] - Y`` does not vanish when ``A[L]`` saturates;
    a confident output is what a cross-entropy wants)."""
    return network.layer(l).activation.name in SATURATING and not (l == network.L and network.loss.fused)


class Monitor:
    """Measures every epoch and says once per layer and kind when something is wrong."""

    def __init__(self, network: Network) -> None:
        self.network = network
        self.columns = columns(network)
        self._layout = _Layout(network)
        self._said: set[tuple[str, int]] = set()
        self._measured = 0
        #: layers no gradient reaches (a binary step above them; warned before training)
        blocked = 0
        for l, layer in enumerate(network.layers, start=1):
            if not layer.activation.passes_gradient:
                blocked = l
        self._blocked = blocked

    def measure(self, theta_before: np.ndarray) -> dict[str, float]:
        """``measure(network, theta_before)`` for this monitor's network."""
        return self._layout.measure(theta_before)

    def warnings(self, values: dict[str, float], *, epoch: int, lr: float, batch: int) -> list[str]:
        """New one-line warnings for the measurement ``values`` of ``epoch``."""
        self._measured += 1
        out: list[str] = []
        high: list[tuple[int, float]] = []
        low: list[tuple[int, float]] = []
        for l, layer in enumerate(self.network.layers, start=1):
            name = layer.activation.name
            dead = values.get(f"dead_{l}")
            if name == "relu" and dead is not None and dead >= DEAD and self._first("dead", l):
                out.append(f"layer {l}: {dead:.0%} of ReLU units never activated in epoch {epoch}"
                           f" (z < 0 on all {batch} samples of its first batch), so no gradient"
                           f" reaches them; lower lr (now {lr:g}) or use prelu/elu")
            sat = values.get(f"saturated_{l}")
            if sat is not None and sat >= SATURATED_SHARE and self._first("saturated", l):
                out.append(f"layer {l}: {sat:.0%} of {name} units saturated in epoch {epoch}"
                           f" (f' below {SATURATED:.0%} of its peak on all {batch} samples of its"
                           f" first batch), so their gradient vanishes; lower lr (now {lr:g}),"
                           " standardize the inputs, or use relu/elu")
            ratio = values.get(f"update_ratio_{l}")
            if ratio is None or l <= self._blocked:
                continue
            if ratio > RATIO_HIGH and self._first("ratio", l):
                high.append((l, ratio))
            # Only at the start: a run that has converged takes tiny steps, rightly.
            elif ratio < RATIO_LOW and self._measured == 1 and self._first("ratio", l):
                low.append((l, ratio))
        # One line for all the layers a step size is wrong for: one cause, one fix.
        if high:
            out.append(f"{_layers(high)}: one step changed W by {_ratios(high, '.0%')} of its norm"
                       f" in epoch {epoch} (usually about 0.1%), so each step rewrites the layer;"
                       f" lower lr (now {lr:g}), or warm it up (training.warmup) if only the"
                       " first epochs do")
        if low:
            out.append(f"{_layers(low)}: one step changed W by {_ratios(low, '.1e')} of its norm"
                       f" in epoch {epoch} (usually about 1e-3), so it hardly learns; raise lr"
                       f" (now {lr:g}), or use relu/elu or fewer layers if the gradient vanishes"
                       " on its way down")
        return out

    def _first(self, kind: str, l: int) -> bool:
        if (kind, l) in self._said:
            return False
        self._said.add((kind, l))
        return True


def _layers(found: list[tuple[int, float]]) -> str:
    ls = [str(l) for l, _ in found]
    return f"layer {ls[0]}" if len(ls) == 1 else f"layers {', '.join(ls[:-1])} and {ls[-1]}"


def _ratios(found: list[tuple[int, float]], spec: str) -> str:
    return ", ".join(f"{r:{spec}} (W[{l}])" for l, r in found) if len(found) > 1 else f"{found[0][1]:{spec}}"
