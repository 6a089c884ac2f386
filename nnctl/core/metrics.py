"""Metrics: accuracy for classification, R^2 and MSE for regression, and full reports.

Arrays follow the notation: ``A, Y: (n[L], m)``, samples as columns. Every metric is
finite for finite inputs of any scale: differences are divided by the target's spread
before they are squared, so targets near 1e154 (whose squares overflow) score correctly.

``classification_report`` and ``regression_report`` return plain JSON-ready dicts (Python
floats, ints, None, lists, dicts); their values match scikit-learn's where it defines them.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from ..errors import DataError

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


def r2(A: Array, Y: Array) -> float:
    """R^2 averaged over the ``n[L]`` outputs (``regression_report``'s), in float64.

    An output whose targets are all equal scores 1 when predicted exactly, else 0; outputs
    that are not finite (a diverging run, which the caller reports) score NaN.
    """
    if not (np.isfinite(A).all() and np.isfinite(Y).all()):
        return float("nan")
    return regression_report(A, Y, [str(i) for i in range(A.shape[0])])["r2"]


def mse(A: Array, Y: Array) -> float:
    """Mean squared error over every element, in float64 (``inf`` only past float64's range)."""
    D = (A - Y).astype(np.float64, copy=False)
    with np.errstate(over="ignore"):
        return float(np.vdot(D, D) / D.size)


# Classification reports ------------------------------------------------------------------

#: Probabilities are clipped to [EPS, 1 - EPS] for the log loss, as scikit-learn does.
EPS = float(np.finfo(np.float64).eps)


def _check_outputs(A: Array, Y: Array) -> None:
    """Raise ``DataError`` unless ``A`` and ``Y`` are finite arrays of one shape ``(n[L], m)``."""
    if A.ndim != 2 or A.shape != Y.shape:
        raise DataError(f"outputs and targets must both be (n[L], m); got {A.shape} and {Y.shape}")
    if A.shape[0] == 0 or A.shape[1] == 0:
        raise DataError(f"no outputs or no samples to score: shape {A.shape}")
    if not (np.isfinite(A).all() and np.isfinite(Y).all()):
        raise DataError("outputs or targets contain NaN or infinity; no metric is defined")


def _check_names(names: list[str], n: int, what: str) -> None:
    if len(names) != n:
        raise DataError(f"expected {n} {what} names, got {len(names)}: {list(names)}")
    if len(set(names)) != n:
        raise DataError(f"{what} names must be unique (they key the report): {list(names)}")


def confusion_matrix(true: NDArray[np.integer], pred: NDArray[np.integer], k: int) -> NDArray[np.int64]:
    """Counts ``C: (k, k)``, ``C[i, j]`` = samples of true class ``i`` predicted ``j``.

    ``true, pred: (m,)`` hold class indices in ``0 .. k-1``.
    """
    true, pred = np.asarray(true), np.asarray(pred)
    if true.ndim != 1 or true.shape != pred.shape:
        raise DataError(f"class indices must both be (m,); got {true.shape} and {pred.shape}")
    for name, idx in (("true", true), ("predicted", pred)):
        if idx.size and (not np.issubdtype(idx.dtype, np.integer) or idx.min() < 0 or idx.max() >= k):
            raise DataError(f"{name} class indices must be integers in 0..{k - 1}")
    # One bincount over the pair's flat index i*k + j, instead of a loop over samples.
    flat = true.astype(np.int64) * k + pred.astype(np.int64)
    return np.bincount(flat, minlength=k * k).astype(np.int64).reshape(k, k)


def class_indices(A: Array, Y: Array) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """``(true, pred): (m,)`` class indices from outputs and targets ``(n[L], m)``.

    One output: class 1 where ``y > 0.5`` and ``a > 0.5`` (so ``a = 0.5`` is class 0).
    Several (softmax, one-hot ``Y``): the first largest, as ``correct`` counts them.
    """
    if A.shape != Y.shape or A.ndim != 2:
        raise DataError(f"outputs and targets must both be (n[L], m); got {A.shape} and {Y.shape}")
    if A.shape[0] == 1:
        return (Y[0] > 0.5).astype(np.int64), (A[0] > 0.5).astype(np.int64)
    return Y.argmax(axis=0).astype(np.int64), A.argmax(axis=0).astype(np.int64)


def _ratio(num: NDArray, den: NDArray) -> NDArray[np.float64]:
    """``num / den``, and 0 where ``den`` is 0 (scikit-learn's ``zero_division=0``)."""
    num, den = num.astype(np.float64), den.astype(np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def _auc(score: NDArray[np.float64], positive: NDArray[np.bool_]) -> float | None:
    """ROC AUC as the Mann-Whitney U / (n1 n0), a tie counting 1/2; None without both classes.

    ``score, positive: (m,)``. Ranks are kept doubled (2 x the mid-rank is an integer), so
    U is an exact int64 and the one division at the end is the only rounding.
    """
    m, n1 = positive.size, int(np.count_nonzero(positive))
    n0 = m - n1
    if n1 == 0 or n0 == 0:
        return None
    order = np.argsort(score, kind="stable")
    s = score[order]
    new = np.empty(m, dtype=bool)
    new[0], new[1:] = True, s[1:] != s[:-1]
    start = np.flatnonzero(new)  # sorted positions 0-based; a group holds ranks start+1..end
    end = np.append(start[1:], m)
    twice_rank = (start + end + 1)[np.cumsum(new) - 1]
    u2 = int(twice_rank[positive[order]].sum()) - n1 * (n1 + 1)
    return u2 / (2 * n1 * n0)  # Python ints: the division rounds once, correctly


def _log_loss(A64: NDArray[np.float64], true: NDArray[np.int64]) -> float:
    """Mean ``-ln P(true class)``, clipped to [EPS, 1 - EPS]; softmax columns renormalized."""
    P = np.clip(A64, EPS, 1 - EPS)
    if P.shape[0] == 1:
        # log1p(-p) rather than log(1 - p): 1 - p loses p's low digits when p is small.
        p = P[0]
        return float(-np.mean(np.where(true == 1, np.log(p), np.log1p(-p))))
    # Clipping moves the column off sum 1 (by up to k * EPS); dividing by the sum restores a
    # distribution. -ln(p_true / sum) = ln(sum) - ln(p_true), with no division.
    p_true = P[true, np.arange(P.shape[1])]
    return float(np.mean(np.log(P.sum(axis=0)) - np.log(p_true)))


def classification_report(A: Array, Y: Array, classes: list[str]) -> dict:
    """Accuracy, per-class and averaged precision/recall/F1, confusion matrix, log loss, AUC.

    ``A: (n[L], m)`` probabilities (one logistic output ``a = P(class 1)``, or softmax),
    ``Y: (n[L], m)`` targets (0/1, or one-hot); ``classes`` names the ``k`` classes (two
    for one output). Conventions, as scikit-learn with ``labels=range(k)``:

    - a ratio with a zero denominator is 0.0 (``zero_division=0``), and macro averages run
      over all ``k`` classes, a class absent from both ``Y`` and the predictions included;
    - balanced accuracy is the mean recall over the classes present in ``Y``;
    - log loss clips probabilities to [EPS, 1 - EPS] and, for softmax, renormalizes each column;
    - ROC AUC is one-vs-rest per class (for one output, both classes carry the binary AUC);
      a class absent from ``Y`` (or making up all of it) has None, and ``roc_auc`` averages
      the defined classes, None if none is (scikit-learn gives NaN).
    """
    _check_outputs(A, Y)
    n, m = A.shape
    k = 2 if n == 1 else n
    _check_names(classes, k, "class")
    A64 = A.astype(np.float64, copy=False)
    true, pred = class_indices(A64, Y)
    C = confusion_matrix(true, pred, k)

    tp, support, predicted = np.diag(C), C.sum(axis=1), C.sum(axis=0)
    precision, recall = _ratio(tp, predicted), _ratio(tp, support)
    # 2 tp / (2 tp + fp + fn): the harmonic mean of precision and recall, 0 where both are.
    f1 = _ratio(2 * tp, support + predicted)

    if n == 1:
        auc = _auc(A64[0], true == 1)
        per_class_auc = [auc, auc]  # class 0's score 1 - a ranks the samples in reverse
    else:
        per_class_auc = [_auc(A64[c], true == c) for c in range(k)]
        defined = [a for a in per_class_auc if a is not None]
        auc = math.fsum(defined) / len(defined) if defined else None

    def averaged(w):
        # sum(x w) / sum(w), so that all-ones scores average to exactly 1.0
        return {name: float((x * w).sum() / w.sum())
                for name, x in (("precision", precision), ("recall", recall), ("f1", f1))}

    return {
        "classes": list(classes),
        "accuracy": float(np.trace(C) / m),
        "balanced_accuracy": float(recall[support > 0].mean()),
        "per_class": {
            label: {"precision": float(precision[c]), "recall": float(recall[c]),
                    "f1": float(f1[c]), "support": int(support[c]), "roc_auc": per_class_auc[c]}
            for c, label in enumerate(classes)
        },
        "macro": averaged(np.ones(k)),
        "weighted": averaged(support),
        "confusion_matrix": C.tolist(),
        "log_loss": _log_loss(A64, true),
        "roc_auc": auc,
    }


# Regression reports ----------------------------------------------------------------------

def _exponent(X: NDArray[np.float64]) -> NDArray[np.int64]:
    """Per row, ``e`` with ``max|x| / 2^e`` in [1, 2) (0 for an all-zero row): ``(n, 1)``.

    Scaling by a power of two is exact, so ``X / 2^e`` rounds nothing that ``X`` did not.
    """
    big = np.abs(X).max(axis=1, keepdims=True)
    return np.where(big > 0, np.frexp(big)[1] - 1, 0)


def regression_report(A: Array, Y: Array, names: list[str]) -> dict:
    """MAE, RMSE and R^2 per target and averaged over the ``n[L]`` targets (``A, Y: (n[L], m)``).

    In the units of ``A`` and ``Y``. MAE and RMSE are ``inf`` only where the true value
    exceeds float64, and R^2 is ``-inf`` only where ``SSE / SST`` does. A target whose values
    are all equal has R^2 1 when predicted exactly, else 0 (as scikit-learn and ``r2``); so
    has every target at ``m = 1``, where scikit-learn gives NaN.
    """
    _check_outputs(A, Y)
    n, _ = A.shape
    _check_names(names, n, "target")
    A64, Y64 = A.astype(np.float64, copy=False), Y.astype(np.float64, copy=False)

    # Errors: A - Y, or (A/2 - Y/2) x 2 in a row where A - Y overflows (values past 9e307).
    with np.errstate(over="ignore"):
        E = A64 - Y64
    halved = ~np.isfinite(E).all(axis=1, keepdims=True)
    E = np.where(halved, A64 * 0.5 - Y64 * 0.5, E)
    # Divide by a power of two near max|E| before squaring, so no square overflows
    # (errors near 1e154) and no small error's square underflows; multiply back after.
    e_E = _exponent(E)
    Es = np.ldexp(E, -e_E)
    e_err = e_E + halved
    sse = np.einsum("ij,ij->i", Es, Es)[:, None]
    with np.errstate(over="ignore"):
        mae = np.ldexp(np.abs(Es).mean(axis=1, keepdims=True), e_err)[:, 0]
        rmse = np.ldexp(np.sqrt(sse / Es.shape[1]), e_err)[:, 0]

    # Deviations from the mean of Y / 2^e_y (|.| < 2, so neither the mean nor Y - mean can
    # overflow). Their squares cannot underflow: a varying target's largest deviation is at
    # least about eps of max|y|.
    e_y = _exponent(Y64)
    Yn = np.ldexp(Y64, -e_y)
    T = Yn - Yn.mean(axis=1, keepdims=True)
    sst = np.einsum("ij,ij->i", T, T)[:, None]
    # Exactly constant targets, tested without the rounded mean (0.1, 0.1, 0.1 has SST 0).
    constant = (Y64.max(axis=1) == Y64.min(axis=1))[:, None] | (sst == 0)
    # SSE / SST = (sse / sst) 2^(2 (e_err - e_y)); ldexp overflows only if the ratio does.
    with np.errstate(over="ignore"):
        ratio = np.ldexp(sse / np.where(constant, 1.0, sst), 2 * (e_err - e_y))
    r2_ = np.where(constant, np.where(sse > 0, 0.0, 1.0), 1 - ratio)[:, 0]

    def mean(x):
        # Summing n values near float64's largest could overflow; scale by 1/n first.
        return float(np.sum(x / n))

    return {
        "targets": list(names),
        "mae": mean(mae),
        "rmse": mean(rmse),
        "r2": mean(r2_),
        "per_target": {
            name: {"mae": float(mae[i]), "rmse": float(rmse[i]), "r2": float(r2_[i])}
            for i, name in enumerate(names)
        },
    }
