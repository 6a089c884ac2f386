"""The nine activations of docs/notation.md (plus softmax for outputs), in a registry keyed by name.

Each activation is two functions, written next to each other, and they are what training
runs (``Dense`` calls them on its buffers), so they are what the tests check:

- ``name(Z, A, alpha, T)`` writes ``A = f(Z)`` into ``A`` and returns it;
- ``name_derivative(dA, Z, A, alpha, T)`` multiplies ``dA`` in place by ``f'(Z)`` and returns
  that buffer, which now holds ``dZ = dA * f'(Z)`` (softmax: its Jacobian-vector product).

All arrays are ``(n, m)`` (samples as columns) and keep their dtype; ``T`` is a scratch
buffer of the same shape that a function may overwrite. The derivative takes ``Z`` and
``A = f(Z)`` because several are cheapest in terms of ``A`` (logistic, tanh, ELU); it is
still ``f'`` of ``Z`` (arctan needs ``Z`` itself). ``alpha`` is ELU's fixed scale or PReLU's
learned slopes ``(n, 1)``; the others ignore it. ``Activation.f`` and ``Activation.backward``
are the same two functions run on new arrays, for callers that want a result of their own.

Any finite input gives a finite output without overflow or invalid-value warnings: no
``exp`` of a large positive number, no ``z * z``, no ``z + z`` that can overflow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from numpy.typing import NDArray

from ..registry import Registry

Array = NDArray[np.floating]


def identity(Z: Array, A: Array, alpha: Any, T: Array | None) -> Array:
    """``A = Z``, copied into ``A``."""
    np.copyto(A, Z)
    return A


def identity_derivative(dA: Array, Z: Array, A: Array, alpha: Any, T: Array) -> Array:
    """``dZ = dA``: ``f'(z) = 1``, so ``dA`` already is ``dZ``."""
    return dA


def binary_step(Z: Array, A: Array, alpha: Any, T: Array | None) -> Array:
    """``A = 1`` where ``z >= 0``, else 0, into ``A``."""
    np.greater_equal(Z, 0, out=A)
    return A


def binary_step_derivative(dA: Array, Z: Array, A: Array, alpha: Any, T: Array) -> Array:
    """``dZ = 0`` in dA's buffer."""
    # docs/notation.md, erratum 4: f'(z) = 0 everywhere, including the undefined point z = 0.
    dA.fill(0)
    return dA


#: Below these z, the tanh form of the logistic loses relative accuracy (see ``logistic``).
_LOGISTIC_TAIL = {"d": -15.0, "f": -9.0, "e": -5.0}


def logistic(Z: Array, A: Array, alpha: Any, T: Array | None) -> Array:
    """``A = 1 / (1 + e^-z)``, into ``A``."""
    if Z.size <= 4096:
        # exp(-log(1 + e^-z)): accurate to the last bits on both tails, and for small
        # arrays (an output layer) as quick as any form (four calls; their overhead rules).
        np.negative(Z, out=A)
        np.logaddexp(0, A, out=A)
        np.negative(A, out=A)
        np.exp(A, out=A)
        return A
    # (1 + tanh(z/2)) / 2: one transcendental pass, where logaddexp takes two. Its relative
    # error is about eps / a, so in the left tail (a below ~1e-7 in float64, ~1e-4 in
    # float32; at z = -37 it gives 0) those cells are redone as e^z / (1 + e^z), exact there.
    np.multiply(Z, 0.5, out=A)
    np.tanh(A, out=A)
    A *= 0.5
    A += 0.5
    tail_below = _LOGISTIC_TAIL[A.dtype.char]
    if Z.min() < tail_below:
        tail = Z < tail_below
        E = np.exp(Z[tail])
        A[tail] = E / (1 + E)
    return A


def logistic_derivative(dA: Array, Z: Array, A: Array, alpha: Any, T: Array) -> Array:
    """``dZ = dA * f'(Z)`` in dA's buffer, with ``f'(z) = a (1 - a)``."""
    f_prime = np.subtract(1, A, out=T)
    f_prime *= A
    dA *= f_prime
    return dA


