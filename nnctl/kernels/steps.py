"""An epoch's training steps as one compiled loop, with the ``fast`` extra (numba); optional.

``core`` trains a batch with about thirty NumPy calls, each a microsecond or less, so on a
small network the interpreter, not the arithmetic, sets the pace: a 3-3-2-1 step took
19 us where its products took 7. This module runs the same steps (forward, the loss's
gradient, backward, Adam) for a run of full batches in one compiled function, and calls
exactly what NumPy calls, so that the results are bit for bit ``core``'s:

- the matrix products call NumPy's own BLAS (the OpenBLAS its wheel bundles) with the
  arguments ``np.dot`` and ``np.matmul`` give it for these shapes and strides (gemm, or
  gemv where a side is a vector: ``plan``);
- ``tanh``, ``exp`` and ``logaddexp`` call NumPy's own inner loops (its SIMD code, which a
  loop calling libm would not round alike), found through the ufunc's public C struct;
- everything else is IEEE arithmetic in the order and dtype of ``core``'s passes.

Nothing is taken on trust: before a network uses the loop, ``steps_for`` runs a step of
a copy of it both ways on random data and compares every bit of the parameters, the
gradients, Adam's moments and the outputs; any difference (another BLAS, another NumPy, a
shape this plan does not know) and training keeps NumPy's steps, which are always right.

What it runs: identity, relu, tanh and logistic layers (logistic on up to 4,096 values a
batch, the form ``core`` uses there), a softmax or logistic output with its
cross-entropy, or mean squared error on an identity, relu, tanh or logistic output;
Adam or AdamW without L2 or clipping; no dropout or sample weights; batches of two or
more. Anything else takes NumPy's steps, and so do the last, shorter batch of an epoch and,
when the diagnostics measure it, the first.
"""

from __future__ import annotations

import ctypes
import functools
import glob
import os

import numpy as np

#: Activation codes of the compiled loop.
IDENTITY, RELU, TANH, LOGISTIC, SOFTMAX = range(5)
_CODES = {"identity": IDENTITY, "relu": RELU, "tanh": TANH, "logistic": LOGISTIC,
          "softmax": SOFTMAX}
#: Losses: cross-entropy fused with its output (dZ = A - Y), or mean squared error.
FUSED, MSE = 0, 1
#: Product kinds of a plan: BLAS gemm, BLAS gemv, and NumPy's own loop for an outer
#: product (matmul of a column by a row: each entry 0 + w z).
GEMM, GEMV, OUTER = 0, 1, 2
ROW_MAJOR, COL_MAJOR, NO_TRANS, TRANS = 101, 102, 111, 112
#: The largest logistic layer (values a batch) whose form the loop knows (core's
#: ``logistic`` switches form above it).
LOGISTIC_MAX = 4096


# -- NumPy's native code -----------------------------------------------------------------

def _blas_library() -> ctypes.CDLL | None:
    """NumPy's bundled OpenBLAS (already loaded: opening it again gives the same code)."""
    here = os.path.dirname(np.__file__)
    for pattern in ("../numpy.libs/*openblas*", ".dylibs/*openblas*", "../numpy.libs/*openblas*.dll"):
        for path in sorted(glob.glob(os.path.join(here, pattern))):
            try:
                return ctypes.CDLL(path)
            except OSError:
                continue
    return None


def _symbol(lib: ctypes.CDLL, *names: str) -> int | None:
    for name in names:
        try:
            return ctypes.cast(getattr(lib, name), ctypes.c_void_p).value
        except AttributeError:
            continue
    return None


def _loop(ufunc: np.ufunc, types: str) -> tuple[int, int] | None:
    """The address of ``ufunc``'s inner loop for ``types`` (``'d->d'``) and its data
    pointer, read from the PyUFuncObject struct of NumPy's C API (ufuncobject.h):
    after PyObject_HEAD, ``int nin, nout, nargs, identity``, then ``functions``, ``data``,
    ``ntypes``. Checked against what Python sees of the same object; None if it differs."""
    base = id(ufunc)
    head = ctypes.sizeof(ctypes.c_ssize_t) + ctypes.sizeof(ctypes.c_void_p)
    ints = (ctypes.c_int * 4).from_address(base + head)
    if (ints[0], ints[1], ints[2]) != (ufunc.nin, ufunc.nout, ufunc.nargs):
        return None
    at = head + 4 * ctypes.sizeof(ctypes.c_int)
    pointer = ctypes.sizeof(ctypes.c_void_p)
    if ctypes.c_int.from_address(base + at + 2 * pointer).value != ufunc.ntypes:
        return None
    try:
        i = ufunc.types.index(types)
    except ValueError:
        return None
    functions = ctypes.c_void_p.from_address(base + at).value
    data = ctypes.c_void_p.from_address(base + at + pointer).value
    f = ctypes.c_void_p.from_address(functions + i * pointer).value
    d = ctypes.c_void_p.from_address(data + i * pointer).value
    return (f, d or 0) if f else None


