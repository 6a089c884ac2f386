"""Splits of a table's rows into training, validation and test parts."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from numpy.typing import NDArray


def split_indices(m: int, fractions: Sequence[float], rng: np.random.Generator,
                  strata: NDArray | None = None) -> list[NDArray[np.intp]]:
    """Shuffle ``range(m)`` and cut off parts of the given fractions; the rest comes first.

    With ``strata`` (a class index per row) each class is cut in the same proportions.
    """
    groups = [np.arange(m)] if strata is None else [np.flatnonzero(strata == s) for s in np.unique(strata)]
    parts: list[list[NDArray]] = [[] for _ in range(len(fractions) + 1)]
    for g in groups:
        g = rng.permutation(g)
        start = 0
        for i, f in enumerate(fractions):
            k = int(round(f * g.size))
            parts[i + 1].append(g[start:start + k])
            start += k
        parts[0].append(g[start:])
    return [np.sort(np.concatenate(p)) for p in parts]


def fold_indices(m: int, k: int, rng: np.random.Generator,
                 strata: NDArray | None = None) -> list[NDArray[np.intp]]:
    """``range(m)`` dealt into ``k`` folds of (nearly) equal size, each sorted.

    Shuffled by ``rng``; with ``strata`` (a class index per row) each class is dealt on its
    own, so every fold has the classes in about the proportions of the whole (stratified
    K-fold). Every row is in exactly one fold.
    """
    if not 2 <= k <= m:
        raise ValueError(f"k must be in 2..{m} for {m} rows, got {k}")
    groups = [np.arange(m)] if strata is None else [np.flatnonzero(strata == s) for s in np.unique(strata)]
    folds: list[list[NDArray]] = [[] for _ in range(k)]
    offset = 0  # where the next class starts dealing, so that fold sizes stay even
    for g in groups:
        g = rng.permutation(g)
        for i in range(k):
            folds[(offset + i) % k].append(g[i::k])
        offset = (offset + g.size) % k
    return [np.sort(np.concatenate(f)) for f in folds]