def tanh(Z: Array, A: Array, alpha: Any, T: Array | None) -> Array:
    """``A = tanh(z)``, into ``A``."""
    np.tanh(Z, out=A)
    return A


def tanh_derivative(dA: Array, Z: Array, A: Array, alpha: Any, T: Array) -> Array:
    """``dZ = dA * f'(Z)`` in dA's buffer, with ``f'(z) = 1 - a^2``."""
    f_prime = np.multiply(A, A, out=T)
    np.subtract(1, f_prime, out=f_prime)
    dA *= f_prime
    return dA


def arctan(Z: Array, A: Array, alpha: Any, T: Array | None) -> Array:
    """``A = arctan(z)``, into ``A``."""
    np.arctan(Z, out=A)
    return A


def arctan_derivative(dA: Array, Z: Array, A: Array, alpha: Any, T: Array) -> Array:
    """``dZ = dA * f'(Z)`` in dA's buffer, with ``f'(z) = 1 / (1 + z^2)``."""
    # 1 + z^2 = hypot(1, z)^2, and dividing by hypot twice never overflows where z * z would.
    hypot = np.hypot(1, Z, out=T)
    dA /= hypot
    dA /= hypot
    return dA


def relu(Z: Array, A: Array, alpha: Any, T: Array) -> Array:
    """``A = max(z, 0)``, into ``A``."""
    # z/2 + |z/2| is max(z, 0) exactly (unless z/2 is subnormal), and three cheap
    # passes beat np.maximum's one here. Halving first: z + |z| overflows for huge z.
    np.multiply(Z, 0.5, out=A)
    np.abs(A, out=T)
    A += T
    return A


def relu_derivative(dA: Array, Z: Array, A: Array, alpha: Any, T: Array) -> Array:
    """``dZ = dA * f'(Z)`` in dA's buffer, with ``f'(z) = 1`` where ``z >= 0``, else 0."""
    f_prime = np.greater_equal(Z, 0, out=T)  # 1.0 or 0.0: a multiply beats a masked copy
    dA *= f_prime
    return dA


def _prelu_slope(Z: Array, alpha: Array, out: Array) -> Array:
    """PReLU's ``f'(Z) = 1 + (alpha - 1) [z < 0]`` into ``out: (n, m)``; ``alpha: (n, 1)``."""
    np.less(Z, 0, out=out)
    out *= alpha - 1
    out += 1
    return out


def prelu(Z: Array, A: Array, alpha: Array, T: Array | None) -> Array:
    """``A = z`` where ``z >= 0``, else ``alpha z`` (``alpha: (n, 1)``, learned), into ``A``."""
    # Linear on each side of 0, so f(z) = f'(z) z.
    _prelu_slope(Z, alpha, out=A)
    A *= Z
    return A


def prelu_derivative(dA: Array, Z: Array, A: Array, alpha: Array, T: Array) -> Array:
    """``dZ = dA * f'(Z)`` in dA's buffer, with ``f'(z) = 1`` where ``z >= 0``, else ``alpha``."""
    f_prime = _prelu_slope(Z, alpha, out=T)
    dA *= f_prime
    return dA


def prelu_dalpha(dA: Array, Z: Array, T: Array, dalpha: Array) -> None:
    """``dalpha = sum over the m samples of dA * df/dalpha`` into ``dalpha: (n, 1)``.

    Needs ``dA``, so it runs before ``prelu_derivative`` turns ``dA`` into ``dZ``.
    """
    # docs/notation.md, erratum 5: df/dalpha = z where z < 0 and 0 elsewhere.
    dA_df_dalpha = np.minimum(Z, 0, out=T)
    dA_df_dalpha *= dA
    np.add.reduce(dA_df_dalpha, axis=1, out=dalpha[:, 0])


def elu(Z: Array, A: Array, alpha: float, T: Array) -> Array:
    """``A = z`` where ``z >= 0``, else ``alpha (e^z - 1)`` (``alpha`` fixed), into ``A``."""
    # expm1 of min(z, 0) never sees a large positive argument.
    np.minimum(Z, 0, out=A)
    np.expm1(A, out=A)
    A *= alpha
    np.maximum(Z, 0, out=T)
    A += T
    return A


