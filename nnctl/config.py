"""YAML config -> validated ``Config``, every error one line naming file, line and key path.

Every key is optional. The reference, with defaults, is in README.md ("Config reference").
Paths in the file are relative to the file; the model is written to ``<config name>.npz``
in the working directory unless ``output.model`` says otherwise.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from .core.activations import get_activation
from .core.init import INITIALIZERS
from .core.losses import check_pairing, get_loss
from .core.network import DTYPES, Network
from .core.optimizers import OPTIMIZERS, get_optimizer
from .core.schedules import SCHEDULES, get_schedule
from .errors import ConfigError
from .registry import did_you_mean

#: The source tree holding ``configs/`` and ``datasets/`` (an editable install's checkout).
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = ROOT / "configs" / "default.yaml"
DEFAULT_DATA = ROOT / "datasets" / "default.csv"
STANDARDIZE = ("zscore", "minmax", "none")
OUTPUT_ACTIVATION = {"mse": "identity", "binary_crossentropy": "logistic",
                     "categorical_crossentropy": "softmax"}
HIDDEN_ACTIVATION = "relu"

Path_ = tuple  # a key path such as ("network", "layers", 2, "units")


@dataclass(frozen=True)
class Layer:
    units: int | None = None        # None: the output layer's size comes from the target
    activation: str | None = None   # None: relu for hidden layers, from the loss for the output
    alpha: float | None = None


@dataclass(frozen=True)
class DataConfig:
    train: Path = DEFAULT_DATA
    validation: Path | None = None
    test: Path | None = None
    validation_split: float = 0.15
    test_split: float = 0.15
    stratify: bool = True
    target: tuple = ("label",)
    features: tuple | None = None
    delimiter: str = ","
    header: bool = True
    standardize: str = "zscore"
    standardize_target: bool = True


@dataclass(frozen=True)
class NetworkConfig:
    inputs: int | None = None
    layers: tuple[Layer, ...] = (Layer(3, "tanh"), Layer(2, "tanh"), Layer())
    init: str = "auto"


@dataclass(frozen=True)
class TrainingConfig:
    epochs: int = 100
    batch_size: int = 32
    optimizer: str = "adam"
    optimizer_params: dict = field(default_factory=lambda: {"lr": 0.001})
    l2: float = 0.0
    schedule: str = "constant"
    schedule_params: dict = field(default_factory=dict)
    patience: int | None = None
    min_delta: float = 0.0
    seed: int = 0
    dtype: str = "float64"

    @property
    def lr(self) -> float:
        return float(self.optimizer_params.get("lr", 0.001))


@dataclass(frozen=True)
class OutputConfig:
    model: Path = Path("model.npz")
    history: Path | None = None    # None: beside the model, <model stem>.history.csv


@dataclass(frozen=True)
class Config:
    """A validated config. ``where(path)`` formats the place of a key for error messages."""

    source: str
    data: DataConfig = DataConfig()
    network: NetworkConfig = NetworkConfig()
    loss: str = "auto"
    training: TrainingConfig = TrainingConfig()
    output: OutputConfig = OutputConfig()
    lines: dict = field(default_factory=dict, repr=False, compare=False)
    raw: dict = field(default_factory=dict, repr=False, compare=False)

    def where(self, *path) -> str:
        """``file, line N: a.b[2].c`` for the deepest part of ``path`` found in the file."""
        return _where(self.source, self.lines, tuple(path), self.raw)

    def error(self, path: tuple, message: str) -> ConfigError:
        return ConfigError(f"{self.where(*path)}: {message}")

    @property
    def history_path(self) -> Path:
        if self.output.history is not None:
            return self.output.history
        return self.output.model.with_name(self.output.model.stem + ".history.csv")

    def with_overrides(self, *, epochs=None, lr=None, batch_size=None, seed=None, output=None) -> Config:
        """The config with command-line overrides applied (already validated by the CLI)."""
        t = self.training
        params = dict(t.optimizer_params)
        if lr is not None:
            params["lr"] = lr
        t = replace(t, epochs=epochs or t.epochs, batch_size=batch_size or t.batch_size,
                    seed=t.seed if seed is None else seed, optimizer_params=params)
        out = self.output if output is None else OutputConfig(Path(output), None)
        return replace(self, training=t, output=out)

    def to_dict(self) -> dict:
        """The resolved config in the file's schema, with absolute paths (kept in model files)."""
        d, n, t = self.data, self.network, self.training

        def path(p):
            return None if p is None else str(Path(p).resolve())

        return {
            "data": {"train": path(d.train), "validation": path(d.validation), "test": path(d.test),
                     "validation_split": d.validation_split, "test_split": d.test_split,
                     "stratify": d.stratify, "target": list(d.target),
                     "features": None if d.features is None else list(d.features),
                     "delimiter": d.delimiter, "header": d.header, "standardize": d.standardize,
                     "standardize_target": d.standardize_target},
            "network": {"inputs": n.inputs, "init": n.init,
                        "layers": [{k: v for k, v in vars(layer).items() if v is not None}
                                   for layer in n.layers]},
            "loss": self.loss,
            "training": {"epochs": t.epochs, "batch_size": t.batch_size,
                         "optimizer": {"name": t.optimizer, **t.optimizer_params}, "l2": t.l2,
                         "schedule": {"name": t.schedule, **t.schedule_params},
                         "early_stopping": None if t.patience is None else
                         {"patience": t.patience, "min_delta": t.min_delta},
                         "seed": t.seed, "dtype": t.dtype},
            "output": {"model": path(self.output.model), "history": path(self.output.history)},
        }

    def build_optimizer(self):
        return get_optimizer(self.training.optimizer, l2=self.training.l2,
                             **self.training.optimizer_params)

    def build_schedule(self):
        params = dict(self.training.schedule_params)
        if self.training.schedule == "cosine":
            params.setdefault("epochs", self.training.epochs)
        return get_schedule(self.training.schedule, **params)


