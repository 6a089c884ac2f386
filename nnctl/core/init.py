"""Initial weights ``W[l]: (n[l], n[l-1])``; biases always start at 0.

``auto`` picks a hidden layer's rule by its activation: He for the ReLU family, whose units
pass about half their input on (variance ``2 / n[l-1]`` keeps the forward signal's scale),
Glorot for the rest (variance ``2 / (n[l-1] + n[l])`` balances the forward and backward
signals). The output layer is drawn for its loss: Glorot scaled down by ``OUTPUT_GAIN``, so
the network starts near the loss's best constant guess (logits near 0, a regression near
the standardized target's mean) instead of confidently wrong. Weights are drawn in
float64, so both dtypes start from the same values.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from ..registry import Registry
from .activations import Activation


def _variance(kind: str, n: int, n_prev: int) -> float:
    return 2.0 / n_prev if kind == "he" else 2.0 / (n_prev + n)


def _normal(kind: str):
    def draw(rng: np.random.Generator, n: int, n_prev: int) -> NDArray[np.float64]:
        return rng.standard_normal((n, n_prev)) * math.sqrt(_variance(kind, n, n_prev))
    return draw


def _uniform(kind: str):
    def draw(rng: np.random.Generator, n: int, n_prev: int) -> NDArray[np.float64]:
        limit = math.sqrt(3.0 * _variance(kind, n, n_prev))  # U(-a, a) has variance a^2 / 3
        return rng.uniform(-limit, limit, (n, n_prev))
    return draw


#: Initializers by name: ``draw(rng, n, n_prev) -> W``; ``auto`` is resolved per layer.
INITIALIZERS: Registry = Registry(
    "init", {"auto": None, "he_normal": _normal("he"), "he_uniform": _uniform("he"),
             "glorot_normal": _normal("glorot"), "glorot_uniform": _uniform("glorot")},
    {"he": "he_normal", "glorot": "glorot_uniform", "xavier": "glorot_uniform",
     "xavier_uniform": "glorot_uniform", "xavier_normal": "glorot_normal"})


#: ``auto``'s factor on the output layer's Glorot draw, by the kind of loss, measured on the
#: bundled datasets against PyTorch's and Keras's defaults (tests/commands/
#: test_init_quality.py). A regression's random initial function adds its variance to the
#: loss and has to be unlearned, so it starts nearly flat; smaller logits than half cost a
#: tiny network (the bundled 3-3-2-1) accuracy, its two hidden units learning too slowly.
OUTPUT_GAIN = {"classification": 0.5, "regression": 0.1}


def initial_weights(rng: np.random.Generator, init: str, act: Activation, n: int, n_prev: int,
                    *, output: str | None = None) -> NDArray[np.float64]:
    """``W: (n, n_prev)`` drawn by ``init`` (a name of ``INITIALIZERS``) for activation ``act``;
    ``output`` is the output layer's kind of loss (a key of ``OUTPUT_GAIN``), None for a
    hidden layer. Only ``auto`` uses it: a named rule is drawn as named everywhere."""
    init = INITIALIZERS.name(init)
    if init == "auto" and output is not None:
        return INITIALIZERS["glorot_uniform"](rng, n, n_prev) * OUTPUT_GAIN[output]
    if init == "auto":
        init = "he_normal" if act.relu_family else "glorot_uniform"
    return INITIALIZERS[init](rng, n, n_prev)
