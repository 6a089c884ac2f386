"""A sweep of short trials on 2 Dask workers against the same sweep run serially, in one run.

    python benchmarks/bench_sweep.py                 # 32 trials of 1200 epochs, 3 rounds
    python benchmarks/bench_sweep.py --epochs 400 --rounds 7
    python benchmarks/bench_sweep.py --trials 16 --rounds 1 --json sweep.json

The sweep: the bundled iris config (4-16-8-3, tanh/prelu/softmax), ``--epochs`` epochs a
trial (1200 by default: about a second a trial on a 2-core AVX-512 EPYC or Xeon, as 400
epochs were on the AVX2 EPYC this benchmark was first run on) with early stopping off and
no pruner (so every trial does the same work), a random
sampler over lr, the first layer's units and activation. Each side is the real command in a
fresh subprocess, timed end to end (interpreter start, imports, the local cluster's start
and shutdown for ``--workers 2``, and writing every run directory), in a fresh folder with a
fresh study. The rounds of the two sides alternate, so that the noise of a shared machine
falls on both; figures are the median with the min and max. Target (issue 14): the two
workers at least 1.67x faster than serial on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_io import cpu_model  # the one CPU probe of the benchmarks

ROOT = Path(__file__).resolve().parent.parent
IRIS = ROOT / "nnctl" / "bundled" / "configs" / "iris.yaml"


def sweep_file(folder: Path, trials: int, epochs: int) -> Path:
    base = folder / "iris.yaml"
    text = IRIS.read_text().replace("../datasets/", str(ROOT / "nnctl" / "bundled" / "datasets") + "/")
    base.write_text(text + f"\n# benchmark\n")
    (folder / "bench.yaml").write_text(
        f"config: iris.yaml\nobjective: val_accuracy\ntrials: {trials}\nsampler: random\n"
        "pruner: none\nseed: 0\nspace:\n"
        "  training.optimizer.lr: {low: 1.0e-3, high: 1.0e-1, log: true}\n"
        "  network.layers[0].units: {low: 8, high: 32, step: 8}\n"
        "  network.layers[0].activation: {choices: [tanh, elu, relu]}\n"
        f"  training.epochs: {{choices: [{epochs}]}}\n"
        "  training.early_stopping: {choices: [false]}\n"
        "  output.plots: {choices: [false]}\n")
    return folder / "bench.yaml"


def once(trials: int, epochs: int, workers: int | None) -> float:
    folder = Path(tempfile.mkdtemp(prefix="nnctl-bench-sweep-"))
    try:
        path = sweep_file(folder, trials, epochs)
        command = [sys.executable, "-m", "nnctl", "sweep", str(path), "--json", "-q"]
        if workers:
            command += ["--workers", str(workers)]
        start = time.perf_counter()
        run = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=3600)
        seconds = time.perf_counter() - start
        if run.returncode != 0:
            raise SystemExit(f"sweep failed ({run.returncode}): {run.stderr[-2000:]}")
        out = json.loads(run.stdout)
        if out["completed"] != trials:
            raise SystemExit(f"{out['completed']} of {trials} trials completed")
        return seconds
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=1200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", metavar="FILE", help="also write the figures here")
    args = parser.parse_args()
    times: dict[str, list[float]] = {"serial": [], "2 workers": []}
    for r in range(args.rounds):
        for name, workers in (("serial", None), ("2 workers", 2)):
            times[name].append(once(args.trials, args.epochs, workers))
            print(f"round {r + 1}: {name:9s} {times[name][-1]:7.2f} s", flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    speedup = med["serial"] / med["2 workers"]
    print(f"\nCPU: {cpu_model()}, {os.cpu_count()} cores; {args.trials} trials of {args.epochs} epochs")
    for k, v in times.items():
        print(f"{k:9s} median {med[k]:7.2f} s (min {min(v):.2f}, max {max(v):.2f})")
    print(f"speed-up of 2 workers over serial: {speedup:.2f}x (target >= 1.67x)")
    if args.json:
        Path(args.json).write_text(json.dumps({"cpu": cpu_model(), "trials": args.trials,
                                               "epochs": args.epochs, "seconds": times,
                                               "median": med, "speedup": speedup}, indent=2))


if __name__ == "__main__":
    main()
