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
        X = X_rows.astype(np.float64, copy=False)
        n = X.shape[1]
        if method == "zscore":
            shift, scale = X.mean(axis=0), X.std(axis=0)
        elif method == "minmax":
            shift, scale = X.min(axis=0), X.max(axis=0) - X.min(axis=0)
        else:
            shift, scale = np.zeros(n), np.ones(n)
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
        out = np.subtract(X_rows, self.shift.astype(dtype), out=out)
        out /= self.scale.astype(dtype)
        return out

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