@functools.cache
def natives(dtype: str) -> np.ndarray | None:
    """``[gemm, gemv, tanh, tanh data, exp, exp data, logaddexp, logaddexp data]``: the
    addresses the loop calls for ``dtype``, or None where any is not found (then NumPy's
    steps run). Only a 64-bit-integer BLAS (NumPy's wheels' ``scipy_openblas64_``)."""
    lib = _blas_library()
    if lib is None:
        return None
    p = "s" if dtype == "float32" else "d"
    gemm = _symbol(lib, f"scipy_cblas_{p}gemm64_", f"cblas_{p}gemm64_")
    gemv = _symbol(lib, f"scipy_cblas_{p}gemv64_", f"cblas_{p}gemv64_")
    c = np.dtype(dtype).char
    loops = [_loop(np.tanh, f"{c}->{c}"), _loop(np.exp, f"{c}->{c}"),
             _loop(np.logaddexp, f"{c}{c}->{c}")]
    if gemm is None or gemv is None or None in loops:
        return None
    return np.array([gemm, gemv, *[x for pair in loops for x in pair]], dtype=np.int64)


# -- the plan of the products --------------------------------------------------------------

def _dot_plan(n: int, k: int, m: int, b_fortran: bool) -> list[int]:
    """What ``np.dot(A, B, out=C)`` calls for ``A: (n, k)`` C-contiguous, ``B: (k, m)``
    C- or Fortran-contiguous (``b_fortran``), ``C: (n, m)`` C-contiguous, with k, m >= 2
    (numpy/_core/src/common/cblasfuncs.c): ``[kind, order, transA, transB, M, N, K, lda,
    ldb]`` in the argument order of cblas (``gemv``: order, trans, M, N, lda, incx; the
    matrix is B and the vector A)."""
    if n > 1:  # matrix @ matrix: gemm, row major, B transposed when it is Fortran order
        return [GEMM, ROW_MAJOR, NO_TRANS, TRANS if b_fortran else NO_TRANS, n, m, k, k,
                k if b_fortran else m]
    # a row @ a matrix: gemv of the matrix transposed
    return [GEMV, COL_MAJOR if b_fortran else ROW_MAJOR, TRANS, 0, k, m, 0,
            k if b_fortran else m, 1]


def _matmul_plan(n_prev: int, n: int, k: int, m: int) -> list[int] | None:
    """What ``np.matmul(W.T, dZ, out=dA)`` calls for ``W`` the first ``n_prev`` columns of
    the C-contiguous ``[W | b]: (n, k)``, ``dZ: (n, m)`` and ``dA: (n_prev, m)`` C-contiguous
    (numpy/_core/src/umath/matmul.c.src); None for the shapes the loop does not plan."""
    if n_prev > 1 and n > 1 and m > 1:  # gemm with W^T as the transpose of a row-major W
        return [GEMM, ROW_MAJOR, TRANS, NO_TRANS, n_prev, m, n, k, m]
    if n == 1 and n_prev > 1 and m > 1:  # column @ row: matmul's own loop
        return [OUTER, 0, 0, 0, n_prev, m, 1, k, m]
    return None


def plan(sizes: list[int], m: int) -> np.ndarray | None:
    """The products of a step of batches of ``m`` for a network of ``sizes``: for each layer
    ``l`` the forward product, the ``[dW | db]`` product and the ``dA[l-1]`` product, 9
    numbers each (``_dot_plan``); None when some product is not one the loop plans."""
    if m < 2:
        return None
    L = len(sizes) - 1
    out = np.zeros((L, 3, 9), dtype=np.int64)
    for l in range(1, L + 1):
        n, n_prev = sizes[l], sizes[l - 1]
        k = n_prev + 1
        first = l == 1  # its input is rows of the data: [X; 1] is Fortran order, X^T C order
        out[l - 1, 0] = _dot_plan(n, k, m, b_fortran=first)
        out[l - 1, 1] = _dot_plan(n, m, k, b_fortran=not first)
        if l > 1:
            back = _matmul_plan(n_prev, n, k, m)
            if back is None:
                return None
            out[l - 1, 2] = back
    return out


# -- the compiled loop ---------------------------------------------------------------------

@functools.cache
def compiled():
    """The compiled epoch loop ``run(...)`` (``nnctl.kernels.loop``; see ``Loop.run`` for
    its arguments), compiled once per dtype, then cached on disk."""
    from . import loop

    return loop.run


# -- training with it ----------------------------------------------------------------------

