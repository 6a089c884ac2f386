"""nnctl: train fully connected networks configured in YAML, on NumPy.

The numerical core (``nnctl.core``) follows docs/notation.md: samples are columns, ``Z[l] = W[l] A[l-1] + b[l]``.

    >>> import numpy as np, nnctl
    >>> net = nnctl.Network([3, 3, 2, 1], ["tanh", "tanh", "logistic"],
    ...                     loss="binary_crossentropy", rng=np.random.default_rng(0))
    >>> net.forward(np.zeros((3, 5))).shape
    (1, 5)

Names are imported on first use, so that ``nnctl --help`` does not pay for numpy.
"""

from importlib import import_module

#: The one place the version is written (pyproject.toml reads it from here).
__version__ = "0.2.0"

from .errors import (ConfigError, DataError, ModelFileError, NnctlError, TrainingDiverged,
                     TrainingInterrupted)

_LAZY = {
    "ACTIVATIONS": "core.activations", "ALIASES": "core.activations",
    "Activation": "core.activations", "get_activation": "core.activations",
    "softmax": "core.activations",
    "LOSSES": "core.losses", "get_loss": "core.losses",
    "Dense": "core.network", "Network": "core.network",
    "INITIALIZERS": "core.init",
    "OPTIMIZERS": "core.optimizers", "Adam": "core.optimizers", "Momentum": "core.optimizers",
    "SGD": "core.optimizers", "get_optimizer": "core.optimizers",
    "SCHEDULES": "core.schedules", "get_schedule": "core.schedules",
    "EpochRecord": "core.train", "History": "core.train", "evaluate": "core.train",
    "fit": "core.train",
}

__all__ = sorted([*_LAZY, "ConfigError", "DataError", "ModelFileError", "NnctlError",
                  "TrainingDiverged", "TrainingInterrupted", "__version__"])


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
    else:
        raise AttributeError(f"module 'nnctl' has no attribute '{name}'")
    globals()[name] = value
    return value


def __dir__():
    return __all__
