"""Compiled kernels for the hot path, with the ``fast`` extra (numba); optional.

``core`` stays NumPy only and readable: each kernel here is one loop doing exactly what a
NumPy reference in ``core`` does in several passes, in the same order of operations and
the same dtype, so results are bit for bit the same (tests/test_kernels.py). The loops
are compiled once per dtype, then cached on disk. They run on one thread: on all cores
(numba's ``prange``) their thread pool and OpenBLAS's, each spinning while the other
worked, made an mnist epoch five times slower.

Numba's import and the kernels' loading take 0.45 to 1.4 s once, so nothing here is
imported until a run is long enough or its network large enough to gain (``worth_it``);
without numba every kernel is None and NumPy runs.
"""

from __future__ import annotations

import functools
import importlib.util
import os

#: Parameters from which a fused Adam step pays for numba's import (about 0.6 s once):
#: measured on a 2-core Xeon, 235,000 float32 parameters took 383 us a step in NumPy's
#: ten passes and 151 us fused, 6.3 million 21 ms and 4.3 ms; at 12,000 the two were
#: within a few microseconds.
MIN_PARAMETERS = 50_000

#: What a process pays once for the kernels, in seconds: numba's import and each loop
#: loaded from its disk cache. Taken high: measured 0.45 s on a 2-core AMD EPYC (Zen 5),
#: 1.4 s on an older one whose interpreter is four times slower.
START_UP = 1.0


def saving(parameters: int) -> float:
    """Seconds a training step saves with every kernel (Adam's, the activations'), taken
    low: measured on a 2-core AMD EPYC (Zen 5), 4.4 us a step for 23 parameters (3-3-2-1,
    float64), 8.0 us for 1,761, 18.5 us for 8,385 and 63.6 us for 60,401 (float32)."""
    return 4e-6 + 1e-9 * parameters


def available() -> bool:
    """Whether numba is installed (``NNCTL_NO_KERNELS=1`` says no, to compare)."""
    return not os.environ.get("NNCTL_NO_KERNELS") and importlib.util.find_spec("numba") is not None


def pays(parameters: int, steps: int | None = None) -> bool:
    """Whether the kernels would pay for their start-up on a run of ``steps`` training steps
    (None: not known) of a network of ``parameters``: a large network always, a small one
    when its steps save more than the start-up costs (a 3-3-2-1 network from 250,000
    steps, 200 epochs of 40,000 rows in batches of 32; 64-64-64-10 from 78,000)."""
    return parameters >= MIN_PARAMETERS or (steps is not None and steps * saving(parameters) >= START_UP)


def worth_it(parameters: int, steps: int | None = None) -> bool:
    """Whether such a run gains from the kernels: they pay, and numba is installed."""
    return pays(parameters, steps) and available()


@functools.cache  # compiled once a process (and cached on disk across them)
def adam():
    """``adam(theta, grad, M, V, beta1, beta2, c, eps)``: Adam's step in one pass, in place,
    the arithmetic of ``core.optimizers.Adam._update``::

        M = beta1 M + grad;  V = beta2 V + grad^2;  theta -= c (M / (sqrt(V) + eps))

    (``c`` and ``eps`` already hold the bias corrections). The scalars must have the
    arrays' dtype, so that float32 stays float32 as NumPy's in-place operations do."""
    import numba
    import numpy as np

    # No fastmath: it would let LLVM fuse multiply-adds and reorder, and the results
    # would differ from NumPy's in the last bit. NumPy's error model (a division by 0
    # gives inf, as NumPy's) instead of Python's (which checks each division and keeps
    # the loop from being vectorized: 2.9x slower).
    @numba.njit(cache=True, nogil=True, error_model="numpy")
    def adam_step(theta, grad, M, V, beta1, beta2, c, eps):  # pragma: no cover - compiled
        for i in range(theta.size):
            g = grad[i]
            m = M[i] * beta1 + g
            v = V[i] * beta2 + g * g
            M[i] = m
            V[i] = v
            theta[i] = theta[i] - (m / (np.sqrt(v) + eps)) * c

    return adam_step