def applies(network, optimizer, batch_size: int, *, weighted: bool = False) -> bool:
    """Whether the loop can run the steps of ``network`` with ``optimizer`` in batches of
    ``batch_size`` (with sample weights): see the module's docstring for what it runs.
    Known before training, from the network alone (numba is not imported)."""
    from ..core.optimizers import Adam, AdamW

    acts = network.activations
    hidden, output = acts[:-1], acts[-1]
    if not (type(optimizer) in (Adam, AdamW) and optimizer.l2 == 0  # a subclass may step otherwise
            and optimizer.clip_norm is None
            and optimizer.clip_value is None and not weighted
            and batch_size >= 2 and not any(layer.p > 0 for layer in network.layers)):
        return False
    if any(a not in ("identity", "relu", "tanh", "logistic") for a in hidden):
        return False
    if network.loss.name in ("categorical_crossentropy", "binary_crossentropy"):
        ok_output = True  # check_pairing made it softmax or logistic
    else:
        ok_output = network.loss.name == "mse" and output in ("identity", "relu", "tanh",
                                                              "logistic")
    return ok_output and all(n * batch_size <= LOGISTIC_MAX
                             for n, a in zip(network.sizes[1:], acts) if a == "logistic")


class Loop:
    """The compiled steps of one ``core.train._Steps``: its full batches, in the buffers of
    its network's layers (so that after a run the layers hold the last batch's pass, as
    after NumPy's steps)."""

    def __init__(self, steps, optimizer, fn: np.ndarray, plans: np.ndarray) -> None:
        self.steps, self.optimizer, self.fn, self.plans = steps, optimizer, fn, plans
        net, bs = steps.network, steps.batch_size
        dtype = net.dtype
        layers = net.layers
        buffers = [layer._buffers_for(bs) for layer in layers]
        for l, (layer, buf) in enumerate(zip(layers, buffers)):
            if l > 0 and buf.dA_prev is None:  # as Dense._backward_dZ makes it
                buf.dA_prev = np.empty((layer.n_prev, bs), dtype)
        dZL = net._output_gradient.get(bs)
        if dZL is None:
            dZL = net._output_gradient[bs] = np.empty((net.sizes[-1], bs), dtype)
        self.dZL = dZL
        # Each layer's arrays by address (kernels.loop.run): all C-contiguous and held by the
        # layers and the network, which outlive the loop; layer 1 has no dA[0].
        arrays = [(layer.Wb, layer._dWb, buf.Z, buf.A_ones, buf.T, buf.dA_prev)
                  for layer, buf in zip(layers, buffers)]
        if not all(a is None or (a.flags.c_contiguous and a.dtype == dtype)
                   for row in arrays for a in row):
            raise ValueError("the compiled steps need C-contiguous arrays of the network's dtype")
        self.ptrs = np.array([[0 if a is None else a.ctypes.data for a in row] for row in arrays],
                             dtype=np.int64)
        self.sizes = np.array(net.sizes, dtype=np.int64)
        self.buffers = buffers
        self.acts = np.array([_CODES[a] for a in net.activations], dtype=np.int64)
        self.loss = FUSED if net.loss.fused else MSE
        # the loss gradient's factor with the batch's 1/m, as Network.backward forms it
        self.scale = net.loss._factor(np.empty((net.sizes[-1], bs))) * (1.0 / bs)
        self.scratch = np.zeros(8, dtype=np.int64)
        self.cast = np.zeros(8, dtype=dtype)
        self.full = steps.m // bs  # the batches of bs samples

    def run(self, order: np.ndarray, on_batch=None, first: int = 0) -> int:
        """The epoch's full batches from ``first`` on (``begin`` has gathered them, for small
        data), calling ``on_batch(b, n)`` about every 50 ms; returns the batch after the
        last it ran."""
        import time

        steps, opt, net = self.steps, self.optimizer, self.steps.network
        theta = net.theta
        if opt._theta is not theta:
            opt.prepare(net)
        for a in (opt.M, opt.V, net.grad, net.weight_mask):  # the loop checks no bounds
            if a is None or a.shape != theta.shape or a.dtype != theta.dtype or not a.flags.c_contiguous:
                raise ValueError("the optimizer's state does not fit the network's parameters")
        wd = getattr(opt, "weight_decay", 0.0)
        hyper = np.array([opt.lr, opt.beta1, opt.beta2, opt.eps, opt.lr * wd, self.scale])
        if steps.whole:
            X, Y, Xb, Yb, gather = steps.X_perm, steps.Y_perm, steps.X_buf, steps.Y_buf, False
        else:
            X, Y, Xb, Yb, gather = steps.X_rows, steps.Y_rows, steps.X_buf, steps.Y_buf, True
        run = compiled()
        b, n = first, steps.n_batches
        chunk = self.full if on_batch is None else min(self.full, 8)
        while b < self.full:
            last = min(self.full, b + chunk)
            start = time.perf_counter()
            try:
                run(self.fn, self.plans, self.acts, self.loss, self.ptrs, self.sizes, X, Y,
                    order, gather, Xb, Yb, steps.out, steps.keep_Z, self.dZL, theta, net.grad,
                    opt.M, opt.V, net.weight_mask, hyper, opt.t, b, last, steps.batch_size,
                    self.scratch, self.cast)
            finally:  # a Ctrl-C that came during the chunk is raised after it: its steps count
                opt.t += last - b
            if on_batch is not None:
                per_batch = (time.perf_counter() - start) / (last - b)
                chunk = max(1, int(0.05 / per_batch)) if per_batch > 0 else self.full
                on_batch(last, n)
            b = last
        if b > first:
            self._leave_state(b)
        return max(b, first)

    def _leave_state(self, b: int) -> None:
        """The layers' record of the last pass, as NumPy's steps leave it (``Dense``)."""
        steps, net, bs = self.steps, self.steps.network, self.steps.batch_size
        rows = slice((b - 1) * bs, b * bs)
        first = steps.X_perm[rows].T if steps.whole else steps.X_buf.T
        for l, layer in enumerate(net.layers):
            # the buffers the loop wrote (a layer keeps a few sizes' and may have let these
            # go since; the loop's reference kept them alive)
            layer._m, layer._current = bs, self.buffers[l]
            layer._buffers[bs] = self.buffers[l]
            layer._A_prev_ones = first if l == 0 else self.buffers[l - 1].A_ones
            layer._dZ = self.dZL if l == net.L - 1 else self.buffers[l + 1].dA_prev
        net._output_gradient[bs] = self.dZL
        net._backward_ready = True


