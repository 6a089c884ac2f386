"""The compiled epoch loop of ``nnctl.kernels.steps``, imported only when it is used
(numba, the ``fast`` extra). A module of its own so that numba caches it on disk: its
functions refer to each other as globals, not as a closure's cells, which numba cannot
hash alike from one process to the next.
"""

import math

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic


def _float(t):
    return ir.FloatType() if t == types.float32 else ir.DoubleType()


# The native calls take their addresses as arguments (not as constants, so the
# compiled code can be cached across processes): each intrinsic casts the address to
# the function's type and calls it. Pointers are passed as 64-bit integers.
@intrinsic
def gemm(typingctx, fn, order, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc):
    sig = types.void(fn, order, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)

    def codegen(context, builder, signature, args):
        i32, i64, f = ir.IntType(32), ir.IntType(64), _float(alpha)
        fnty = ir.FunctionType(ir.VoidType(), [i32, i32, i32, i64, i64, i64, f, i64, i64,
                                               i64, i64, f, i64, i64])
        callee = builder.inttoptr(args[0], fnty.as_pointer())
        a = list(args[1:])
        for j in (0, 1, 2):
            a[j] = builder.trunc(a[j], i32)
        builder.call(callee, a)
        return context.get_dummy_value()
    return sig, codegen


@intrinsic
def gemv(typingctx, fn, order, trans, M, N, alpha, A, lda, X, incx, beta, Y, incy):
    sig = types.void(fn, order, trans, M, N, alpha, A, lda, X, incx, beta, Y, incy)

    def codegen(context, builder, signature, args):
        i32, i64, f = ir.IntType(32), ir.IntType(64), _float(alpha)
        fnty = ir.FunctionType(ir.VoidType(), [i32, i32, i64, i64, f, i64, i64, i64, i64,
                                               f, i64, i64])
        callee = builder.inttoptr(args[0], fnty.as_pointer())
        a = list(args[1:])
        for j in (0, 1):
            a[j] = builder.trunc(a[j], i32)
        builder.call(callee, a)
        return context.get_dummy_value()
    return sig, codegen


@intrinsic
def ufunc_loop(typingctx, fn, args, dims, steps, data):
    sig = types.void(fn, args, dims, steps, data)

    def codegen(context, builder, signature, a):
        i64 = ir.IntType(64)
        fnty = ir.FunctionType(ir.VoidType(), [i64, i64, i64, i64])
        builder.call(builder.inttoptr(a[0], fnty.as_pointer()), list(a[1:]))
        return context.get_dummy_value()
    return sig, codegen

@intrinsic
def as_pointer(typingctx, addr, like):
    """The address ``addr`` as a pointer to ``like``'s dtype (for ``numba.carray``)."""
    sig = types.CPointer(like.dtype)(addr, like)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(signature.return_type))
    return sig, codegen


jit = numba.njit(cache=True, error_model="numpy")


# No fastmath: it would let LLVM fuse multiply-adds and reorder, and the results would
# differ from NumPy's in the last bit. NumPy's error model (a division by 0 gives inf, as
# NumPy's) instead of Python's (which checks each division and keeps the loop from being
# vectorized: 2.9x slower).
@numba.njit(cache=True, nogil=True, error_model="numpy")
def adam_step(theta, grad, M, V, beta1, beta2, c, eps):  # pragma: no cover - compiled
    """Adam's step in one pass, in place: ``kernels.adam``."""
    for i in range(theta.size):
        g = grad[i]
        m = M[i] * beta1 + g
        v = V[i] * beta2 + g * g
        M[i] = m
        V[i] = v
        theta[i] = theta[i] - (m / (np.sqrt(v) + eps)) * c


@jit
def matrix(addr, rows, cols, like):  # pragma: no cover - compiled
    """The C-contiguous ``(rows, cols)`` array of ``like``'s dtype at ``addr``."""
    return numba.carray(as_pointer(addr, like), (rows, cols))


@jit
def call(fn, data, scratch, x, y, z, n, sx, sy, sz):  # pragma: no cover - compiled
    """NumPy's inner loop ``fn`` over ``n`` values: inputs at ``x`` (and ``y``), output at
    ``z`` (an address 0 for ``y``: a unary loop), strides in bytes; ``scratch`` holds the
    loop's ``args``, ``steps`` and ``dimensions``."""
    if y == 0:
        scratch[0], scratch[1] = x, z
        scratch[3], scratch[4] = sx, sz
    else:
        scratch[0], scratch[1], scratch[2] = x, y, z
        scratch[3], scratch[4], scratch[5] = sx, sy, sz
    scratch[6] = n
    base = np.int64(scratch.ctypes.data)
    ufunc_loop(fn, base, base + 48, base + 24, data)


