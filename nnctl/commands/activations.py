"""``nnctl activations``: the activations of the registry, with their formulas and curves
(drawn as an image with ``--plot``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .. import plots, render
from ..core.activations import ACTIVATIONS, Activation, get_activation
from ..errors import ConfigError, DataError
from ..files import Output, check_outputs, write_outputs

#: Where the curves are sampled: 161 points, 0.05 apart, 0 among them.
Z = np.linspace(-4.0, 4.0, 161)


def curves(act: Activation) -> tuple[np.ndarray, np.ndarray]:
    """``f`` and ``f'`` on ``Z``, from the functions training runs (``Activation.f`` and
    ``backward`` with ``dA = 1``). Softmax couples units: its curve is unit 0 of the column
    ``(z, 0)``, whose derivative is ``a0 (1 - a0)``."""
    if act.output_only:
        Zs = np.vstack([Z, np.zeros_like(Z)])
        A = act.f(Zs)
        dZ = act.backward(np.vstack([np.ones_like(Z), np.zeros_like(Z)]), Zs, A)
        return A[0], dZ[0]
    Zs = Z[None, :]
    A = act.f(Zs)
    return A[0], act.backward(np.ones_like(Zs), Zs, A)[0]


def describe(act: Activation) -> dict:
    f, df = curves(act)
    return {
        "name": act.name,
        "aliases": sorted(k for k, v in ACTIVATIONS.aliases.items() if v == act.name),
        "formula": act.formula, "derivative": act.derivative_formula, "range": act.range,
        "stable_form": act.stable_form, "output_only": act.output_only,
        "passes_gradient": act.passes_gradient, "alpha": act.alpha,
        "default_alpha": act.default_alpha,
        "z": Z.tolist(), "f": f.tolist(), "df": df.tolist(),
    }


def run(name: str | None = None, *, as_json: bool = False, plot: str | None = None) -> list[dict]:
    """One activation in detail (with its curves), or a table of all of them; with ``plot``
    (a ``.png`` or ``.svg`` path), also an image of their ``f`` and ``f'``."""
    acts = [get_activation(name)] if name else list(ACTIVATIONS.values())
    fmt = _image_format(plot) if plot is not None else None
    out = [describe(a) for a in acts]
    if as_json:
        render.data(json.dumps(out[0] if name else out, indent=2) + "\n")
    elif name:
        render.activation(out[0])
    else:
        render.activations(out)
    if plot is not None:
        _write_image(plot, fmt, out)
    return out


def _image_format(path: str) -> str:
    """``png`` or ``svg`` from the path's suffix; checked, with the plot extra and a place
    to write, before anything is printed."""
    fmt = Path(path).suffix.lower().removeprefix(".")
    if fmt not in plots.FORMATS:
        raise ConfigError(f"{path}: --plot writes a .png or .svg image; give a file name ending"
                          " in .png or .svg")
    if not plots.available():
        raise DataError(plots.MISSING)
    check_outputs([("image", path, fmt == "png")], [])  # a PNG is binary, an SVG text
    return fmt


def _write_image(path: str, fmt: str, described: list[dict]) -> None:
    data = plots.activation_image({d["name"]: (d["z"], d["f"], d["df"]) for d in described},
                                  fmt=fmt)
    write_outputs([Output(path, lambda f: f.write(data), DataError, "image")])
    render.note(f"wrote {path}", style="green")