@functools.cache
def dropout_mask():
    """``dropout_mask(u, dropped, scale, A, M, D)``: inverted dropout's mask and output in
    one pass, the arithmetic of ``core.network.Dense._forward``::

        M = (u >= dropped) * scale;  D = A * M

    (``u``: the 16 random bits of each unit, ``scale = 1 / q`` in the arrays' dtype; all
    ``(n[l], m)``, ``D`` the top rows of ``[A * M; 1]``)."""
    import numba

    @numba.njit(cache=True, nogil=True, error_model="numpy")
    def mask(u, dropped, scale, A, M, D):  # pragma: no cover - compiled
        zero = scale - scale  # 0 in the arrays' dtype
        n, m = A.shape
        for i in range(n):
            for j in range(m):
                k = scale if u[i, j] >= dropped else zero
                M[i, j] = k
                D[i, j] = A[i, j] * k

    return mask


@functools.cache
def activations() -> dict[str, tuple]:
    """``{name: (forward or None, derivative)}``: the activations whose NumPy functions in
    ``core.activations`` take several passes, each as one loop with their arithmetic in
    their order and in the arrays' dtype (the signatures are theirs: ``forward(Z, A,
    alpha, T)`` writes ``A``, ``derivative(dA, Z, A, alpha, T)`` turns ``dA`` into ``dZ``;
    all ``(n, m)``). tanh's and the logistic's forwards stay NumPy's: their ``tanh`` is
    NumPy's own SIMD approximation, which a loop calling libm would not round alike."""
    import numba

    jit = numba.njit(cache=True, nogil=True, error_model="numpy")

    @jit
    def relu(Z, A, alpha, T):  # pragma: no cover - compiled
        half = Z.dtype.type(0.5)
        n, m = Z.shape
        for i in range(n):
            for j in range(m):
                h = Z[i, j] * half  # z/2 + |z/2|, as core's (z + |z| could overflow)
                A[i, j] = h + abs(h)
        return A

    @jit
    def relu_derivative(dA, Z, A, alpha, T):  # pragma: no cover - compiled
        one = dA.dtype.type(1)
        zero = one - one
        n, m = Z.shape
        for i in range(n):
            for j in range(m):  # a multiply, not a select: inf or nan in dA stays nan at 0
                dA[i, j] = dA[i, j] * (one if Z[i, j] >= 0 else zero)
        return dA

    @jit
    def tanh_derivative(dA, Z, A, alpha, T):  # pragma: no cover - compiled
        one = dA.dtype.type(1)
        n, m = Z.shape
        for i in range(n):
            for j in range(m):
                a = A[i, j]
                dA[i, j] = dA[i, j] * (one - a * a)
        return dA

    @jit
    def logistic_derivative(dA, Z, A, alpha, T):  # pragma: no cover - compiled
        one = dA.dtype.type(1)
        n, m = Z.shape
        for i in range(n):
            for j in range(m):
                a = A[i, j]
                dA[i, j] = dA[i, j] * ((one - a) * a)
        return dA

    return {"relu": (relu, relu_derivative), "tanh": (None, tanh_derivative),
            "logistic": (None, logistic_derivative)}


def accelerate(optimizer, parameters: int, steps: int | None = None) -> bool:
    """Give an Adam (or AdamW) ``optimizer`` its fused kernel when numba is installed and
    a run of ``steps`` with ``parameters`` gains (``worth_it``); True if it did."""
    from .core.optimizers import Adam

    if isinstance(optimizer, Adam) and worth_it(parameters, steps):
        optimizer.fused = adam()
        return True
    return False


def accelerate_layers(network, steps: int | None = None) -> bool:
    """Give the layers of ``network`` their one-pass activation loops (``activations``) and,
    when one of them drops units, the fused dropout mask, if numba is installed and a run
    of ``steps`` gains (``worth_it``); True if it did."""
    layers = [network.layer(l) for l in range(1, network.L + 1)]
    if not worth_it(network.theta.size, steps):
        return False
    loops = activations()
    drops = any(layer.p > 0 for layer in layers)
    for layer in layers:
        layer.fused_forward, layer.fused_derivative = loops.get(layer.activation.name,
                                                                (None, None))
        if drops:
            layer.fused_mask = dropout_mask()
    return True
