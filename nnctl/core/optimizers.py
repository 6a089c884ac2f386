"""Optimizers that update a network's flat parameter vector ``theta`` from its ``grad``.

Each step is a few whole-vector numpy operations into preallocated buffers, whatever the
number of layers. ``l2`` adds ``(l2/2) * sum(W**2)`` to the loss, that is ``l2 * W`` to the
weights' gradient (biases and PReLU slopes are not decayed). Then the gradient may be
clipped: ``clip_value`` limits each entry to ``[-c, c]``, ``clip_norm`` scales the whole
vector down to norm ``c`` when it is longer (the global norm over every W, b and slope,
as PyTorch's ``clip_grad_norm_``). ``adamw`` decays the weights outside the gradient
(docs/notation.md, Regularization).
"""

from __future__ import annotations

import inspect
import math

import numpy as np

from ..errors import ConfigError
from ..registry import Registry, did_you_mean


class Optimizer:
    """Base class: ``step(network)`` applies one update to ``network.theta``."""

    name = ""

    def __init__(self, lr: float = 0.01, l2: float = 0.0, clip_norm: float | None = None,
                 clip_value: float | None = None) -> None:
        _check_range("lr", lr, 0.0, None, low_open=True)
        _check_range("l2", l2, 0.0, None)
        for name, c in (("clip_norm", clip_norm), ("clip_value", clip_value)):
            if c is not None:
                _check_range(name, c, 0.0, None, low_open=True)
        self.lr = float(lr)
        self.l2 = float(l2)
        self.clip_norm = None if clip_norm is None else float(clip_norm)
        self.clip_value = None if clip_value is None else float(clip_value)
        self._theta: np.ndarray | None = None  # the vector the buffers were made for
        self._tmp: np.ndarray | None = None
        self._decay: np.ndarray | None = None  # l2 where theta holds a weight, else 0
        self._mask: np.ndarray | None = None   # 1 where theta holds a weight, else 0

    def _buffers(self, theta: np.ndarray) -> None:
        self._tmp = np.zeros_like(theta)

    def step(self, network) -> None:
        """Update ``network.theta`` in place from ``network.grad`` (which may be changed)."""
        theta, grad = network.theta, network.grad
        if theta is not self._theta:  # first step, or another network: buffers to match
            self.prepare(network)
        if self.l2:
            np.multiply(theta, self._decay, out=self._tmp)
            grad += self._tmp
        if self.clip_value is not None:
            np.clip(grad, -self.clip_value, self.clip_value, out=grad)
        if self.clip_norm is not None:
            norm = math.sqrt(float(np.dot(grad, grad)))
            if norm > self.clip_norm:  # scaled down to clip_norm, its direction kept
                grad *= self.clip_norm / norm
        self._update(theta, grad, self._tmp)

    def prepare(self, network) -> None:
        """The buffers (and moments, velocities) for ``network``'s parameters, as the first
        ``step`` makes them."""
        self._theta = network.theta
        self._buffers(network.theta)
        self._mask = network.weight_mask
        self._decay = network.weight_mask * self.l2 if self.l2 else None

    def _update(self, theta, grad, tmp) -> None:
        raise NotImplementedError

    def state(self) -> dict[str, np.ndarray]:
        """Arrays to save for resuming (moments, velocities): copies the caller owns."""
        return {k: np.array(v) for k, v in self._state().items()}

    def state_into(self, saved: dict[str, np.ndarray] | None) -> dict[str, np.ndarray]:
        """``state()``, copied into the arrays of an earlier ``saved`` state when they fit
        (training snapshots the state each epoch: no new arrays a time)."""
        live = self._state()
        if saved is None or saved.keys() != live.keys() or any(
                np.shape(saved[k]) != np.shape(v) or saved[k].dtype != np.asarray(v).dtype
                for k, v in live.items()):
            return self.state()
        for k, v in live.items():
            np.copyto(saved[k], v)
        return saved

    def _state(self) -> dict[str, np.ndarray]:
        """The state's arrays themselves (not copies)."""
        return {}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore what ``state()`` returned."""


class SGD(Optimizer):
    """``theta -= lr * grad``."""

    name = "sgd"

    def _update(self, theta, grad, tmp):
        np.multiply(grad, self.lr, out=tmp)
        theta -= tmp


class Momentum(Optimizer):
    """``v = mu v - lr grad``; ``theta += v`` (or ``mu v - lr grad`` with Nesterov)."""

    name = "momentum"

    def __init__(self, lr: float = 0.01, l2: float = 0.0, momentum: float = 0.9,
                 nesterov: bool = False, clip_norm: float | None = None,
                 clip_value: float | None = None) -> None:
        super().__init__(lr, l2, clip_norm, clip_value)
        _check_range("momentum", momentum, 0.0, 1.0, high_open=True)
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.v: np.ndarray | None = None

    def _buffers(self, theta):
        super()._buffers(theta)
        if self.v is None or self.v.shape != theta.shape:
            self.v = np.zeros_like(theta)
        self.v = self.v.astype(theta.dtype, copy=False)
        self._tmp2 = np.empty_like(theta) if self.nesterov else None

    def _update(self, theta, grad, tmp):
        np.multiply(grad, -self.lr, out=tmp)  # tmp = -lr grad
        self.v *= self.momentum
        self.v += tmp
        if self.nesterov:
            np.multiply(self.v, self.momentum, out=self._tmp2)  # no temporary a step
            tmp += self._tmp2
            theta += tmp
        else:
            theta += self.v

    def _state(self):
        return {} if self.v is None else {"v": self.v}

    def load_state(self, state):
        if "v" in state:
            self.v = np.array(state["v"])
        else:  # the state before any step (a replayed first epoch): no velocity yet
            self.v, self._theta = None, None


class Adam(Optimizer):
    """Adam (Kingma and Ba), bias correction folded into the step size.

    The moments are kept as ``M = m / (1 - beta1)`` and ``V = v / (1 - beta2)``, so that
    ``M = beta1 M + g`` and ``V = beta2 V + g^2`` need no scaling pass. The update is the
    form of the paper's section 2 (epsilon-hat, as scikit-learn and Keras use), rearranged:
    ``lr_t m / (sqrt(v) + eps) = c M / (sqrt(V) + eps / sqrt(1 - beta2))`` with
    ``lr_t = lr sqrt(1 - beta2^t) / (1 - beta1^t)``. That is PyTorch's (Algorithm 1's)
    update with ``eps / sqrt(1 - beta2^t)`` for its eps (docs/notation.md, Optimizers).
    ``state()`` returns ``M``, ``V`` and the step count ``t``.
    """

    name = "adam"

    def __init__(self, lr: float = 0.001, l2: float = 0.0, beta1: float = 0.9,
                 beta2: float = 0.999, eps: float = 1e-8, clip_norm: float | None = None,
                 clip_value: float | None = None) -> None:
        super().__init__(lr, l2, clip_norm, clip_value)
        _check_range("beta1", beta1, 0.0, 1.0, high_open=True)
        _check_range("beta2", beta2, 0.0, 1.0, high_open=True)
        _check_range("eps", eps, 0.0, None, low_open=True)
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)
        self.t = 0
        self.M: np.ndarray | None = None
        self.V: np.ndarray | None = None

    def _buffers(self, theta):
        super()._buffers(theta)
        if self.M is None or self.M.shape != theta.shape:
            self.M, self.V = np.zeros_like(theta), np.zeros_like(theta)
        self.M = self.M.astype(theta.dtype, copy=False)
        self.V = self.V.astype(theta.dtype, copy=False)

    #: A compiled kernel making this update in one pass over the vectors, bit for bit
    #: the NumPy passes below (``nnctl.kernels.adam``, with the fast extra), or None.
    fused = None

    def _update(self, theta, grad, tmp):
        self.t += 1
        b1, b2, M, V = self.beta1, self.beta2, self.M, self.V
        root = math.sqrt(1 - b2)
        lr_t = self.lr * math.sqrt(1 - b2 ** self.t) / (1 - b1 ** self.t)
        # Python floats: NumPy rounds them to theta's dtype, as the kernel's dt() does (a
        # NumPy float64 lr from a custom schedule would make the passes compute in float64)
        c, eps = float(lr_t * (1 - b1) / root), float(self.eps / root)
        if self.fused is not None:  # scalars in theta's dtype, as the passes round them
            dt = theta.dtype.type
            self.fused(theta, grad, M, V, dt(b1), dt(b2), dt(c), dt(eps))
            return
        M *= b1
        M += grad
        np.multiply(grad, grad, out=tmp)
        V *= b2
        V += tmp
        np.sqrt(V, out=tmp)
        tmp += eps
        np.divide(M, tmp, out=tmp)
        tmp *= c
        theta -= tmp

    def _state(self):
        if self.M is None:
            return {}
        return {"M": self.M, "V": self.V, "t": np.array(self.t)}

    def load_state(self, state):
        if "M" in state:
            self.M, self.V, self.t = np.array(state["M"]), np.array(state["V"]), int(state["t"])
        else:  # the state before any step (a replayed first epoch): no moments yet
            self.M, self.V, self.t, self._theta = None, None, 0, None


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter): ``W -= lr * weight_decay * W``.

    The decay is applied to the weights outside the gradient, so Adam's scaling by
    ``1 / sqrt(v)`` does not weaken it where gradients are large, as it does an L2 penalty
    in the loss. Biases and PReLU slopes are not decayed. The rate multiplies the decay
    (as PyTorch's and Keras's AdamW), so a schedule lowers both together.
    """

    name = "adamw"

    def __init__(self, lr: float = 0.001, l2: float = 0.0, beta1: float = 0.9,
                 beta2: float = 0.999, eps: float = 1e-8, weight_decay: float = 0.01,
                 clip_norm: float | None = None, clip_value: float | None = None) -> None:
        super().__init__(lr, l2, beta1, beta2, eps, clip_norm, clip_value)
        _check_range("weight_decay", weight_decay, 0.0, None)
        if lr * weight_decay >= 1:  # each step would flip the weights' sign, or zero them
            raise ConfigError(f"weight_decay {weight_decay:g} with lr {lr:g} decays each weight by"
                              f" lr * weight_decay = {lr * weight_decay:g} of itself a step, which"
                              " must be below 1 (usually about 1e-5); lower weight_decay",
                              key="weight_decay")
        self.weight_decay = float(weight_decay)

    def _update(self, theta, grad, tmp):
        if self.weight_decay:
            # theta -= lr * weight_decay * mask * theta, before Adam's step (which does not
            # depend on theta, so the order does not matter).
            np.multiply(theta, self._mask, out=tmp)
            tmp *= self.lr * self.weight_decay
            theta -= tmp
        super()._update(theta, grad, tmp)


