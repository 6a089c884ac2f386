"""Metrics: accuracy for classification, R^2 and MSE for regression.

Arrays follow the notation: ``A, Y: (n[L], m)``, samples as columns. Metrics are
accumulated from per-batch sums so that an epoch's figures need no extra pass.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.floating]


def correct(A: Array, Y: Array) -> int:
    """How many of the ``m`` samples are classified right.

    One output: ``a >= 0.5`` is class 1. Several outputs (softmax): the largest is the class.
    """
    if A.shape[0] == 1:
        return int(np.count_nonzero((A >= 0.5) == (Y >= 0.5)))
    # The true class's output is the largest (Y one-hot). Reductions, not argmax: argmax
    # along axis 0 copies and loops per column, many times slower on (n[L], m) arrays.
    return int(np.count_nonzero(np.einsum("ij,ij->j", A, Y) >= A.max(axis=0)))


def squared_errors(A: Array, Y: Array) -> NDArray[np.float64]:
    """Sum over samples of the squared error, per output: ``(n[L],)`` in float64."""
    D = (A - Y).astype(np.float64, copy=False)
    return np.einsum("ij,ij->i", D, D)


def r2_from_sums(sse: NDArray, Y: Array) -> float:
    """R^2 averaged over outputs, from per-output squared-error sums against targets ``Y``."""
    Y64 = Y.astype(np.float64, copy=False)
    sst = ((Y64 - Y64.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
    scores = np.where(sst > 0, 1 - sse / np.where(sst > 0, sst, 1), np.where(sse > 0, 0.0, 1.0))
    return float(scores.mean())
