"""The nine activations of NOTATION.md (plus softmax for outputs), in a registry keyed by name.

Every function works elementwise on ``Z: (n, m)`` and keeps its dtype. All are written so
that any finite input gives a finite output without overflow or invalid-value warnings:
no ``exp`` of a large positive number, no ``z * z`` that can overflow.

``f(Z, alpha)`` is the activation and ``df(Z, A, alpha)`` its derivative ``f'(Z)``. The
derivative receives ``A = f(Z)`` too because several are cheapest in terms of it
(logistic, tanh, ELU); it is still a function of ``Z`` (arctan needs ``Z`` itself).
``alpha`` is ELU's fixed scale or PReLU's learned slope ``(n, 1)``; the others ignore it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from numpy.typing import NDArray

from ..registry import Registry

Array = NDArray[np.floating]


def _identity(Z: Array, alpha: Any = None) -> Array:
    return Z.copy()  # a new array, like every other f: never the caller's Z itself


def _identity_d(Z: Array, A: Array, alpha: Any = None) -> Array:
    return np.ones_like(Z)


def _step(Z: Array, alpha: Any = None) -> Array:
    return (Z >= 0).astype(Z.dtype)


def _zero_d(Z: Array, A: Array, alpha: Any = None) -> Array:
    # NOTATION.md erratum 4: 0 everywhere, including the undefined point z = 0.
    return np.zeros_like(Z)


def _logistic(Z: Array, alpha: Any = None) -> Array:
    # exp(-|z|) lies in (0, 1]: 1/(1+e^-z) for z >= 0 and e^z/(1+e^z) for z < 0,
    # so no exp of a large positive number is ever taken.
    E = np.exp(-np.abs(Z))
    return np.where(Z >= 0, 1, E) / (1 + E)


def _logistic_d(Z: Array, A: Array, alpha: Any = None) -> Array:
    return A * (1 - A)


def _tanh(Z: Array, alpha: Any = None) -> Array:
    return np.tanh(Z)


def _tanh_d(Z: Array, A: Array, alpha: Any = None) -> Array:
    return 1 - A * A


def _arctan(Z: Array, alpha: Any = None) -> Array:
    return np.arctan(Z)


def _arctan_d(Z: Array, A: Array, alpha: Any = None) -> Array:
    # 1/(1+z^2) = (1/hypot(1, z))^2; hypot never overflows where z*z would.
    R = 1 / np.hypot(1, Z)
    return R * R


def _relu(Z: Array, alpha: Any = None) -> Array:
    return np.maximum(Z, 0)


def _relu_d(Z: Array, A: Array, alpha: Any = None) -> Array:
    return (Z >= 0).astype(Z.dtype)


def _prelu(Z: Array, alpha: Array) -> Array:
    return np.where(Z >= 0, Z, alpha * Z)


def _prelu_d(Z: Array, A: Array, alpha: Array) -> Array:
    return np.where(Z >= 0, 1, alpha).astype(Z.dtype, copy=False)


def _elu(Z: Array, alpha: float) -> Array:
    # expm1 of min(z, 0) never sees a large positive argument.
    return np.where(Z >= 0, Z, alpha * np.expm1(np.minimum(Z, 0)))


def _elu_d(Z: Array, A: Array, alpha: float) -> Array:
    return np.where(Z >= 0, 1, A + alpha).astype(Z.dtype, copy=False)


def _softplus(Z: Array, alpha: Any = None) -> Array:
    return np.logaddexp(0, Z)


def _softplus_d(Z: Array, A: Array, alpha: Any = None) -> Array:
    return _logistic(Z)


def softmax(Z: Array, alpha: Any = None) -> Array:
    """Column-wise softmax of ``Z: (n, m)``; each column of the result sums to 1."""
    E = np.exp(Z - Z.max(axis=0, keepdims=True))
    E /= E.sum(axis=0, keepdims=True)
    return E


def _softmax_backward(dA: Array, Z: Array, A: Array, alpha: Any = None) -> Array:
    # Softmax couples the units of a column, so dZ is the Jacobian-vector product
    # dZ = A * (dA - sum_j dA_j A_j), not dA * f'(Z).
    return A * (dA - (dA * A).sum(axis=0, keepdims=True))


# -- fast paths for the training loop ---------------------------------------------------
# ``*_into(Z, A, alpha, T)`` writes f(Z) into the buffer A; ``*_scale(dA, Z, A, alpha, T)``
# multiplies dA in place by f'(Z), with T a scratch buffer of the same shape. They compute
# the same functions as the reference definitions above in fewer numpy passes, without
# allocating; tests/test_activations.py checks each against its reference.


def _identity_into(Z, A, alpha=None, T=None):
    np.copyto(A, Z)


def _identity_scale(dA, Z, A, alpha, T):
    pass


def _step_into(Z, A, alpha=None, T=None):
    np.greater_equal(Z, 0, out=A)


def _zero_scale(dA, Z, A, alpha, T):
    dA.fill(0)


def _logistic_into(Z, A, alpha=None, T=None):
    # s(z) = (1 + tanh(z/2)) / 2: one transcendental pass, and tanh never overflows.
    np.multiply(Z, 0.5, out=A)
    np.tanh(A, out=A)
    A *= 0.5
    A += 0.5


def _logistic_scale(dA, Z, A, alpha, T):
    np.subtract(1, A, out=T)
    T *= A
    dA *= T


def _tanh_into(Z, A, alpha=None, T=None):
    np.tanh(Z, out=A)


def _tanh_scale(dA, Z, A, alpha, T):
    np.multiply(A, A, out=T)
    np.subtract(1, T, out=T)
    dA *= T


def _arctan_into(Z, A, alpha=None, T=None):
    np.arctan(Z, out=A)


def _arctan_scale(dA, Z, A, alpha, T):
    np.hypot(1, Z, out=T)
    dA /= T
    dA /= T


def _relu_into(Z, A, alpha=None, T=None):
    # (z + |z|) / 2 is exactly max(z, 0), and three cheap passes beat np.maximum's one here.
    np.abs(Z, out=A)
    A += Z
    A *= 0.5


def _relu_scale(dA, Z, A, alpha, T):
    np.greater_equal(Z, 0, out=T)  # 1.0 or 0.0: a multiply is far cheaper than a masked copy
    dA *= T


def _prelu_slope(Z, alpha, out):
    """f'(Z) = 1 + (alpha - 1) [z < 0] into ``out``."""
    np.less(Z, 0, out=out)
    out *= alpha - 1
    out += 1


