"""Test metric of each bundled config under several initialisations, mean over seeds.

    python benchmarks/compare_init.py                          # every config, 5 seeds
    python benchmarks/compare_init.py iris,cars out1.0,torch   # some configs and ways

Ways: ``new`` is nnctl's default (the output layer's Glorot draw scaled by its loss's
``OUTPUT_GAIN``); ``old`` the default before issue 15 (the output layer's plain Glorot
draw); ``outG`` the old default with the output layer's W scaled by G; ``torch`` draws
every W and b from U(+-1/sqrt(n[l-1])) as PyTorch's ``nn.Linear``; ``keras`` every W from
Glorot uniform with zero biases, as Keras's ``Dense``. Each row is the mean over the
seeds (``NNCTL_SEEDS``, default 5; each seed sets the split, the shuffles and the draws),
then each way's mean paired difference from torch and keras with its standard error.
The figures in tests/core/test_init_quality.py come from this script.
"""

from __future__ import annotations

import importlib.util
import math
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nnctl import config, render  # noqa: E402
from nnctl.commands.train import Session  # noqa: E402
from nnctl.core.init import OUTPUT_GAIN  # noqa: E402
from nnctl.core.losses import REGRESSION_LOSSES  # noqa: E402

# The peers' draws are the test's (one definition of what "PyTorch's default" means here).
_spec = importlib.util.spec_from_file_location(
    "test_init_quality", Path(__file__).resolve().parent.parent / "tests" / "commands"
    / "test_init_quality.py")
_test = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_test)
peer_draw = _test._peer_draw

CONFIGS = "default,iris,penguins,breast_cancer,diabetes,cars"
WAYS = "new,old,torch,keras"
SEEDS = tuple(range(int(__import__("os").environ.get("NNCTL_SEEDS", "5"))))


def redraw(net, way: str, seed: int) -> None:
    if way.startswith("out"):
        kind = "regression" if net.loss.name in REGRESSION_LOSSES else "classification"
        net.layers[-1].W[...] *= float(way[3:]) / OUTPUT_GAIN[kind]
    elif way != "new":
        peer_draw(net, way, seed)


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
            values = {w: [test_metric(name, w, s) for s in SEEDS] for w in ways}
            row = {w: round(statistics.mean(v), 4) for w, v in values.items()}
            print(name, row, flush=True)
            for peer in ("torch", "keras"):
                if peer in values and len(SEEDS) > 1:
                    diffs = {w: [a - b for a, b in zip(v, values[peer])]
                             for w, v in values.items() if w != peer}
                    print(f"  minus {peer}:", {w: f"{statistics.mean(d):+.4f} (se "
                          f"{statistics.stdev(d) / math.sqrt(len(d)):.4f})" for w, d in diffs.items()})


if __name__ == "__main__":
    main()
