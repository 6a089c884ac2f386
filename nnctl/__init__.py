"""nnctl: train fully connected networks configured in YAML, on NumPy.

The numerical core follows NOTATION.md: samples are columns, ``Z[l] = W[l] A[l-1] + b[l]``.

    >>> import numpy as np, nnctl
    >>> net = nnctl.Network([3, 3, 2, 1], ["tanh", "tanh", "logistic"],
    ...                     loss="binary_crossentropy", rng=np.random.default_rng(0))
    >>> net.forward(np.zeros((3, 5))).shape
    (1, 5)
"""

from importlib.metadata import PackageNotFoundError, version

from .activations import ACTIVATIONS, ALIASES, Activation, get_activation, softmax
from .errors import (ConfigError, DataError, ModelFileError, NnctlError, TrainingDiverged,
                     TrainingInterrupted)
from .losses import LOSSES, get_loss
from .network import Dense, Network
from .optimizers import OPTIMIZERS, Adam, Momentum, SGD, get_optimizer
from .schedules import SCHEDULES, get_schedule
from .train import EpochRecord, History, evaluate, fit

try:
    __version__ = version("nnctl")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "ACTIVATIONS", "ALIASES", "Activation", "get_activation", "softmax",
    "ConfigError", "DataError", "ModelFileError", "NnctlError", "TrainingDiverged",
    "TrainingInterrupted", "LOSSES", "get_loss", "Dense", "Network", "OPTIMIZERS", "Adam",
    "Momentum", "SGD", "get_optimizer", "SCHEDULES", "get_schedule", "EpochRecord", "History",
    "evaluate", "fit", "__version__",
]