def elu_derivative(dA: Array, Z: Array, A: Array, alpha: float, T: Array) -> Array:
    """``dZ = dA * f'(Z)`` in dA's buffer, with ``f'(z) = 1`` (z >= 0), else ``a + alpha``."""
    # alpha e^z = a + alpha below 0, so f'(z) = 1 + [z < 0] (a + alpha - 1): no exp again.
    f_prime = np.add(A, alpha - 1, out=T)
    f_prime *= Z < 0
    f_prime += 1
    dA *= f_prime
    return dA


def softplus(Z: Array, A: Array, alpha: Any, T: Array | None) -> Array:
    """``A = log(1 + e^z)``, into ``A``."""
    np.logaddexp(0, Z, out=A)  # log(e^0 + e^z) without exp of a large z
    return A


def softplus_derivative(dA: Array, Z: Array, A: Array, alpha: Any, T: Array) -> Array:
    """``dZ = dA * f'(Z)`` in dA's buffer, with ``f'(z) = 1 / (1 + e^-z)`` (logistic)."""
    f_prime = logistic(Z, T, None, None)
    dA *= f_prime
    return dA


def softmax(Z: Array, A: Array | None = None, alpha: Any = None, T: Array | None = None) -> Array:
    """``A = e^z / sum of e^z`` over each column of ``Z: (n, m)``; each column of A sums to 1.

    Into ``A`` when given (training), else into a new array (``nnctl.softmax(Z)``).
    """
    if A is None:
        Z = _floating(Z)
        A = np.empty_like(Z)
    # Shifting a column by its max leaves softmax unchanged and keeps every exp <= 1.
    np.subtract(Z, Z.max(axis=0, keepdims=True), out=A)
    np.exp(A, out=A)
    A /= A.sum(axis=0, keepdims=True)
    return A


def softmax_derivative(dA: Array, Z: Array, A: Array, alpha: Any, T: Array) -> Array:
    """``dZ = A * (dA - sum_j dA_j a_j)`` per column, in dA's buffer.

    Softmax couples the units of a column, so ``dZ`` is the Jacobian-vector product, not
    an elementwise ``dA * f'(Z)``.
    """
    dA_A = np.multiply(dA, A, out=T)
    dA -= dA_A.sum(axis=0, keepdims=True)
    dA *= A
    return dA


def _floating(Z) -> Array:
    """``Z`` as an array of floats (its own dtype if it has one, else float64)."""
    Z = np.asarray(Z)
    return Z if Z.dtype.kind == "f" else Z.astype(np.float64)


@dataclass(frozen=True)
class Activation:
    """An activation named as in a config file: its ``forward`` and ``derivative`` pair.

    ``forward(Z, A, alpha, T)`` writes ``A = f(Z)`` into ``A``; ``derivative(dA, Z, A,
    alpha, T)`` turns ``dA`` into ``dZ`` in place and returns it (see the module docstring).
    """

    name: str
    forward: Callable[..., Array]
    derivative: Callable[..., Array]
    #: He initialization suits it (the ReLU family); otherwise Glorot.
    relu_family: bool = False
    #: "fixed" (ELU's scale), "learned" (PReLU's slope, one per unit) or None.
    alpha: str | None = None
    default_alpha: float | None = None
    #: Only allowed in the output layer (softmax).
    output_only: bool = False
    #: Gradients pass through it (False for binary step, whose derivative is 0).
    passes_gradient: bool = True
    #: The z where f or f' is not differentiable (None: nowhere), which a gradient check
    #: must not step across: 0 for relu, prelu, elu (f' jumps unless alpha = 1), binary_step.
    kink: float | None = None
    #: For a learned alpha: ``dalpha(dA, Z, T, dalpha)`` fills ``dalpha: (n, 1)``.
    dalpha: Callable[..., None] | None = None
    #: ``f(z)``, ``f'(z)``, the range of ``f`` and the form computed (docs/notation.md),
    #: as ``nnctl activations`` shows them.
    formula: str = ""
    derivative_formula: str = ""
    range: str = ""
    stable_form: str = ""

    def f(self, Z: Array, alpha: Any = None) -> Array:
        """``A = f(Z)``, a new ``(n, m)`` array: ``forward`` into fresh buffers."""
        Z = _floating(Z)
        return self.forward(Z, np.empty_like(Z), self._alpha(alpha), np.empty_like(Z))

    def backward(self, dA: Array, Z: Array, A: Array, alpha: Any = None) -> Array:
        """``dZ = dA * f'(Z)``, all ``(n, m)``, a new array: ``derivative`` on a copy of ``dA``."""
        Z = _floating(Z)
        dZ = np.array(dA, dtype=np.result_type(dA, Z))  # a copy: dA stays the caller's
        return self.derivative(dZ, Z, A, self._alpha(alpha), np.empty_like(dZ))

    def _alpha(self, alpha: Any) -> Any:
        return self.default_alpha if alpha is None else alpha


