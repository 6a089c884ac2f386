"""Compiled kernels for the hot path, with the ``fast`` extra (numba); optional.

``core`` stays NumPy only and readable: each kernel here is one loop doing exactly what a
NumPy reference in ``core`` does in several passes, in the same order of operations and
the same dtype, so results are bit for bit the same (tests/test_kernels.py). The loops
are compiled once per dtype, then cached on disk. They run on one thread: on all cores
(numba's ``prange``) their thread pool and OpenBLAS's, each spinning while the other
worked, made an mnist epoch five times slower.

``steps`` (with ``loop``) goes further: an epoch's steps as one compiled loop calling
NumPy's own BLAS and ufunc loops, for the networks it applies to (tests/test_compiled_steps.py).

Numba's import and the kernels' loading take 0.4 to 1.4 s once, so nothing here is
imported until a run is long enough or its network large enough to gain (``worth_it``);
without numba every kernel is None and NumPy runs.
"""

from __future__ import annotations

import functools
import importlib.util
import os

from . import steps  # the compiled steps' plan and trial (NumPy and ctypes only)

#: Parameters from which a fused Adam step pays for numba's import (about 0.6 s once):
#: measured on a 2-core Xeon, 235,000 float32 parameters took 383 us a step in NumPy's
#: ten passes and 151 us fused, 6.3 million 21 ms and 4.3 ms; at 12,000 the two were
#: within a few microseconds.
MIN_PARAMETERS = 50_000

#: What a process pays once for the kernels, in seconds: numba's import, each loop loaded
#: from its disk cache, and the compiled steps' trial against NumPy's. Taken high: measured
#: 0.40 to 0.48 s on a 2-core AMD EPYC (Zen 4), 0.45 s on a Zen 5 and 0.6 s on a Xeon; an
#: older EPYC took 1.4 s, but its interpreter is four times slower, and so are the steps
#: whose time the kernels save.
START_UP = 0.6


def saving(parameters: int, loop: bool = False) -> float:
    """Seconds a training step saves with the kernels, taken low. With the compiled steps
    (``loop``: ``kernels.steps.applies``): a step's Python and NumPy calls, measured on a
    2-core AMD EPYC (Zen 4) at 19 us for a 3-3-2-1 network (float64) and 50 us or more
    for 64-64-64-10 (float32). Without (Adam's and the activations' loops alone): measured
    on a Zen 5, 4.4 us a step for 23 parameters, 8.0 us for 1,761, 18.5 us for 8,385 and
    63.6 us for 60,401."""
    return (15e-6 if loop else 4e-6) + 1e-9 * parameters


def available() -> bool:
    """Whether numba is installed (``NNCTL_NO_KERNELS=1`` says no, to compare)."""
    return not os.environ.get("NNCTL_NO_KERNELS") and importlib.util.find_spec("numba") is not None


def pays(parameters: int, steps: int | None = None, loop: bool = False) -> bool:
    """Whether the kernels would pay for their start-up on a run of ``steps`` training steps
    (None: not known) of a network of ``parameters`` (``loop``: one the compiled steps
    run): a large network always, a small one when its steps save more than the start-up
    costs (a 3-3-2-1 network from 40,000 steps with the compiled steps, 200 epochs of
    6,400 rows in batches of 32, or from 150,000 without; 64-64-64-10 from 25,000)."""
    return parameters >= MIN_PARAMETERS or (
        steps is not None and steps * saving(parameters, loop) >= START_UP)


def worth_it(parameters: int, steps: int | None = None, loop: bool = False) -> bool:
    """Whether such a run gains from the kernels: they pay, and numba is installed."""
    return pays(parameters, steps, loop) and available()


@functools.cache  # compiled once a process (and cached on disk across them)
def adam():
    """``adam(theta, grad, M, V, beta1, beta2, c, eps)``: Adam's step in one pass, in place,
    the arithmetic of ``core.optimizers.Adam._update``::

        M = beta1 M + grad;  V = beta2 V + grad^2;  theta -= c (M / (sqrt(V) + eps))

    (``c`` and ``eps`` already hold the bias corrections). The scalars must have the
    arrays' dtype, so that float32 stays float32 as NumPy's in-place operations do."""
    from .loop import adam_step  # the compiled steps' Adam too

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


def accelerate(optimizer, parameters: int, steps: int | None = None, loop: bool = False) -> bool:
    """Give an Adam (or AdamW) ``optimizer`` its fused kernel when numba is installed and
    a run of ``steps`` with ``parameters`` gains (``worth_it``); True if it did."""
    from ..core.optimizers import Adam

    if isinstance(optimizer, Adam) and worth_it(parameters, steps, loop):
        optimizer.fused = adam()
        return True
    return False


def accelerate_layers(network, steps: int | None = None, loop: bool = False) -> bool:
    """Give the layers of ``network`` their one-pass activation loops (``activations``),
    when one of them drops units the fused dropout mask, and the network its compiled
    steps (``kernels.steps``, which run where they apply), if numba is installed and a
    run of ``steps`` gains (``worth_it``; ``loop``: the compiled steps apply); True if it did."""
    layers = [network.layer(l) for l in range(1, network.L + 1)]
    if not worth_it(network.theta.size, steps, loop):
        return False
    loops = activations()
    from .steps import steps_for  # NumPy's steps where they do not apply

    network.fused_steps = steps_for
    drops = any(layer.p > 0 for layer in layers)
    for layer in layers:
        layer.fused_forward, layer.fused_derivative = loops.get(layer.activation.name,
                                                                (None, None))
        if drops:
            layer.fused_mask = dropout_mask()
    return True
