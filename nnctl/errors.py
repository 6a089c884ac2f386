"""Domain errors. The library raises these; the CLI turns them into one-line messages."""

from __future__ import annotations


class NnctlError(Exception):
    """Base of every error nnctl reports to a user (not a bug)."""


class ConfigError(NnctlError):
    """A configuration value is missing, of the wrong type, or out of range.

    ``key`` names the offending parameter when the raiser knows it (for example ``lr``),
    so that a config reader can point at its line.
    """

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class DataError(NnctlError):
    """A data file or array cannot be used as training or prediction input."""


class OutputError(NnctlError):
    """An output cannot be written where the command line says (exit 1)."""


class ModelFileError(NnctlError):
    """A model file cannot be read or written."""


class CheckFailed(NnctlError):
    """A check the user asked for found a real problem (``nnctl gradcheck``: exit 1)."""


class TrainingDiverged(NnctlError):
    """A loss or parameter became non-finite during training.

    The network keeps the best weights seen so far (or its initial ones when no epoch
    finished); ``history`` holds the epochs that did finish.
    """

    def __init__(self, message: str, *, epoch: int, layer: int | None, history) -> None:
        super().__init__(message)
        self.epoch = epoch
        self.layer = layer
        self.history = history


class TrainingInterrupted(NnctlError):
    """Training was stopped by the user (Ctrl-C, SIGTERM, SIGHUP); the network holds the
    best weights so far. ``signum`` is the signal's number (SIGINT for Ctrl-C)."""

    def __init__(self, message: str, *, epoch: int, history, signum: int = 2) -> None:
        super().__init__(message)
        self.epoch = epoch
        self.history = history
        self.signum = signum


class Interrupt(KeyboardInterrupt):
    """A signal that stops nnctl the way Ctrl-C does (SIGTERM, SIGHUP): raised by the
    CLI's handler wherever the program is, so that what Ctrl-C saves, it saves too."""

    def __init__(self, signum: int, name: str) -> None:
        super().__init__(name)
        self.signum = signum
        self.name = name
