"""Seconds per training epoch: nnctl against PyTorch, scikit-learn and the GEMM-only floor.

Every peer trains the same network on the same synthetic data for the same epochs with
Adam (lr 1e-3) and the same batch size, dtype and thread count. Reported: the median
seconds per epoch over the rounds, samples per second, how many times faster nnctl is
than each peer, and nnctl's time as a multiple of the GEMM-only floor (the same matrix
products per step into preallocated buffers, nothing else).

    python benchmarks/bench_train.py                       # all workloads, all peers
    python benchmarks/bench_train.py -w tiny,small --rounds 3 --json out.json

Peers that are not installed are skipped with a note (``pip install torch==2.13.0
scikit-learn`` installs both here). Run it on an otherwise idle machine; on processors
where OPENBLAS_CORETYPE is forced (see README, Performance) unset it for this command.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nnctl.core.network import Network  # noqa: E402
from nnctl.core.optimizers import Adam  # noqa: E402
from nnctl.core.train import fit  # noqa: E402


@dataclass(frozen=True)
class Workload:
    name: str
    sizes: tuple[int, ...]
    hidden: str
    rows: int
    batch: int
    dtype: str
    threads: int
    epochs: int     # epochs per round
    rounds: int

    @property
    def output(self) -> str:
        return "logistic" if self.sizes[-1] == 1 else "softmax"

    @property
    def loss(self) -> str:
        return "binary_crossentropy" if self.sizes[-1] == 1 else "categorical_crossentropy"


WORKLOADS = {w.name: w for w in [
    Workload("tiny", (3, 3, 2, 1), "tanh", 10_000, 32, "float64", 1, 2, 5),
    Workload("small", (64, 64, 64, 10), "relu", 50_000, 128, "float32", 2, 1, 5),
    Workload("mnist", (784, 256, 128, 10), "relu", 60_000, 128, "float32", 2, 1, 3),
    Workload("wide", (1024, 2048, 2048, 10), "relu", 20_000, 512, "float32", 2, 1, 3),
]}


def make_data(w: Workload, seed: int = 0):
    """Rows ``X: (m, n[0])`` and integer labels from a random teacher network."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((w.rows, w.sizes[0])).astype(w.dtype)
    teacher = rng.standard_normal((w.sizes[0], max(w.sizes[-1], 2)))
    labels = (X.astype(np.float64) @ teacher).argmax(axis=1)
    return X, labels


def targets_nnctl(w: Workload, labels):
    if w.sizes[-1] == 1:
        return labels.astype(w.dtype)[:, None]
    return np.eye(w.sizes[-1], dtype=w.dtype)[labels]


# -- peers: each runs round r and returns its seconds per epoch ----------------------------


def run_nnctl(w: Workload, X, labels, r: int) -> float:
    Y = targets_nnctl(w, labels)
    net = Network(list(w.sizes), [w.hidden] * (len(w.sizes) - 2) + [w.output], loss=w.loss,
                  dtype=w.dtype, rng=np.random.default_rng(r))
    # The call `nnctl train` makes (nnctl.commands.train.Session.train), data already in memory.
    history = fit(net, X.T, Y.T, optimizer=Adam(lr=1e-3), epochs=w.epochs, batch_size=w.batch,
                  rng=np.random.default_rng(r))
    # Each epoch as fit times it: the steps, the epoch's loss and metrics. The one-time copy
    # of the data into fit's layout is left out, as PyTorch's tensor building is.
    return statistics.mean(record.seconds for record in history.records)


