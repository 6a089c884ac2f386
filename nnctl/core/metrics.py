"""Metrics: accuracy for classification, R^2 and MSE for regression.

Arrays follow the notation: ``A, Y: (n[L], m)``, samples as columns. Every metric is
finite for finite inputs of any scale: differences are divided by the target's spread
before they are squared, so targets near 1e154 (whose squares overflow) score correctly.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.floating]


def correct(A: Array, Y: Array) -> int:
    """How many of the ``m`` samples are classified right, as ``predict`` labels them.

    One output: ``a > 0.5`` is class 1 (at exactly 0.5, class 0). Several outputs
    (softmax): the largest is the class, the first of them on a tie.
    """
    if A.shape[0] == 1:
        return int(np.count_nonzero((A > 0.5) == (Y > 0.5)))
    # The true class's output is the largest (Y one-hot). Reductions, not argmax: argmax
    # along axis 0 copies and loops per column, about 5x slower on (n[L], m) arrays; only
    # columns with a tied maximum (rare, but every column of a uniform output) need it.
    top = A.max(axis=0)
    hit = np.einsum("ij,ij->j", A, Y) >= top
    tied = np.flatnonzero(hit & (np.count_nonzero(A == top, axis=0) > 1))
    if tied.size:
        hit[tied] = A[:, tied].argmax(axis=0) == Y[:, tied].argmax(axis=0)
    return int(np.count_nonzero(hit))


def accuracy(A: Array, Y: Array) -> float:
    """The share of the ``m`` samples classified right (see ``correct``)."""
    return correct(A, Y) / A.shape[1]


def _center_and_spread(Y64: NDArray[np.float64]):
    """Per output, the mean and the largest ``|y - mean|`` (1 where all are equal): ``(n[L], 1)``.

    The mean is taken of ``y / max|y|``, so that summing values near 1e308 cannot overflow.
    """
    big = np.abs(Y64).max(axis=1, keepdims=True)
    big = np.where(big > 0, big, 1.0)
    mean = (Y64 / big).mean(axis=1, keepdims=True) * big
    s = np.abs(Y64 - mean).max(axis=1, keepdims=True)
    return mean, np.where(s > 0, s, 1.0)


def r2(A: Array, Y: Array) -> float:
    """R^2 averaged over the ``n[L]`` outputs; 1 - SSE/SST per output, in float64.

    An output whose targets are all equal scores 1 when predicted exactly, else 0.
    """
    Y64, A64 = Y.astype(np.float64, copy=False), A.astype(np.float64, copy=False)
    mean, s = _center_and_spread(Y64)
    with np.errstate(over="ignore", invalid="ignore"):
        D = (A64 - Y64) / s  # the same ratio, with no square of a huge number
        T = (Y64 - mean) / s
    sse, sst = np.einsum("ij,ij->i", D, D), np.einsum("ij,ij->i", T, T)
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = np.where(sst > 0, 1 - sse / np.where(sst > 0, sst, 1), np.where(sse > 0, 0.0, 1.0))
    return float(scores.mean())


def mse(A: Array, Y: Array) -> float:
    """Mean squared error over every element, in float64 (``inf`` only past float64's range)."""
    D = (A - Y).astype(np.float64, copy=False)
    with np.errstate(over="ignore"):
        return float(np.vdot(D, D) / D.size)
