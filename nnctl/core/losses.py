"""Losses over a batch of ``m`` samples, each with the gradient that starts backpropagation.

A loss is the mean over samples (columns) of a per-sample loss ``l(a, y)``. ``gradient``
returns the per-sample ``dA[L] = dl/dA[L]``, or for a fused loss ``dZ[L] = dl/dZ[L]``, shape
``(n[L], m)``. The network passes ``scale = 1/m``: the ``1/m`` of the mean is applied once,
here, and reaches every layer's ``dZ``, ``dW`` and ``db`` (docs/notation.md).

Sample weights ``w: (m,)`` (class weights, for instance) make the loss the weighted mean
``J = (1/m) sum_i w_i l_i``, so ``dZ[L]`` (or ``dA[L]``) of sample ``i`` is multiplied by
``w_i``: ``Network.backward`` applies it, one more pass over ``(n[L], m)``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ..errors import ConfigError
from ..registry import Registry
from .activations import Activation

Array = NDArray[np.floating]


class Loss:
    """Base class: ``value`` and ``gradient`` of a loss."""

    name = ""
    #: The output activation this loss requires (None: any).
    requires: str | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def value(self, Z: Array, A: Array, Y: Array, w: Array | None = None) -> float:
        """Mean loss over the ``m`` columns (``Z, A, Y: (n[L], m)``), weighted by ``w: (m,)``
        when given: ``(1/m) sum_i w_i l_i``."""
        if w is None:
            return self._mean(Z, A, Y)
        return float(np.dot(self.per_sample(Z, A, Y), w)) / Y.shape[1]  # Z is None unless fused

    def _mean(self, Z: Array, A: Array, Y: Array) -> float:
        return float(self.per_sample(Z, A, Y).mean())

    def per_sample(self, Z: Array, A: Array, Y: Array) -> Array:
        """``l`` of each sample: ``(m,)``."""
        raise NotImplementedError

    #: ``gradient`` returns ``dZ[L]`` (fused with the output activation), not ``dA[L]``.
    fused = False

    def gradient(self, A: Array, Y: Array, out: Array | None = None, scale: float = 1.0) -> Array:
        """Per-sample gradient ``dA[L]`` (or ``dZ[L]`` when ``fused``), times ``scale``.

        ``(n[L], m)``, written into ``out`` when given.
        """
        out = np.subtract(A, Y, out=out)
        out *= self._factor(A) * scale
        return out

    def _factor(self, A: Array) -> float:
        return 1.0


class MeanSquaredError(Loss):
    """``l = (1/n[L]) sum_j (a_j - y_j)^2``, so the loss is the mean over every element."""

    name = "mse"
    requires = None

    def _mean(self, Z, A, Y):
        D = A - Y
        return float(np.vdot(D, D)) / D.size

    def per_sample(self, Z, A, Y):
        D = A - Y
        return np.einsum("ij,ij->j", D, D) / D.shape[0]

    def _factor(self, A):
        return 2 / A.shape[0]  # d/da of (1/n[L]) sum (a - y)^2


class MeanAbsoluteError(Loss):
    """``l = (1/n[L]) sum_j |a_j - y_j|``: every error counts by its size, not its square, so
    a few outliers do not dominate; the fit goes to the conditional median."""

    name = "mae"
    requires = None

    def per_sample(self, Z, A, Y):
        return np.abs(A - Y).mean(axis=0)

    def gradient(self, A, Y, out=None, scale=1.0):
        # d/da |a - y| = sign(a - y) (0 at a = y, the subgradient PyTorch and Keras use).
        out = np.subtract(A, Y, out=out)
        np.sign(out, out=out)
        out *= scale / A.shape[0]
        return out


class Huber(Loss):
    """``l = (1/n[L]) sum_j h(a_j - y_j)`` with ``h(d) = d^2 / 2`` for ``|d| <= delta`` and
    ``delta (|d| - delta / 2)`` beyond: squared near the target, absolute far from it (as
    PyTorch's ``HuberLoss`` and Keras's ``Huber``)."""

    name = "huber"
    requires = None

    def __init__(self, delta: float = 1.0) -> None:
        if isinstance(delta, bool) or not isinstance(delta, (int, float)) or not (
                np.isfinite(delta) and delta > 0):
            raise ConfigError(f"huber_delta must be a finite number above 0, got {delta!r}",
                              key="huber_delta")
        self.delta = float(delta)

    def __repr__(self) -> str:
        return f"Huber(delta={self.delta})"

    def per_sample(self, Z, A, Y):
        d = np.abs(A - Y)
        # h = c^2/2 + delta (d - c) with c = min(d, delta): the two pieces at once, and no
        # square of a huge delta
        c = np.minimum(d, self.delta)
        return (0.5 * c * c + self.delta * (d - c)).mean(axis=0)

    def gradient(self, A, Y, out=None, scale=1.0):
        # h'(d) = d inside [-delta, delta], delta sign(d) outside: the error, clipped.
        out = np.subtract(A, Y, out=out)
        np.clip(out, -self.delta, self.delta, out=out)
        out *= scale / A.shape[0]
        return out


class BinaryCrossEntropy(Loss):
    """``l = -sum_j [y log a + (1-y) log(1-a)]`` with a logistic output ``a = s(z)``."""

    name = "binary_crossentropy"
    requires = "logistic"

    def _mean(self, Z, A, Y):
        # Written in the logit z: -[y log s(z) + (1-y) log(1-s(z))] = softplus(z) - y z,
        # which never takes log(0), even when s(z) rounds to exactly 0 or 1.
        return float(np.sum(np.logaddexp(0, Z) - Y * Z)) / Z.shape[1]

    def per_sample(self, Z, A, Y):
        return (np.logaddexp(0, Z) - Y * Z).sum(axis=0)

    # dl/da * s'(z) = (a - y)/(a(1-a)) * a(1-a) = a - y: fused, and stable at a in {0, 1}.
    fused = True


class CategoricalCrossEntropy(Loss):
    """``l = -sum_j y_j log a_j`` with a softmax output over the ``n[L]`` classes."""

    name = "categorical_crossentropy"
    requires = "softmax"

    def _mean(self, Z, A, Y):
        return -float(np.vdot(Y, self._log_softmax(Z))) / Z.shape[1]

    def per_sample(self, Z, A, Y):
        return -np.einsum("ij,ij->j", Y, self._log_softmax(Z))

    @staticmethod
    def _log_softmax(Z):
        # log softmax(z) = z - logsumexp(z), shifted by the column max: no log(0).
        Zs = Z - Z.max(axis=0, keepdims=True)
        return Zs - np.log(np.exp(Zs).sum(axis=0, keepdims=True))

    # The softmax Jacobian times -y/a collapses to a - y when each column of Y sums to 1.
    fused = True


_ALIASES = {
    "mean_squared_error": "mse",
    "squared_error": "mse",
    "bce": "binary_crossentropy",
    "binary_cross_entropy": "binary_crossentropy",
    "log_loss": "binary_crossentropy",
    "cce": "categorical_crossentropy",
    "categorical_cross_entropy": "categorical_crossentropy",
    "crossentropy": "categorical_crossentropy",
    "cross_entropy": "categorical_crossentropy",
}

#: The losses by name, with their aliases (``huber`` with its default delta, 1).
LOSSES: Registry[Loss] = Registry(
    "loss", {loss.name: loss for loss in (MeanSquaredError(), MeanAbsoluteError(), Huber(),
                                          BinaryCrossEntropy(), CategoricalCrossEntropy())},
    {**_ALIASES, "mean_absolute_error": "mae", "absolute_error": "mae", "l1": "mae"})
LOSS_ALIASES = LOSSES.aliases
#: The losses of a regression (an output in the target's units, any output activation).
REGRESSION_LOSSES = ("mse", "mae", "huber")


def get_loss(name: str, *, delta: float | None = None) -> Loss:
    """Look up a loss by name or alias; a ``ConfigError`` lists the valid names. ``delta``
    is Huber's (the default, 1, when None)."""
    loss = LOSSES.lookup(name)
    if isinstance(loss, Huber) and delta is not None:
        return Huber(delta)  # checks it
    return loss


def check_pairing(loss: Loss, output: Activation) -> None:
    """Raise ``ConfigError`` when ``loss`` does not fit the output activation."""
    if loss.requires is not None and output.name != loss.requires:
        raise ConfigError(
            f"loss '{loss.name}' needs a '{loss.requires}' output activation, got '{output.name}'"
        )
