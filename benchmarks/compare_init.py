"""Test metric of each bundled config under several initialisations, mean over seeds.

    python benchmarks/compare_init.py                          # every config, 5 seeds
    python benchmarks/compare_init.py iris,cars out1.0,torch   # some configs and ways

Ways: ``outG`` is nnctl's default with the output layer's W scaled by G (``out1.0`` is the
default itself); ``torch`` draws every W and b from U(+-1/sqrt(n[l-1])) as PyTorch's
``nn.Linear``; ``keras`` every W from Glorot uniform with zero biases, as Keras's ``Dense``.
The groundwork for issue 15's better default initialisation (figures in its note).
"""

from __future__ import annotations

import math
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nnctl import config, render  # noqa: E402
from nnctl.commands.train import Session  # noqa: E402

CONFIGS = "default,iris,penguins,breast_cancer,diabetes,cars"
WAYS = "out1.0,out0.3,out0.1,torch,keras"
SEEDS = (0, 1, 2, 3, 4)


def redraw(net, way: str, seed: int) -> None:
    rng = np.random.default_rng(1000 + seed)
    for l, layer in enumerate(net.layers, start=1):
        n, n_prev = layer.W.shape
        if way == "torch":
            k = 1 / math.sqrt(n_prev)
            layer.W[...] = rng.uniform(-k, k, (n, n_prev))
            layer.b[...] = rng.uniform(-k, k, (n, 1))
        elif way == "keras":
            r = math.sqrt(6 / (n + n_prev))
            layer.W[...] = rng.uniform(-r, r, (n, n_prev))
            layer.b[...] = 0
        elif way.startswith("out") and l == net.L:
            layer.W[...] *= float(way[3:])


def test_metric(name: str, way: str, seed: int) -> float:
    cfg = config.load(config.BUNDLED / "configs" / f"{name}.yaml").with_values(
        {"training.seed": seed, "output.plots": False})
    session = Session(cfg)
    redraw(session.network, way, seed)
    result = session.train().results["test"]
    return result.get("accuracy", result.get("r2"))


def main() -> None:
    names = (sys.argv[1] if len(sys.argv) > 1 else CONFIGS).split(",")
    ways = (sys.argv[2] if len(sys.argv) > 2 else WAYS).split(",")
    render.configure(quiet=True)
    with tempfile.TemporaryDirectory() as folder:  # the runs are not kept
        import os

        os.chdir(folder)
        for name in names:
            row = {w: round(statistics.mean(test_metric(name, w, s) for s in SEEDS), 4) for w in ways}
            print(name, row, flush=True)


if __name__ == "__main__":
    main()
