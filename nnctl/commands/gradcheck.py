"""``nnctl gradcheck``: backpropagation against central finite differences, for every
parameter of the user's own network on a batch of their own rows (``core.gradcheck``)."""

from __future__ import annotations

import json

import numpy as np

from .. import render
from ..core.gradcheck import GradCheck, gradcheck
from ..core.network import describe
from ..errors import CheckFailed, ConfigError, DataError
from . import inspection
from .evaluate import finite


def report(subject: inspection.Subject, check: GradCheck) -> dict:
    """The check as JSON-ready data: a row per tensor, the tolerances and the verdict."""
    net = subject.network
    blocked = [l for l, layer in enumerate(net.layers, start=1) if not layer.activation.passes_gradient]
    kinks = sorted({layer.activation.name for layer in net.layers if layer.activation.kink is not None})
    return {
        "source": subject.source, "weights": subject.weights,
        "network": describe(net.sizes, net.activations), "dtype": net.dtype.name,
        "computed_in": "float64", "data": subject.data, "rows": subject.rows, "m": check.m,
        "loss": net.loss.name, "J": check.loss,
        "eps": check.eps, "rtol": check.rtol, "atol": check.atol,
        "tensors": [{
            "name": t.name, "l": t.l, "shape": list(t.shape), "total": t.total,
            "checked": t.checked, "kinks": t.kinks, "zero": t.zero,
            "max_abs": t.max_abs, "max_rel": t.max_rel,
            "worst": None if t.worst is None else list(t.worst), "passed": t.passed,
            # below a binary step: both gradients are exactly 0 (docs/notation.md)
            "no_gradient": any(t.l < l for l in blocked) and t.zero == t.checked - t.kinks,
        } for t in check.tensors],
        "kink_activations": kinks,
        "passed": check.passed,
    }


def run(target: str | None = None, *, data: str | None = None, batch: int = 16,
        max_entries: int | None = 1000, eps: float = 1e-6, as_json: bool = False) -> dict:
    """``nnctl gradcheck``: a table per layer on stdout (or JSON); ``CheckFailed`` if any
    tensor fails, after the table is shown."""
    subject = inspection.load(target, data=data, batch=batch)
    for note in subject.notes:
        render.note(note, style="yellow")
    seed = 0
    check = gradcheck(subject.network, subject.X, subject.Y, w=subject.w, eps=eps,
                      max_entries=max_entries or None, rng=np.random.default_rng(seed))
    out = report(subject, check)
    if not np.isfinite(check.loss):
        raise DataError(f"{subject.data}: the loss is not finite on these rows, so there is no"
                        " gradient to check; their features are far outside the range the"
                        " network works in (pick other rows with --data or --batch)")
    if any(not np.isfinite(t.max_abs) for t in check.tensors):
        if eps < 1e-9:
            raise ConfigError(f"--eps {eps:g} is too small for float64: a step that size leaves"
                              " the parameters as they are, so the differences divide by 0;"
                              " use the default, 1e-6")
        raise DataError(f"the finite differences are not finite at this loss (J = {check.loss:.3g}"
                        f" on {subject.data}), so they say nothing of backprop; check a network"
                        " that has not diverged, or other rows (--data, --batch)")
    if as_json:
        render.data(json.dumps(finite(out), indent=2, allow_nan=False) + "\n")
    else:
        render.gradcheck(out)
    if not check.passed:
        failed = [t for t in out["tensors"] if not t["passed"]]
        worst = max(failed, key=lambda t: t["max_rel"])
        where = "" if worst["worst"] is None else f"[{', '.join(map(str, worst['worst']))}]"
        raise CheckFailed(
            f"gradient check failed for {', '.join(t['name'] for t in failed)}: backprop and"
            f" central differences differ by up to {worst['max_rel']:.1e} (relative) at"
            f" {worst['name']}{where}; the derivative of layer {min(t['l'] for t in failed)}'s"
            " activation or the loss is wrong" + (
                f", or eps {eps:g} is too {'small' if eps < 1e-6 else 'large'} for float64 (try"
                " the default, 1e-6)" if not 1e-9 <= eps <= 1e-4 else ""))
    return out
