"""Shared test helpers: paths of the bundled files, real files, one-line errors, gradients."""

from __future__ import annotations

from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs"
DATASETS = ROOT / "datasets"


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def assert_one_line_error(run,  code: int, *fragments: str) -> None:
    """The exit code, one 'Error:' line on stderr holding every fragment, no traceback.

    Usage errors found by click itself keep click's two lines of usage hint above it.
    """
    assert run.code == code, run
    assert "Traceback" not in run.stderr + run.stdout, run
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    if lines and lines[0].startswith("Usage: nnctl"):
        assert lines[1].startswith("Try 'nnctl"), run
        lines = lines[2:]
    assert len(lines) == 1 and lines[0].startswith("Error: "), run
    for fragment in fragments:
        assert fragment in lines[0], run


def load_arrays(path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def targets(loss, n, m, rng):
    if loss == "mse":
        return rng.normal(size=(n, m))
    if loss == "binary_crossentropy":
        return rng.integers(0, 2, size=(n, m)).astype(float)
    return np.eye(n)[:, rng.integers(0, n, m)]


def numeric_gradient(net, X, Y, h=1e-6):
    """Central differences of the loss with respect to every entry of ``theta``."""
    g = np.zeros_like(net.theta)
    for i in range(net.theta.size):
        old = net.theta[i]
        net.theta[i] = old + h
        plus = net.compute_loss(X, Y)
        net.theta[i] = old - h
        minus = net.compute_loss(X, Y)
        net.theta[i] = old
        g[i] = (plus - minus) / (2 * h)
    return g


def relative_error(a, b):
    return np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-300)


def ctrl_c_works() -> None:
    """A ``preexec_fn`` giving the child Python's own Ctrl-C: a test run started in the
    background (``pytest &``) inherits SIGINT ignored, and Python then keeps it ignored."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