def load(path: str | Path | None) -> Config:
    """Read and validate a config file; ``None`` reads the bundled ``configs/default.yaml``."""
    if path is None:
        if not DEFAULT_CONFIG.is_file():
            raise ConfigError(f"no config given and the bundled {DEFAULT_CONFIG} is missing"
                              " (nnctl was installed without its source tree); pass a config file")
        path = DEFAULT_CONFIG
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory; pass a YAML config file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text (byte {e.start}); save the config as UTF-8") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror})") from None
    return parse(text, source=str(path), base=path.parent, stem=path.stem)


def parse(text: str, *, source: str = "<config>", base: Path = Path("."), stem: str = "model") -> Config:
    """Validate YAML ``text``; relative paths in it are taken from ``base``."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        place = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{source}{place}: YAML syntax error: {problem}") from None
    lines: dict = {}
    if node is None:
        raise ConfigError(f"{source}: the config file is empty; write at least one section"
                          " (data, network, loss, training, output), or give no config to use"
                          " the defaults")
    _collect_lines(node, (), lines, source)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}, line 1: the config must be a mapping of sections"
                          f" (data, network, loss, training, output), got {_a_kind(data)}")
    return _Reader(source, lines, base, stem).config(data)


def from_dict(d: dict, *, source: str) -> Config:
    """Validate a config held as a dict (such as the one saved in a model file)."""
    if not isinstance(d, dict):
        raise ConfigError(f"{source}: the config must be a mapping, got {_a_kind(d)}")
    return _Reader(source, {}, Path("."), "model").config(d)


def _collect_lines(node, path: tuple, lines: dict, source: str) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                raise ConfigError(f"{source}, line {key_node.start_mark.line + 1}: "
                                  f"{_dotted(path + (key,))}: duplicate key; keep one")
            seen.add(key)
            _collect_lines(value_node, path + (key,), lines, source)
            lines[path + (key,)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _collect_lines(item, path + (i,), lines, source)


def _dotted(path: tuple) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _where(source: str, lines: dict, path: tuple, raw: Any = None) -> str:
    if path in lines:
        return f"{source}, line {lines[path]}: {_dotted(path)}"
    # Not written in the file: point at the nearest enclosing entry; when that is a mapping
    # without the key, the default applies (a shorthand such as `- 3` for a layer is not).
    for depth in range(len(path) - 1, -1, -1):
        if path[:depth] in lines:
            node = raw
            for part in path[:depth]:
                node = node[part] if isinstance(node, (dict, list)) else None
            default = " (default)" if isinstance(node, dict) or node is None else ""
            return f"{source}, line {lines[path[:depth]]}: {_dotted(path)}{default}"
    return f"{source}: {_dotted(path)} (default)"


def _a_kind(value: Any) -> str:
    """'a list', 'an integer': the kind of a YAML value with its article."""
    kind = _kind(value)
    return ("an " if kind[0] in "aeiou" else "a ") + kind


def _kind(value: Any) -> str:
    return {dict: "mapping", list: "list", str: "string", bool: "boolean", int: "integer",
            float: "number", type(None): "null"}.get(type(value), type(value).__name__)


class _Reader:
    """Walks the parsed YAML, checking each key against what it may hold."""

    def __init__(self, source: str, lines: dict, base: Path, stem: str) -> None:
        self.source, self.lines, self.base, self.stem = source, lines, base, stem
        self.raw: Any = None

    def fail(self, path: tuple, message: str):
        raise ConfigError(f"{_where(self.source, self.lines, path, self.raw)}: {message}")

    def mapping(self, value, path: tuple, allowed: tuple[str, ...]) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(path, f"expected a mapping with keys {', '.join(allowed)}, got {_a_kind(value)}")
        for key in value:
            if key not in allowed:
                self.fail(path + (key,), f"unknown key '{key}'{did_you_mean(str(key), allowed)};"
                          f" expected one of {', '.join(allowed)}")
        return value

    def integer(self, m: dict, path: tuple, default, *, low=1, high=None, allow_none=False):
        key = path[-1]
        if key not in m or (m[key] is None and allow_none):
            return default if key not in m else None
        v = m[key]
        if isinstance(v, bool) or not isinstance(v, int):
            self.fail(path, f"expected an integer, got {_a_kind(v)} {v!r}")
        if v < low or (high is not None and v > high):
            self.fail(path, f"must be {'at least ' + str(low) if high is None else f'from {low} to {high}'}, got {v}")
        return v

    def number(self, m: dict, path: tuple, default, *, low=None, high=None, low_open=False,
               high_open=False, allow_none=False):
        key = path[-1]
        if key not in m or (m[key] is None and allow_none):
            return default if key not in m else None
        v = m[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            self.fail(path, f"expected a finite number, got {_a_kind(v)} {v!r}")
        if (low is not None and (v < low or (low_open and v == low))) or (
                high is not None and (v > high or (high_open and v == high))):
            lo = "(" if low_open else "["
            hi = ")" if high_open else "]"
            self.fail(path, f"must be in {lo}{low}, {'inf' if high is None else high}{hi}, got {v}")
        return float(v)

    def boolean(self, m: dict, path: tuple, default: bool) -> bool:
        key = path[-1]
        if key not in m:
            return default
        if not isinstance(m[key], bool):
            self.fail(path, f"expected true or false, got {_a_kind(m[key])} {m[key]!r}")
        return m[key]

    def string(self, m: dict, path: tuple, default, *, choices=None, allow_none=False):
        key = path[-1]
        if key not in m or (m[key] is None and allow_none):
            return default if key not in m else None
        v = m[key]
        if not isinstance(v, str) or not v:
            self.fail(path, f"expected a non-empty string, got {_a_kind(v)} {v!r}")
        if choices is not None and v not in choices:
            self.fail(path, f"unknown '{v}'; expected one of {', '.join(choices)}{did_you_mean(v, choices)}")
        return v

    def path(self, m: dict, path: tuple, default):
        v = self.string(m, path, default, allow_none=True)
        return Path(os.path.normpath(self.base / v)) if isinstance(v, str) else v

    def columns(self, m: dict, path: tuple, default):
        """A column (name or 0-based index) or a list of them."""
        key = path[-1]
        if key not in m or m[key] is None:
            return default
        v = m[key]
        items = v if isinstance(v, list) else [v]
        if not items:
            self.fail(path, "expected at least one column")
        for i, item in enumerate(items):
            where = path + (i,) if isinstance(v, list) else path
            if isinstance(item, bool) or not isinstance(item, (str, int)) or (
                    isinstance(item, int) and item < 0):
                self.fail(where, f"expected a column name or a 0-based index, got {_a_kind(item)} {item!r}")
        return tuple(items)

    # -- sections ------------------------------------------------------------------

    def config(self, d: dict) -> Config:
        self.raw = d
        d = self.mapping(d, (), ("data", "network", "loss", "training", "output"))
        loss = self.string(d, ("loss",), "auto")
        if loss != "auto":
            try:
                loss = get_loss(loss).name
            except ConfigError as e:
                self.fail(("loss",), str(e))
        return Config(self.source, self.data(d.get("data")), self.network(d.get("network")), loss,
                      self.training(d.get("training")), self.output(d.get("output")),
                      lines=self.lines, raw=d)

    def data(self, value) -> DataConfig:
        p = ("data",)
        m = self.mapping(value, p, ("train", "validation", "test", "validation_split", "test_split",
                                    "stratify", "target", "features", "delimiter", "header",
                                    "standardize", "standardize_target"))
        defaults = DataConfig()
        val = self.number(m, p + ("validation_split",), defaults.validation_split, low=0.0, high=1.0, high_open=True)
        test = self.number(m, p + ("test_split",), defaults.test_split, low=0.0, high=1.0, high_open=True)
        if val + test >= 1.0:
            self.fail(p + ("test_split",), f"validation_split + test_split = {val + test:g} leaves no"
                      " training rows; keep their sum below 1")
        delimiter = self.string(m, p + ("delimiter",), ",")
        if len(delimiter) != 1 and delimiter != "\\t":
            self.fail(p + ("delimiter",), f"expected one character, got {delimiter!r}")
        train = self.path(m, p + ("train",), DEFAULT_DATA)
        if train is None:
            self.fail(p + ("train",), "expected a CSV file path, got null")
        target = self.columns(m, p + ("target",), defaults.target)
        features = self.columns(m, p + ("features",), None)
        return DataConfig(
            train=train,
            validation=self.path(m, p + ("validation",), None),
            test=self.path(m, p + ("test",), None),
            validation_split=val, test_split=test,
            stratify=self.boolean(m, p + ("stratify",), True),
            target=target, features=features,
            delimiter="\t" if delimiter == "\\t" else delimiter,
            header=self.boolean(m, p + ("header",), True),
            standardize=self.string(m, p + ("standardize",), "zscore", choices=STANDARDIZE),
            standardize_target=self.boolean(m, p + ("standardize_target",), True),
        )

    def network(self, value) -> NetworkConfig:
        p = ("network",)
        m = self.mapping(value, p, ("inputs", "layers", "init"))
        inputs = self.integer(m, p + ("inputs",), None, allow_none=True)
        init = self.string(m, p + ("init",), "auto", choices=INITIALIZERS.choices)
        init = INITIALIZERS.name(init)
        if "layers" not in m:
            return NetworkConfig(inputs, NetworkConfig().layers, init)
        raw = m["layers"]
        if not isinstance(raw, list):
            self.fail(p + ("layers",), f"expected a list of layers, got {_a_kind(raw)}")
        if not raw:
            self.fail(p + ("layers",), "a network needs at least one layer (the output layer)")
        layers = []
        for i, item in enumerate(raw):
            lp = p + ("layers", i)
            if isinstance(item, int) and not isinstance(item, bool):
                item = {"units": item}
            lm = self.mapping(item, lp, ("units", "activation", "alpha"))
            last = i == len(raw) - 1
            units = self.integer(lm, lp + ("units",), None, high=1_000_000, allow_none=last)
            if units is None and not last:
                self.fail(lp + ("units",), "missing; every layer but the output layer needs its units")
            act = self.string(lm, lp + ("activation",), None, allow_none=True)
            if act is not None:
                try:
                    a = get_activation(act)
                except ConfigError as e:
                    self.fail(lp + ("activation",), str(e))
                if a.output_only and not last:
                    self.fail(lp + ("activation",), f"'{a.name}' is only allowed in the output layer")
                act = a.name
            alpha = self.number(lm, lp + ("alpha",), None, allow_none=True)
            if alpha is not None and (act is None or get_activation(act).alpha is None):
                self.fail(lp + ("alpha",), f"activation '{act or 'relu'}' takes no alpha; only elu and prelu do")
            if alpha is not None and act == "elu" and alpha <= 0:
                self.fail(lp + ("alpha",), f"elu's alpha must be positive, got {alpha}")
            layers.append(Layer(units, act, alpha))
        return NetworkConfig(inputs, tuple(layers), init)

    def training(self, value) -> TrainingConfig:
        p = ("training",)
        m = self.mapping(value, p, ("epochs", "batch_size", "optimizer", "l2", "schedule",
                                    "early_stopping", "seed", "dtype"))
        optimizer, opt_params = self.named(m, p + ("optimizer",), "adam", OPTIMIZERS)
        opt_params.setdefault("lr", 0.001 if optimizer == "adam" else 0.01)
        l2 = self.number(m, p + ("l2",), 0.0, low=0.0)
        if "l2" in opt_params:
            self.fail(p + ("optimizer", "l2"), "l2 belongs under training, not training.optimizer")
        try:
            get_optimizer(optimizer, l2=l2, **opt_params)
        except ConfigError as e:
            self.fail(p + ("optimizer",) + ((e.key,) if e.key else ()), str(e))
        schedule, sched_params = self.named(m, p + ("schedule",), "constant", SCHEDULES)
        try:
            get_schedule(schedule, **({"epochs": 1} if schedule == "cosine" else {}), **sched_params)
        except ConfigError as e:
            self.fail(p + ("schedule",) + ((e.key,) if e.key else ()), str(e))
        patience, min_delta = None, 0.0
        es = m.get("early_stopping")
        if es is not None and es is not False:
            ep = p + ("early_stopping",)
            if isinstance(es, int) and not isinstance(es, bool):
                es = {"patience": es}
            em = self.mapping(es, ep, ("patience", "min_delta"))
            patience = self.integer(em, ep + ("patience",), 10)
            min_delta = self.number(em, ep + ("min_delta",), 0.0, low=0.0)
        seed = self.integer(m, p + ("seed",), 0, low=0)
        return TrainingConfig(
            epochs=self.integer(m, p + ("epochs",), 100, high=10_000_000),
            batch_size=self.integer(m, p + ("batch_size",), 32, high=100_000_000),
            optimizer=optimizer, optimizer_params=opt_params, l2=l2,
            schedule=schedule, schedule_params=sched_params,
            patience=patience, min_delta=min_delta, seed=seed,
            dtype=self.string(m, p + ("dtype",), "float64", choices=DTYPES),
        )

    def named(self, m: dict, path: tuple, default: str, registry) -> tuple[str, dict]:
        """``name`` or ``{name: ..., param: value, ...}``."""
        key = path[-1]
        if key not in m or m[key] is None:
            return default, {}
        v = m[key]
        if isinstance(v, str):
            v = {"name": v}
        if not isinstance(v, dict):
            self.fail(path, f"expected a name or a mapping with 'name', got {_a_kind(v)}")
        shorthand = isinstance(m[key], str)
        params = dict(v)
        name = params.pop("name", default)
        if not isinstance(name, str) or name.lower() not in registry:
            choices = sorted(registry)
            self.fail(path if shorthand else path + ("name",), f"unknown {key} '{name}'; expected"
                      f" one of {', '.join(choices)}{did_you_mean(str(name), choices)}")
        for k, val in params.items():
            if isinstance(val, bool) and k != "nesterov":
                self.fail(path + (k,), f"expected a number, got {val!r}")
        return name.lower(), params

    def output(self, value) -> OutputConfig:
        p = ("output",)
        m = self.mapping(value, p, ("model", "history"))
        model = self.path(m, p + ("model",), None)
        if model is None:
            model = Path(f"{self.stem}.npz")  # the working directory, not the config's
        return OutputConfig(model, self.path(m, p + ("history",), None))


def resolve_network(cfg: Config, n_features: int | None, n_outputs: int | None, loss: str
                    ) -> tuple[list[int], list[str], list[float | None]]:
    """``n[0..L]``, activations and alphas, filling what the config leaves to the data."""
    net = cfg.network
    layers = net.layers
    L = len(layers)
    if net.inputs is not None and n_features is not None and net.inputs != n_features:
        raise cfg.error(("network", "inputs"), f"n[0] = {net.inputs}, but the data has"
                        f" {n_features} feature column(s); set inputs: {n_features} or remove the key")
    n0 = net.inputs if net.inputs is not None else n_features
    out = layers[-1].units
    if out is not None and n_outputs is not None and out != n_outputs:
        raise cfg.error(("network", "layers", L - 1, "units"),
                        f"n[L] = {out}, but the target needs {n_outputs} output(s) for loss {loss};"
                        f" set units: {n_outputs} or remove the key")
    nL = out if out is not None else n_outputs
    sizes = [n0] + [layer.units for layer in layers[:-1]] + [nL]
    acts = [layer.activation or HIDDEN_ACTIVATION for layer in layers[:-1]]
    acts.append(layers[-1].activation or OUTPUT_ACTIVATION[loss])
    try:
        check_pairing(get_loss(loss), get_activation(acts[-1]))
    except ConfigError as e:
        raise cfg.error(("network", "layers", L - 1, "activation"),
                        f"{e}; set activation: {OUTPUT_ACTIVATION[loss]} or remove the key") from None
    return sizes, acts, [layer.alpha for layer in layers]


def build_network(cfg: Config, n_features: int, n_outputs: int, loss: str) -> Network:
    """The network of ``cfg`` for data with these sizes, initialised from the config's seed."""
    sizes, acts, alphas = resolve_network(cfg, n_features, n_outputs, loss)
    _check_memory(cfg, sizes)
    return Network(sizes, acts, loss=loss, dtype=cfg.training.dtype, init=cfg.network.init,
                   alphas=alphas, rng=np.random.default_rng(cfg.training.seed))


def _check_memory(cfg: Config, sizes: list[int]) -> None:
    """Refuse, before allocating, a network whose training state would not fit in memory."""
    n_params = sum(sizes[l] * (sizes[l - 1] + 1) for l in range(1, len(sizes)))
    # theta, grad, the weight mask and up to three optimizer buffers of the same size,
    # plus Z, A, scratch and gradient buffers for a batch
    batch = min(cfg.training.batch_size, 1 << 20)
    need = (6 * n_params + 4 * batch * sum(sizes)) * np.dtype(cfg.training.dtype).itemsize
    try:
        memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not on this platform: assume 8 GiB
        memory = 8 << 30
    if need > memory // 2:
        raise cfg.error(("network", "layers"), f"{n_params:,} parameters would need about"
                        f" {need / 2**30:.1f} GiB for training, more than half of this machine's"
                        f" {memory / 2**30:.0f} GiB; use smaller layers")
