"""Standardization of features (and of a regression target), fitted on training rows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass
class Scaler:
    """``(x - shift) / scale`` per feature, fitted on the training rows only."""

    method: str
    shift: NDArray[np.float64]
    scale: NDArray[np.float64]

    @classmethod
    def fit(cls, X_rows: NDArray, method: str) -> Scaler:
        """Statistics of ``X_rows: (m, n)`` per column, finite for any finite input.

        Each column is first divided by its largest magnitude, so that sums and squares of
        values near the float64 limit (1e154 squared, 1e308 summed) cannot overflow.
        """
        X = X_rows.astype(np.float64, copy=False)
        n = X.shape[1]
        if method == "none" or X.shape[0] == 0:
            return cls(method, np.zeros(n), np.ones(n))
        big = np.abs(X).max(axis=0)
        big = np.where(big > 0, big, 1.0)
        U = X / big
        if method == "zscore":
            shift, scale = U.mean(axis=0) * big, U.std(axis=0) * big
        else:  # minmax; a range wider than float64 (-1e308 to 1e308) is capped at its limit
            low = U.min(axis=0)
            with np.errstate(over="ignore"):
                shift, scale = low * big, (U.max(axis=0) - low) * big
            scale = np.minimum(scale, np.finfo(np.float64).max)
        scale = np.where(scale > 0, scale, 1.0)  # a constant column stays constant (0)
        return cls(method, shift, scale)

    def transform(self, X_rows: NDArray, out: NDArray | None = None) -> NDArray:
        """``(x - shift) / scale`` in the array's dtype: a new array, or ``out`` (which may be
        ``X_rows`` itself, to scale in place)."""
        if self.method == "none":
            if out is None:
                return X_rows.copy()
            np.copyto(out, X_rows)
            return out
        dtype = X_rows.dtype
        shift, scale = self.shift.astype(dtype), self.scale.astype(dtype)
        safe = None
        if X_rows.size:
            # x - shift overflows only where |x| + |shift| nears the dtype's limit; those
            # columns are computed as x/scale - shift/scale instead (before any in-place write).
            with np.errstate(over="ignore"):
                reach = np.maximum(X_rows.max(axis=0), -X_rows.min(axis=0)) + np.abs(shift)
            risky = np.flatnonzero(~(reach < np.finfo(dtype).max / 2))
            if risky.size:
                safe = (risky, X_rows[:, risky] / scale[risky] - shift[risky] / scale[risky])
        with np.errstate(over="ignore", invalid="ignore"):
            result = np.subtract(X_rows, shift, out=out)
            result /= scale
        if safe is not None:
            result[:, safe[0]] = safe[1]
        return result

    def inverse(self, X_rows: NDArray) -> NDArray:
        """Undo ``transform``: back to the file's units, as a new array."""
        if self.method == "none":
            return X_rows.copy()
        dtype = X_rows.dtype
        return (X_rows * self.scale.astype(dtype) + self.shift.astype(dtype)).astype(dtype, copy=False)

    def to_json(self) -> dict:
        return {"method": self.method, "shift": self.shift.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_json(cls, d: dict) -> Scaler:
        return cls(d["method"], np.asarray(d["shift"], dtype=np.float64),
                   np.asarray(d["scale"], dtype=np.float64))
