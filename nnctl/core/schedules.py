"""Learning-rate schedules: the rate for epoch ``e`` (0-based) from the initial rate ``lr``."""

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


#: Schedule classes by name.
SCHEDULES: Registry = Registry("schedule", {"constant": Constant, "step": StepDecay,
                                            "exponential": ExponentialDecay, "cosine": CosineDecay},
                               {"none": "constant"})


def get_schedule(name: str | None, **params):
    """Build a schedule by name (``constant``, ``step``, ``exponential``, ``cosine``)."""
    key = "constant" if name is None else SCHEDULES.name(name)
    check_params(f"schedule '{key}'", SCHEDULES[key], params)
    schedule = SCHEDULES[key](**params)
    if isinstance(schedule, StepDecay):
        _check_positive_int("step_size", schedule.step_size)
        _check_range("gamma", schedule.gamma, 0.0, 1.0, low_open=True)
    elif isinstance(schedule, ExponentialDecay):
        _check_range("gamma", schedule.gamma, 0.0, 1.0, low_open=True)
    elif isinstance(schedule, CosineDecay):
        _check_positive_int("epochs", schedule.epochs)
        _check_range("min_lr", schedule.min_lr, 0.0, None)
    return schedule


def _check_positive_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}", key=name)
