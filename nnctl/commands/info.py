"""``nnctl info``: what a model file is, from its metadata and arrays, without any data."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .. import model_file, render
from ..core.network import describe
from .evaluate import finite


def sha256(path: Path) -> str | None:
    """The file's SHA-256, or ``None`` for a stream (a pipe is read once, by the loader)."""
    if not path.is_file():
        return None
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _feature(column: dict) -> dict:
    """One raw feature column and what is done to it before the network sees it."""
    steps = []
    if column.get("impute"):
        fill = column.get("fill")
        steps.append(f"missing -> {column['impute']}" + (f" ({fill!r})" if fill is not None else ""))
    if column["type"] == "categorical":
        steps.append(f"one-hot, {len(column.get('categories') or [])} categories"
                     + (" + (other)" if column.get("other") else ""))
    elif column["type"] == "boolean":
        steps.append("0/1")
    elif column["type"] == "date":
        steps.append("parts: " + ", ".join(column.get("parts") or []))
    if column.get("indicator"):
        steps.append(f"{column['name']}_missing indicator")
    return {"name": column["name"], "type": column["type"], "preprocessing": "; ".join(steps)}


def _mapping(value) -> dict:
    """``value`` if it is a mapping, else empty: the saved config is shown, not trusted
    (the loader checks what predicting needs; the rest may be anything)."""
    return value if isinstance(value, dict) else {}


def _dropout(config: dict) -> list | None:
    """The saved config's dropout per layer (numbers only), or None when no layer has any."""
    layers = _mapping(config.get("network")).get("layers")
    if not isinstance(layers, list):
        return None
    rates = [layer.get("dropout") if isinstance(layer, dict) else None for layer in layers]
    rates = [p if isinstance(p, (int, float)) and not isinstance(p, bool) else 0 for p in rates]
    return rates if any(rates) else None


def facts(model: model_file.Model, path: Path) -> dict:
    """Everything ``nnctl info`` shows (its ``--json``)."""
    meta, net = model.metadata, model.network
    data = _mapping(meta.get("data"))
    training = dict(_mapping(meta.get("training")))
    history = training.pop("history", None) or []
    training.pop("reports", None)
    config = _mapping(meta.get("config"))
    preprocess = _mapping(data.get("preprocess"))
    scaler = _mapping(data.get("scaler"))
    saved_training = _mapping(config.get("training"))
    optimizer = saved_training.get("optimizer")
    if not isinstance(optimizer, (dict, str)):
        optimizer = None
    return {
        "file": str(path),
        "sha256": sha256(path),
        "bytes": path.stat().st_size if path.is_file() else None,
        "nnctl_version": meta.get("nnctl_version"),
        "created": meta.get("created"),
        "format_version": meta.get("format_version"),
        "network": {"layers": describe(net.sizes, net.activations), "sizes": net.sizes,
                    "activations": net.activations, "loss": net.loss.name, "dtype": net.dtype.name,
                    "parameters": net.n_params, "huber_delta": getattr(net.loss, "delta", None),
                    "dropout": _dropout(config)},
        "features": [_feature(c) for c in preprocess.get("columns") or []]
        or [{"name": name, "type": "numeric", "preprocessing": ""} for name in data.get("features") or []],
        "dropped_columns": preprocess.get("dropped") or {},
        "inputs": len(data.get("encoded") or data.get("features") or []),
        "standardize": scaler.get("method"),
        "target": data.get("target"),
        "task": data.get("task"),
        "classes": data.get("classes"),
        "training": {key: training.get(key) for key in
                     ("status", "epochs_run", "best_epoch", "stopped_early", "class_weights")},
        "config": {"training": {**saved_training, "optimizer": optimizer} if saved_training else {},
                   "data": {k: _mapping(config.get("data")).get(k)
                            for k in ("train", "validation", "test")}},
        "results": {split: values for split, values in _mapping(finite(training.get("results"))).items()
                    if isinstance(values, dict)},
        "epochs_in_history": len(history) if isinstance(history, list) else 0,
    }


def run(model: str, *, as_json: bool = False) -> dict:
    """``nnctl info``: the facts as tables on stdout, or as JSON."""
    path = model_file.locate(model)
    loaded = model_file.load(path)
    out = facts(loaded, path)
    if as_json:
        render.data(json.dumps(out, indent=2, allow_nan=False) + "\n")
    else:
        render.model_info(out)
    return out