#: The trials' verdicts, by network, batch size, optimizer and gather: each is tried once
#: a process.
_VERIFIED: dict[tuple, bool] = {}


def steps_for(steps, optimizer) -> Loop | None:
    """The compiled loop for these steps (``core.train._Steps``), or None where it does not
    apply, NumPy's native code is not found, or a trial of it differs from NumPy's steps in
    any bit (then NumPy's steps run)."""
    if not applies(steps.network, optimizer, steps.batch_size, weighted=steps.w is not None):
        return None
    net, bs = steps.network, steps.batch_size
    fn = natives(net.dtype.name)
    plans = plan(net.sizes, bs)
    if fn is None or plans is None:
        return None
    key = (tuple(net.sizes), tuple(net.activations), net.loss.name, net.dtype.name, bs,
           type(optimizer).__name__, steps.whole)
    if key not in _VERIFIED:
        _VERIFIED[key] = _agrees(steps, optimizer, fn, plans)
    return Loop(steps, optimizer, fn, plans) if _VERIFIED[key] else None


def _agrees(steps, optimizer, fn, plans) -> bool:
    """A step of a copy of the network, NumPy's and the loop's, from the same state on the
    same random batch, gathered as these steps gather theirs: True if every bit agrees
    (parameters, gradients, moments, outputs). One step: it runs every product with the
    shapes and strides of training, and it costs a large network a tenth of a second."""
    import copy

    from ..core.train import _Steps

    net, bs = steps.network, steps.batch_size
    rng = np.random.default_rng(12345)  # its own: the training's generator is not touched
    X = rng.standard_normal((net.sizes[0], bs)).astype(net.dtype)
    if net.loss.fused and net.sizes[-1] > 1:
        Y = np.eye(net.sizes[-1], dtype=net.dtype)[rng.integers(0, net.sizes[-1], bs)].T
    else:
        Y = rng.random((net.sizes[-1], bs)).astype(net.dtype)
        if net.loss.fused:
            Y = (Y > 0.5).astype(net.dtype)
    order = rng.permutation(bs)
    results = []
    for compiled_loop in (False, True):
        trial = net.copy()
        opt = copy.deepcopy(optimizer)
        opt._theta = None
        s = _Steps(trial, opt, X, Y, bs)
        s.whole = steps.whole  # as training gathers, whatever the size of this batch
        if s.whole:
            s.X_perm, s.Y_perm = np.empty_like(s.X_rows), np.empty_like(s.Y_rows)
            s.w_perm = None
        else:
            s.Y_cols = np.ascontiguousarray(Y)
        s.begin(order)
        if compiled_loop:
            if Loop(s, opt, fn, plans).run(order) != 1:
                return False
        else:  # the copy has no fused_steps: NumPy's steps
            s.run(order, None)
        results.append([trial.theta, trial.grad, opt.M, opt.V, s.out, np.array(opt.t)])
    return all(np.array_equal(a, b, equal_nan=True) and a.dtype == b.dtype
               for a, b in zip(*results))
