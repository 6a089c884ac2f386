"""One training step written out in the notation of docs/notation.md, every tensor kept.

``step`` runs the network's own code (``Network.forward``, ``Network.backward`` and the
optimizer's ``step``) on a float64 copy, so what it shows is what training computes, then
names the tensors as the notes do, samples as columns:

    Z[l]    = W[l] A[l-1] + b[l]                 A[l] = f[l](Z[l])
    dZ[L]   = A[L] - Y                           (a cross-entropy with its own output)
    dA[L]   = dl/dA[L],  dZ[L] = dA[L] * f[L]'(Z[L])   (any other pairing)
    dZ[l]   = dA[l] * f[l]'(Z[l])
    dW[l]   = (1/m) dZ[l] A[l-1]^T               db[l] = (1/m) sum over the columns of dZ[l]
    dA[l-1] = W[l]^T dZ[l]

``dA`` and ``dZ`` are per sample, as in the notes: the network's own ``dZ`` carries the
batch's ``1/m`` (docs/notation.md, "Where nnctl applies 1/m"), so here it is multiplied
back by ``m``. ``dA[l]`` for ``l < L`` is ``W[l+1]^T dZ[l+1]``, which the network computes
in a buffer that then becomes ``dZ[l]``; it is recomputed here from the kept ``dZ``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .network import Network
from .optimizers import Optimizer

Array = NDArray[np.float64]


@dataclass
class LayerStep:
    """Layer ``l``'s tensors in one step (all float64, all the caller's)."""

    l: int
    activation: str
    #: ELU's fixed scale (a float), PReLU's learned slopes ``(n[l], 1)``, or None.
    alpha: float | Array | None
    W: Array         # (n[l], n[l-1])
    b: Array         # (n[l], 1)
    A_prev: Array    # (n[l-1], m)
    Z: Array         # (n[l], m)
    A: Array         # (n[l], m)
    #: ``(n[l], m)``; None for the output of a fused loss (the step starts at dZ[L]).
    dA: Array | None
    #: ``f'(Z): (n[l], m)``; None where it is not used elementwise (a fused output, softmax).
    f_prime: Array | None
    dZ: Array        # (n[l], m), per sample
    dW: Array        # (n[l], n[l-1])
    db: Array        # (n[l], 1)
    #: ``dA[l-1] = W[l]^T dZ[l]: (n[l-1], m)``; None for layer 1 (A[0] is the data).
    dA_prev: Array | None
    #: PReLU: ``dalpha: (n[l], 1)``, else None.
    dalpha: Array | None
    #: What the optimizer's step adds to ``W``, ``b`` (and PReLU's ``alpha``).
    step_W: Array
    step_b: Array
    step_alpha: Array | None


@dataclass
class Step:
    """One forward and backward pass on ``X: (n[0], m)``, ``Y: (n[L], m)``, and the update."""

    X: Array
    Y: Array
    #: sample weights ``(m,)`` (class weights), or None
    w: Array | None
    loss: str
    #: the (weighted) mean loss ``J`` of the batch
    J: float
    #: the loss is a cross-entropy paired with its output: the backward pass starts at dZ[L]
    fused: bool
    layers: list[LayerStep]
    optimizer: str
    lr: float

    @property
    def m(self) -> int:
        return self.X.shape[1]


def step(network: Network, X, Y, *, optimizer: Optimizer, lr: float | None = None,
         w=None) -> Step:
    """The step ``network`` would take on ``X: (n[0], m)``, ``Y: (n[L], m)`` (weights ``w: (m,)``).

    Neither ``network`` nor ``optimizer`` changes: the pass runs on a float64 copy of the
    network, and the update on a copy of the optimizer (its state included, so a trained
    model's Adam moments count), at learning rate ``lr`` (default: the optimizer's).
    """
    net = network.copy("float64")
    X = np.array(X, dtype=np.float64, ndmin=2)
    Y = np.array(Y, dtype=np.float64, ndmin=2)
    if X.shape != (net.sizes[0], X.shape[1]) or Y.shape != (net.sizes[-1], X.shape[1]):
        raise ValueError(f"X must be (n[0]={net.sizes[0]}, m) and Y (n[L]={net.sizes[-1]}, m) with"
                         f" the same m, got {X.shape} and {Y.shape}")
    w = None if w is None else np.asarray(w, dtype=np.float64)
    m = X.shape[1]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        net.forward(X)
        J = net.cost(Y, w)
        net.backward(Y, w)
        trace = net.trace()
        opt = copy.deepcopy(optimizer)
        if lr is not None:
            opt.lr = float(lr)
        before = net.theta.copy()
        opt.step(net)
        moved = net.theta - before
    # The update as each layer's arrays: the same views into theta, over the step instead.
    stepped = net.copy()
    stepped.theta[...] = moved
    steps = stepped.arrays()

    layers: list[LayerStep] = []
    dA_above = None  # dA[l] = W[l+1]^T dZ[l+1], from the layer above
    for l in range(net.L, 0, -1):
        t, layer = trace[l - 1], net.layer(l)
        act = layer.activation
        dZ = t["dZ"] * m  # per sample (the network's dZ is dJ/dZ, with the 1/m)
        if l == net.L:
            fused = net.loss.fused
            dA = None if fused else net.loss.gradient(t["A"], Y)
            if dA is not None and w is not None:
                dA = dA * w
        else:
            dA = dA_above
        elementwise = not (l == net.L and net.loss.fused) and act.name != "softmax"
        f_prime = act.backward(np.ones_like(t["Z"]), t["Z"], t["A"], t.get("alpha", layer.alpha)) \
            if elementwise else None
        dA_prev = t["W"].T @ dZ if l > 1 else None
        layers.append(LayerStep(
            # the slopes of the pass (trace), not theta's after the step
            l=l, activation=act.name, alpha=t.get("alpha", layer.alpha), W=t["W"], b=t["b"],
            A_prev=t["A_prev"], Z=t["Z"], A=t["A"], dA=dA, f_prime=f_prime, dZ=dZ,
            dW=t["dW"], db=t["db"], dA_prev=dA_prev, dalpha=t.get("dalpha"),
            step_W=steps[f"W{l}"], step_b=steps[f"b{l}"], step_alpha=steps.get(f"alpha{l}")))
        dA_above = dA_prev
    layers.reverse()
    return Step(X=X, Y=Y, w=w, loss=net.loss.name, J=J, fused=net.loss.fused, layers=layers,
                optimizer=optimizer.name, lr=opt.lr)

