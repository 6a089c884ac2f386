"""Seconds per training epoch: nnctl against PyTorch, JAX, Keras 3, scikit-learn and the
GEMM-only floor, side by side in one run.

Every peer trains the same network on the same synthetic data for the same epochs with
Adam (lr 1e-3) and the same batch size, dtype and thread count, each written as its
skilled users write it (see each ``run_*``), each after one untimed warm-up epoch on the
same model (``WARM_UP``; scikit-learn's one ``fit`` call cannot leave it out). Reported
per workload: the median seconds per
epoch over the rounds with the min and max, samples per second, how many times faster
nnctl is than each peer, nnctl's time as a multiple of the GEMM-only floor (the same
matrix products per step into preallocated buffers, nothing else), and the compile time
of JAX and Keras, once per run, apart (and nnctl's, where it uses the fast extra's kernels:
numba's import and loading them from their disk cache, measured in a new interpreter).
nnctl uses its kernels where ``nnctl train`` would for 200 epochs of the workload (its
default number) without early stopping (``kernels.worth_it``; with it, a small network
gets them only once the run has lasted long enough); where a run ten times as long would
use them and that one does not, ``nnctl-long`` is that run. The rounds are outermost, so
that a slow spell of a shared machine falls on every peer alike.

    python benchmarks/bench_train.py                       # all workloads, all peers
    python benchmarks/bench_train.py -w tiny,small --rounds 3 --json out.json

Peers that are not installed are skipped with a note. They are benchmark peers only,
never nnctl's dependencies: ``pip install torch==2.13.0 scikit-learn threadpoolctl jax
keras`` installs them here (Keras runs on JAX: KERAS_BACKEND=jax is set). Run it on an
otherwise idle machine; on processors where OPENBLAS_CORETYPE is forced (see README,
Performance) unset it for this command.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib.metadata
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_io import cpu_model  # noqa: E402 - the one CPU probe of the benchmarks
from nnctl import kernels  # noqa: E402
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
    Workload("deep", (20, 128, 128, 128, 128, 5), "tanh", 50_000, 64, "float32", 2, 1, 3),
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


#: The run whose kernels nnctl's rule decides (``kernels.worth_it``): ``nnctl train``'s
#: default 200 epochs of the workload, without early stopping; ``nnctl-long`` is a run ten
#: times as long.
RUN_EPOCHS = {"nnctl": 200, "nnctl-long": 2000}


def run_steps(w: Workload, peer: str) -> int:
    return RUN_EPOCHS[peer] * -(-w.rows // w.batch)


def accelerate(net: Network, optimizer, w: Workload, steps: int) -> bool:
    """What ``nnctl train`` gives a run of ``steps`` of the workload: the fast extra's kernels
    and compiled steps where they pay (``Session._accelerate``); True if it gave them."""
    loop = kernels.steps.applies(net, optimizer, w.batch)
    return kernels.accelerate(optimizer, net.theta.size, steps, loop) | \
        kernels.accelerate_layers(net, steps, loop)


def run_nnctl(w: Workload, X, labels, r: int, peer: str = "nnctl") -> float:
    Y = targets_nnctl(w, labels)
    net = Network(list(w.sizes), [w.hidden] * (len(w.sizes) - 2) + [w.output], loss=w.loss,
                  dtype=w.dtype, rng=np.random.default_rng(r))
    # The call `nnctl train` makes (nnctl.commands.train.Session.train), data already in
    # memory, with the fused kernels (Adam, activations) where the session would use them
    # for a run of RUN_EPOCHS (the fast extra).
    optimizer = Adam(lr=1e-3)
    steps = run_steps(w, peer)
    if accelerate(net, optimizer, w, steps):
        COMPILE.setdefault((w.name, peer), []).append(kernels_start_up(w))
    history = fit(net, X.T, Y.T, optimizer=optimizer, epochs=WARM_UP + w.epochs,
                  batch_size=w.batch, rng=np.random.default_rng(r))
    # Each epoch as fit times it: the steps, the epoch's loss and metrics. The one-time copy
    # of the data into fit's layout is left out, as PyTorch's tensor building is.
    return statistics.mean(record.seconds for record in history.records[WARM_UP:])


@functools.cache
def kernels_start_up(w: Workload) -> float:
    """What a fresh process pays once for nnctl's compiled kernels and steps (the fast extra)
    on the workload's network: an epoch of 8 batches with them less one without, in seconds
    (numba's import, each kernel's machine code loaded from its disk cache, the compiled
    steps' trial against NumPy's), measured in a new interpreter (this one has them)."""
    code = f"""
