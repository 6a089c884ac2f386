"""``nnctl explain``: one forward and one backward pass on the user's own rows, in the
notation of docs/notation.md, with every tensor's numbers and the update the optimizer
would make (``core.explain.step``)."""

from __future__ import annotations

import json

import numpy as np

from .. import render
from ..core.explain import Step, step
from ..core.network import describe
from . import inspection
from .evaluate import finite

#: The update each optimizer makes, in docs/notation.md's terms (g = dW + l2 W, or db).
UPDATES = {
    "sgd": "theta = theta - lr g",
    "momentum": "v = mu v - lr g;  theta = theta + v",
    "nesterov": "v = mu v - lr g;  theta = theta + mu v - lr g",
    "adam": "m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2;"
            "  theta = theta - lr_t m / (sqrt(v) + eps), lr_t = lr sqrt(1 - beta2^t) / (1 - beta1^t)",
    "adamw": "W = W - lr weight_decay W (weights only);  m = beta1 m + (1 - beta1) g;"
             "  v = beta2 v + (1 - beta2) g^2;  theta = theta - lr_t m / (sqrt(v) + eps),"
             " lr_t = lr sqrt(1 - beta2^t) / (1 - beta1^t)",
}


def report(subject: inspection.Subject, s: Step) -> dict:
    """Everything ``explain`` shows, JSON-ready: every array whole, as nested lists."""
    net, opt = subject.network, subject.optimizer
    name = "nesterov" if getattr(opt, "nesterov", False) else opt.name
    params = {k: getattr(opt, k) for k in ("momentum", "beta1", "beta2", "eps", "weight_decay",
                                           "clip_norm", "clip_value")
              if getattr(opt, k, None) is not None}
    if hasattr(opt, "t"):
        params["t"] = opt.t + 1  # the step shown is the next one
    layers = []
    for ls in s.layers:
        layers.append({
            "l": ls.l, "n": int(ls.W.shape[0]), "activation": ls.activation,
            "alpha": _list(ls.alpha),
            "forward": {"W": _list(ls.W), "b": _list(ls.b), "A_prev": _list(ls.A_prev),
                        "Z": _list(ls.Z), "A": _list(ls.A)},
            "backward": {"dA": _list(ls.dA), "f_prime": _list(ls.f_prime), "dZ": _list(ls.dZ),
                         "dW": _list(ls.dW), "db": _list(ls.db), "dA_prev": _list(ls.dA_prev),
                         "dalpha": _list(ls.dalpha)},
            "update": {"W": _list(ls.step_W), "b": _list(ls.step_b),
                       "alpha": _list(ls.step_alpha)},
        })
    return {
        "source": subject.source, "weights": subject.weights,
        "network": describe(net.sizes, net.activations), "sizes": net.sizes,
        "dtype": net.dtype.name, "computed_in": "float64",
        "data": subject.data, "rows": subject.rows, "lines": subject.lines, "m": s.m,
        "raw": subject.raw, "inputs": subject.inputs, "target": subject.target.names,
        "classes": subject.target.classes, "target_scaled": subject.target_scaled,
        "X": _list(s.X), "Y": _list(s.Y), "w": _list(s.w),
        "loss": s.loss, "J": s.J, "fused": s.fused,
        "layers": layers,
        "optimizer": {"name": name, "lr": s.lr, "l2": opt.l2, **params, "update": UPDATES[name]},
    }


def run(target: str | None = None, *, data: str | None = None, sample: int | None = None,
        batch: int | None = None, as_json: bool = False, precision: int = 4) -> dict:
    """``nnctl explain``: the step on stdout, as equations with numbers, or as JSON."""
    subject = inspection.load(target, data=data, sample=sample, batch=batch)
    for note in subject.notes:
        render.note(note, style="yellow")
    s = step(subject.network, subject.X, subject.Y, optimizer=subject.optimizer, lr=subject.lr,
             w=subject.w)
    out = report(subject, s)
    if as_json:
        render.data(json.dumps(finite(out), indent=1, allow_nan=False) + "\n")
    else:
        render.explain(out, precision=precision)
    return out


def _list(a):
    """An array as nested lists of floats (None stays None, a float stays a float)."""
    if a is None or isinstance(a, float):
        return a
    a = np.asarray(a, dtype=np.float64)
    if not np.isfinite(a).all():  # JSON has no inf or NaN
        return [[v if np.isfinite(v) else None for v in row] for row in np.atleast_2d(a).tolist()]
    return a.tolist()
