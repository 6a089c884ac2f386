"""``nnctl shapes``: every tensor's shape per layer for a batch of ``m`` samples."""

from __future__ import annotations

import json

import numpy as np

from .. import config as config_mod
from .. import render
from ..config import Config, resolve_network
from ..core.network import describe, layer_shapes
from ..data.prepare import prepare_data
from ..data.target import output_size


def network_shape(cfg: Config) -> tuple[list[int], list[str]]:
    """``n[0..L]`` and activations, reading the data only when the config leaves a size out."""
    net = cfg.network
    out = net.layers[-1]
    if net.inputs is not None and out.units is not None and (cfg.loss != "auto" or out.activation):
        loss = cfg.loss if cfg.loss != "auto" else {
            "logistic": "binary_crossentropy", "softmax": "categorical_crossentropy"}.get(out.activation, "mse")
        sizes, acts, _ = resolve_network(cfg, None, None, loss)
    else:
        prep = prepare_data(cfg)
        sizes, acts, _ = resolve_network(cfg, len(prep.encoded),
                                         output_size(prep.target, prep.loss), prep.loss)
    return sizes, acts


def shapes_report(sizes: list[int], activations: list[str], m: int, dtype: str) -> dict:
    """Per-layer shapes and counts for ``nnctl shapes`` (and its ``--json``).

    FLOPs count a multiply-add as 2: forward ``2 n n_prev m`` for ``W A`` plus ``n m`` for
    the bias; backward ``2 n n_prev m`` for ``dW``, ``n m`` for ``db``, ``n m`` for
    ``dZ = dA * f'(Z)`` and, above layer 1, ``2 n n_prev m`` for ``dA_prev``. Activation
    functions themselves are not counted. Cached bytes are ``A[0]`` plus ``Z[l]`` and
    ``A[l]`` for every layer.
    """
    itemsize = np.dtype(dtype).itemsize
    layers, fwd, bwd = [], 0, 0
    for s in layer_shapes(sizes, activations, m):
        n, n_prev = s.W
        f = 2 * n * n_prev * m + n * m
        b = 2 * n * n_prev * m + 2 * n * m + (2 * n * n_prev * m if s.l > 1 else 0)
        fwd, bwd = fwd + f, bwd + b
        layers.append({"l": s.l, "n": s.n, "activation": s.activation,
                       "shapes": {k: list(getattr(s, k)) for k in ("W", "b", "Z", "A", "dW", "db", "dZ", "dA")},
                       "params": s.params, "forward_flops": f, "backward_flops": b})
    params = sum(layer["params"] for layer in layers)
    return {
        "network": describe(sizes, activations), "inputs": sizes[0], "m": m, "dtype": dtype,
        "layers": layers,
        "totals": {"params": params, "param_bytes": params * itemsize,
                   "activation_bytes": (sizes[0] + 2 * sum(sizes[1:])) * m * itemsize,
                   "forward_flops": fwd, "backward_flops": bwd},
    }


def run(config: str | None, *, m: int | None = None, as_json: bool = False) -> dict:
    """``nnctl shapes``: the table on stdout, or the report as JSON."""
    cfg = config_mod.load(config)
    sizes, acts = network_shape(cfg)
    batch = cfg.training.batch_size if cfg.training.batch_size != "auto" else 32
    report = shapes_report(sizes, acts, m or batch, cfg.training.dtype)
    if as_json:
        render.data(json.dumps(report, indent=2) + "\n")
    else:
        render.shapes_table(report)
    return report