import time, numpy as np
from nnctl import kernels
from nnctl.core.network import Network
from nnctl.core.optimizers import Adam
from nnctl.core.train import fit
sizes, acts = {list(w.sizes)!r}, {[w.hidden] * (len(w.sizes) - 2) + [w.output]!r}
rng = np.random.default_rng(0)
X = rng.standard_normal((sizes[0], 8 * {w.batch})).astype("{w.dtype}")
Y = np.eye(sizes[-1], dtype=X.dtype)[rng.integers(0, sizes[-1], X.shape[1])].T
if "{w.loss}" == "mse":
    Y = rng.standard_normal((sizes[-1], X.shape[1])).astype(X.dtype)
seconds = []
for use in (False, True):
    net = Network(sizes, acts, loss="{w.loss}", dtype="{w.dtype}")
    opt = Adam(lr=1e-3)
    start = time.perf_counter()
    if use:
        loop = kernels.steps.applies(net, opt, {w.batch})
        kernels.accelerate(opt, net.theta.size, 10**9, loop)
        kernels.accelerate_layers(net, 10**9, loop)
    fit(net, X, Y, optimizer=opt, epochs=1, batch_size={w.batch}, rng=np.random.default_rng(1))
    seconds.append(time.perf_counter() - start)
print(max(0.0, seconds[1] - seconds[0]))
"""
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=root, env={**os.environ, "PYTHONPATH": str(root)})
    return float(out.stdout)


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
    for k in range((WARM_UP + w.epochs) * steps):
        if k == WARM_UP * steps:
            start = time.perf_counter()
        for l in range(len(W)):
            np.matmul(W[l], A[l], out=A[l + 1])
        for l in range(len(W) - 1, -1, -1):
            np.matmul(dZ[l], A[l].T, out=dW[l])
            if l > 0:
                np.matmul(W[l].T, dZ[l], out=dA[l - 1])
    return (time.perf_counter() - start) / w.epochs


def run_torch(w: Workload, X, labels, r: int, dropout: float = 0.0) -> float:
    """PyTorch as its users write a fast loop: one permutation per epoch gathered into a
    contiguous tensor, then slices; ``zero_grad(set_to_none=True)``; threads matched; Adam
    fused (one kernel over every parameter) where this build has it, else foreach.
    (``dropout``: ``nn.Dropout`` after each hidden activation, for bench_options.)"""
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
            if dropout:
                layers.append(nn.Dropout(dropout))
    model = nn.Sequential(*layers).to(dtype)
    loss_fn = nn.BCEWithLogitsLoss() if binary else nn.CrossEntropyLoss()
    try:
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    except (RuntimeError, TypeError):  # no fused Adam for this device or build
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, foreach=True)
    for epoch in range(WARM_UP + w.epochs):
        if epoch == WARM_UP:
            start = time.perf_counter()
        perm = torch.randperm(w.rows)
        Xp, Yp = Xt[perm], Yt[perm]  # contiguous: each batch is a slice
        total = torch.zeros((), dtype=dtype)
        for i in range(0, w.rows, w.batch):
            xb, yb = Xp[i:i + w.batch], Yp[i:i + w.batch]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            total += loss.detach() * len(xb)  # the epoch's loss, as nnctl reports it
        float(total)
    return (time.perf_counter() - start) / w.epochs


def _jax(w: Workload):
    """JAX with its CPU threads matched (set before its first import in this process)."""
    import os

    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=true"
                          f" intra_op_parallelism_threads={max(x.threads for x in WORKLOADS.values())}")
    import jax

    jax.config.update("jax_enable_x64", True)  # float64 for the tiny workload, as the others
    return jax


def run_jax(w: Workload, X, labels, r: int) -> float:
    """JAX as a skilled user writes it: one jitted epoch, ``lax.scan`` over its steps, the
    train step's buffers donated, the data on the device, a permutation per epoch drawn on
    the device, Adam written out (the same update as optax.adam). Full batches only (scan
    needs one shape): ``rows // batch`` of them, timed per sample like the others. The
    first call's compile time is reported apart (``COMPILE``)."""
    jax = _jax(w)
    import jax.numpy as jnp
    from jax import lax

    dt = jnp.float32 if w.dtype == "float32" else jnp.float64
    sizes, B = w.sizes, w.batch
    steps = w.rows // B
    key = jax.random.PRNGKey(r)
    params = []
    for l in range(1, len(sizes)):
        key, k = jax.random.split(key)
        bound = 1 / np.sqrt(sizes[l - 1])
        params.append((jax.random.uniform(k, (sizes[l - 1], sizes[l]), dt, -bound, bound),
                       jnp.zeros((sizes[l],), dt)))
    act = {"relu": jax.nn.relu, "tanh": jnp.tanh}[w.hidden]
    binary = sizes[-1] == 1
    Xd = jax.device_put(jnp.asarray(X, dt))
    Yd = jax.device_put(jnp.asarray(labels.astype(np.float64), dt)[:, None] if binary
                        else jax.nn.one_hot(labels, sizes[-1], dtype=dt))

    def loss_fn(params, x, y):
        for W, b in params[:-1]:
            x = act(x @ W + b)
        W, b = params[-1]
        z = x @ W + b
        if binary:  # BCE with logits, as PyTorch's BCEWithLogitsLoss
            return jnp.mean(jnp.logaddexp(0.0, z) - y * z)
        return -jnp.mean(jnp.sum(y * jax.nn.log_softmax(z), axis=1))

    grad_fn = jax.value_and_grad(loss_fn)
    b1, b2, eps, lr = 0.9, 0.999, 1e-8, 1e-3

    def epoch(state, key):
        params, m, v, t = state
        perm = jax.random.permutation(key, w.rows)[:steps * B].reshape(steps, B)

        def step(carry, idx):
            params, m, v, t = carry
            loss, g = grad_fn(params, Xd[idx], Yd[idx])
            t = t + 1
            m = jax.tree_util.tree_map(lambda m, g: b1 * m + (1 - b1) * g, m, g)
            v = jax.tree_util.tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, v, g)
            c = lr * jnp.sqrt(1 - b2 ** t) / (1 - b1 ** t)
            params = jax.tree_util.tree_map(lambda p, m, v: p - c * m / (jnp.sqrt(v) + eps),
                                            params, m, v)
            return (params, m, v, t), loss

        state, losses = lax.scan(step, (params, m, v, t), perm)
        return state, losses.mean()

    epoch = jax.jit(epoch, donate_argnums=(0,))
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    state = (params, zeros, jax.tree_util.tree_map(jnp.zeros_like, params), jnp.asarray(0, dt))
    start = time.perf_counter()
    key, k = jax.random.split(key)
    state, loss = epoch(state, k)  # compiles, then runs one epoch
    loss.block_until_ready()
    first = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(w.epochs):
        key, k = jax.random.split(key)
        state, loss = epoch(state, k)
        loss.block_until_ready()
    seconds = (time.perf_counter() - start) / w.epochs * w.rows / (steps * B)
    COMPILE.setdefault((w.name, "jax"), []).append(max(0.0, first - seconds))
    return seconds


