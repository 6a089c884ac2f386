"""A trained model as one ONNX graph: raw columns in, predictions out (the ``export`` extra).

The only module that imports ``onnx``. The graph does what ``nnctl predict`` does, in the
model's dtype (float32 or float64):

1. **Inputs.** When every feature column is numeric, one matrix ``input: (N, F)`` of the
   feature columns in the model's order (``FEATURES`` in the metadata), NaN for a missing
   cell. Otherwise one input per raw column, each ``(N, 1)``: numeric columns as numbers
   (NaN when missing), categorical, boolean and date columns as strings ('' when missing), the
   cell text as nnctl reads it (stripped; numbers written as nnctl writes them: ``8``, not
   ``8.0``).
2. **Feature steps**, per column as training fitted them: a missing cell becomes the
   training fill, a categorical column its one-hot columns (a category training never saw:
   all zeros, or ``(other)`` when the model has it), a boolean column 1 for a true value
   (compared in lower case), and a ``<name>_missing`` indicator where the model has one.
3. **Scaling**: ``(x - shift) / scale`` with the training split's statistics.
4. **The network**: per layer ``Z = A W^T + b`` (``Gemm``; samples are rows in ONNX, the
   transpose of nnctl's columns) and its activation.
5. **Outputs.** Classification: ``label: (N,)``, the most probable class (strings), and
   ``probabilities: (N, K)`` in the model's class order (two classes: ``1 - a, a``).
   Regression: ``value: (N, T)`` in the target's units.

Opset ``OPSET`` of the default domain (string ``Equal`` needs 19, ``StringSplit`` 20).
A date column's input is text ``YYYY-MM-DD`` (ISO 8601 dates, as pandas writes them); the
graph splits it into the parts the model uses, the weekday by Sakamoto's method. onnxruntime has no
float64 kernels for Elu, Softplus, PRelu and Atan, so in a float64 graph the first three
are written out of elementary operators (the stable forms of docs/notation.md) and Atan
runs in float32 (relative error about 1e-7).
"""

from __future__ import annotations

import json

import numpy as np

from .core.network import Network
from .errors import ModelFileError

OPSET = 20
#: What ``export`` needs, for the message when it is missing.
MISSING = ("ONNX export needs the export extra: pip install 'nnctl[export]' (onnx and"
           " onnxruntime)")
# Must match data.columns (MISSING, OTHER, _TRUE): this module may not import data.
_MISSING_CATEGORY, _OTHER_CATEGORY = "(missing)", "(other)"
_TRUE = ("true", "t", "yes", "y")


def available() -> bool:
    try:
        import onnx  # noqa: F401
    except ImportError:
        return False
    return True


