"""Gradient check: backpropagation's ``grad`` against central finite differences of the loss.

For every checked entry ``theta_k`` of every tensor (``W[l]``, ``b[l]``, PReLU's ``alpha[l]``)
the numeric gradient is ``(J(theta_k + eps) - J(theta_k - eps)) / 2 eps``, with ``J`` the
batch's (weighted) mean loss, and an entry passes when

    |bp - num| <= atol + rtol * max(|bp|, |num|)

It runs on a float64 copy of the network, whatever the network's dtype, and never
changes the network given. Float64 and central differences, because the error of a
central difference is ``O(eps^2)`` truncation plus ``O(machine_eps / eps)`` rounding of
``J``: with ``eps = 1e-6`` in float64 both are near ``1e-10``, far below ``rtol = 1e-5``
(in float32 the rounding term alone would be near ``1e-1``, and a one-sided difference
has an ``O(eps)`` truncation error).

Two kinds of entry need care:

- Kinks: relu, prelu, elu and binary_step are not differentiable at ``z = kink`` (0).
  When a step of ``+-eps`` moves any ``Z[l]`` entry across its layer's kink (its side,
  ``Z >= kink`` as in the derivatives, differs from the unperturbed pass), the difference
  quotient mixes two slopes: the entry is counted in ``kinks`` and gets no verdict.
- Zero gradients: below a binary step no gradient passes (docs/notation.md), so both the
  backprop and the numeric gradient are exactly 0; those entries pass and are counted in
  ``zero``, so that a report can say no gradient reaches them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .network import Dense, Network

Array = NDArray[np.floating]


@dataclass(frozen=True)
class TensorCheck:
    """The check of one tensor, named as ``Network.arrays()`` names it (``W1``, ``alpha2``)."""

    name: str
    l: int
    shape: tuple[int, ...]
    #: Entries in the tensor, and how many were checked (all, or ``max_entries`` of them).
    total: int
    checked: int
    #: Of the checked entries, those whose step crossed a kink (not compared).
    kinks: int
    #: Of the compared entries, those with backprop and numeric gradient both exactly 0.
    zero: int
    #: Over the compared entries: max ``|bp - num|`` and max ``|bp - num| / (|bp| + |num|)``.
    max_abs: float
    max_rel: float
    #: Index of the compared entry with the largest excess over the tolerance (None: none).
    worst: tuple[int, ...] | None
    passed: bool


@dataclass(frozen=True)
class GradCheck:
    """Every tensor's check, the tolerances used and the batch's loss at ``theta``."""

    tensors: list[TensorCheck]
    eps: float
    rtol: float
    atol: float
    m: int
    loss: float

    @property
    def passed(self) -> bool:
        return all(t.passed for t in self.tensors)


# Rows far outside the training range may overflow; the result says so (a non-finite loss
# or gradient fails the check), not numpy's warnings.
@np.errstate(over="ignore", invalid="ignore", divide="ignore")
def gradcheck(network: Network, X: ArrayLike, Y: ArrayLike, *, w: ArrayLike | None = None,
              eps: float = 1e-6, rtol: float = 1e-5, atol: float = 1e-8,
              max_entries: int | None = None,
              rng: np.random.Generator | None = None) -> GradCheck:
    """Check ``network``'s backprop on ``X: (n[0], m)``, ``Y: (n[L], m)``, weights ``w: (m,)``.

    ``max_entries`` (None: all) caps the entries checked per tensor, drawn without
    replacement by ``rng`` (default ``default_rng(0)``). Raises ``ValueError`` for bad
    arguments.
    """
    X, Y, w = _check_arguments(network, X, Y, w, eps, rtol, atol, max_entries)
    if rng is None:
        rng = np.random.default_rng(0)
    # Keeps the layers' activation objects, so a replaced (broken) one is what is checked.
    net = network.copy(dtype="float64")
    m = X.shape[1]

    net.forward(X)
    net.backward(Y, w)
    loss = net.cost(Y, w)
    # Which side of its kink each Z[l] entry lies on at theta; a step that changes a side
    # has crossed a point where the derivative is not defined.
    sides = [(l, layer, layer.activation.kink, layer.Z >= layer.activation.kink)
             for l, layer in enumerate(net.layers, start=1) if layer.activation.kink is not None]

    X_ones = np.vstack([X, np.ones((1, m))])  # [X; 1], as forward_cached wants it
    index = theta_index(net)
    tensors = []
    for name, l, bp in _backprop(net):
        k = index[name]
        if max_entries is None or max_entries >= k.size:
            flat = np.arange(k.size)
        else:
            flat = np.sort(rng.choice(k.size, size=max_entries, replace=False))
        watched = [(layer, kink, side) for l_kink, layer, kink, side in sides if l_kink >= l]
        num, crossed = _numeric(net, X_ones, Y, w, k.ravel()[flat], eps, watched)
        tensors.append(_compare(name, l, bp, flat, num, crossed, rtol, atol))
    return GradCheck(tensors, eps=float(eps), rtol=float(rtol), atol=float(atol), m=m,
                     loss=float(loss))


def theta_index(network: Network) -> dict[str, NDArray[np.intp]]:
    """Per tensor of ``Network.arrays()``, the index into ``theta`` of each of its entries."""
    out = {}
    for l, layer in enumerate(network.layers, start=1):
        out[f"W{l}"] = _index_in(network.theta, layer.W)
        out[f"b{l}"] = _index_in(network.theta, layer.b)
        if layer.dalpha is not None:
            out[f"alpha{l}"] = _index_in(network.theta, layer.alpha)
    return out


def _index_in(theta: Array, view: Array) -> NDArray[np.intp]:
    """``view``'s entries as indices into the flat ``theta`` it views, read off its strides."""
    item = theta.itemsize
    start = view.__array_interface__["data"][0] - theta.__array_interface__["data"][0]
    index = np.full(view.shape, start // item, dtype=np.intp)
    for axis, (size, stride) in enumerate(zip(view.shape, view.strides)):
        index += (np.arange(size) * (stride // item)).reshape((-1,) + (1,) * (view.ndim - axis - 1))
    return index


def _backprop(net: Network) -> list[tuple[str, int, Array]]:
    """``(name, l, gradient)`` per tensor: copies of the ``dW, db, dalpha`` views of ``grad``."""
    out = []
    for l, layer in enumerate(net.layers, start=1):
        out += [(f"W{l}", l, layer.dW.copy()), (f"b{l}", l, layer.db.copy())]
        if layer.dalpha is not None:
            out.append((f"alpha{l}", l, layer.dalpha.copy()))
    return out


def _numeric(net: Network, X_ones: Array, Y: Array, w: Array | None, ks: NDArray[np.intp],
             eps: float, watched: list[tuple[Dense, float, NDArray[np.bool_]]]
             ) -> tuple[Array, NDArray[np.bool_]]:
    """Central differences at ``theta[ks]``, and which steps crossed a kink of ``watched``."""
    theta = net.theta
    num = np.empty(ks.size)
    crossed = np.zeros(ks.size, dtype=bool)
    for i, k in enumerate(ks):
        old = theta[k]
        J = []
        for step in (old + eps, old - eps):
            theta[k] = step
            net.forward_cached(X_ones)
            J.append(net.cost(Y, w))
            crossed[i] |= any(not np.array_equal(layer.Z >= z0, side)
                              for layer, z0, side in watched)
        theta[k] = old
        # Divided by the step actually taken: old +- eps are rounded to float64.
        num[i] = (J[0] - J[1]) / ((old + eps) - (old - eps))
    return num, crossed


def _compare(name: str, l: int, bp: Array, flat: NDArray[np.intp], num: Array,
             crossed: NDArray[np.bool_], rtol: float, atol: float) -> TensorCheck:
    """One tensor's verdict over the entries ``flat`` (indices into ``bp.ravel()``)."""
    used = ~crossed
    b, n = bp.ravel()[flat][used], num[used]
    diff = np.abs(b - n)
    scale = np.maximum(np.abs(b), np.abs(n))
    # A NaN on either side is a failure, and the worst one.
    excess = np.nan_to_num(diff - (atol + rtol * scale), nan=np.inf)
    denom = np.abs(b) + np.abs(n)
    rel = np.divide(diff, denom, out=np.zeros_like(diff), where=denom > 0)  # 0/0 counts as 0
    worst = None
    if excess.size:
        worst = tuple(int(i) for i in np.unravel_index(flat[used][np.argmax(excess)], bp.shape))
    return TensorCheck(
        name=name, l=l, shape=tuple(bp.shape), total=bp.size, checked=flat.size,
        kinks=int(crossed.sum()), zero=int(np.count_nonzero((b == 0) & (n == 0))),
        max_abs=float(diff.max(initial=0.0)), max_rel=float(rel.max(initial=0.0)),
        worst=worst, passed=bool(np.all(excess <= 0)))


def _check_arguments(network: Network, X: ArrayLike, Y: ArrayLike, w: ArrayLike | None,
                     eps: float, rtol: float, atol: float, max_entries: int | None
                     ) -> tuple[Array, Array, Array | None]:
    """``X, Y, w`` as float64 arrays of the network's shapes, or a ``ValueError``."""
    if not (isinstance(eps, (int, float)) and math.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be a positive number, got {eps!r}")
    for key, tol in (("rtol", rtol), ("atol", atol)):
        if not (isinstance(tol, (int, float)) and math.isfinite(tol) and tol >= 0):
            raise ValueError(f"{key} must be a number >= 0, got {tol!r}")
    if max_entries is not None and (isinstance(max_entries, bool)
                                    or not isinstance(max_entries, (int, np.integer))
                                    or max_entries < 1):
        raise ValueError(f"max_entries must be a positive integer or None, got {max_entries!r}")
    X, Y = np.asarray(X, dtype=np.float64), np.asarray(Y, dtype=np.float64)
    n0, nL = network.sizes[0], network.sizes[-1]
    if X.ndim != 2 or X.shape[0] != n0 or X.shape[1] < 1:
        raise ValueError(f"X must have shape (n[0]={n0}, m) with m >= 1, got {X.shape}")
    m = X.shape[1]
    if Y.shape != (nL, m):
        raise ValueError(f"Y must have shape (n[L]={nL}, m={m}), got {Y.shape}")
    if w is not None:
        w = np.asarray(w, dtype=np.float64)
        if w.shape != (m,):
            raise ValueError(f"w must have shape (m={m},), got {w.shape}")
    for key, a in (("X", X), ("Y", Y), ("w", w)):
        if a is not None and not np.isfinite(a).all():
            raise ValueError(f"{key} has non-finite values")
    if network.loss.name == "categorical_crossentropy" and not np.allclose(Y.sum(axis=0), 1,
                                                                          rtol=0, atol=1e-6):
        # The fused dZ[L] = A - Y is the loss's gradient only when each column sums to 1.
        raise ValueError("categorical_crossentropy needs each column of Y to sum to 1")
    return X, Y, w