def run_keras(w: Workload, X, labels, r: int) -> float:
    """Keras 3 on its JAX backend, ``model.fit`` with its defaults (shuffling, the
    compiled train step); its warm-up epoch is its first, which compiles."""
    import os

    _jax(w)
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras

    if keras.backend.backend() != "jax":
        raise SystemExit(f"keras runs on {keras.backend.backend()} here; set KERAS_BACKEND=jax")
    keras.utils.set_random_seed(r)
    keras.config.set_floatx(w.dtype)
    binary = w.sizes[-1] == 1
    model = keras.Sequential([keras.Input((w.sizes[0],))]
                             + [keras.layers.Dense(n, activation=w.hidden) for n in w.sizes[1:-1]]
                             + [keras.layers.Dense(w.sizes[-1])])
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.BinaryCrossentropy(from_logits=True) if binary
                  else keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    ends: list[float] = []

    class Clock(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            ends.append(time.perf_counter())

    y = labels.astype(w.dtype)[:, None] if binary else labels
    start = time.perf_counter()
    model.fit(X, y, batch_size=w.batch, epochs=WARM_UP + w.epochs, verbose=0,
              callbacks=[Clock()])
    seconds = (ends[-1] - ends[WARM_UP - 1]) / w.epochs
    COMPILE.setdefault((w.name, "keras"), []).append(max(0.0, ends[0] - start - seconds))
    return seconds


#: Epochs every peer runs before the timed ones, on the same model: JAX's and Keras's
#: first epoch compiles, and for all of them it touches every buffer and cache for the
#: first time. (scikit-learn's fit is one call: its time includes its first epoch.)
WARM_UP = 1

#: Compile (first-call) seconds of the compiling peers, per (workload, peer), per round.
COMPILE: dict[tuple[str, str], list[float]] = {}


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


def run_nnctl_long(w: Workload, X, labels, r: int) -> float:
    """nnctl on a run ten times as long (2,000 epochs), where the kernels pay for their
    start-up on small networks too; only where that differs from ``nnctl``."""
    return run_nnctl(w, X, labels, r, peer="nnctl-long")


PEERS = {"nnctl": run_nnctl, "nnctl-long": run_nnctl_long, "gemm": run_gemm_floor,
         "torch": run_torch, "jax": run_jax, "keras": run_keras, "sklearn": run_sklearn}


def same_as_nnctl(w: Workload) -> bool:
    """Whether nnctl's rule gives a long run the kernels that the default run has."""
    net = Network(list(w.sizes), [w.hidden] * (len(w.sizes) - 2) + [w.output], loss=w.loss,
                  dtype=w.dtype)
    loop = kernels.steps.applies(net, Adam(lr=1e-3), w.batch)
    return kernels.worth_it(net.theta.size, run_steps(w, "nnctl"), loop) == \
        kernels.worth_it(net.theta.size, run_steps(w, "nnctl-long"), loop)


def available(peer: str) -> str | None:
    """None if the peer can run, else why not."""
    module = {"torch": "torch", "sklearn": "sklearn", "jax": "jax", "keras": "keras"}.get(peer)
    if module is None:
        return None
    if importlib.util.find_spec(module) is None:
        install = {"torch": "torch==2.13.0", "sklearn": "scikit-learn"}.get(module, module)
        return f"{module} is not installed (pip install {install})"
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
    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores; numpy {np.__version__}, BLAS:"
          f" {', '.join(blas) or 'unknown'}; python {sys.version.split()[0]}")
    for peer, module in (("torch", "torch"), ("jax", "jax"), ("keras", "keras")):
        if peer in args.peers.split(",") and importlib.util.find_spec(module) is not None:
            print(f"{peer} {importlib.metadata.version(module)}", end="; ")
    print()
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
            if peer == "nnctl-long" and same_as_nnctl(w):
                continue  # the same run as nnctl's
            if why:
                print(f"  {peer:10s} skipped: {why}")
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
        compile_s = {}
        for peer, t in row.items():
            note = ""
            if peer == "nnctl-long":
                note = f"a run of {RUN_EPOCHS[peer]:,} epochs: kernels, their start-up paid"
            elif base and peer not in ("nnctl", "gemm"):
                note = f"nnctl is {t / base:5.2f}x faster"
            elif base and peer == "gemm":
                note = f"nnctl takes {base / t:5.2f}x the floor"
            spread = f"({min(times[peer]) * 1e3:.2f} to {max(times[peer]) * 1e3:.2f})"
            print(f"  {peer:10s} {t * 1e3:10.2f} ms/epoch {spread:22s} {w.rows / t:12,.0f} samples/s   {note}")
            if (name, peer) in COMPILE:
                compile_s[peer] = statistics.median(COMPILE[(name, peer)])
                what = "to import numba and load its kernels" if peer.startswith("nnctl") else "to compile"
                print(f"  {'':10s} + {compile_s[peer]:.2f} s {what}, once")
        results[name] = {"workload": w.__dict__, "seconds_per_epoch": row, "rounds": times,
                         "compile_seconds": compile_s}
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