def run_gemm_floor(w: Workload, X, labels, r: int) -> float:
    """The matrix products of forward and backward (no dA[0]), per step, nothing else."""
    dt, sizes, m = np.dtype(w.dtype), w.sizes, w.batch
    rng = np.random.default_rng(0)
    W = [rng.standard_normal((sizes[l], sizes[l - 1])).astype(dt) for l in range(1, len(sizes))]
    A = [np.ascontiguousarray(X[:m].T)] + [np.empty((n, m), dt) for n in sizes[1:]]
    dZ = [np.ones((n, m), dt) for n in sizes[1:]]
    dW = [np.empty_like(x) for x in W]
    dA = [np.empty((n, m), dt) for n in sizes[1:-1]]
    steps = -(-w.rows // m)
    start = time.perf_counter()
    for _ in range(w.epochs * steps):
        for l in range(len(W)):
            np.matmul(W[l], A[l], out=A[l + 1])
        for l in range(len(W) - 1, -1, -1):
            np.matmul(dZ[l], A[l].T, out=dW[l])
            if l > 0:
                np.matmul(W[l].T, dZ[l], out=dA[l - 1])
    return (time.perf_counter() - start) / w.epochs


def run_torch(w: Workload, X, labels, r: int) -> float:
    import torch
    from torch import nn

    torch.set_num_threads(w.threads)
    dtype = torch.float32 if w.dtype == "float32" else torch.float64
    Xt = torch.from_numpy(X).to(dtype)
    binary = w.sizes[-1] == 1
    Yt = torch.from_numpy(labels.astype(np.float64 if not binary else X.dtype))
    Yt = Yt.to(dtype)[:, None] if binary else torch.from_numpy(labels).long()
    act = {"relu": nn.ReLU, "tanh": nn.Tanh}[w.hidden]
    torch.manual_seed(r)
    layers = []
    for l in range(1, len(w.sizes)):
        layers.append(nn.Linear(w.sizes[l - 1], w.sizes[l]))
        if l < len(w.sizes) - 1:
            layers.append(act())
    model = nn.Sequential(*layers).to(dtype)
    loss_fn = nn.BCEWithLogitsLoss() if binary else nn.CrossEntropyLoss()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    start = time.perf_counter()
    for _ in range(w.epochs):
        perm = torch.randperm(w.rows)
        total = 0.0
        for i in range(0, w.rows, w.batch):
            idx = perm[i:i + w.batch]
            xb, yb = Xt[idx], Yt[idx]
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)  # the epoch's loss, as nnctl reports it
    return (time.perf_counter() - start) / w.epochs


def run_sklearn(w: Workload, X, labels, r: int) -> float:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(hidden_layer_sizes=w.sizes[1:-1], activation=w.hidden, solver="adam",
                        learning_rate_init=1e-3, batch_size=w.batch, max_iter=w.epochs, tol=0,
                        n_iter_no_change=w.epochs + 1, early_stopping=False, shuffle=True,
                        random_state=r)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, labels)
    return (time.perf_counter() - start) / w.epochs


PEERS = {"nnctl": run_nnctl, "gemm": run_gemm_floor, "torch": run_torch, "sklearn": run_sklearn}


def available(peer: str) -> str | None:
    """None if the peer can run, else why not."""
    module = {"torch": "torch", "sklearn": "sklearn"}.get(peer)
    if module is None:
        return None
    try:
        __import__(module)
    except ImportError:
        return f"{module} is not installed (pip install {'torch==2.13.0' if module == 'torch' else 'scikit-learn'})"
    return None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-w", "--workloads", default=",".join(WORKLOADS))
    parser.add_argument("-p", "--peers", default=",".join(PEERS))
    parser.add_argument("--rounds", type=int, help="override every workload's rounds")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)

    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:  # comes with scikit-learn; without it BLAS keeps its own thread count
        print("note: threadpoolctl is not installed (pip install threadpoolctl), so BLAS threads"
              " are not limited per workload")
        threadpool_info = list

        def threadpool_limits(**kwargs):
            return contextlib.nullcontext()

    blas = [f"{p['internal_api']} {p.get('version')} ({p.get('architecture')})" for p in threadpool_info()
            if p["user_api"] == "blas"]
    print(f"numpy {np.__version__}, BLAS: {', '.join(blas) or 'unknown'}; python {sys.version.split()[0]}")
    results = {}
    for name in args.workloads.split(","):
        w = WORKLOADS[name]
        if args.rounds:
            w = Workload(**{**w.__dict__, "rounds": args.rounds})
        X, labels = make_data(w)
        print(f"\n{w.name}: {'-'.join(map(str, w.sizes))} {w.hidden}, {w.rows:,} rows, batch {w.batch},"
              f" {w.dtype}, {w.threads} thread(s); median of {w.rounds} round(s) of {w.epochs} epoch(s)")
        peers = []
        for peer in args.peers.split(","):
            why = available(peer)
            if why:
                print(f"  {peer:8s} skipped: {why}")
            else:
                peers.append(peer)
        times: dict[str, list[float]] = {p: [] for p in peers}
        # Rounds outermost, so that a slow spell of the machine hits every peer alike.
        with threadpool_limits(limits=w.threads, user_api="blas"):
            for r in range(w.rounds):
                for peer in peers:
                    times[peer].append(PEERS[peer](w, X, labels, r))
        row = {p: statistics.median(t) for p, t in times.items()}
        base = row.get("nnctl")
        for peer, t in row.items():
            note = ""
            if base and peer not in ("nnctl", "gemm"):
                note = f"nnctl is {t / base:5.2f}x faster"
            elif base and peer == "gemm":
                note = f"nnctl takes {base / t:5.2f}x the floor"
            print(f"  {peer:8s} {t * 1e3:10.2f} ms/epoch  {w.rows / t:12,.0f} samples/s   {note}")
        results[name] = {"workload": w.__dict__, "seconds_per_epoch": row, "rounds": times}
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
