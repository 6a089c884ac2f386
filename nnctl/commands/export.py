"""``nnctl export``: a trained model as one ONNX graph, raw columns in and predictions out
(``onnx_graph``), written atomically."""

from __future__ import annotations

import json
from pathlib import Path

from .. import model_file, onnx_graph, render
from ..errors import DataError
from ..files import Output, check_outputs, write_outputs


def interface(data: dict) -> dict:
    """The graph's input and output names and types, as the README documents them."""
    columns = data["preprocess"]["columns"]
    if all(c["type"] == "numeric" for c in columns):
        inputs = [{"name": "input", "type": "number", "shape": ["N", len(columns)],
                   "columns": [c["name"] for c in columns]}]
    else:
        inputs = [{"name": c["name"], "type": "number" if c["type"] == "numeric" else "string",
                   "shape": ["N", 1]} for c in columns]
    if data["task"] == "classification":
        outputs = [{"name": "label", "type": "string", "shape": ["N"]},
                   {"name": "probabilities", "type": "number", "shape": ["N", len(data["classes"])],
                    "columns": [str(c) for c in data["classes"]]}]
    else:
        outputs = [{"name": "value", "type": "number", "shape": ["N", len(data["target"])],
                    "columns": list(data["target"])}]
    return {"inputs": inputs, "outputs": outputs}


def run(model: str, *, output: str | None = None, as_json: bool = False) -> dict:
    """``nnctl export``: ``MODEL`` -> ``output`` (default: beside it, ``<stem>.onnx``)."""
    if not onnx_graph.available():
        raise DataError(onnx_graph.MISSING)
    loaded = model_file.load(model)
    path = Path(output) if output is not None else Path(loaded.path).with_suffix(".onnx")
    check_outputs([("ONNX model", path, True)], [("model", loaded.path)])
    data = loaded.metadata["data"]
    blob = onnx_graph.build(loaded.network, data, name=Path(loaded.path).stem)
    write_outputs([Output(path, lambda f: f.write(blob), DataError, "ONNX model")])
    out = {"model": str(loaded.path), "onnx": str(path), "opset": onnx_graph.OPSET,
           "dtype": loaded.network.dtype.name, "bytes": len(blob), **interface(data)}
    if as_json:
        render.data(json.dumps(out, indent=2) + "\n")
    else:
        render.exported(out)
    return out