#: Optimizer classes by name; ``nesterov`` is momentum with ``nesterov=True``.
OPTIMIZERS: Registry[type[Optimizer]] = Registry(
    "optimizer", {"sgd": SGD, "momentum": Momentum, "nesterov": Momentum, "adam": Adam,
                  "adamw": AdamW})


def get_optimizer(name: str, **params) -> Optimizer:
    """Build an optimizer by name (``sgd``, ``momentum``, ``nesterov``, ``adam``, ``adamw``)."""
    key = OPTIMIZERS.name(name)
    if key == "nesterov":
        params.setdefault("nesterov", True)
    check_params(f"optimizer '{key}'", OPTIMIZERS[key], params)
    return OPTIMIZERS[key](**params)


def parameter_names(cls) -> list[str]:
    """The keyword parameters ``cls`` accepts."""
    return [p for p in inspect.signature(cls).parameters if p != "self"]


def check_params(what: str, cls, params: dict) -> None:
    """Raise ``ConfigError`` for a parameter that ``cls`` does not take."""
    accepted = parameter_names(cls)
    for name in params:
        if name not in accepted:
            raise ConfigError(f"{what} takes no parameter '{name}'; expected one of"
                              f" {', '.join(accepted)}{did_you_mean(name, accepted)}", key=name)


def _check_range(name, value, low, high, *, low_open=False, high_open=False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value!r}", key=name)
    if (value < low or (low_open and value == low)) or (
            high is not None and (value > high or (high_open and value == high))):
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        raise ConfigError(f"{name} must be in {lo}{low}, {high if high is not None else 'inf'}{hi},"
                          f" got {value!r}", key=name)
