"""Model files: one ``.npz`` readable with ``numpy.load(path, allow_pickle=False)``.

Arrays ``W1..WL``, ``b1..bL`` (and ``alpha<l>`` for PReLU layers) in the notation's shapes,
``optimizer.<name>`` for resuming, and ``metadata``: a JSON string with the network, the
data description (features, target, classes, standardization), the resolved config and a
training summary. Never pickle. Writes go to a temporary file in the same directory that
is renamed over the target, so an interrupted save leaves the old file or the new one.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ConfigError, ModelFileError
from .files import write_output
from .core.network import Network

FORMAT = "nnctl-model"
FORMAT_VERSION = 2  # 2: feature steps (types, imputation, categories) in data.preprocess


@dataclass
class Model:
    """A loaded model: the network, its metadata and the optimizer's saved state."""

    network: Network
    metadata: dict
    optimizer_state: dict
    #: where it was read from (for messages)
    path: str = "the model"


def network_metadata(network: Network) -> dict:
    return {
        "sizes": network.sizes,
        "activations": network.activations,
        "alphas": [layer.alpha if isinstance(layer.alpha, float) else None for layer in network.layers],
        "loss": network.loss.name,
        "dtype": network.dtype.name,
    }


def save(path: str | Path, network: Network, metadata: dict, optimizer_state: dict | None = None) -> None:
    """Write ``network`` and ``metadata`` to ``path`` atomically."""
    from . import __version__

    path = Path(path)
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "nnctl_version": __version__,
            "network": network_metadata(network), **metadata}
    arrays = dict(network.arrays())
    for name, value in (optimizer_state or {}).items():
        arrays[f"optimizer.{name}"] = np.asarray(value)
    arrays["metadata"] = np.array(json.dumps(meta))
    write_output(path, lambda f: np.savez(f, **arrays), error=ModelFileError, what="model")


def load(path: str | Path) -> Model:
    """Read a model file, refusing anything that is not a complete nnctl model."""
    path = Path(path)
    name = str(path)
    if path.is_dir():
        raise ModelFileError(f"{name}: is a directory, not a model file")
    if not path.exists():
        raise ModelFileError(f"{name}: no such model file")
    try:
        with path.open("rb") as f:
            magic = f.read(4)
            if magic != b"PK\x03\x04":
                what = "a single .npy array" if magic == b"\x93NUM" else "not an .npz archive"
                raise ModelFileError(f"{name}: not an nnctl model ({what});"
                                     " train one with 'nnctl train'")
            f.seek(0)
            with np.load(f, allow_pickle=False) as npz:
                if "metadata" not in npz.files:
                    raise ModelFileError(f"{name}: not an nnctl model (no metadata);"
                                         " train one with 'nnctl train'")
                arrays = {k: npz[k] for k in npz.files}
    except ModelFileError:
        raise
    except ValueError as e:
        if "pickle" in str(e):
            raise ModelFileError(f"{name}: holds pickled objects, which nnctl never loads;"
                                 " use a model written by 'nnctl train'") from None
        raise ModelFileError(f"{name}: not an nnctl model, or damaged ({e})") from None
    except (zipfile.BadZipFile, EOFError, OSError, KeyError) as e:
        raise ModelFileError(f"{name}: not an nnctl model, or truncated ({type(e).__name__});"
                             " retrain or restore the file") from None
    meta = _metadata(arrays.pop("metadata"), name)
    optimizer_state = {k.split(".", 1)[1]: v for k, v in arrays.items() if k.startswith("optimizer.")}
    params = {k: v for k, v in arrays.items() if not k.startswith("optimizer.")}
    net_meta = meta.get("network")
    try:
        network = Network(net_meta["sizes"], net_meta["activations"], loss=net_meta["loss"],
                          dtype=net_meta["dtype"], alphas=net_meta["alphas"])
        for k, v in params.items():
            if v.dtype.kind not in "fiu":
                raise ConfigError(f"array {k} has dtype {v.dtype}, expected floating point")
        extra = sorted(set(params) - set(network.arrays()))
        if extra:
            raise ConfigError(f"unexpected array(s) {', '.join(extra)}")
        network.set_arrays(params)
    except (ConfigError, KeyError, TypeError) as e:
        raise ModelFileError(f"{name}: inconsistent model ({e}); retrain it") from None
    if not np.isfinite(network.theta).all():
        raise ModelFileError(f"{name}: holds non-finite parameters; retrain it")
    return Model(network, meta, optimizer_state, name)


def _metadata(value: np.ndarray, name: str) -> dict:
    if value.dtype.kind != "U" or value.shape != ():
        raise ModelFileError(f"{name}: not an nnctl model (metadata is not a JSON string)")
    try:
        meta = json.loads(str(value))
    except json.JSONDecodeError:
        raise ModelFileError(f"{name}: not an nnctl model (metadata is not valid JSON)") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(f"{name}: not an nnctl model (metadata format is not '{FORMAT}')")
    version = meta.get("format_version")
    if not isinstance(version, int):
        raise ModelFileError(f"{name}: not an nnctl model (no format version)")
    if version > FORMAT_VERSION:
        raise ModelFileError(f"{name}: model format version {version} is newer than this nnctl reads"
                             f" (up to {FORMAT_VERSION}); it was written by nnctl"
                             f" {meta.get('nnctl_version', '?')}: upgrade nnctl to load it")
    if version < FORMAT_VERSION:
        raise ModelFileError(f"{name}: model format version {version} was written by nnctl"
                             f" {meta.get('nnctl_version', '?')}, before models kept their feature"
                             " steps; retrain it with this nnctl")
    if not isinstance(meta.get("network"), dict):
        raise ModelFileError(f"{name}: not an nnctl model (no network description)")
    return meta
