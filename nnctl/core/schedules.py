"""Learning-rate schedules: the rate for epoch ``e`` (0-based) from the initial rate ``lr``.

Any of them can be preceded by a linear warm-up (``Warmup``); ``ReduceOnPlateau`` also
watches the loss. The rate of every epoch is the ``lr`` column of the history.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import ConfigError
from ..registry import Registry
from .optimizers import _check_range, check_params


@dataclass(frozen=True)
class Constant:
    name = "constant"

    def __call__(self, lr: float, epoch: int) -> float:
        return lr


@dataclass(frozen=True)
class StepDecay:
    """``lr * gamma ** (epoch // step_size)``."""

    step_size: int = 10
    gamma: float = 0.5
    name = "step"

    def __call__(self, lr: float, epoch: int) -> float:
        return lr * self.gamma ** (epoch // self.step_size)


@dataclass(frozen=True)
class ExponentialDecay:
    """``lr * gamma ** epoch``."""

    gamma: float = 0.95
    name = "exponential"

    def __call__(self, lr: float, epoch: int) -> float:
        return lr * self.gamma ** epoch


@dataclass(frozen=True)
class CosineDecay:
    """From ``lr`` at epoch 0 down to ``min_lr`` at epoch ``epochs``, along half a cosine."""

    epochs: int = 100
    min_lr: float = 0.0
    name = "cosine"

    def __call__(self, lr: float, epoch: int) -> float:
        t = min(epoch, self.epochs) / self.epochs
        return self.min_lr + 0.5 * (lr - self.min_lr) * (1 + math.cos(math.pi * t))


class ReduceOnPlateau:
    """The rate times factor after patience epochs without a better loss, down to min_lr.

    ``lr * factor`` each time the monitored loss (validation, else training) has not
    improved by more than ``min_delta`` for ``patience`` epochs, never below ``min_lr``.

    Unlike the others it depends on the losses, not only on the epoch: ``fit`` calls
    ``observe`` with each epoch's loss, and ``state`` / ``load_state`` carry it across a
    resumed run.
    """

    name = "reduce_on_plateau"

    def __init__(self, factor: float = 0.1, patience: int = 10, min_lr: float = 0.0,
                 min_delta: float = 0.0) -> None:
        self.factor, self.patience = factor, patience
        self.min_lr, self.min_delta = min_lr, min_delta
        self.scale, self.best, self.wait = 1.0, math.inf, 0

    def __repr__(self) -> str:
        return (f"ReduceOnPlateau(factor={self.factor}, patience={self.patience},"
                f" min_lr={self.min_lr}, min_delta={self.min_delta})")

    def __call__(self, lr: float, epoch: int) -> float:
        # never above lr, even with min_lr above it (as PyTorch: it only ever lowers)
        return min(lr, max(self.min_lr, lr * self.scale)) if self.scale < 1 else lr

    def observe(self, loss: float) -> None:
        """After an epoch: its monitored loss."""
        if loss < self.best - self.min_delta:
            self.best, self.wait = loss, 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.scale *= self.factor
            self.wait = 0

    def state(self) -> dict[str, float]:
        return {"scale": self.scale, "best": self.best, "wait": self.wait}

    def load_state(self, state: dict) -> None:
        """Restore ``state()``; raises ValueError for a state no run can have."""
        scale, best, wait = state["scale"], state["best"], state["wait"]
        if not (_number(scale) and 0 < scale <= 1):
            raise ValueError(f"scale must be a number in (0, 1], got {scale!r}")
        if best is not None and not (_number(best) and math.isfinite(best)):
            raise ValueError(f"best must be a finite number or null, got {best!r}")
        if isinstance(wait, bool) or not isinstance(wait, int) or wait < 0:
            raise ValueError(f"wait must be a whole number >= 0, got {wait!r}")
        # None: no finite loss yet (a JSON file has no inf)
        self.scale, self.best, self.wait = float(scale), math.inf if best is None else float(best), wait


class Warmup:
    """``schedule``'s rate times ``min(1, (epoch + 1) / epochs)``: a linear rise from
    ``lr / epochs`` in the first epoch to the full rate after ``epochs`` of them."""

    def __init__(self, schedule, epochs: int) -> None:
        _check_positive_int("warmup", epochs)
        self.schedule, self.epochs = schedule, epochs
        self.name = schedule.name

    def __repr__(self) -> str:
        return f"Warmup({self.schedule!r}, epochs={self.epochs})"

    def __call__(self, lr: float, epoch: int) -> float:
        return self.schedule(lr, epoch) * min(1.0, (epoch + 1) / self.epochs)

    def __getattr__(self, name):  # observe, state, load_state of a stateful schedule
        if name in ("observe", "state", "load_state"):
            return getattr(self.schedule, name)
        raise AttributeError(name)


#: Schedule classes by name.
SCHEDULES: Registry = Registry("schedule", {"constant": Constant, "step": StepDecay,
                                            "exponential": ExponentialDecay, "cosine": CosineDecay,
                                            "reduce_on_plateau": ReduceOnPlateau},
                               {"none": "constant", "plateau": "reduce_on_plateau"})


def get_schedule(name: str | None, *, warmup: int = 0, **params):
    """Build a schedule by name (``constant``, ``step``, ``exponential``, ``cosine``,
    ``reduce_on_plateau``), with ``warmup`` epochs of linear warm-up when above 0."""
    key = "constant" if name is None else SCHEDULES.name(name)
    check_params(f"schedule '{key}'", SCHEDULES[key], params)
    schedule = SCHEDULES[key](**params)
    _check(schedule)
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ConfigError(f"warmup must be a whole number of epochs >= 0, got {warmup!r}",
                          key="warmup")
    return Warmup(schedule, warmup) if warmup else schedule


def _check(schedule) -> None:
    if isinstance(schedule, StepDecay):
        _check_positive_int("step_size", schedule.step_size)
        _check_range("gamma", schedule.gamma, 0.0, 1.0, low_open=True)
    elif isinstance(schedule, ExponentialDecay):
        _check_range("gamma", schedule.gamma, 0.0, 1.0, low_open=True)
    elif isinstance(schedule, CosineDecay):
        _check_positive_int("epochs", schedule.epochs)
        _check_range("min_lr", schedule.min_lr, 0.0, None)
    elif isinstance(schedule, ReduceOnPlateau):
        _check_range("factor", schedule.factor, 0.0, 1.0, low_open=True, high_open=True)
        _check_positive_int("patience", schedule.patience)
        _check_range("min_lr", schedule.min_lr, 0.0, None)
        _check_range("min_delta", schedule.min_delta, 0.0, None)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_positive_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}", key=name)