_ALL = [
    Activation("identity", identity, identity_derivative,
               formula="f(z) = z", derivative_formula="f'(z) = 1", range="(-inf, inf)",
               stable_form="a copy of z"),
    Activation("binary_step", binary_step, binary_step_derivative, passes_gradient=False,
               kink=0.0,
               formula="f(z) = 1 if z >= 0 else 0",
               derivative_formula="f'(z) = 0 (also at z = 0: no gradient passes)",
               range="{0, 1}", stable_form="z >= 0"),
    Activation("logistic", logistic, logistic_derivative,
               formula="f(z) = 1 / (1 + e^-z)", derivative_formula="f'(z) = a (1 - a)",
               range="(0, 1)", stable_form="exp(-logaddexp(0, -z)); for large arrays"
               " (1 + tanh(z/2)) / 2 with the left tail as e^z / (1 + e^z)"),
    Activation("tanh", tanh, tanh_derivative,
               formula="f(z) = (e^z - e^-z) / (e^z + e^-z)", derivative_formula="f'(z) = 1 - a^2",
               range="(-1, 1)", stable_form="numpy.tanh"),
    Activation("arctan", arctan, arctan_derivative,
               formula="f(z) = arctan(z)", derivative_formula="f'(z) = 1 / (1 + z^2)",
               range="(-pi/2, pi/2)", stable_form="f' as dA / hypot(1, z) / hypot(1, z)"),
    Activation("relu", relu, relu_derivative, relu_family=True, kink=0.0,
               formula="f(z) = max(0, z)", derivative_formula="f'(z) = 1 if z >= 0 else 0",
               range="[0, inf)", stable_form="z/2 + |z/2| (z + |z| overflows); f' the mask z >= 0"),
    Activation("prelu", prelu, prelu_derivative, relu_family=True, alpha="learned", kink=0.0,
               default_alpha=0.25, dalpha=prelu_dalpha,
               formula="f(z) = z if z >= 0 else alpha z (alpha learned, per unit)",
               derivative_formula="f'(z) = 1 if z >= 0 else alpha; df/dalpha = min(z, 0)",
               range="(-inf, inf)", stable_form="(1 + (alpha - 1) [z < 0]) z"),
    Activation("elu", elu, elu_derivative, relu_family=True, alpha="fixed", default_alpha=1.0,
               kink=0.0,
               formula="f(z) = z if z >= 0 else alpha (e^z - 1)",
               derivative_formula="f'(z) = 1 if z >= 0 else a + alpha",
               range="(-alpha, inf)", stable_form="alpha expm1(min(z, 0)) + max(z, 0)"),
    Activation("softplus", softplus, softplus_derivative,
               formula="f(z) = ln(1 + e^z)", derivative_formula="f'(z) = 1 / (1 + e^-z) (the logistic)",
               range="(0, inf)", stable_form="logaddexp(0, z)"),
    Activation("softmax", softmax, softmax_derivative, output_only=True,
               formula="f(z)_j = e^z_j / sum_k e^z_k (per column)",
               derivative_formula="dZ = A * (dA - sum_j dA_j A_j) (a Jacobian-vector product)",
               range="(0, 1), each column sums to 1",
               stable_form="exp(z - max_column(z)), then divide by the column sum"),
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
