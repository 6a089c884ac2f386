"""Where one training epoch's time goes, per phase, on bench_train's workloads.

    python benchmarks/profile_train.py                 # every workload
    python benchmarks/profile_train.py -w mnist,wide --epochs 2

Each phase of ``core.train.fit``'s step is timed by wrapping it (the wrapper's own cost, a
clock read on each side, is measured and taken off): the batch gather, the forward pass,
the backward pass and the optimizer's step, or all of them at once where the fast extra's
compiled steps run the epoch's full batches ("compiled steps"); "epoch bookkeeping" is what the epoch's
record, its loss and metrics, the output copies and the loop cost beyond the steps. (The
first timed epoch follows a warm-up one, as in bench_train.) The
GEMM floor (bench_train's) is the matrix products alone, for scale.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_io import cpu_model  # noqa: E402
from bench_train import WORKLOADS, accelerate, make_data, run_gemm_floor, run_steps, targets_nnctl  # noqa: E402
from nnctl.kernels import steps as compiled_steps  # noqa: E402
from nnctl.core import train as train_mod  # noqa: E402
from nnctl.core.network import Network  # noqa: E402
from nnctl.core.optimizers import Adam  # noqa: E402

PHASES = ("gather", "forward", "backward", "optimizer", "compiled steps")


def timed(spent: dict, phase: str, f):
    clock = time.perf_counter

    def wrapper(*args, **kwargs):
        t = clock()
        try:
            return f(*args, **kwargs)
        finally:
            spent[phase] += clock() - t
    return wrapper


def clock_cost() -> float:
    clock, n = time.perf_counter, 100_000
    t = clock()
    for _ in range(n):
        clock()
    return (clock() - t) / n


def profile(name: str, epochs: int) -> None:
    w = WORKLOADS[name]
    X, labels = make_data(w)
    Y = targets_nnctl(w, labels)
    net = Network(list(w.sizes), [w.hidden] * (len(w.sizes) - 2) + [w.output], loss=w.loss,
                  dtype=w.dtype, rng=np.random.default_rng(0))
    opt = Adam(lr=1e-3)
    steps = run_steps(w, "nnctl")  # as nnctl train does for 200 epochs, no early stopping (the fast extra)
    fused = accelerate(net, opt, w, steps)
    spent = dict.fromkeys(PHASES, 0.0)
    Steps = train_mod._Steps
    originals = (Steps.batch, Steps.begin, Network.forward_cached, Network.backward, Adam.step,
                 compiled_steps.Loop.run)
    try:
        from threadpoolctl import threadpool_limits
        limits = threadpool_limits(limits=w.threads, user_api="blas")
    except ImportError:
        limits = contextlib.nullcontext()
    with limits:
        return _profile(name, w, X, Y, net, opt, fused, spent, epochs, Steps, originals)


def _profile(name, w, X, Y, net, opt, fused, spent, epochs, Steps, originals) -> None:
    try:
        train_mod.fit(net, X.T, Y.T, optimizer=opt, epochs=1, batch_size=w.batch,
                      rng=np.random.default_rng(0))  # warm: buffers, caches
        Steps.batch = timed(spent, "gather", Steps.batch)
        Steps.begin = timed(spent, "gather", Steps.begin)  # the whole epoch's, small data
        Network.forward_cached = timed(spent, "forward", Network.forward_cached)
        Network.backward = timed(spent, "backward", Network.backward)
        Adam.step = timed(spent, "optimizer", Adam.step)
        compiled_steps.Loop.run = timed(spent, "compiled steps", compiled_steps.Loop.run)
        history = train_mod.fit(net, X.T, Y.T, optimizer=opt, epochs=epochs,
                                batch_size=w.batch, rng=np.random.default_rng(1))
    finally:
        (Steps.batch, Steps.begin, Network.forward_cached, Network.backward, Adam.step,
         compiled_steps.Loop.run) = originals
    total = sum(r.seconds for r in history.records) / epochs
    n_steps = -(-w.rows // w.batch)
    wrapped = len(PHASES) - 1  # a step's wrappers (the compiled steps' is one an epoch)
    overhead = 2 * clock_cost() * n_steps * wrapped  # per epoch, the wrappers' clocks
    per_epoch = {p: max(0.0, spent[p] / epochs - (overhead / wrapped if spent[p] else 0.0))
                 for p in PHASES}
    per_epoch["epoch bookkeeping"] = total - sum(per_epoch.values()) - overhead
    floor = statistics.median(run_gemm_floor(w, X, None, r) for r in range(3))
    print(f"\n{name}: {'-'.join(map(str, w.sizes))} {w.hidden}, batch {w.batch}, {w.dtype},"
          f" {n_steps} steps an epoch; {total * 1e3:.1f} ms an epoch"
          f" ({total / floor:.2f}x the GEMM floor, {floor * 1e3:.1f} ms);"
          f" {'the kernels and compiled steps (numba)' if fused else 'NumPy passes'}")
    for p, s in per_epoch.items():
        print(f"  {p:18s} {s * 1e3:9.2f} ms  {100 * s / total:5.1f}%"
              f"  {s / n_steps * 1e6:8.1f} us a step")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-w", "--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    print(f"CPU: {cpu_model()}")
    for name in args.workloads.split(","):
        profile(name, args.epochs)


if __name__ == "__main__":
    main()