def _prelu_into(Z, A, alpha, T):
    _prelu_slope(Z, alpha, A)
    A *= Z


def _prelu_scale(dA, Z, A, alpha, T):
    _prelu_slope(Z, alpha, T)
    dA *= T


def _elu_into(Z, A, alpha, T):
    np.minimum(Z, 0, out=A)
    np.expm1(A, out=A)
    A *= alpha
    np.maximum(Z, 0, out=T)
    A += T


def _elu_scale(dA, Z, A, alpha, T):
    # f'(z) = 1 + [z < 0] (a + alpha - 1)
    np.add(A, alpha - 1, out=T)
    T *= Z < 0
    T += 1
    dA *= T


def _softplus_into(Z, A, alpha=None, T=None):
    np.logaddexp(0, Z, out=A)


def _softplus_scale(dA, Z, A, alpha, T):
    _logistic_into(Z, T)
    dA *= T


def _softmax_into(Z, A, alpha=None, T=None):
    np.subtract(Z, Z.max(axis=0, keepdims=True), out=A)
    np.exp(A, out=A)
    A /= A.sum(axis=0, keepdims=True)


def _softmax_scale(dA, Z, A, alpha, T):
    np.multiply(dA, A, out=T)
    dA -= T.sum(axis=0, keepdims=True)
    dA *= A


@dataclass(frozen=True)
class Activation:
    """An activation ``f`` with its derivative ``df``, named as in a config file."""

    name: str
    f: Callable[..., Array]
    df: Callable[..., Array] | None
    #: He initialization suits it (the ReLU family); otherwise Glorot.
    relu_family: bool = False
    #: "fixed" (ELU's scale), "learned" (PReLU's slope, one per unit) or None.
    alpha: str | None = None
    default_alpha: float | None = None
    #: Only allowed in the output layer (softmax).
    output_only: bool = False
    #: Gradients pass through it (False for binary step, whose derivative is 0).
    passes_gradient: bool = True
    jvp: Callable[..., Array] | None = None
    #: Fast paths: f(Z) into a buffer, and dA *= f'(Z) in place (see above).
    into: Callable[..., None] | None = None
    scale: Callable[..., None] | None = None

    def backward(self, dA: Array, Z: Array, A: Array, alpha: Any = None) -> Array:
        """``dZ = dA * f'(Z)``, all ``(n, m)`` (reference implementation, allocates)."""
        if self.jvp is not None:
            return self.jvp(dA, Z, A, alpha)
        return dA * self.df(Z, A, alpha)


_ALL = [
    Activation("identity", _identity, _identity_d, into=_identity_into, scale=_identity_scale),
    Activation("binary_step", _step, _zero_d, passes_gradient=False, into=_step_into,
               scale=_zero_scale),
    Activation("logistic", _logistic, _logistic_d, into=_logistic_into, scale=_logistic_scale),
    Activation("tanh", _tanh, _tanh_d, into=_tanh_into, scale=_tanh_scale),
    Activation("arctan", _arctan, _arctan_d, into=_arctan_into, scale=_arctan_scale),
    Activation("relu", _relu, _relu_d, relu_family=True, into=_relu_into, scale=_relu_scale),
    Activation("prelu", _prelu, _prelu_d, relu_family=True, alpha="learned", default_alpha=0.25,
               into=_prelu_into, scale=_prelu_scale),
    Activation("elu", _elu, _elu_d, relu_family=True, alpha="fixed", default_alpha=1.0,
               into=_elu_into, scale=_elu_scale),
    Activation("softplus", _softplus, _softplus_d, into=_softplus_into, scale=_softplus_scale),
    Activation("softmax", softmax, None, output_only=True, jvp=_softmax_backward,
               into=_softmax_into, scale=_softmax_scale),
]


_ALIASES = {
    "linear": "identity",
    "none": "identity",
    "step": "binary_step",
    "heaviside": "binary_step",
    "sigmoid": "logistic",
    "atan": "arctan",
}


#: The activations by name, with their aliases (``ACTIVATIONS.lookup("sigmoid")``).
ACTIVATIONS: Registry[Activation] = Registry("activation", {a.name: a for a in _ALL}, _ALIASES,
                                     show_aliases=True)
ALIASES = ACTIVATIONS.aliases


def get_activation(name: str) -> Activation:
    """Look up an activation by name or alias; a ``ConfigError`` lists the valid names."""
    return ACTIVATIONS.lookup(name)
