"""A fully connected network, samples as columns (NOTATION.md).

Forward: ``Z[l] = W[l] A[l-1] + b[l]``, ``A[l] = f[l](Z[l])``.
Backward: ``dZ[l] = dA[l] * f[l]'(Z[l])``, ``dW[l] = dZ[l] A[l-1]^T / m``,
``db[l] = mean of dZ[l] over columns``, ``dA[l-1] = W[l]^T dZ[l]`` (not computed for l = 1).
The ``1/m`` is applied once, to the output gradient (see ``Dense.backward``).

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
from .losses import Loss, check_pairing, get_loss

Array = NDArray[np.floating]

DTYPES = ("float32", "float64")


def _readonly(a: Array) -> Array:
    """A view of ``a`` that cannot be written through."""
    v = a.view()
    v.flags.writeable = False
    return v


class _Buffers:
    """One layer's reused arrays for one batch size ``m``, named as in the notation.

    ``A1: (n[l] + 1, m)`` is ``A`` with the row of ones the next layer's bias needs (``A``
    is its top rows); ``T`` is scratch for the activation's fast paths; for identity, ``Z``
    is ``A``. ``dA_prev: (n[l-1], m)`` is made on first use (layer 1 never needs one).
    """

    __slots__ = ("Z", "A", "A1", "T", "dA_prev")

    def __init__(self, n: int, m: int, dtype, identity: bool) -> None:
        self.A1 = np.empty((n + 1, m), dtype)
        self.A1[n] = 1
        self.A = self.A1[:n]
        self.Z = self.A if identity else np.empty((n, m), dtype)
        self.T = np.empty((n, m), dtype)
        self.dA_prev: Array | None = None


class Dense:
    """Layer ``l``: ``W: (n[l], n[l-1])``, ``b: (n[l], 1)`` and activation ``f[l]``.

    ``W`` and ``b`` are the two parts of one block ``[W | b]: (n[l], n[l-1] + 1)``, and the
    layer's input carries a row of ones below ``A[l-1]``, so that ``[W | b] [A; 1] = W A + b``
    and ``dZ [A; 1]^T = [dZ A^T | sum of dZ]``: one matrix product each way gives ``Z``,
    and ``dW`` with ``db``, with no separate bias pass.

    The network drives ``_forward`` and ``_backward``, which work in buffers reused from
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
        self._A1_prev: Array | None = None
        self._dZ: Array | None = None
        self._buffers: dict[int, _Buffers] = {}
        self._m, self._current = -1, None

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
        return None if self._A1_prev is None else _readonly(self._A1_prev[:-1])

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
            buf = self._buffers[m] = _Buffers(self.n, m, self.W.dtype,
                                              self.activation.name == "identity")
        self._m, self._current = m, buf
        return buf

    def _forward(self, A1_prev: Array) -> Array:
        """``[A_prev; 1]: (n[l-1] + 1, m)`` -> this layer's buffer ``[A; 1]: (n[l] + 1, m)``."""
        buf = self._buffers_for(A1_prev.shape[1])
        np.dot(self.Wb, A1_prev, out=buf.Z)  # np.dot: the same BLAS call as matmul, less overhead
        if buf.A is not buf.Z:
            self.activation.into(buf.Z, buf.A, self.alpha, buf.T)
        self._A1_prev = A1_prev
        return buf.A1

    def _backward(self, G: Array, *, fused: bool = False, need_dA_prev: bool = True) -> Array | None:
        """From ``G = dJ/dA[l]: (n[l], m)`` to this layer's buffer ``dJ/dA[l-1]``.

        ``G`` is overwritten with ``dZ``. ``J`` is the batch's mean loss, so ``G`` already
        carries the ``1/m`` of ``dW = dZ A_prev^T / m`` and ``db = mean of dZ``: applied
        once, at the output, it reaches every layer without a pass over each ``dW``.
        ``fused``: ``G`` is already ``dJ/dZ[l]``.
        """
        buf = self._buffers_for(G.shape[1])
        if not fused:
            if self._dalpha is not None:
                # d f/d alpha = z where z < 0 and 0 elsewhere (NOTATION.md erratum 5).
                np.minimum(buf.Z, 0, out=buf.T)
                buf.T *= G
                np.add.reduce(buf.T, axis=1, out=self._dalpha[:, 0])
            self.activation.scale(G, buf.Z, buf.A, self.alpha, buf.T)
        np.dot(G, self._A1_prev.T, out=self._dWb)
        self._dZ = G
        if not need_dA_prev:
            return None
        if buf.dA_prev is None:  # layer 1 never needs one
            buf.dA_prev = np.empty((self.n_prev, G.shape[1]), self.W.dtype)
        np.matmul(self.W.T, G, out=buf.dA_prev)  # W is a strided view: np.dot would copy it
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
    Parameters are drawn from ``rng`` (He for the ReLU family, Glorot otherwise, unless
    ``init`` names one), biases start at zero.
    """

    def __init__(self, sizes: Sequence[int], activations: Sequence[str], *, loss: str = "mse",
                 dtype: DTypeLike = "float64", rng: np.random.Generator | None = None,
                 init: str = "auto", alphas: Sequence[float | None] | None = None) -> None:
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
        self.loss: Loss = get_loss(loss)
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
        self._G: dict[int, Array] = {}  # dJ/dA[L] (or dZ[L]) per batch size
        self._backward_ready = False  # the layers hold a forward that backward may use
        off, a_off = 0, sum(blocks)
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
            layer.W[...] = initial_weights(rng, init, act, n, n_prev)
            self.layers.append(layer)

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
        X1 = np.empty((X.shape[0] + 1, X.shape[1]), dtype=self.dtype)
        X1[:-1] = X
        X1[-1] = 1
        return X1

    def forward_cached(self, X1: Array) -> None:
        """``forward`` for ``[X; 1]: (n[0] + 1, m)``, which already has the row of ones.

        Returns nothing: the layers hold the pass (``layer(L).Z``, ``.A``, read-only), and
        ``X1`` must stay unchanged until ``backward``. For the training loop.
        """
        for layer in self.layers:
            X1 = layer._forward(X1)
        self._backward_ready = True

    def backward(self, Y: Array) -> None:
        """Fill ``grad`` (every layer's ``dW, db, dalpha``) from the last ``forward``.

        ``Y: (n[L], m)``. A fused loss starts from ``dZ[L] = A[L] - Y``. The layers' ``dZ``
        hold the gradients of the batch's mean loss, ``dZ[l] / m`` in NOTATION.md's terms.
        """
        if not self._backward_ready:
            raise RuntimeError("backward needs a forward first (predict, outputs and evaluate"
                               " replace the layers' state of the last forward)")
        A = self.layers[-1]._current.A
        m = A.shape[1]
        G = self._G.get(m)
        if G is None:
            G = self._G[m] = np.empty_like(A)
            while len(self._G) > Dense.KEEP:
                self._G.pop(next(iter(self._G)))
        self.loss.gradient(A, Y, out=G, scale=1.0 / m)
        fused = self.loss.fused
        for i in range(self.L - 1, -1, -1):
            G = self.layers[i]._backward(G, fused=fused, need_dA_prev=i > 0)
            fused = False

    def cost(self, Y: Array) -> float:
        """The loss of the last ``forward`` against ``Y: (n[L], m)``."""
        out = self.layers[-1]._current
        return self.loss.value(out.Z, out.A, Y)

    def compute_loss(self, X: Array, Y: Array) -> float:
        """Forward ``X`` and return the mean loss against ``Y``."""
        self.forward(X)
        return self.cost(np.asarray(Y, dtype=self.dtype))

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
        X1 = np.zeros((X.shape[0] + 1, C), self.dtype)
        X1[-1] = 1
        last = self.layers[-1]
        for i in range(0, m, C):
            k = min(C, m - i)
            X1[:-1, :k] = X[:, i:i + k]
            if k < C:
                X1[:-1, k:] = 0  # padding: finite, and its outputs are dropped
            self.forward_cached(X1)
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
    """Shapes of each layer's tensors for ``m`` samples, from the sizes alone (NOTATION.md)."""
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
