"""What issue 15's options cost per epoch: dropout, clipping, AdamW and a plateau schedule
against plain Adam, on bench_train's workloads, and dropout's cost in elementwise passes.

    python benchmarks/bench_options.py                 # tiny, small and mnist, 5 rounds
    python benchmarks/bench_options.py -w small --rounds 3
    python benchmarks/bench_options.py --torch     # and PyTorch's dropout, on the same bar

Each variant trains the same network on the same data with the same seed; the rounds of
the variants alternate, so that a shared machine's noise falls on all of them. Reported:
the median seconds per epoch (min to max) and the ratio to plain Adam. For dropout, also
the time of one elementwise pass over every hidden layer's A at each step (an in-place
multiply), so its extra cost reads as a number of such passes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_io import cpu_model  # noqa: E402
from bench_train import WORKLOADS, accelerate, make_data, run_steps, run_torch, targets_nnctl  # noqa: E402
from nnctl.core.network import Network  # noqa: E402
from nnctl.core.optimizers import Adam, AdamW  # noqa: E402
from nnctl.core.schedules import get_schedule  # noqa: E402
from nnctl.core.train import fit  # noqa: E402

VARIANTS = {
    "adam": {},
    "dropout 0.2": {"dropout": 0.2},
    "clip_norm 1": {"optimizer": lambda: Adam(lr=1e-3, clip_norm=1.0)},
    "adamw": {"optimizer": lambda: AdamW(lr=1e-3, weight_decay=0.01)},
    "plateau + warmup": {"schedule": lambda: get_schedule("reduce_on_plateau", warmup=2)},
}


def epoch_seconds(w, X, Y, r: int, variant: dict) -> float:
    L = len(w.sizes) - 1
    p = variant.get("dropout", 0.0)
    net = Network(list(w.sizes), [w.hidden] * (L - 1) + [w.output], loss=w.loss, dtype=w.dtype,
                  rng=np.random.default_rng(r), dropout=[p] * (L - 1) + [0.0])
    optimizer = variant.get("optimizer", lambda: Adam(lr=1e-3))()
    steps = run_steps(w, "nnctl")  # as nnctl train does for 200 epochs, no early stopping (the fast extra)
    accelerate(net, optimizer, w, steps)
    schedule = variant.get("schedule", lambda: None)()
    history = fit(net, X.T, Y.T, optimizer=optimizer, epochs=w.epochs, batch_size=w.batch,
                  rng=np.random.default_rng(r), schedule=schedule)
    return statistics.mean(record.seconds for record in history.records)


def one_pass_seconds(w) -> float:
    """One in-place multiply over every hidden layer's (n[l], m) at each step of an epoch."""
    A = [np.ones((n, w.batch), w.dtype) for n in w.sizes[1:-1]]
    steps = -(-w.rows // w.batch)
    start = time.perf_counter()
    for _ in range(steps):
        for a in A:
            a *= 1.0
    return time.perf_counter() - start


def torch_pass_seconds(w) -> float:
    """PyTorch's own pass: one in-place multiply over every hidden layer's (m, n[l]) at each
    step of an epoch."""
    import torch

    torch.set_num_threads(w.threads)
    dtype = torch.float32 if w.dtype == "float32" else torch.float64
    A = [torch.ones((w.batch, n), dtype=dtype) for n in w.sizes[1:-1]]
    steps = -(-w.rows // w.batch)
    start = time.perf_counter()
    for _ in range(steps):
        for a in A:
            a.mul_(1.0)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-w", "--workloads", default="tiny,small,mnist")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--torch", action="store_true",
                        help="also PyTorch's dropout against its Adam (torch installed)")
    args = parser.parse_args()
    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores; median of {args.rounds} rounds")
    for name in args.workloads.split(","):
        w = WORKLOADS[name]
        X, labels = make_data(w)
        Y = targets_nnctl(w, labels)
        times: dict[str, list[float]] = {k: [] for k in VARIANTS}
        passes = []
        for r in range(args.rounds):
            for k, variant in VARIANTS.items():
                times[k].append(epoch_seconds(w, X, Y, r, variant))
            passes.append(one_pass_seconds(w))
        base = statistics.median(times["adam"])
        one = statistics.median(passes)
        print(f"\n{name} {'-'.join(map(str, w.sizes))} {w.hidden}, batch {w.batch}, {w.dtype}"
              f" (one elementwise pass over the hidden A's: {one * 1e3:.2f} ms an epoch)")
        for k, v in times.items():
            med = statistics.median(v)
            extra = "" if k != "dropout 0.2" else f"; +{(med - base) / one:.1f} passes"
            print(f"  {k:18s} {med:8.4f} s/epoch ({min(v):.4f} to {max(v):.4f})"
                  f"  {med / base:5.2f}x adam{extra}")
        if args.torch:
            # The same bar for PyTorch's nn.Dropout, in PyTorch's own passes.
            t = {0.0: [], 0.2: []}
            t_pass = []
            for r in range(args.rounds):
                for p in t:
                    t[p].append(run_torch(w, X, labels, r, dropout=p))
                t_pass.append(torch_pass_seconds(w))
            b, d, o = (statistics.median(t[0.0]), statistics.median(t[0.2]),
                       statistics.median(t_pass))
            print(f"  PyTorch: adam {b:.4f} s/epoch, nn.Dropout(0.2) {d:.4f}: {d / b:5.2f}x;"
                  f" +{(d - b) / o:.1f} of its passes ({o * 1e3:.2f} ms an epoch)")


if __name__ == "__main__":
    main()