class _Graph:
    """Nodes and constants with unique names."""

    def __init__(self, dtype: np.dtype) -> None:
        from onnx import TensorProto

        self.dtype = dtype
        self.T = TensorProto.FLOAT if dtype == np.float32 else TensorProto.DOUBLE
        self.nodes: list = []
        self.initializers: list = []
        self._n = 0
        self._scalars: dict = {}
        #: the inputs' names (the feature columns), which no other value may take
        self.reserved: set[str] = set()

    def name(self, hint: str) -> str:
        # A prefix and a number: unique in the graph, and never one of the inputs' names
        # (columns are named by the user: "nnctl/fill_2" is a column name like any other).
        while True:
            self._n += 1
            name = f"nnctl/{hint}_{self._n}"
            if name not in self.reserved:
                return name

    def const(self, value, hint: str = "c", dtype=None) -> str:
        from onnx import numpy_helper

        name = self.name(hint)
        if isinstance(value, np.ndarray) and value.dtype.kind in "OUS":
            array = np.array(value, dtype=object)
        else:
            array = np.asarray(value, dtype=dtype if dtype is not None else self.dtype)
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def op(self, op_type: str, inputs: list[str], hint: str | None = None, **attrs) -> str:
        from onnx import helper

        out = self.name(hint or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out

    def scalar(self, value: float) -> str:
        """One shared constant per scalar value (0, 1, ...), in the graph's dtype."""
        key = ("scalar", float(value))
        if key not in self._scalars:
            self._scalars[key] = self.const(value, "k")
        return self._scalars[key]

    def cast(self, x: str) -> str:
        return self.op("Cast", [x], to=self.T)


def build(network: Network, data: dict, *, name: str = "nnctl") -> bytes:
    """The serialized ONNX model of ``network`` with the feature steps of ``data`` (a model
    file's ``metadata["data"]``). Raises ``ModelFileError`` for what ONNX cannot express."""
    from onnx import TensorProto, checker, helper

    g = _Graph(network.dtype)
    columns = data["preprocess"]["columns"]
    matrix = all(c["type"] == "numeric" for c in columns)
    g.reserved = {"input"} if matrix else {c["name"] for c in columns}
    output_names = {"label", "probabilities"} if data["task"] == "classification" else {"value"}
    clash = sorted(output_names & g.reserved)
    if clash:
        raise ModelFileError(f"feature column '{clash[0]}' would have the name of one of the"
                             f" graph's outputs ({', '.join(sorted(output_names))}); rename the column"
                             " and retrain to export it")
    inputs = []
    if matrix:
        X = "input"
        inputs.append(helper.make_tensor_value_info(X, g.T, ["N", len(columns)]))
        raw = {c["name"]: g.op("Gather", [X, g.const([j], "col", np.int64)], axis=1)
               for j, c in enumerate(columns)}
    else:
        raw = {}
        for c in columns:
            kind = g.T if c["type"] == "numeric" else TensorProto.STRING
            inputs.append(helper.make_tensor_value_info(c["name"], kind, ["N", 1]))
            raw[c["name"]] = c["name"]
    encoded = [block for c in columns for block in _column(g, raw[c["name"]], c)]
    width = sum(w for _, w in encoded)
    if width != network.sizes[0]:
        raise ModelFileError(f"the feature steps give {width} inputs but the network takes"
                             f" {network.sizes[0]}; retrain the model")
    encoded = [x for x, _ in encoded]
    A = g.op("Concat", encoded, "features", axis=1) if len(encoded) > 1 else encoded[0]
    scaler = data["scaler"]
    A = g.op("Div", [g.op("Sub", [A, g.const(scaler["shift"], "shift")]),
                     g.const(scaler["scale"], "scale")], "scaled")
    for l, layer in enumerate(network.layers, start=1):
        Z = g.op("Gemm", [A, g.const(layer.W, f"W{l}"), g.const(layer.b[:, 0], f"b{l}")],
                 f"Z{l}", transB=1)
        A = _activation(g, layer, Z, l)
    outputs = _outputs(g, A, data, network)
    graph = helper.make_graph(g.nodes, name, inputs, outputs, initializer=g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="nnctl")
    model.ir_version = 9  # what onnxruntime 1.16 and later read
    # What a caller needs to feed and read the graph, as the README documents it.
    helper.set_model_props(model, {
        "feature_columns": json.dumps([c["name"] for c in columns]),
        "target": json.dumps(list(data["target"])),
        "task": data["task"],
        "classes": json.dumps([str(c) for c in data["classes"]] if data["classes"] else []),
    })
    checker.check_model(model, full_check=True)
    return model.SerializeToString()


def _column(g: _Graph, x: str, c: dict) -> list[tuple[str, int]]:
    """The encoded blocks ``(N, width)`` of one raw column ``x: (N, 1)``, with their widths."""
    kind = c["type"]
    if kind == "date":
        return _date(g, x, c)
    if kind == "numeric":
        missing = g.op("IsNaN", [x])
        out = [(g.op("Where", [missing, g.const([c["fill"]], "fill"), x], c["name"]), 1)]
    else:
        missing = g.op("Equal", [x, g.const(np.array([""], dtype=object), "empty")])
        if kind == "boolean":
            # Every way of writing each true value in upper and lower case: StringNormalizer
            # would need a locale that many machines do not have.
            truths = sorted({v for t in set(c.get("true_values") or ()) | set(_TRUE) for v in _cases(t)})
            hits = g.op("Equal", [x, g.const(np.array([truths], dtype=object), "true")])
            true = g.op("ReduceMax", [g.cast(hits), g.const([1], "axis", np.int64)], keepdims=1)
            out = [(g.op("Where", [missing, g.const([c["fill"]], "fill"), true], c["name"]), 1)]
        else:
            text = g.op("Where", [missing, g.const(np.array([c["fill"]], dtype=object), "fill"), x])
            categories = list(c["categories"])
            known = [v for v in categories if v != _OTHER_CATEGORY] if c["other"] else categories
            onehot = g.cast(g.op("Equal", [text, g.const(np.array([known], dtype=object), "cats")]))
            if c["other"]:  # a value training never saw goes to (other), the last column
                seen = g.op("ReduceMax", [onehot, g.const([1], "axis", np.int64)], keepdims=1)
                other = g.op("Sub", [g.scalar(1.0), seen], "other")
                onehot = g.op("Concat", [onehot, other], axis=1)
            out = [(onehot, len(categories))]
    if c["indicator"]:
        out.append((g.cast(missing), 1))
    return out


def _cases(text: str) -> list[str]:
    """``text`` in every mix of upper and lower case (a long one: lower, upper, title)."""
    if len(text) > 8:
        return [text.lower(), text.upper(), text.title()]
    out = [""]
    for ch in text:
        out = [o + v for o in out for v in {ch.lower(), ch.upper()}]
    return out


#: Sakamoto's month offsets, for the day of the week of a date.
_MONTH_OFFSET = [0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4]


def _date(g: _Graph, x: str, c: dict) -> list[tuple[str, int]]:
    """A date column ``x: (N, 1)`` of ``YYYY-MM-DD`` strings as its parts (year, month, day,
    weekday with Monday 0, those the model kept), each missing ('') part the training median."""
    from onnx import TensorProto

    missing = g.op("Equal", [x, g.const(np.array([""], dtype=object), "empty")])
    # A missing cell is split as a placeholder date, then replaced by the fills below.
    safe = g.op("Where", [missing, g.const(np.array(["2000-01-01"], dtype=object), "placeholder"), x])
    flat = g.op("Reshape", [safe, g.const([-1], "flat", np.int64)])
    from onnx import helper

    fields, counts = g.name("fields"), g.name("counts")  # (N, 3): year, month, day; and 3s
    g.nodes.append(helper.make_node("StringSplit", [flat], [fields, counts], delimiter="-",
                                    maxsplit=2))
    numbers = g.op("Cast", [fields], to=TensorProto.DOUBLE)

    def field(j: int) -> str:
        return g.op("Gather", [numbers, g.const([j], "part", np.int64)], axis=1)  # (N, 1)

    year, month, day = field(0), field(1), field(2)
    parts = {"year": year, "month": month, "day": day}
    if "weekday" in c["parts"]:
        # Sakamoto: (y + y//4 - y//100 + y//400 + t[m-1] + d) mod 7 is 0 on Sunday, where
        # y is the year before for January and February.
        y = g.op("Sub", [year, g.op("Cast", [g.op("Less", [month, g.const(3.0, "three", np.float64)])],
                                    to=TensorProto.DOUBLE)])

        def floor_div(k: float) -> str:
            return g.op("Floor", [g.op("Div", [y, g.const(k, "k", np.float64)])])

        index = g.op("Cast", [g.op("Sub", [month, g.const(1.0, "k", np.float64)])], to=TensorProto.INT64)
        offset = g.op("Gather", [g.const(_MONTH_OFFSET, "offsets", np.float64), index])
        total = g.op("Sum", [y, floor_div(4.0), g.op("Neg", [floor_div(100.0)]), floor_div(400.0),
                             offset, day, g.const(6.0, "to_monday", np.float64)])
        parts["weekday"] = g.op("Mod", [total, g.const(7.0, "seven", np.float64)], fmod=1)
    out = []
    for part, fill in zip(c["parts"], c["fill"]):
        value = g.op("Cast", [parts[part]], to=g.T) if g.dtype != np.float64 else parts[part]
        out.append((g.op("Where", [missing, g.const([fill], "fill"), value], f"{c['name']}.{part}"), 1))
    if c["indicator"]:
        out.append((g.cast(missing), 1))
    return out


def _activation(g: _Graph, layer, Z: str, l: int) -> str:
    """``A[l] = f(Z[l])``; in float64, Elu, Softplus and PRelu from elementary operators."""
    name, double = layer.activation.name, g.dtype == np.float64
    if name == "identity":
        return Z
    if name == "binary_step":
        return g.cast(g.op("GreaterOrEqual", [Z, g.scalar(0.0)]))
    if name == "logistic":
        return g.op("Sigmoid", [Z], f"A{l}")
    if name == "tanh":
        return g.op("Tanh", [Z], f"A{l}")
    if name == "relu":
        return g.op("Relu", [Z], f"A{l}")
    if name == "softmax":
        return g.op("Softmax", [Z], f"A{l}", axis=1)
    if name == "arctan":
        if not double:
            return g.op("Atan", [Z], f"A{l}")
        from onnx import TensorProto

        z32 = g.op("Cast", [Z], to=TensorProto.FLOAT)
        return g.cast(g.op("Atan", [z32]))
    if name == "elu":
        alpha = float(layer.alpha)
        if not double:
            return g.op("Elu", [Z], f"A{l}", alpha=alpha)
        # alpha (e^min(z, 0) - 1) + max(z, 0)
        neg = g.op("Sub", [g.op("Exp", [g.op("Min", [Z, g.scalar(0.0)])]), g.scalar(1.0)])
        return g.op("Add", [g.op("Mul", [neg, g.const(alpha, "alpha")]), g.op("Max", [Z, g.scalar(0.0)])],
                    f"A{l}")
    if name == "softplus":
        if not double:
            return g.op("Softplus", [Z], f"A{l}")
        # max(z, 0) + log(1 + e^-|z|): no exp of a large number
        tail = g.op("Log", [g.op("Add", [g.scalar(1.0),
                                         g.op("Exp", [g.op("Neg", [g.op("Abs", [Z])])])])])
        return g.op("Add", [g.op("Max", [Z, g.scalar(0.0)]), tail], f"A{l}")
    if name == "prelu":
        slopes = g.const(np.asarray(layer.alpha)[:, 0], f"alpha{l}")
        if not double:
            return g.op("PRelu", [Z, slopes], f"A{l}")
        return g.op("Where", [g.op("Less", [Z, g.scalar(0.0)]), g.op("Mul", [Z, slopes]), Z], f"A{l}")
    raise ModelFileError(f"layer {l}: activation '{name}' has no ONNX form")


def _outputs(g: _Graph, A: str, data: dict, network: Network) -> list:
    from onnx import TensorProto, helper

    n_out = network.sizes[-1]
    if data["task"] == "classification":
        classes = [str(c) for c in data["classes"]]
        if n_out == 1:  # a logistic output a is the second class's probability
            A = g.op("Concat", [g.op("Sub", [g.scalar(1.0), A]), A], axis=1)
        g.nodes.append(helper.make_node("Identity", [A], ["probabilities"]))
        # ArgMax takes the first of equal probabilities, as predict's argmax does
        index = g.op("ArgMax", ["probabilities"], axis=1, keepdims=0)
        g.nodes.append(helper.make_node(
            "Gather", [g.const(np.array(classes, dtype=object), "classes"), index], ["label"]))
        return [helper.make_tensor_value_info("label", TensorProto.STRING, ["N"]),
                helper.make_tensor_value_info("probabilities", g.T, ["N", len(classes)])]
    value = A
    if data.get("target_scaler"):
        t = data["target_scaler"]
        value = g.op("Add", [g.op("Mul", [A, g.const(t["scale"], "tscale")]),
                             g.const(t["shift"], "tshift")])
    g.nodes.append(helper.make_node("Identity", [value], ["value"]))
    return [helper.make_tensor_value_info("value", g.T, ["N", n_out])]
