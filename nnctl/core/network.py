"""A fully connected network, samples as columns (docs/notation.md).

Forward: ``Z[l] = W[l] A[l-1] + b[l]``, ``A[l] = f[l](Z[l])`` (``Dense._forward``).
Backward: ``dZ[l] = dA[l] * f[l]'(Z[l])`` (``Dense._backward``), ``dW[l] = dZ[l] A[l-1]^T / m``,
``db[l] = mean of dZ[l] over columns``, ``dA[l-1] = W[l]^T dZ[l]`` (not computed for l = 1)
(``Dense._backward_dZ``). The ``1/m`` is applied once, to the output gradient
(``Network.backward``), so every layer's ``dZ`` already carries it.

All parameters live in one flat vector ``theta`` and all gradients in one flat vector
``grad``; each layer's ``W, b, alpha`` and ``dW, db, dalpha`` are views into them, so an
optimizer updates the whole network with a handful of whole-vector operations.
``weight_mask`` marks the weights, which L2 decays (not biases or PReLU slopes).

Who owns what: ``theta`` is the network's parameters and ``grad`` the gradient of the last
``backward`` (the next one overwrites it). Every method that returns an array (``forward``,
``predict``, ``outputs``, ``arrays``, ``trace``) returns a new one the caller owns; what a
layer exposes of its last pass (``Z``, ``A``, ``dZ``, ...) is a read-only view.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from numpy.typing import DTypeLike, NDArray

from .activations import Activation, get_activation
from ..errors import ConfigError
from .init import INITIALIZERS, initial_weights
from .losses import REGRESSION_LOSSES, Loss, check_pairing, get_loss

Array = NDArray[np.floating]

DTYPES = ("float32", "float64")

#: np.dot itself, without its __array_function__ dispatch (a Python call that cost a
#: third of a small product's 0.5 us): the arrays of a pass are always plain ndarrays.
_dot = getattr(np.dot, "_implementation", np.dot)


def _readonly(a: Array) -> Array:
    """A view of ``a`` that cannot be written through."""
    v = a.view()
    v.flags.writeable = False
    return v


#: Dropout draws 16 random bits per unit: its rate is used in steps of 1/65536.
DROP_STEPS = 65536
#: The highest dropout rate: a layer keeps at least 1 unit in 1000 (at 1 - 2^-16 it would
#: keep none, and the scale 1 / (1 - p) would be infinite).
MAX_DROPOUT = 0.999
TOO_LOW_DROPOUT = (f"is at most {0.5 / DROP_STEPS:.3g}, below the lowest rate dropout can apply"
                   f" (its draws are 16 bits, so it would drop nothing); use 0 for none, or"
                   f" {1 / DROP_STEPS:.3g} or more")


def drops_nothing(p: float) -> bool:
    """Whether a dropout rate above 0 is too low to drop anything: a rate is used in steps
    of 2^-16, and one that rounds to none of them would keep every unit."""
    return p > 0 and round(p * DROP_STEPS) == 0


class _Buffers:
    """One layer's reused arrays for one batch size ``m``, named as in the notation.

    ``Z: (n[l], m)``. ``A_ones: (n[l] + 1, m)`` is ``[A; 1]``, ``A`` with the row of ones
    the next layer's bias needs, and ``A: (n[l], m)`` is its top rows (a view); for
    identity, ``Z`` is ``A``. ``T: (n[l], m)`` is scratch for the activation's forward and
    derivative; in backward it holds ``f'(Z)`` (for most activations, see ``activations``).
    ``dA_prev: (n[l-1], m)`` is made on first use (layer 1 never needs one).

    With dropout, in training: ``M: (n[l], m)`` is the pass's mask already divided by
    the share kept ``q = 1 - p`` (each entry 0 or ``1 / q``), and ``D_ones: (n[l] + 1, m)`` is
    ``[A * M; 1]``, what the next layer reads; ``A`` stays ``f(Z)``, which some derivatives
    use. ``dropped`` says whether the last forward applied the mask.
    """

    __slots__ = ("Z", "A", "A_ones", "T", "dA_prev", "M", "D_ones", "dropped")

    def __init__(self, *, n: int, m: int, dtype: np.dtype, identity: bool) -> None:
        self.A_ones = np.empty((n + 1, m), dtype)
        self.A_ones[n] = 1
        self.A = self.A_ones[:n]
        self.Z = self.A if identity else np.empty((n, m), dtype)
        self.T = np.empty((n, m), dtype)
        self.dA_prev: Array | None = None
        self.M: Array | None = None
        self.D_ones: Array | None = None
        self.dropped = False


class Dense:
    """Layer ``l``: ``W: (n[l], n[l-1])``, ``b: (n[l], 1)`` and activation ``f[l]``.

    ``W`` and ``b`` are the two parts of one block ``[W | b]: (n[l], n[l-1] + 1)``, and the
    layer's input carries a row of ones below ``A[l-1]``, so that ``[W | b] [A; 1] = W A + b``
    and ``dZ [A; 1]^T = [dZ A^T | sum of dZ]``: one matrix product each way gives ``Z``,
    and ``dW`` with ``db``, with no separate bias pass.

    The network drives ``_forward`` and ``_backward`` (``_backward_dZ`` when a fused loss
    gives ``dZ[L]`` itself), which work in buffers reused from
    step to step (one set per batch size), so a training step allocates nothing. What a
    caller may read is the state of the last pass, as read-only views: ``A_prev``, ``Z``,
    ``A``, ``dZ``, ``dW``, ``db``, ``dalpha``. The next pass overwrites them, so copy what
    you keep (``Network.trace`` does). ``W``, ``b`` and PReLU's ``alpha`` are the
    parameters themselves (views into the network's ``theta``), writable on purpose.
    """

    #: How many batch sizes keep their buffers (training, its last batch, evaluation).
    KEEP = 4

    def __init__(self, Wb: Array, dWb: Array, activation: Activation,
                 alpha: Array | float | None = None, dalpha: Array | None = None) -> None:
        self.Wb, self._dWb = Wb, dWb
        self.W, self.b = Wb[:, :-1], Wb[:, -1:]
        self.dW, self.db = _readonly(dWb[:, :-1]), _readonly(dWb[:, -1:])
        self.activation = activation
        #: ELU's fixed scale (a float) or PReLU's learned slopes (a view ``(n[l], 1)``).
        self.alpha = alpha
        self._dalpha = dalpha
        self.dalpha = None if dalpha is None else _readonly(dalpha)
        self._A_prev_ones: Array | None = None  # [A_prev; 1] of the last forward
        self._dZ: Array | None = None
        self._buffers: dict[int, _Buffers] = {}
        self._m, self._current = -1, None
        #: The dropout rate ``p`` of this layer's output, in training only (0: none).
        self.p = 0.0
        #: The mask's three passes below in one compiled loop, bit for bit the same, when
        #: nnctl.kernels gives one (the fast extra); None: NumPy.
        self.fused_mask = None
        #: The activation's forward and derivative (same signatures) as one compiled loop
        #: each, bit for bit its passes, from nnctl.kernels; None: the activation's own.
        self.fused_forward = self.fused_derivative = None

    @property
    def n(self) -> int:
        return self.W.shape[0]

    @property
    def n_prev(self) -> int:
        return self.W.shape[1]

    # -- the last pass, read-only ------------------------------------------------------

    @property
    def A_prev(self) -> Array | None:
        """``A[l-1]: (n[l-1], m)`` of the last forward (read-only; the next pass overwrites it)."""
        return None if self._A_prev_ones is None else _readonly(self._A_prev_ones[:-1])

    @property
    def Z(self) -> Array | None:
        """``Z[l]: (n[l], m)`` of the last forward (read-only; the next pass overwrites it)."""
        return None if self._current is None else _readonly(self._current.Z)

    @property
    def A(self) -> Array | None:
        """``A[l]: (n[l], m)`` of the last forward (read-only; the next pass overwrites it)."""
        return None if self._current is None else _readonly(self._current.A)

    @property
    def dZ(self) -> Array | None:
        """``dZ[l]: (n[l], m)`` of the last backward, with the batch's ``1/m`` (read-only)."""
        return None if self._dZ is None else _readonly(self._dZ)

    # -- the passes (for Network) ------------------------------------------------------

    def _buffers_for(self, m: int) -> _Buffers:
        if m == self._m:
            return self._current
        buf = self._buffers.get(m)
        if buf is None:
            if len(self._buffers) >= self.KEEP:
                self._buffers.pop(next(iter(self._buffers)))
            buf = self._buffers[m] = _Buffers(n=self.n, m=m, dtype=self.W.dtype,
                                              identity=self.activation.name == "identity")
        self._m, self._current = m, buf
        return buf

    def _forward(self, A_prev_ones: Array, rng: np.random.Generator | None = None) -> Array:
        """``[A_prev; 1]: (n[l-1] + 1, m)`` -> this layer's buffer ``[A; 1]: (n[l] + 1, m)``.

        With ``rng`` (training) and a dropout rate ``p``, ``[A * M; 1]`` instead, ``M`` drawn
        from ``rng``: inverted dropout, so the expected output is ``A`` and nothing changes
        at inference.
        """
        buf = self._buffers_for(A_prev_ones.shape[1])
        # Z = [W | b] [A_prev; 1] = W A_prev + b (np.dot: matmul's BLAS call, less overhead)
        _dot(self.Wb, A_prev_ones, out=buf.Z)
        if buf.A is not buf.Z:  # identity: A is Z
            f = self.fused_forward or self.activation.forward
            f(buf.Z, buf.A, self.alpha, buf.T)  # A = f(Z)
        self._A_prev_ones = A_prev_ones
        buf.dropped = rng is not None and self.p > 0
        if not buf.dropped:
            return buf.A_ones
        if buf.M is None:
            buf.M = np.empty_like(buf.A)
            buf.D_ones = np.empty_like(buf.A_ones)
            buf.D_ones[-1] = 1
        M = buf.M
        # u: 16 random bits per unit, four from each 64-bit draw of the generator (twice as
        # fast as rng.random's floats, the largest cost of dropout); p is then a multiple of
        # 2^-16 (DROP_STEPS), and q = 1 - p the exact share kept.
        u = rng.bit_generator.random_raw(-(-M.size // 4)).view(np.uint16)
        if u.size != M.size:
            u = u[:M.size]
        dropped = round(self.p * DROP_STEPS)
        scale = DROP_STEPS / (DROP_STEPS - dropped)  # 1 / q
        if self.fused_mask is not None:
            self.fused_mask(u.reshape(M.shape), dropped, M.dtype.type(scale), buf.A, M,
                            buf.D_ones[:-1])
            return buf.D_ones
        np.greater_equal(u.reshape(M.shape), dropped, out=M)  # kept (1) with probability q
        M *= scale  # M = mask / q
        np.multiply(buf.A, M, out=buf.D_ones[:-1])  # A[l] * M[l] / (1 - p)
        return buf.D_ones

    def _backward(self, dA: Array, *, need_dA_prev: bool = True) -> Array | None:
        """From ``dA[l]: (n[l], m)`` to this layer's buffer ``dA[l-1]: (n[l-1], m)``.

        ``dA`` is overwritten: multiplied in place by ``f'(Z)``, it becomes ``dZ``.
        """
        buf = self._current
        if buf.dropped:  # the gradient reaches only the kept units: dA * M / (1 - p)
            dA *= buf.M
        if self._dalpha is not None:  # PReLU's slopes need dA before it becomes dZ
            self.activation.dalpha(dA, buf.Z, buf.T, self._dalpha)
        f_prime = self.fused_derivative or self.activation.derivative
        dZ = f_prime(dA, buf.Z, buf.A, self.alpha, buf.T)  # dZ = dA * f'(Z)
        return self._backward_dZ(dZ, need_dA_prev=need_dA_prev)

    def _backward_dZ(self, dZ: Array, *, need_dA_prev: bool = True) -> Array | None:
        """From ``dZ[l]: (n[l], m)``: ``dW``, ``db`` and this layer's buffer ``dA[l-1]``.

        ``dZ`` is kept (the ``dZ`` view). ``J`` is the batch's mean loss, so ``dZ = dJ/dZ``
        already carries the ``1/m`` of ``dW = dZ A_prev^T / m`` and ``db = mean of dZ``:
        applied once, at the output, it reaches every layer without a pass over each ``dW``.
        """
        # [dW | db] = dZ [A_prev; 1]^T: db, the sum of dZ over samples, comes with dW.
        _dot(dZ, self._A_prev_ones.T, out=self._dWb)
        self._dZ = dZ
        if not need_dA_prev:
            return None
        buf = self._current
        if buf.dA_prev is None:  # layer 1 never needs one
            buf.dA_prev = np.empty((self.n_prev, dZ.shape[1]), self.W.dtype)
        # dA_prev = W^T dZ (W is a strided view of [W | b]: np.dot would copy it, matmul not)
        np.matmul(self.W.T, dZ, out=buf.dA_prev)
        return buf.dA_prev


@dataclass(frozen=True)
class LayerShapes:
    """Shapes of layer ``l``'s tensors for a batch of ``m`` samples."""

    l: int
    n: int
    activation: str
    W: tuple[int, int]
    b: tuple[int, int]
    Z: tuple[int, int]
    A: tuple[int, int]
    dW: tuple[int, int]
    db: tuple[int, int]
    dZ: tuple[int, int]
    dA: tuple[int, int]
    params: int


class Network:
    """A dense network ``n[0] - n[1] - ... - n[L]`` with a loss on its output.

    ``sizes`` are ``n[0..L]``; ``activations`` one name per layer ``1..L``; ``alphas``
    optionally one value per layer (ELU scale or PReLU initial slope; None for defaults).
    Weights are drawn from ``rng`` by ``init`` (``auto``: hidden layers by their activation,
    the output layer by its loss; see ``core.init``), biases start at zero.
    ``huber_delta`` is the Huber loss's delta.
    """

    def __init__(self, sizes: Sequence[int], activations: Sequence[str], *, loss: str = "mse",
                 dtype: DTypeLike = "float64", rng: np.random.Generator | None = None,
                 init: str = "auto", alphas: Sequence[float | None] | None = None,
                 huber_delta: float | None = None, dropout: Sequence[float] | None = None
                 ) -> None:
        sizes = [_check_size(n, i) for i, n in enumerate(sizes)]
        if len(sizes) < 2:
            raise ConfigError(f"a network needs at least an input and an output size, got {sizes}")
        L = len(sizes) - 1
        if len(activations) != L:
            raise ConfigError(f"{L} layer(s) need {L} activation(s), got {len(activations)}")
        alphas = list(alphas) if alphas is not None else [None] * L
        if len(alphas) != L:
            raise ConfigError(f"{L} layer(s) need {L} alpha value(s) or none, got {len(alphas)}")
        self.dtype = np.dtype(dtype)
        if self.dtype.name not in DTYPES:
            raise ConfigError(f"dtype must be one of {', '.join(DTYPES)}, got '{dtype}'")
        init = INITIALIZERS.name(init)
        if rng is None:
            rng = np.random.default_rng(0)

        acts = [get_activation(a) for a in activations]
        for l, act in enumerate(acts[:-1], start=1):
            if act.output_only:
                raise ConfigError(f"layer {l}: '{act.name}' is only allowed in the output layer")
        self.loss: Loss = get_loss(loss, delta=huber_delta)
        check_pairing(self.loss, acts[-1])
        self.sizes = sizes
        self.init = init

        # Layout of the flat vectors: each layer's [W | b] block, then the PReLU alphas.
        blocks = [sizes[l] * (sizes[l - 1] + 1) for l in range(1, L + 1)]
        n_alpha = sum(sizes[l] for l in range(1, L + 1) if acts[l - 1].alpha == "learned")
        total = sum(blocks) + n_alpha
        self.theta = np.zeros(total, dtype=self.dtype)
        self.grad = np.zeros(total, dtype=self.dtype)
        #: 1 where theta holds a weight, 0 for biases and slopes (what L2 decays).
        self.weight_mask = np.zeros(total, dtype=self.dtype)

        self.layers: list[Dense] = []
        #: With the fast extra, ``nnctl.kernels.steps.steps_for``: what makes an epoch's
        #: steps one compiled loop, bit for bit the steps here (``core.train`` asks it once
        #: per run); None: these steps.
        self.fused_steps = None
        #: Per batch size m, the loss's gradient: dA[L], or dZ[L] for a fused loss.
        self._output_gradient: dict[int, Array] = {}
        self._backward_ready = False  # the layers hold a forward that backward may use
        off, a_off = 0, sum(blocks)
        # auto draws the output layer for its loss (core.init.OUTPUT_GAIN)
        output_kind = "regression" if self.loss.name in REGRESSION_LOSSES else "classification"
        for l in range(1, L + 1):
            n, n_prev, act = sizes[l], sizes[l - 1], acts[l - 1]
            Wb, dWb = _view(self.theta, off, (n, n_prev + 1)), _view(self.grad, off, (n, n_prev + 1))
            _view(self.weight_mask, off, (n, n_prev + 1))[:, :-1] = 1
            off += n * (n_prev + 1)
            alpha = dalpha = None
            if act.alpha == "learned":
                alpha, dalpha = _view(self.theta, a_off, (n, 1)), _view(self.grad, a_off, (n, 1))
                a_off += n
                alpha[...] = act.default_alpha if alphas[l - 1] is None else alphas[l - 1]
            elif act.alpha == "fixed":
                alpha = float(act.default_alpha if alphas[l - 1] is None else alphas[l - 1])
            elif alphas[l - 1] is not None:
                raise ConfigError(f"layer {l}: activation '{act.name}' takes no alpha")
            layer = Dense(Wb, dWb, act, alpha, dalpha)
            layer.W[...] = initial_weights(rng, init, act, n, n_prev,
                                           output=output_kind if l == L else None)
            self.layers.append(layer)
        if dropout is not None:
            self.set_dropout(dropout)

    def set_dropout(self, rates: Sequence[float]) -> None:
        """The dropout rate of each layer's output ``1..L`` (the output layer's must be 0).
        It acts only in passes given a generator (training); see ``Dense._forward``."""
        rates = [float(p) for p in rates]
        if len(rates) != self.L:
            raise ConfigError(f"{self.L} layer(s) need {self.L} dropout rate(s), got {len(rates)}")
        for l, p in enumerate(rates, start=1):
            if not 0.0 <= p <= MAX_DROPOUT:
                raise ConfigError(f"layer {l}: dropout must be in [0, {MAX_DROPOUT}], got {p}")
            if drops_nothing(p):
                raise ConfigError(f"layer {l}: dropout {p} {TOO_LOW_DROPOUT}")
        if rates[-1]:
            raise ConfigError("the output layer cannot drop units (its dropout must be 0)")
        for layer, p in zip(self.layers, rates):
            layer.p = p

    @property
    def dropout(self) -> list[float]:
        return [layer.p for layer in self.layers]

    @property
    def n_weights(self) -> int:
        """How many entries of ``theta`` are weights (not biases or slopes)."""
        return sum(layer.W.size for layer in self.layers)

    # -- structure -----------------------------------------------------------------

    @property
    def L(self) -> int:
        return len(self.layers)

    def layer(self, l: int) -> Dense:
        """Layer ``l`` in the notation's numbering, ``1..L``."""
        if not 1 <= l <= self.L:
            raise IndexError(f"layer {l} is outside 1..{self.L}")
        return self.layers[l - 1]

    @property
    def activations(self) -> list[str]:
        return [layer.activation.name for layer in self.layers]

    @property
    def n_params(self) -> int:
        return self.theta.size

    @property
    def warnings(self) -> list[str]:
        """Messages a caller should show before training (binary step in a hidden layer)."""
        return [
            f"layer {l}: binary_step has derivative 0, so gradient descent cannot train"
            f" {'layer 1' if l == 1 else f'layers 1 to {l}'} (no gradient passes it)"
            for l, layer in enumerate(self.layers[:-1], start=1)
            if not layer.activation.passes_gradient
        ] + (
            ["output layer: binary_step has derivative 0, so the network cannot learn"]
            if not self.layers[-1].activation.passes_gradient else []
        )

    def shapes(self, m: int) -> list[LayerShapes]:
        """Shapes of every parameter, cached tensor and gradient for ``m`` samples."""
        return layer_shapes(self.sizes, self.activations, m)

    # -- computation ---------------------------------------------------------------

    #: Columns per pass in ``predict`` and ``outputs``. Every pass has exactly this many
    #: columns (the last one padded), because BLAS picks its kernels by shape and so rounds
    #: differently for different ``m``: with one shape, a row's prediction depends on the
    #: row alone, not on the file around it or on where the chunks fall.
    CHUNK = 1024

    def forward(self, X: Array) -> Array:
        """``X = A[0]: (n[0], m)`` -> ``A[L]: (n[L], m)``, caching what backward needs.

        The result is the caller's (a copy); the layers keep their own ``Z`` and ``A``.
        """
        self.forward_cached(self._with_ones(np.asarray(X, dtype=self.dtype)))
        return self.layers[-1]._current.A.copy()

    def _with_ones(self, X: Array) -> Array:
        X_ones = np.empty((X.shape[0] + 1, X.shape[1]), dtype=self.dtype)
        X_ones[:-1] = X
        X_ones[-1] = 1
        return X_ones

    def forward_cached(self, X_ones: Array, rng: np.random.Generator | None = None) -> None:
        """``forward`` for ``[X; 1]: (n[0] + 1, m)``, which already has the row of ones.

        Returns nothing: the layers hold the pass (``layer(L).Z``, ``.A``, read-only), and
        ``X_ones`` must stay unchanged until ``backward``. For the training loop, which
        passes ``rng`` for the dropout masks (no ``rng``: no dropout).
        """
        A_ones = X_ones  # [A[0]; 1]
        for layer in self.layers:
            A_ones = layer._forward(A_ones, rng)
        self._backward_ready = True

    def forget_pass(self) -> None:
        """Drop the last forward's reference to its input (``backward`` then needs a new
        forward): ``fit`` calls it on return, so the network does not keep its data alive."""
        self.layers[0]._A_prev_ones = None
        self._backward_ready = False

    def backward(self, Y: Array, w: Array | None = None) -> None:
        """Fill ``grad`` (every layer's ``dW, db, dalpha``) from the last ``forward``.

        ``Y: (n[L], m)``. A fused loss starts from ``dZ[L] = A[L] - Y``. The layers' ``dZ``
        hold the gradients of the batch's mean loss, ``dZ[l] / m`` in docs/notation.md's terms.
        With sample weights ``w: (m,)`` the loss is ``(1/m) sum_i w_i l_i``, and column ``i``
        of the output gradient is multiplied by ``w_i``.
        """
        if not self._backward_ready:
            raise RuntimeError("backward needs a forward first (predict, outputs and evaluate"
                               " replace the layers' state of the last forward)")
        L, output = self.L, self.layers[-1]
        A = output._current.A
        m = A.shape[1]
        out = self._output_gradient.get(m)
        if out is None:
            out = self._output_gradient[m] = np.empty_like(A)
            while len(self._output_gradient) > Dense.KEEP:
                self._output_gradient.pop(next(iter(self._output_gradient)))
        # The 1/m of the batch's mean, applied once here (see Dense._backward_dZ).
        if self.loss.fused:
            dZ = self.loss.gradient(A, Y, out=out, scale=1.0 / m)  # dZ[L] = (A[L] - Y) / m
            if w is not None:
                dZ *= w  # dZ[L] of sample i = w_i (a_i - y_i) / m
            dA = output._backward_dZ(dZ, need_dA_prev=L > 1)
        else:
            dA = self.loss.gradient(A, Y, out=out, scale=1.0 / m)  # dA[L] / m
            if w is not None:
                dA *= w
            dA = output._backward(dA, need_dA_prev=L > 1)
        for l in range(L - 1, 0, -1):
            dA = self.layers[l - 1]._backward(dA, need_dA_prev=l > 1)  # dA[l] -> dA[l-1]

    def cost(self, Y: Array, w: Array | None = None) -> float:
        """The loss of the last ``forward`` against ``Y: (n[L], m)`` (weighted by ``w``)."""
        out = self.layers[-1]._current
        return self.loss.value(out.Z, out.A, Y, w)

    def compute_loss(self, X: Array, Y: Array, w: Array | None = None) -> float:
        """Forward ``X`` and return the (weighted) mean loss against ``Y``."""
        self.forward(X)
        return self.cost(np.asarray(Y, dtype=self.dtype), w)

    def predict(self, X: Array) -> Array:
        """``A[L]: (n[L], m)`` for ``X: (n[0], m)``, a new array the caller owns.

        Works in passes of ``CHUNK`` columns to bound memory; see ``CHUNK`` for why the
        result does not depend on how the rows are split between calls.
        """
        return self.outputs(X)[1]

    def outputs(self, X: Array, *, logits: bool = False) -> tuple[Array | None, Array]:
        """``(Z[L], A[L])`` for ``X: (n[0], m)``, both new arrays (``Z[L]`` only if ``logits``).

        The fused losses need the logits ``Z[L]`` for a stable value (see ``losses``).
        """
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[0] != self.sizes[0]:
            raise ValueError(f"X must have shape (n[0]={self.sizes[0]}, m), got {X.shape}")
        m, C = X.shape[1], self.CHUNK
        A_out = np.empty((self.sizes[-1], m), self.dtype)
        Z_out = np.empty_like(A_out) if logits else None
        X_ones = np.zeros((X.shape[0] + 1, C), self.dtype)
        X_ones[-1] = 1
        last = self.layers[-1]
        for i in range(0, m, C):
            k = min(C, m - i)
            X_ones[:-1, :k] = X[:, i:i + k]
            if k < C:
                X_ones[:-1, k:] = 0  # padding: finite, and its outputs are dropped
            self.forward_cached(X_ones)
            A_out[:, i:i + k] = last._current.A[:, :k]
            if logits:
                Z_out[:, i:i + k] = last._current.Z[:, :k]
        self._backward_ready = False  # the layers now hold a padded chunk, not a batch
        return Z_out, A_out

    def trace(self) -> list[dict[str, Array]]:
        """Copies of every layer's tensors of the last passes, for ``l = 1..L``.

        Each entry holds ``A_prev, Z, A, W, b`` (and ``dZ, dW, db`` after a backward, and
        ``alpha``/``dalpha`` for PReLU): arrays the caller owns, unaffected by later passes.
        """
        out = []
        for layer in self.layers:
            entry = {"A_prev": layer.A_prev, "Z": layer.Z, "A": layer.A,
                     "W": layer.W, "b": layer.b}
            if layer.dZ is not None:
                entry.update(dZ=layer.dZ, dW=layer.dW, db=layer.db)
            if layer.dalpha is not None:
                entry.update(alpha=layer.alpha, dalpha=layer.dalpha)
            out.append({k: None if v is None else np.array(v) for k, v in entry.items()})
        return out

    def first_nonfinite(self) -> tuple[int, str] | None:
        """``(l, tensor name)`` of the first non-finite parameter, cached value or gradient."""
        for l, layer in enumerate(self.layers, start=1):
            for name in ("W", "b", "alpha", "Z", "A", "dZ", "dW", "db", "dalpha"):
                value = getattr(layer, name)
                if isinstance(value, np.ndarray) and not np.isfinite(value).all():
                    return l, name
        return None

    def copy(self, dtype: DTypeLike | None = None) -> Network:
        """A new network with the same layers and parameters, in ``dtype`` (default: this one's).

        Each layer keeps this network's activation object, so a copy runs the same functions.
        ``explain`` and ``gradcheck`` work on a float64 copy, whatever the training dtype.
        """
        alphas = [layer.alpha if isinstance(layer.alpha, float) else None for layer in self.layers]
        net = Network(self.sizes, self.activations, loss=self.loss.name,
                      dtype=self.dtype if dtype is None else dtype, init=self.init, alphas=alphas,
                      huber_delta=getattr(self.loss, "delta", None), dropout=self.dropout)
        net.theta[...] = self.theta
        for mine, theirs in zip(net.layers, self.layers):
            mine.activation = theirs.activation
        return net

    # -- parameters by name ----------------------------------------------------------

    def arrays(self) -> dict[str, Array]:
        """Copies of the parameters as ``W1..WL``, ``b1..bL`` and ``alpha<l>`` (PReLU)."""
        out: dict[str, Array] = {}
        for l, layer in enumerate(self.layers, start=1):
            out[f"W{l}"] = layer.W.copy()
            out[f"b{l}"] = layer.b.copy()
            if layer.dalpha is not None:
                out[f"alpha{l}"] = layer.alpha.copy()
        return out

    def set_arrays(self, arrays: dict[str, Array]) -> None:
        """Load parameters named as in ``arrays()``; shapes must match exactly."""
        expected = {name: value.shape for name, value in self._views().items()}
        missing = sorted(set(expected) - set(arrays))
        if missing:
            raise ConfigError(f"missing parameter array(s): {', '.join(missing)}")
        for name, view in self._views().items():
            value = np.asarray(arrays[name])
            if value.shape != view.shape:
                raise ConfigError(f"parameter {name} has shape {value.shape}, expected {view.shape}")
            view[...] = value

    def _views(self) -> dict[str, Array]:
        out = {}
        for l, layer in enumerate(self.layers, start=1):
            out[f"W{l}"], out[f"b{l}"] = layer.W, layer.b
            if layer.dalpha is not None:
                out[f"alpha{l}"] = layer.alpha
        return out


def describe(sizes: Sequence[int], activations: Sequence[str]) -> str:
    """``3-3-2-1 (elu, elu, logistic)``: the sizes ``n[0..L]`` and each layer's activation."""
    return "-".join(map(str, sizes)) + " (" + ", ".join(activations) + ")"


def layer_shapes(sizes: Sequence[int], activations: Sequence[str], m: int) -> list[LayerShapes]:
    """Shapes of each layer's tensors for ``m`` samples, from the sizes alone (docs/notation.md)."""
    out = []
    for l in range(1, len(sizes)):
        n, n_prev = sizes[l], sizes[l - 1]
        act = get_activation(activations[l - 1])
        params = n * n_prev + n + (n if act.alpha == "learned" else 0)
        out.append(LayerShapes(l, n, act.name, (n, n_prev), (n, 1), (n, m), (n, m),
                               (n, n_prev), (n, 1), (n, m), (n, m), params))
    return out


def _view(buf: Array, off: int, shape: tuple[int, int]) -> Array:
    """The part of a flat vector that holds an array of ``shape``, from ``off`` on."""
    return buf[off:off + math.prod(shape)].reshape(shape)


def _check_size(n, i: int) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ConfigError(f"n[{i}] must be a positive integer, got {n!r}")
    return int(n)