@jit
def product(fn, p, one, zero, A, B, C, ldc):  # pragma: no cover - compiled
    """One planned product ``C = A B`` (addresses; ``p`` the plan's 9 numbers)."""
    if p[0] == 0:
        gemm(fn[0], p[1], p[2], p[3], p[4], p[5], p[6], one, A, p[7], B, p[8], zero, C, ldc)
    else:  # gemv: the matrix is B, the vector A
        gemv(fn[1], p[1], p[2], p[4], p[5], one, B, p[7], A, p[8], zero, C, 1)


@jit
def run(fn, plans, acts, loss, ptrs, sizes, X, Y, order, gather, Xb, Yb, out, keep_Z, dZL,
        theta, grad, M, V, mask, hyper, t0, first, last, bs, scratch,
        cast):  # pragma: no cover - compiled
    """Batches ``first`` to ``last - 1``, all of ``bs`` samples: see ``steps.Loop.run``.

    Layer ``l``'s (from 0) arrays are at ``ptrs[l]``: ``[W | b]``, ``[dW | db]``, ``Z``,
    ``[A; 1]``, ``T`` and ``dA[l-1]``. Addresses, not a tuple of arrays, keep the signature
    the same for every depth, so that the loop is compiled once per dtype."""
    L = ptrs.shape[0]
    one, zero, half = theta.dtype.type(1), theta.dtype.type(0), theta.dtype.type(0.5)
    item = theta.itemsize
    zero_arr = np.zeros(1, theta.dtype)
    lr, b1, b2, eps, decay = hyper[0], hyper[1], hyper[2], hyper[3], hyper[4]
    root = math.sqrt(1 - b2)
    # the scalars in the arrays' dtype, rounded as NumPy rounds a Python float
    cast[0], cast[1], cast[2], cast[5] = b1, b2, decay, hyper[5]
    b1_dt, b2_dt, decay_dt, scale = cast[0], cast[1], cast[2], cast[5]
    n_out = out.shape[0]
    for b in range(first, last):
        # the batch: rows of the epoch's order, as [X; 1]^T and Y^T (samples as rows)
        if gather:
            for r in range(bs):
                i = order[b * bs + r]
                Xb[r, :] = X[i, :]
                Yb[r, :] = Y[i, :]
            Xr, Yr = Xb, Yb
        else:
            Xr, Yr = X[b * bs:(b + 1) * bs], Y[b * bs:(b + 1) * bs]
        x_in = np.int64(Xr.ctypes.data)  # int64 as ptrs (an unsigned one would unify to float)
        # forward: Z = [W | b] [A_prev; 1], A = f(Z) (core.network.Dense._forward)
        for l in range(L):
            n = sizes[l + 1]
            a_in = x_in if l == 0 else ptrs[l - 1, 3]
            product(fn, plans[l, 0], one, zero, ptrs[l, 0], a_in, ptrs[l, 2], bs)
            code = acts[l]
            Zl = matrix(ptrs[l, 2], n, bs, theta)
            Al = matrix(ptrs[l, 3], n, bs, theta)  # the top rows of [A; 1]
            Tl = matrix(ptrs[l, 4], n, bs, theta)
            if code == 1:  # relu: z/2 + |z/2|
                for i in range(n):
                    for j in range(bs):
                        h = Zl[i, j] * half
                        Al[i, j] = h + abs(h)
            elif code == 2:
                call(fn[2], fn[3], scratch, ptrs[l, 2], 0, ptrs[l, 3], n * bs, item, 0, item)
            elif code == 3:  # logistic: exp(-logaddexp(0, -z))
                for i in range(n):
                    for j in range(bs):
                        Al[i, j] = -Zl[i, j]
                call(fn[6], fn[7], scratch, np.int64(zero_arr.ctypes.data), ptrs[l, 3], ptrs[l, 3],
                     n * bs, 0, item, item)
                for i in range(n):
                    for j in range(bs):
                        Al[i, j] = -Al[i, j]
                call(fn[4], fn[5], scratch, ptrs[l, 3], 0, ptrs[l, 3], n * bs, item, 0, item)
            elif code == 4:  # softmax: exp(z - column max) / column sum
                for j in range(bs):
                    Tl[0, j] = Zl[0, j]
                for i in range(1, n):
                    for j in range(bs):  # np.maximum: nan if either is
                        a, c = Tl[0, j], Zl[i, j]
                        Tl[0, j] = a if (a >= c or a != a) else c
                for i in range(n):
                    for j in range(bs):
                        Al[i, j] = Zl[i, j] - Tl[0, j]
                call(fn[4], fn[5], scratch, ptrs[l, 3], 0, ptrs[l, 3], n * bs, item, 0, item)
                for j in range(bs):
                    Tl[0, j] = Al[0, j]
                for i in range(1, n):
                    for j in range(bs):  # a column's sum, row after row
                        Tl[0, j] = Tl[0, j] + Al[i, j]
                for i in range(n):
                    for j in range(bs):
                        Al[i, j] = Al[i, j] / Tl[0, j]
        # the outputs the epoch's loss and metrics are computed from
        n = n_out
        AL = matrix(ptrs[L - 1, 3], n, bs, theta)
        top = matrix(ptrs[L - 1, 2], n, bs, theta) if keep_Z else AL
        for i in range(n):
            for j in range(bs):
                out[i, b * bs + j] = top[i, j]
        # the loss's gradient, with the batch mean's 1/m: (A - Y) * scale (Network.backward)
        for i in range(n):
            for j in range(bs):
                dZL[i, j] = AL[i, j] - Yr[j, i]
        for i in range(n):
            for j in range(bs):
                dZL[i, j] = dZL[i, j] * scale
        # backward: dZ = dA * f'(Z), [dW | db] = dZ [A_prev; 1]^T, dA_prev = W^T dZ
        for l in range(L - 1, -1, -1):
            n, k = sizes[l + 1], sizes[l] + 1
            dZ = dZL if l == L - 1 else matrix(ptrs[l + 1, 5], n, bs, theta)
            code = acts[l]
            if l < L - 1 or loss == 1:  # in place (a fused loss gave dZ itself)
                Zl = matrix(ptrs[l, 2], n, bs, theta)
                Al = matrix(ptrs[l, 3], n, bs, theta)
                if code == 1:  # a multiply, not a select: inf or nan in dA stays nan at 0
                    for i in range(n):
                        for j in range(bs):
                            dZ[i, j] = dZ[i, j] * (one if Zl[i, j] >= 0 else zero)
                elif code == 2:
                    for i in range(n):
                        for j in range(bs):
                            a = Al[i, j]
                            dZ[i, j] = dZ[i, j] * (one - a * a)
                elif code == 3:
                    for i in range(n):
                        for j in range(bs):
                            a = Al[i, j]
                            dZ[i, j] = dZ[i, j] * ((one - a) * a)
            a_in = x_in if l == 0 else ptrs[l - 1, 3]
            product(fn, plans[l, 1], one, zero, np.int64(dZ.ctypes.data), a_in, ptrs[l, 1], k)
            if l > 0:
                p = plans[l, 2]
                if p[0] == 2:  # matmul's own loop for a column @ a row: 0 + w z
                    Wl = matrix(ptrs[l, 0], n, k, theta)
                    dA = matrix(ptrs[l, 5], k - 1, bs, theta)
                    for i in range(k - 1):
                        for j in range(bs):
                            dA[i, j] = zero + Wl[0, i] * dZ[0, j]
                else:
                    gemm(fn[0], p[1], p[2], p[3], p[4], p[5], p[6], one, ptrs[l, 0], p[7],
                         np.int64(dZ.ctypes.data), p[8], zero, ptrs[l, 5], bs)
        # Adam (AdamW's decay first), as core.optimizers.Adam._update
        t = t0 + (b - first) + 1
        lr_t = lr * math.sqrt(1 - math.pow(b2, float(t))) / (1 - math.pow(b1, float(t)))
        cast[3], cast[4] = lr_t * (1 - b1) / root, eps / root
        c, e = cast[3], cast[4]
        if decay != 0:
            for i in range(theta.size):
                w = theta[i] * mask[i]
                w = w * decay_dt
                theta[i] = theta[i] - w
        adam_step(theta, grad, M, V, b1_dt, b2_dt, c, e)
