"""The config schema, declared once: YAML -> validated ``Config``.

Every key, its type, range, default and description is declared here, in pydantic models;
validation, the defaults, the README's config reference (``reference_markdown``) and the
JSON Schema (``json_schema``) all come from them. An optimizer's or a schedule's
parameters and their defaults come from the core class's signature (``core/optimizers``,
``core/schedules``), so they are stated once there.

Every error is one line naming the file, the line and the key path, what was found, and
the valid choices with a did-you-mean (``ConfigError``, exit 2). Paths in the file are
relative to the file; the model is written to ``<config name>.npz`` in the working
directory unless ``output.model`` says otherwise.
"""

from __future__ import annotations

import copy
import inspect
import math
import os
import re
import stat
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import numpy as np
import yaml
from pydantic import (BaseModel, BeforeValidator, ConfigDict, Discriminator, Field,
                      PrivateAttr, Tag, ValidationError, ValidationInfo, create_model,
                      field_validator, model_validator)
from pydantic_core import PydanticCustomError

from .core.activations import ACTIVATIONS, get_activation
from .core.init import INITIALIZERS
from .core.losses import LOSSES, REGRESSION_LOSSES, check_pairing, get_loss
from .core.network import DTYPES, TOO_LOW_DROPOUT, Network, drops_nothing
from .core.optimizers import OPTIMIZERS, get_optimizer
from .core.schedules import SCHEDULES, get_schedule
from .errors import ConfigError
from .registry import did_you_mean

#: The example ``configs/`` and ``datasets/`` installed with nnctl (package data, so every
#: install has them: a wheel, pipx, an editable checkout).
BUNDLED = Path(__file__).resolve().parent / "bundled"
DEFAULT_CONFIG = BUNDLED / "configs" / "default.yaml"
DEFAULT_DATA = BUNDLED / "datasets" / "default.csv"
#: The JSON Schema of a config (``nnctl schema`` prints the same), named by the bundled
#: configs' ``yaml-language-server`` comment so editors complete and check keys.
SCHEMA_FILE = BUNDLED / "configs" / "nnctl.schema.json"
OUTPUT_ACTIVATION = {"mse": "identity", "mae": "identity", "huber": "identity",
                     "binary_crossentropy": "logistic", "categorical_crossentropy": "softmax"}
HIDDEN_ACTIVATION = "relu"
MAX_UNITS = 1_000_000


def _fail(message: str, key: str | int | None = None) -> PydanticCustomError:
    """An error whose message is ours; ``key`` extends the place by one step."""
    return PydanticCustomError("nnctl", "{message}", {"message": message, "key": key})


def _relative_path(value, info: ValidationInfo, what: str) -> Path:
    """A path written in a file, taken from the file's folder (the context's ``base``)."""
    if not isinstance(value, (str, Path)) or not str(value):
        raise _fail(f"expected {what}, got {_a_kind(value)} {value!r}")
    base = (info.context or {}).get("base", Path("."))
    return Path(os.path.normpath(Path(base) / value))


def _registry_name(registry):
    def check(value):
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            raise _fail(f"expected a name, got {_a_kind(value)} {value!r}")
        try:
            return registry.name(value)
        except ConfigError as e:
            raise _fail(str(e)) from None
    return check


# -- sections ---------------------------------------------------------------------------


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _columns(value):
    """A column (name or 0-based index) or a list of them -> a tuple."""
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    if not items:
        raise _fail("expected at least one column")
    for i, item in enumerate(items):
        if isinstance(item, bool) or not isinstance(item, (str, int)) or (
                isinstance(item, int) and item < 0):
            hint = ("; unquoted, YAML reads yes, no, on, off, true and false as booleans: quote a"
                    " column of that name ('on')" if isinstance(item, bool) else
                    "; quote a column named like a number ('1.50')" if isinstance(item, float) else "")
            raise _fail(f"expected a column name or a 0-based index, got {_a_kind(item)} {item!r}{hint}",
                        i if isinstance(value, list) else None)
    seen: dict = {}
    for i, item in enumerate(items):
        if item in seen:
            raise _fail(f"column {item!r} is listed twice (entries {seen[item]} and {i}); keep one",
                        i if isinstance(value, list) else None)
        seen[item] = i
    return tuple(items)


Columns = Annotated[Union[tuple[Union[str, int], ...], None], BeforeValidator(
    _columns, json_schema_input_type=Union[str, int, list[Union[str, int]], None])]


def _delimiter(value):
    if value == "\\t":
        return "\t"
    if isinstance(value, str) and len(value) != 1 and value != "auto":
        raise _fail(f"expected one character (or \\t for a tab, or auto), got {value!r}")
    if isinstance(value, str) and value != "auto" and (not value.isascii() or value in '\r\n"'):
        raise _fail(f"expected an ASCII character other than a quote or a line end (the CSV"
                    f" reader takes one byte), got {value!r}")
    return value


class ColumnConfig(_Section):
    """How to read one feature column (overrides what is inferred)."""

    type: Literal["auto", "numeric", "categorical", "boolean", "date", "drop"] = Field(
        "auto", description="auto infers it; drop leaves the column out.")
    impute: Literal["median", "mean", "most_frequent", "missing"] | None = Field(
        None, description="How missing cells are filled (numbers: median or mean; categories:"
        " most_frequent, or missing as a category of its own).")
    indicator: bool | None = Field(None, description="Add a 0/1 column <name>_missing.")
    max_categories: int | None = Field(None, ge=1, le=100_000, description="Keep this many"
                                       " most frequent categories; the rest become (other).")

    @model_validator(mode="after")
    def _impute_fits(self):
        numeric = {"median", "mean"}
        if self.impute is not None and self.type in ("numeric", "date") and self.impute not in numeric:
            raise _fail(f"a {self.type} column is imputed with median or mean, not {self.impute}",
                        "impute")
        if self.impute is not None and self.type == "categorical" and self.impute in numeric:
            raise _fail(f"a categorical column is imputed with most_frequent or missing, not"
                        f" {self.impute}", "impute")
        return self


class ImputeConfig(_Section):
    """The default imputation of missing cells, by column type."""

    numeric: Literal["median", "mean"] = Field("median", description="Numbers: the training"
                                               " median or mean.")
    categorical: Literal["most_frequent", "missing"] = Field(
        "most_frequent", description="Categories: the most frequent, or a (missing) category.")


class DataConfig(_Section):
    """Where the data is and how to read it."""

    train: Path = Field(DEFAULT_DATA, description="The training CSV (relative to the config"
                        " file). Default: the bundled datasets/default.csv.")
    validation: Path | None = Field(None, description="A validation CSV; otherwise"
                                    " validation_split of the training rows.")
    test: Path | None = Field(None, description="A test CSV; otherwise test_split of the"
                              " training rows.")
    validation_split: float = Field(0.15, ge=0.0, lt=1.0, description="Share of the training"
                                    " rows held out for validation (when no validation file).")
    test_split: float = Field(0.15, ge=0.0, lt=1.0, description="Share of the training rows"
                              " held out for testing (when no test file).")
    stratify: bool = Field(True, description="Split classification data in the same class"
                           " proportions.")
    target: Columns = Field(("label",), description="Target column name(s) or 0-based index(es).")
    features: Columns = Field(None, description="Feature columns; default: every column that"
                              " is not a target.")
    delimiter: Annotated[str, BeforeValidator(_delimiter)] = Field(
        "auto", description="Field separator: auto (sniffed; tab for .tsv), one character, or \\t.")
    encoding: str = Field("utf-8", min_length=1, description="Text encoding of the files"
                          " (utf-8 with or without BOM; for example latin-1).")
    na_values: tuple[str, ...] = Field((), description="Cell texts that mean missing, besides"
                                       " pandas' own (empty, NA, NaN, null, None, ...).")
    columns: dict[str, ColumnConfig] = Field({}, description="Per feature column: type,"
                                             " impute, indicator, max_categories.")
    impute: ImputeConfig = Field(ImputeConfig(), description="Default imputation by type.")
    missing_indicator: bool = Field(False, description="Add a <name>_missing column for every"
                                    " feature column that had missing cells in training.")
    max_categories: int = Field(1000, ge=1, le=100_000, description="Categories kept per text"
                                " column: the most frequent, each seen at least 3 times; the"
                                " rest become (other).")
    header: bool = Field(True, description="Whether the first line names the columns.")
    standardize: Literal["zscore", "minmax", "none"] = Field(
        "zscore", description="Feature scaling, fitted on the training rows.")
    standardize_target: bool = Field(True, description="z-score a regression target (losses"
                                     " are then on that scale; predictions in the file's units).")

    @field_validator("na_values", mode="before")
    @classmethod
    def _na_values(cls, value):
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            value = [value]
        if isinstance(value, list):
            for i, v in enumerate(value):
                if isinstance(v, bool):  # 'no' in a list would be the text 'False'
                    raise _fail(f"got a boolean {v!r}; unquoted, YAML reads yes, no, on, off, true"
                                " and false as booleans: quote the text ('no')", i)
            return tuple(str(v) for v in value)
        return value

    @field_validator("target", mode="before")
    @classmethod
    def _target(cls, value):
        if value is None:
            raise _fail("no target column given; name the column to predict (target: label)")
        return value

    @field_validator("train", "validation", "test", mode="before")
    @classmethod
    def _path(cls, value, info: ValidationInfo):
        if value is None:
            if info.field_name == "train":
                raise _fail("expected a CSV file path, got null")
            return None
        return _relative_path(value, info, "a file path")

    @model_validator(mode="after")
    def _splits(self):
        if self.validation_split + self.test_split >= 1.0:
            raise _fail(f"validation_split + test_split = {self.validation_split + self.test_split:g}"
                        " leaves no training rows; keep their sum below 1", "test_split")
        if self.features is not None:
            both = [c for c in self.features if c in self.target]
            if both:
                raise _fail(f"column {both[0]!r} is both a feature and the target; remove it"
                            " from data.features", "features")
        return self


def _layer(value):
    if isinstance(value, int) and not isinstance(value, bool):
        return {"units": value}  # the shorthand `- 16`
    return value


class LayerConfig(_Section):
    """One layer: its units and activation."""

    units: int | None = Field(None, ge=1, le=MAX_UNITS, description="n[l]; may be left out for"
                              " the output layer (taken from the target).")
    activation: Annotated[str | None, BeforeValidator(_registry_name(ACTIVATIONS))] = Field(
        None, description="Default: relu for hidden layers; from the loss for the output"
        " (identity, logistic or softmax).", json_schema_extra={"enum": ACTIVATIONS.choices})
    alpha: float | None = Field(None, allow_inf_nan=False, description="ELU's alpha (fixed,"
                                " default 1.0) or PReLU's initial slope (learned, default 0.25).")
    dropout: float | None = Field(None, ge=0.0, le=0.999, allow_inf_nan=False, description="The share p of"
                           " this layer's units dropped at each training step (inverted dropout:"
                           " the rest are scaled by 1/(1-p)); none at evaluation and prediction.")

    @model_validator(mode="after")
    def _alpha(self):
        if self.alpha is not None:
            act = get_activation(self.activation) if self.activation else None
            if act is None or act.alpha is None:
                raise _fail(f"activation '{self.activation or HIDDEN_ACTIVATION}' takes no alpha;"
                            " only elu and prelu do", "alpha")
            if act.name == "elu" and self.alpha <= 0:
                raise _fail(f"elu's alpha must be positive, got {self.alpha}", "alpha")
        return self


def _layers(value):
    if isinstance(value, list) and not value:
        raise _fail("a network needs at least one layer (the output layer)")
    return tuple(value) if isinstance(value, list) else value


class NetworkConfig(_Section):
    """The layers ``n[1..L]``; ``n[0]`` and ``n[L]`` may come from the data."""

    inputs: int | None = Field(None, ge=1, le=MAX_UNITS, description="n[0]; default: the number"
                               " of feature columns.")
    layers: Annotated[tuple[Annotated[LayerConfig, BeforeValidator(
        _layer, json_schema_input_type=Union[int, LayerConfig])], ...],
                      BeforeValidator(_layers)] = Field(
        (LayerConfig(units=32), LayerConfig(units=16), LayerConfig()),
        description="Hidden layers, then the output layer; a number is shorthand for"
        " {units: n}. The default (32 and 16 relu units) suits tables of a few hundred to"
        " 100,000 rows.")
    init: Annotated[str, BeforeValidator(_registry_name(INITIALIZERS))] = Field(
        "auto", description="Weight initializer; auto: hidden layers He for the ReLU family,"
        " Glorot otherwise; the output layer Glorot times 1/2 (classification) or 1/10"
        " (regression). A named rule applies to every layer.", json_schema_extra={"enum": INITIALIZERS.choices})

    @field_validator("layers", mode="after")
    @classmethod
    def _each_layer(cls, layers):
        for i, layer in enumerate(layers):
            last = i == len(layers) - 1
            if layer.units is None and not last:
                raise _fail("missing; every layer but the output layer needs its units",
                            _key(i, "units"))
            if layer.activation and get_activation(layer.activation).output_only and not last:
                raise _fail(f"'{layer.activation}' is only allowed in the output layer",
                            _key(i, "activation"))
            if last and layer.dropout:
                raise _fail("the output layer cannot drop units; put dropout on a hidden layer",
                            _key(i, "dropout"))
            if layer.dropout and drops_nothing(layer.dropout):
                raise _fail(f"{layer.dropout} {TOO_LOW_DROPOUT}", _key(i, "dropout"))
        return layers


# -- optimizers and schedules: their parameters come from the core classes ---------------


def _parameter_model(name: str, cls, *, skip=(), defaults=None, doc: str = "") -> type[BaseModel]:
    """A section for ``{name: <name>, param: value, ...}`` from ``cls``'s signature."""
    hints = typing.get_type_hints(cls.__init__)
    fields: dict[str, Any] = {"name": (Literal[name], name)}
    for p in inspect.signature(cls).parameters.values():
        if p.name in skip:
            continue
        default = (defaults or {}).get(p.name, p.default)
        kind = hints.get(p.name, float)
        if default is None:
            kind = kind | None
        extra = {"allow_inf_nan": False} if kind in (float, float | None) else {}
        fields[p.name] = (kind, Field(default, **extra))
    model = create_model(f"{name.title()}Config", __base__=_Section, __doc__=doc, **fields)
    return model


def _named(registry, default: str, what: str):
    """``name`` or ``{name: ..., param: value}`` -> a mapping with a canonical ``name``."""
    def check(value):
        if value is None:
            return {"name": default}
        if isinstance(value, str):
            value = {"name": value}
            shorthand = True
        else:
            shorthand = False
        if not isinstance(value, dict):
            raise _fail(f"expected a name or a mapping with 'name', got {_a_kind(value)}")
        value = dict(value)
        if what == "optimizer" and "l2" in value:
            raise _fail("l2 belongs under training, not training.optimizer", "l2")
        name = value.get("name", default)
        if not isinstance(name, str):
            raise _fail(f"expected a name, got {_a_kind(name)} {name!r}", None if shorthand else "name")
        try:
            value["name"] = registry.name(name)
        except ConfigError as e:
            raise _fail(str(e), None if shorthand else "name") from None
        return value
    return check


def _optimizer_models():
    out = {}
    for name, cls in OPTIMIZERS.items():
        defaults = {"nesterov": True} if name == "nesterov" else None
        out[name] = _parameter_model(name, cls, skip=("l2", "clip_norm", "clip_value"),
                                     defaults=defaults,
                                     doc=(cls.__doc__ or "").splitlines()[0])
    return out


def _schedule_models():
    out = {}
    for name, cls in SCHEDULES.items():
        # cosine runs over the training's epochs unless told otherwise
        defaults = {"epochs": None} if name == "cosine" else None
        out[name] = _parameter_model(name, cls, defaults=defaults,
                                     doc=(cls.__doc__ or name).splitlines()[0])
    return out


OPTIMIZER_MODELS = _optimizer_models()
SCHEDULE_MODELS = _schedule_models()


def _union(models: dict, registry, default: str, what: str):
    members = tuple(Annotated[m, Tag(n)] for n, m in models.items())
    union = Union[members]
    # In a file: a name (or alias), or a mapping {name: ..., param: value}.
    written = Union[(Literal[tuple(registry.choices)], *models.values(), None)]
    return Annotated[union, Discriminator(lambda v: v.get("name") if isinstance(v, dict)
                                          else getattr(v, "name", None)),
                     BeforeValidator(_named(registry, default, what), json_schema_input_type=written)]


OptimizerConfig = _union(OPTIMIZER_MODELS, OPTIMIZERS, "adam", "optimizer")
ScheduleConfig = _union(SCHEDULE_MODELS, SCHEDULES, "constant", "schedule")


def _early_stopping(value):
    if value is False:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return {"patience": value}  # the shorthand `early_stopping: 20`
    return value


class EarlyStoppingConfig(_Section):
    """Stop when the monitored loss has not improved for ``patience`` epochs."""

    patience: int = Field(10, ge=1, description="Epochs without improvement before stopping.")
    min_delta: float = Field(0.0, ge=0.0, allow_inf_nan=False,
                             description="The least decrease that counts as an improvement.")


def _class_weight(value):
    if isinstance(value, dict):  # labels may be numbers in YAML ({0: 1, 1: 5}): keys as text
        for key, weight in value.items():
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not (
                    math.isfinite(weight) and weight >= 0):
                raise _fail(f"expected a finite weight >= 0, got {_a_kind(weight)} {weight!r}", key)
        if value and not any(value.values()) and len(value) > 1:
            raise _fail("every class weight is 0: nothing would be learned")
        return {_label_text(k): float(v) for k, v in value.items()}
    if value is not None and value != "balanced":
        raise _fail(f"expected balanced or a mapping of class label to weight, got"
                    f" {_a_kind(value)} {value!r}")
    return value


def _label_text(key) -> str:
    if isinstance(key, float) and key.is_integer():
        return str(int(key))
    return str(key)


def _batch_size(value):
    # The range is checked here: pydantic would apply ge/le to "auto" too.
    if value == "auto":
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        if not 1 <= value <= 100_000_000:
            raise _fail(f"must be between 1 and 100000000 (or auto), got {value}")
        return value
    raise _fail(f"expected a positive integer or auto, got {_a_kind(value)} {value!r}")


class TrainingConfig(_Section):
    """How to train: epochs, batches, optimizer, schedule, early stopping, seed, dtype."""

    epochs: int = Field(200, ge=1, le=10_000_000, description="Passes over the training rows (at"
                        " most: early stopping usually ends sooner).")
    batch_size: Annotated[Union[int, Literal["auto"]], BeforeValidator(_batch_size)] = Field(
        "auto", description="Samples per step (m); auto: 32 up to 3,200"
        " training rows, then 1% of them, at most 256 (about 100 steps an epoch).")
    optimizer: OptimizerConfig = Field(OPTIMIZER_MODELS["adam"](), description="sgd, momentum,"
                                       " nesterov, adam or adamw, by name or as {name: ...,"
                                       " lr: ...}.")
    l2: float = Field(1e-4, ge=0.0, allow_inf_nan=False, description="L2 penalty (l2/2) sum W^2"
                      " on the weights (not biases or PReLU slopes); a guard for wide one-hot"
                      " tables.")
    clip_norm: Union[float, None] = Field(None, gt=0.0, allow_inf_nan=False, description="Scale"
                                          " each step's whole gradient (every W, b and slope)"
                                          " down to this norm when it is longer.")
    clip_value: Union[float, None] = Field(None, gt=0.0, allow_inf_nan=False, description="Limit"
                                           " each gradient entry to [-clip_value, clip_value].")
    schedule: ScheduleConfig = Field(SCHEDULE_MODELS["constant"](), description="Learning-rate"
                                     " schedule: constant, step, exponential, cosine or"
                                     " reduce_on_plateau (on the validation loss).")
    warmup: int = Field(0, ge=0, le=10_000_000, description="Epochs of linear warm-up before"
                        " the schedule's rate: epoch e (from 0) runs at (e + 1) / warmup of it.")
    early_stopping: Annotated[EarlyStoppingConfig | None, BeforeValidator(
        _early_stopping, json_schema_input_type=Union[int, Literal[False], EarlyStoppingConfig, None]
    )] = Field(
        EarlyStoppingConfig(patience=20), description="patience (and min_delta), or a number"
        " as the patience, or false; it watches the validation loss (the training loss"
        " without a validation split) and restores the best epoch's weights.")
    class_weight: Annotated[Union[Literal["balanced"], dict[str, Annotated[float, Field(
        ge=0.0, allow_inf_nan=False)]], None], BeforeValidator(_class_weight)] = Field(
        None, description="Classification: balanced (m / (k m_c) for class c), or a weight per"
        " label (others 1); each sample's loss is multiplied by its class's weight.")
    seed: int = Field(0, ge=0, description="Seeds initialization, splits and shuffling.")
    dtype: Literal[DTYPES] = Field("float64", description="float64 or float32.")  # type: ignore[valid-type]
    folds: Union[int, None] = Field(None, ge=2, le=1000, description="Cross-validate instead of"
                                 " training one model: K folds of the training file (stratified"
                                 " for classification), each the test split of one run; reports"
                                 " every fold and the mean +- std, and saves no model.")
    diagnostics: bool = Field(True, description="Measure gradient flow per layer each epoch"
                              " (dead and saturated units, gradient norm, update ratio) as history"
                              " columns, and warn once when a layer dies or saturates.")

    @property
    def lr(self) -> float:
        return self.optimizer.lr

    def batch_for(self, m: int) -> int:
        """The batch size for ``m`` training rows (``auto`` resolved)."""
        if self.batch_size != "auto":
            return self.batch_size
        return 32 if m <= 3200 else min(256, m // 100)

    @property
    def patience(self) -> int | None:
        return None if self.early_stopping is None else self.early_stopping.patience

    @property
    def min_delta(self) -> float:
        return 0.0 if self.early_stopping is None else self.early_stopping.min_delta

    @model_validator(mode="after")
    def _build(self):
        for key, build in (("optimizer", self._optimizer), ("schedule", self._schedule)):
            try:
                build()
            except ConfigError as e:
                raise _fail(str(e), _key(key, e.key) if e.key else key) from None
        return self

    def _optimizer(self):
        params = self.optimizer.model_dump()
        return get_optimizer(params.pop("name"), l2=self.l2, clip_norm=self.clip_norm,
                             clip_value=self.clip_value, **params)

    def _schedule(self):
        params = self.schedule.model_dump()
        name = params.pop("name")
        if "epochs" in params and params["epochs"] is None:
            params["epochs"] = self.epochs
        return get_schedule(name, warmup=self.warmup, **params)


class OutputConfig(_Section):
    """Where the model and its history go."""

    runs: Path | None = Field(None, description="The folder of run directories: each run"
                              " without output.model (or -o) writes a new <runs>/<config"
                              " name>/<n>/. Default: runs/ in the working directory.")
    model: Path | None = Field(None, description="Write the model exactly here instead of a"
                               " run directory (as -o does).")
    history: Path | None = Field(None, description="The per-epoch history CSV when model is set;"
                                 " default beside it, <model stem>.history.csv.")
    plots: bool = Field(True, description="Draw loss, metric, gradient-flow and confusion images"
                        " (PNG, SVG) into the run directory, with the plot extra (about 2.5 s a"
                        " run).")

    @field_validator("runs", "model", "history", mode="before")
    @classmethod
    def _path(cls, value, info: ValidationInfo):
        if value is None:
            return None
        if not isinstance(value, (str, Path)) or not str(value):
            raise _fail(f"expected a file path, got {_a_kind(value)} {value!r}")
        return Path(os.path.normpath(Path((info.context or {}).get("base", ".")) / value))


def _loss(value):
    if value == "auto":
        return value
    return _registry_name(LOSSES)(value)


class Config(_Section):
    """A validated config. ``where(path)`` formats the place of a key for error messages."""

    data: DataConfig = Field(DataConfig(), description="The data.")
    network: NetworkConfig = Field(NetworkConfig(), description="The network.")
    task: Literal["auto", "classification", "regression"] = Field(
        "auto", description="auto: from the loss, else from the target column.")
    loss: Annotated[str, BeforeValidator(_loss)] = Field(
        "auto", description="auto (from the target: mse or a cross-entropy), mse, mae, huber,"
        " binary_crossentropy or categorical_crossentropy.",
        json_schema_extra={"enum": ["auto", *LOSSES.choices]})
    huber_delta: Union[float, None] = Field(None, gt=0.0, allow_inf_nan=False, description="The"
                                            " huber loss's delta (default 1): errors up to it"
                                            " count squared, beyond it by their size; in the"
                                            " target's standard deviations while it is"
                                            " standardized. Only with loss: huber.")
    training: TrainingConfig = Field(TrainingConfig(), description="Training.")
    output: OutputConfig = Field(OutputConfig(), description="Outputs.")

    @model_validator(mode="after")
    def _task_fits_the_loss(self):
        if self.task == "classification" and self.loss in REGRESSION_LOSSES:
            raise _fail(f"task: classification needs a cross-entropy loss, not {self.loss}; set"
                        " loss: auto (or binary_crossentropy / categorical_crossentropy)", "loss")
        if self.huber_delta is not None and self.loss != "huber":
            raise _fail(f"only for loss huber, and the loss is {self.loss}: set loss: huber or"
                        " remove huber_delta", "huber_delta")
        if self.task == "regression" and self.loss not in ("auto", *REGRESSION_LOSSES):
            raise _fail(f"task: regression needs loss mse, mae or huber, not {self.loss}; set"
                        " loss: auto, mse, mae or huber", "loss")
        return self

    _source: str = PrivateAttr("<config>")
    _lines: dict = PrivateAttr(default_factory=dict)
    _raw: dict = PrivateAttr(default_factory=dict)
    _stem: str = PrivateAttr("model")
    _base: Path = PrivateAttr(Path("."))

    @property
    def source(self) -> str:
        return self._source

    def where(self, *path) -> str:
        """``file, line N: a.b[2].c`` for the deepest part of ``path`` found in the file."""
        return _where(self._source, self._lines, tuple(path), self._raw)

    def error(self, path: tuple, message: str) -> ConfigError:
        return ConfigError(f"{self.where(*path)}: {message}")

    @property
    def name(self) -> str:
        """The run's name: the config file's stem (``iris`` for configs/iris.yaml)."""
        return self._stem

    @property
    def run_parent(self) -> Path | None:
        """``<runs>/<name>``, the folder that gets a new run directory, or ``None`` when
        the model goes to a path of its own (``output.model`` or ``-o``)."""
        if self.output.model is not None:
            return None
        from .files import run_name

        return (self.output.runs if self.output.runs is not None else Path("runs")) / run_name(self._stem)

    def in_run(self, directory: Path) -> Config:
        """This config writing into the run directory ``directory``."""
        cfg = self.model_copy(update={"output": self.output.model_copy(
            update={"model": directory / "model.npz", "history": directory / "history.csv"})})
        _keep_private(cfg, self, self._raw)
        return cfg

    @property
    def model_path(self) -> Path:
        return self.output.model if self.output.model is not None else Path(f"{self._stem}.npz")

    @property
    def history_path(self) -> Path:
        if self.output.history is not None:
            return self.output.history
        model = self.model_path
        return model.with_name(model.stem + ".history.csv")

    def with_overrides(self, *, epochs=None, lr=None, batch_size=None, seed=None, output=None,
                       folds=None) -> Config:
        """The config with command-line overrides, validated again by the same schema."""
        raw = copy.deepcopy(self._raw)
        training = raw.setdefault("training", {}) if isinstance(raw.get("training"), dict) else None
        if training is None:
            training = raw["training"] = {}
        lines = dict(self._lines)  # an error in an overridden value names its option
        for key, value in (("epochs", epochs), ("batch_size", batch_size), ("seed", seed),
                           ("folds", folds)):
            if value is not None:
                training[key] = value
                lines[("training", key)] = f"--{key.replace('_', '-')} {value} (training.{key})"
        if lr is not None:
            opt = training.get("optimizer")
            training["optimizer"] = ({**opt, "lr": lr} if isinstance(opt, dict)
                                     else {"name": opt or "adam", "lr": lr})
            lines[("training", "optimizer", "lr")] = f"--lr {lr:g} (training.optimizer.lr)"
        cfg = _validate(raw, source=self._source, lines=lines, base=self._base, stem=self._stem)
        if output is not None:
            cfg = cfg.model_copy(update={"output": OutputConfig(model=Path(output))})
            _keep_private(cfg, self, raw)
            cfg._lines = {**lines, ("output", "model"): f"-o {output}"}
        return cfg

    def to_dict(self) -> dict:
        """The resolved config in the file's schema, with absolute paths (kept in model files)."""
        d = self.model_dump(mode="json")
        for section, keys in (("data", ("train", "validation", "test")), ("output", ("model", "history"))):
            for key in keys:
                value = getattr(getattr(self, section), key)
                d[section][key] = None if value is None else str(Path(value).resolve())
        d["output"]["model"] = str(self.model_path.resolve())
        d["network"]["layers"] = [{k: v for k, v in layer.items() if v is not None}
                                  for layer in d["network"]["layers"]]
        return d

    def resolved(self) -> dict:
        """Every key with its value, defaults filled in, as a config file holds them: data
        paths absolute (so the text works from any folder), outputs only where the file set
        them (so training it again writes a new run, not over this one's files)."""
        d = self.model_dump(mode="json")
        for key in ("train", "validation", "test"):
            value = getattr(self.data, key)
            d["data"][key] = None if value is None else _absolute(value)
        for key in ("runs", "model", "history"):  # plots stays as it is
            value = getattr(self.output, key)
            d["output"][key] = None if value is None else _absolute(value)
        d["network"]["layers"] = [{k: v for k, v in layer.items() if v is not None}
                                  for layer in d["network"]["layers"]]
        return d

    def provenance(self) -> dict[str, Any]:
        """Where each key of ``resolved()`` came from, as Ludwig shows it: ``file`` (the keys
        the config file set), ``overridden`` (key -> the option that set it: ``--set ...``,
        ``--epochs 3``), ``defaults`` (key -> its default value). Keys are dotted paths
        (``network.layers[0].units``)."""
        out: dict[str, Any] = {"file": [], "overridden": {}, "defaults": {}}

        def in_raw(path) -> bool:  # a config read from a mapping (a model's) has no lines
            return _value_at(path, self._raw, missing=_MISSING) is not _MISSING

        def walk(node, path):
            if isinstance(node, dict):
                for k, v in node.items():  # an empty one ({} for a layer) is no key
                    walk(v, (*path, k))
                return
            if isinstance(node, list) and node and path != ("data", "target"):
                for i, v in enumerate(node):
                    walk(v, (*path, i))
                return
            # an option that set this key or a section above it (--set network.layers=...),
            # if its value gave the key: the rest of the section is defaults again
            # (--set training.optimizer=adamw gives the name, not the rate)
            depth = next((d for d in range(len(path), 0, -1)
                          if isinstance(self._lines.get(path[:d]), str)), None)
            label = None if depth is None else self._lines[path[:depth]]
            if depth is not None and depth < len(path) and not in_raw(path):
                above = _value_at(path[:-1], self._raw, missing=_MISSING)
                if not (path[-1] in _SHORTHAND_KEYS and above is not _MISSING
                        and not isinstance(above, (dict, list))):
                    out["defaults"][_dotted(path)] = node  # replaced, not given: a default
                    return
            if label is None:
                label = self._lines.get(path)
            if label is None and len(path) > 1 and path[-1] in _SHORTHAND_KEYS and isinstance(
                    self._lines.get(path[:-1]), int):
                label = self._lines[path[:-1]]  # a shorthand (optimizer: adam, layers: [16])
            if label is None and () not in self._lines and in_raw(path):
                label = 0  # a config from a mapping (a model's saved one), not a file: no lines
            key = _dotted(path)
            if isinstance(label, str):
                how = label.split(" (", 1)[0]
                # "--set KEY" and "sweep s, trial 3 KEY" name the key: said once is enough
                out["overridden"][key] = how[:-len(key) - 1] if how.endswith(" " + key) else how
            elif label is not None:
                out["file"].append(key)
            else:
                out["defaults"][key] = node

        walk(self.resolved(), ())
        return out

    def to_yaml(self) -> str:
        """``resolved()`` as YAML that ``nnctl train`` reads back to the same config."""
        head = (f"# The resolved config of {self._source}: every key, defaults filled in.\n"
                f"# yaml-language-server: $schema={SCHEMA_FILE}\n")
        overridden = self.provenance()["overridden"]
        if overridden:  # keys and options are text from outside: one line each, printable
            head += "".join(f"# {_printable(key)}: set by {_printable(how)}\n"
                            for key, how in overridden.items())
        resolved = self.resolved()
        text = yaml.dump(resolved, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
        if yaml.load(text, Loader=_Loader) != resolved:  # noqa: S506 - a SafeLoader
            # Characters YAML treats as line breaks (NEL, LS, PS) do not survive as text;
            # written as escapes they do, so non-ASCII text is escaped then.
            text = yaml.dump(resolved, Dumper=_Dumper, sort_keys=False, width=100)
        return head + text

    def with_values(self, values: dict[str, Any], *, label: str = "--set",
                    stem: str | None = None) -> Config:
        """The config with ``values`` set by dotted path (``training.optimizer.lr``,
        ``network.layers[1].units``), validated again by the same schema. An error names the
        assignment (``--set network.layers[5].units``) as a file's error names its line."""
        raw = self.resolved()
        lines = dict(self._lines)
        defaults = None
        for text, value in values.items():
            path = parse_path(text, label)
            if len(path) > 1 and path[-1] == "name":
                # A new name (an optimizer, a schedule): the parameters the old one had by
                # default are not the new one's (adam's beta1 is no parameter of sgd);
                # those the file or an option gave stay, to be checked against it.
                defaults = self.provenance()["defaults"] if defaults is None else defaults
                section = _value_at(path[:-1], raw)
                if isinstance(section, dict):
                    prefix = _dotted(path[:-1])
                    for key in [k for k in section if f"{prefix}.{k}" in defaults]:
                        del section[key]
            _assign(raw, path, value, f"{label} {text}")
            lines[path] = f"{label} {text}"
        return _validate(raw, source=self._source, lines=lines, base=self._base,
                         stem=self._stem if stem is None else stem)

    def build_optimizer(self):
        return self.training._optimizer()

    def build_schedule(self):
        return self.training._schedule()


def _printable(text: str) -> str:
    """``text`` with anything that is not printable (a line break, ESC) as its escape."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


def _absolute(path) -> str:
    """``path`` resolved, or made absolute where it cannot be resolved (a loop of symbolic
    links: that is for the command's own check of the path to report, not a traceback)."""
    try:
        return str(Path(path).resolve())
    except (OSError, RuntimeError):
        return os.path.abspath(path)


#: The key a shorthand stands for: ``optimizer: adam`` (name), ``- 16`` (a layer's units),
#: ``early_stopping: 20`` (patience).
_SHORTHAND_KEYS = ("name", "units", "patience")


def _keep_private(cfg: Config, like: Config, raw: dict) -> None:
    cfg._source, cfg._lines, cfg._raw = like._source, like._lines, raw
    cfg._stem, cfg._base = like._stem, like._base


# -- reading ----------------------------------------------------------------------------


# -- sweeps ------------------------------------------------------------------------------

#: The validation metrics a sweep may optimize, and which way.
OBJECTIVES = {"loss": "minimize", "accuracy": "maximize", "balanced_accuracy": "maximize",
              "macro_f1": "maximize", "log_loss": "minimize", "roc_auc": "maximize",
              "r2": "maximize", "mae": "minimize", "rmse": "minimize"}


class SweepParam(_Section):
    """One dimension of a search space: a range (``low``, ``high``, ``log``, ``step``) or
    ``choices``; a range of integers samples integers."""

    low: Union[int, float, None] = Field(None, description="The range's lower end.")
    high: Union[int, float, None] = Field(None, description="The range's upper end.")
    log: bool = Field(False, description="Sample the range on a log scale (lr, l2).")
    step: Union[int, float, None] = Field(None, description="Sample the range in steps.")
    choices: Union[list[Any], None] = Field(None, description="The values to choose from (any"
                                            " YAML value, such as a whole list of layers).")

    @model_validator(mode="after")
    def _one_kind(self):
        if (self.choices is None) == (self.low is None or self.high is None):
            raise _fail("give low and high, or choices (not both)")
        if self.choices is not None and not self.choices:
            raise _fail("choices is empty; give at least one value", "choices")
        if self.low is not None and not self.low < self.high:
            raise _fail(f"low must be below high, got {self.low} and {self.high}", "low")
        if self.log and self.low is not None and self.low <= 0:
            raise _fail(f"a log range needs low > 0, got {self.low}", "low")
        return self

    @property
    def integer(self) -> bool:
        return isinstance(self.low, int) and isinstance(self.high, int) and \
            (self.step is None or isinstance(self.step, int))


class Sweep(_Section):
    """A hyperparameter search (``nnctl sweep``): a base config, a space over its keys, an
    objective and a budget."""

    config: Path = Field(description="The base config (relative to the sweep file).")
    space: dict[str, SweepParam] = Field(description="Config keys by path"
                                         " (training.optimizer.lr, network.layers[0].units), each"
                                         " a range or choices.")
    objective: str = Field("loss", description="The validation metric to optimize: loss,"
                           " accuracy, balanced_accuracy, macro_f1, log_loss, roc_auc, r2, mae,"
                           " rmse (a val_ prefix is allowed); its direction is inferred.")
    trials: int = Field(20, ge=1, le=100_000, description="How many trials the study holds;"
                        " a sweep run again adds only the missing ones.")
    sampler: Literal["tpe", "random", "grid"] = Field("tpe", description="Optuna's sampler"
                                                      " (grid needs choices everywhere).")
    pruner: Literal["median", "none"] = Field("median", description="Stop trials whose"
                                              " validation figures lag the median of earlier"
                                              " trials at the same epoch.")
    seed: int = Field(0, ge=0, description="Seeds the sampler and each trial's seed.")
    storage: Union[str, None] = Field(None, description="Optuna storage URL (sqlite:///study.db,"
                                      " a path relative to the sweep file; postgresql://...);"
                                      " default a SQLite file beside the sweep file, <name>.db.")

    @field_validator("config", mode="before")
    @classmethod
    def _config_path(cls, value, info: ValidationInfo):
        return _relative_path(value, info, "the path of a config file")

    @field_validator("storage")
    @classmethod
    def _storage_url(cls, value):
        if value is not None and not re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", value):
            masked = re.sub(r":[^@]*@", ":***@", value)  # a password, if any, not shown
            raise _fail(f"not a storage URL: {masked!r}; give sqlite:///study.db (a file) or a"
                        " database URL such as postgresql://user@host/db")
        return value

    @model_validator(mode="after")
    def _check(self):
        metric = self.metric
        if metric not in OBJECTIVES:
            raise _fail(f"unknown objective '{self.objective}'{did_you_mean(metric, OBJECTIVES)};"
                        f" expected one of {', '.join(OBJECTIVES)}", "objective")
        if not self.space:
            raise _fail("the space is empty; give at least one config key to search", "space")
        if self.sampler == "grid":
            ranged = [k for k, p in self.space.items() if p.choices is None]
            if ranged:
                raise _fail(f"the grid sampler needs choices for every key; {ranged[0]} is a"
                            " range", "sampler")
        return self

    @property
    def metric(self) -> str:
        return self.objective.removeprefix("val_").removeprefix("validation.")

    @property
    def direction(self) -> str:
        return OBJECTIVES[self.metric]


def _read_text(path: Path, what: str, too_big: str) -> str:
    """A short YAML file (a config, a sweep) as text: bounded, UTF-8, a clear error else."""
    from .files import byte_place, read_input

    raw = read_input(path, what, error=ConfigError, limit=MAX_CONFIG_BYTES, too_big=too_big)
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")  # (utf-8-sig's error offsets skip the BOM)
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}, {byte_place(raw, e.start)}: byte 0x{raw[e.start]:02x} is not UTF-8"
                          f" text; save the {what} as UTF-8") from None


def load_sweep(path: str | Path) -> tuple[Sweep, Path]:
    """Read and validate a sweep file; and its config's path (relative to the sweep file)."""
    path = Path(path)
    text = _read_text(path, "sweep", "a sweep is a short YAML file")
    node, data = _yaml(text, str(path))
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a sweep is a mapping (config, space, objective, trials, ...),"
                          f" got {_a_kind(data)}")
    lines: dict = {}
    _collect_lines(node, (), lines, str(path))
    try:
        sweep = Sweep.model_validate(data, context={"base": folder_of(path)})
    except ValidationError as e:
        loc, message = _message(e.errors()[0], data)
        raise ConfigError(f"{_where(str(path), lines, loc, data)}: {message}") from None
    return sweep, sweep.config


class _Loader(yaml.SafeLoader):
    """YAML 1.1's safe loader, reading ``1e-3`` (no dot) as a number, as YAML 1.2 does."""


class _Dumper(yaml.SafeDumper):
    """The safe dumper, knowing what ``_Loader`` reads as a number: a column named ``1e3``
    is written quoted, so the text reads back as the same string."""


for _cls in (_Loader, _Dumper):
    _cls.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
        list("-+0123456789."))


def load(path: str | Path | None) -> Config:
    """Read and validate a config file; ``None`` reads the bundled ``configs/default.yaml``."""
    if path is None:
        if not DEFAULT_CONFIG.is_file():
            raise ConfigError(f"no config given and the bundled {DEFAULT_CONFIG} is missing"
                              " (a damaged install: reinstall nnctl); or pass a config file")
        path = DEFAULT_CONFIG
    path = Path(path)
    text = _read_text(path, "config", "a config is a short YAML file; is this a data file?")
    # A run's own config.yaml (runs/iris/3/config.yaml) trains as a run of iris again.
    stem = path.parent.parent.name if path.name == "config.yaml" and (path.parent / "history.csv").exists() \
        and path.parent.parent.name else path.stem
    return parse(text, source=str(path), base=folder_of(path), stem=stem)


def folder_of(path: Path) -> Path:
    """The folder the relative paths in file ``path`` are taken from: its own; for a file
    read from a stream (/dev/stdin, <(...), a pipe), which has none, the current directory,
    not /dev's or /dev/fd's."""
    try:
        return path.parent if stat.S_ISREG(os.stat(path).st_mode) else Path(".")
    except OSError:  # read a moment ago; gone since: as a file
        return path.parent


def parse(text: str, *, source: str = "<config>", base: Path = Path("."), stem: str = "model") -> Config:
    """Validate YAML ``text``; relative paths in it are taken from ``base``."""
    node, data = _yaml(text, source)
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
    return _validate(data, source=source, lines=lines, base=base, stem=stem)


def _yaml(text: str, source: str) -> tuple[Any, Any]:
    """``text``'s YAML node tree (for the lines of keys) and its value, bounded in size and
    depth; a syntax error is a ``ConfigError`` naming the line and column."""
    try:
        node = yaml.compose(text, Loader=_Loader)
        _check_size(node, source)  # before anything walks the aliases
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except RecursionError:
        raise ConfigError(f"{source}: the YAML is nested too deeply (more than"
                          f" {MAX_CONFIG_DEPTH} levels); a config has a few") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        place = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        if isinstance(e, yaml.reader.ReaderError):  # a character YAML does not allow
            line = text[:e.position].count("\n") + 1
            column = e.position - (text.rfind("\n", 0, e.position) + 1) + 1
            raise ConfigError(f"{source}, line {line}, column {column}: YAML syntax error:"
                              f" character {_char(e.character)!r} is not allowed in YAML; remove it"
                              " (or write it as an escape in a double-quoted string)") from None
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{source}{place}: YAML syntax error: {problem}") from None
    return node, data


def from_dict(d: dict, *, source: str, stem: str = "model") -> Config:
    """Validate a config held as a dict (such as the one saved in a model file)."""
    if not isinstance(d, dict):
        raise ConfigError(f"{source}: the config must be a mapping, got {_a_kind(d)}")
    return _validate(d, source=source, lines={}, base=Path("."), stem=stem)


def _validate(data: dict, *, source: str, lines: dict, base: Path, stem: str) -> Config:
    try:
        cfg = Config.model_validate(data, context={"base": base})
    except ValidationError as e:
        loc, message = _message(e.errors()[0], data)
        raise ConfigError(f"{_where(source, lines, loc, data)}: {message}") from None
    cfg._source, cfg._lines, cfg._raw, cfg._stem, cfg._base = source, lines, data, stem, base
    return cfg


def json_schema() -> dict:
    """The JSON Schema of a config file (for editors: yaml-language-server)."""
    schema = Config.model_json_schema(mode="validation")
    # The bundled data's path differs per install (the description names it instead), so
    # no default holds it: the schema is the same text everywhere.
    def scrub(node):
        if isinstance(node, dict):
            for key in [k for k, v in node.items() if v == str(DEFAULT_DATA)]:
                del node[key]
            for value in node.values():
                scrub(value)
        elif isinstance(node, list):
            for value in node:
                scrub(value)

    scrub(schema)
    schema["description"] = "An nnctl config file (nnctl train CONFIG); nnctl schema prints this."
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "nnctl config"
    return schema


def reference_markdown() -> str:
    """The README's config reference: every key with its default and description, as YAML.

    Generated from the schema (``python -m nnctl.config`` prints it); a test checks that
    README.md holds exactly this text.
    """
    lines = ["```yaml"]
    _reference(Config, Config(), 0, lines)
    lines.append("```")
    return "\n".join(lines) + "\n"


def _yaml_value(value) -> str:
    if isinstance(value, Path):
        try:
            return str(value.relative_to(BUNDLED))
        except ValueError:
            return str(value)
    if isinstance(value, BaseModel):
        items = {k: v for k, v in value.model_dump().items() if v is not None}
        return "{" + ", ".join(f"{k}: {_yaml_value(v)}" for k, v in items.items()) + "}"
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_yaml_value(v) for v in value) + "]"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"' if value in (",", "\t") or not value.isidentifier() and not \
            value.replace("_", "").isalnum() else value
    return repr(value)


def _line(indent: int, key: str, value: str, comment: str) -> str:
    text = f"{'  ' * indent}{key}:{(' ' + value) if value else ''}"
    return f"{text:<34}# {comment}" if comment else text


def _reference(model: type[BaseModel], value: BaseModel, indent: int, lines: list[str]) -> None:
    for key, field in model.model_fields.items():
        current = getattr(value, key)
        comment = field.description or ""
        if isinstance(current, BaseModel) and key in ("optimizer", "schedule"):
            models = OPTIMIZER_MODELS if key == "optimizer" else SCHEDULE_MODELS
            lines.append(_line(indent, key, "", comment))
            _reference(type(current), current, indent + 1, lines)
            for name, other in models.items():
                if name != current.name:
                    params = {k: v for k, v in other().model_dump().items() if k != "name"}
                    shown = ", ".join(f"{k}: {_yaml_value(v)}" for k, v in params.items())
                    lines.append(f"{'  ' * (indent + 1)}# or {name}" + (f": {{{shown}}}" if shown else ""))
        elif isinstance(current, BaseModel):
            lines.append(_line(indent, key, "", comment))
            _reference(type(current), current, indent + 1, lines)
        elif key == "layers":
            lines.append(_line(indent, key, "", comment))
            for layer in current:
                lines.append(f"{'  ' * (indent + 1)}- {_yaml_value(layer)}")
            for k, f in LayerConfig.model_fields.items():
                lines.append(f"{'  ' * (indent + 1)}# {k}: {f.description}")
        elif key == "early_stopping":
            shown = _yaml_value(EarlyStoppingConfig())
            lines.append(_line(indent, key, "null", f"{comment} For example {shown}."))
        else:
            lines.append(_line(indent, key, _yaml_value(current), comment))
        if indent == 0:
            lines.append("")
    if indent == 0 and lines[-1] == "":
        lines.pop()


# -- error messages ----------------------------------------------------------------------


def _key(*parts) -> tuple:
    return tuple(p for p in parts if p is not None)


def _message(error: dict, data: dict) -> tuple[tuple, str]:
    """``(key path, message)`` for one pydantic error, in nnctl's words."""
    # the union's tag (optimizer and schedule name) is no key of the file
    raw = error["loc"]
    loc = tuple(p for i, p in enumerate(raw)
                if not (i and raw[i - 1] in ("optimizer", "schedule") and p in _TAGS))
    kind, value, ctx = error["type"], error.get("input"), error.get("ctx") or {}
    if kind == "nnctl":
        extra = ctx.get("key")
        loc = loc + (extra if isinstance(extra, tuple) else (extra,) if extra is not None else ())
        return loc, ctx["message"]
    if kind == "extra_forbidden":
        allowed = _fields_at(loc[:-1], data)
        key = str(loc[-1])
        if loc[:-1] and loc[-2] == "optimizer" and allowed:
            name = _value_at(loc[:-1], data)
            name = OPTIMIZERS.name(name.get("name", "adam")) if isinstance(name, dict) else "adam"
            return loc, (f"optimizer '{name}' takes no parameter '{_short(key)}'; expected one of"
                         f" {', '.join(allowed)}{did_you_mean(key, allowed)}")
        return loc, (f"unknown key '{_short(key)}'{did_you_mean(key, allowed)}; expected one of"
                     f" {', '.join(allowed)}")
    if kind in ("int_type", "int_from_float", "int_parsing"):
        return loc, f"expected an integer, got {_a_kind(value)} {_short(repr(value))}"
    if kind in ("float_type", "float_parsing", "finite_number"):
        return loc, f"expected a finite number, got {_a_kind(value)} {_short(repr(value))}"
    if kind == "bool_type":
        return loc, f"expected true or false, got {_a_kind(value)} {_short(repr(value))}"
    if kind in ("string_type", "string_too_short"):
        return loc, f"expected a non-empty string, got {_a_kind(value)} {_short(repr(value))}"
    if kind in ("tuple_type", "list_type"):
        return loc, f"expected a list of {loc[-1]}, got {_a_kind(value)}"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        allowed = _fields_at(loc, data)
        return loc, f"expected a mapping with keys {', '.join(allowed)}, got {_a_kind(value)}"
    if kind == "literal_error":
        choices = re.findall(r"'([^']*)'", ctx.get("expected", ""))
        return loc, (f"unknown '{_short(str(value))}'; expected one of {', '.join(choices)}"
                     f"{did_you_mean(str(value), choices)}")
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        return loc, _range_message(loc, value)
    return loc, f"{error['msg']}, got {_a_kind(value)} {_short(repr(value))}"  # not seen in the corpus


_TAGS = set(OPTIMIZER_MODELS) | set(SCHEDULE_MODELS)


def _model_at(loc: tuple, data: dict):
    """The section model that validates the mapping at ``loc`` (None if not a section)."""
    model: Any = Config
    for i, part in enumerate(loc):
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if isinstance(model, type) and issubclass(model, BaseModel) else None
        if field is None:
            return None
        model = _section_type(field.annotation, loc[:i + 1], data)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _section_type(annotation, loc, data):
    for arg in _flatten(annotation):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            if "name" in arg.model_fields and typing.get_origin(arg.model_fields["name"].annotation) is Literal:
                value = _value_at(loc, data)
                name = value.get("name") if isinstance(value, dict) else value
                registry = OPTIMIZERS if arg in OPTIMIZER_MODELS.values() else SCHEDULES
                models = OPTIMIZER_MODELS if registry is OPTIMIZERS else SCHEDULE_MODELS
                try:
                    return models[registry.name(name or ("adam" if registry is OPTIMIZERS else "constant"))]
                except ConfigError:
                    return None
            return arg
    return None


def _flatten(annotation):
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is Annotated:
        return _flatten(args[0])
    if not args:
        return [annotation]
    return [a for arg in args for a in _flatten(arg)]


def _fields_at(loc: tuple, data: dict) -> list[str]:
    model = _model_at(loc, data)
    return [] if model is None else list(model.model_fields)


_MISSING = object()


def _value_at(loc: tuple, data: Any, missing: Any = None) -> Any:
    """The value at key path ``loc`` of ``data``, or ``missing`` where there is none."""
    for part in loc:
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and part < len(data):
            data = data[part]
        else:
            return missing
    return data


def _range_message(loc: tuple, value) -> str:
    parent = _model_at(loc[:-1], {}) if loc else None
    field = parent.model_fields.get(loc[-1]) if parent is not None else None
    bounds = {}
    for m in (field.metadata if field is not None else []):
        for name in ("ge", "gt", "le", "lt"):
            if getattr(m, name, None) is not None:
                bounds[name] = getattr(m, name)
    low = bounds.get("ge", bounds.get("gt"))
    high = bounds.get("le", bounds.get("lt"))
    if isinstance(value, int) and "gt" not in bounds and "lt" not in bounds:
        if high is None:
            return f"must be at least {low}, got {value}"
        return f"must be from {low} to {high}, got {value}"
    lo = "(" if "gt" in bounds else "["
    hi = ")" if "lt" in bounds else "]"
    return f"must be in {lo}{float(low) if low is not None else '-inf'}, " \
           f"{float(high) if high is not None else 'inf'}{hi}, got {value}"


# -- places in the file -------------------------------------------------------------------


#: Bounds on a config file: its bytes, its values with every alias expanded, its depth.
MAX_CONFIG_BYTES = 1 << 20
MAX_CONFIG_NODES = 100_000
MAX_CONFIG_DEPTH = 50


def _check_size(node, source: str) -> None:
    """Refuse a YAML alias bomb (a few lines that expand to billions of values) or a
    document nested too deeply, by counting the composed nodes with every alias expanded
    (each shared node counted once, then reused: linear in the file)."""
    sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded count, depth)

    def size(n, depth: int) -> tuple[int, int]:
        if depth > MAX_CONFIG_DEPTH:
            raise ConfigError(f"{source}, line {n.start_mark.line + 1}: the YAML is nested"
                              f" more than {MAX_CONFIG_DEPTH} levels deep; a config has a few")
        if id(n) in sizes:
            return sizes[id(n)]
        children = []
        if isinstance(n, yaml.MappingNode):
            children = [c for pair in n.value for c in pair]
        elif isinstance(n, yaml.SequenceNode):
            children = list(n.value)
        count, deepest = 1, 0
        for c in children:
            k, d = size(c, depth + 1)
            count, deepest = count + k, max(deepest, d + 1)
            if count > MAX_CONFIG_NODES:
                raise ConfigError(f"{source}, line {c.start_mark.line + 1}: the YAML expands to"
                                  f" more than {MAX_CONFIG_NODES:,} values (through aliases?);"
                                  " a config has a few dozen")
        sizes[id(n)] = (count, deepest)
        return count, deepest

    if node is not None:
        size(node, 0)


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
        part = part if isinstance(part, int) else _short(str(part))
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out or "(top level)"


def _char(c) -> str:
    return chr(c) if isinstance(c, int) else str(c)


def _short(key: str, limit: int = 60) -> str:
    """A key as a message shows it: an absurdly long one cut, saying how long it was."""
    return key if len(key) <= limit else f"{key[:limit]}... ({len(key):,} characters)"


def _where(source: str, lines: dict, path: tuple, raw: Any = None) -> str:
    # A value set on the command line (``with_values``) is named by its assignment.
    for depth in range(len(path), 0, -1):
        if isinstance(lines.get(path[:depth]), str):  # "--set KEY", which names the key itself
            return lines[path] if depth == len(path) else f"{lines[path[:depth]]}: {_dotted(path)}"
    if path in lines:
        return f"{source}, line {lines[path]}: {_dotted(path)}"
    # Not written in the file: point at the nearest enclosing entry; when that is a mapping
    # without the key, the default applies (a shorthand such as `- 3` for a layer is not).
    for depth in range(len(path) - 1, -1, -1):
        if path[:depth] in lines:
            node = _value_at(path[:depth], raw)
            default = " (default)" if isinstance(node, dict) or node is None else ""
            return f"{source}, line {lines[path[:depth]]}: {_dotted(path)}{default}"
    return f"{source}: {_dotted(path)} (default)"


_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def parse_path(text: str, label: str = "--set") -> tuple:
    """``network.layers[1].units`` as ``("network", "layers", 1, "units")``."""
    parts, pos = [], 0
    while pos < len(text):
        if parts and text[pos] == "." and not text.startswith(".[", pos):
            pos += 1
        m = _PATH_PART.match(text, pos)
        if m is None:
            raise ConfigError(f"{label} {text}: not a key path; write keys with dots and list"
                              " indexes in brackets, as in network.layers[1].units")
        parts.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
        pos = m.end()
    if not parts or not isinstance(parts[0], str):
        raise ConfigError(f"{label} {text}: not a key path; it starts with a section, as in"
                          " training.optimizer.lr")
    return tuple(parts)


def parse_value(text: str, label: str = "--set") -> Any:
    """A command-line value read as YAML reads it (``3e-4``, ``true``, ``[8, 4]``, ``relu``)."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.YAMLError as e:
        raise ConfigError(f"{label}: {text!r} is not a YAML value ({getattr(e, 'problem', e)})") from None


def _assign(raw: dict, path: tuple, value: Any, where: str) -> None:
    node = raw
    for depth, key in enumerate(path[:-1]):
        node = _child(node, key, path[:depth + 1], where, path[depth + 1])
    last = path[-1]
    if isinstance(last, int):
        _index(node, last, path, where)
    elif not isinstance(node, dict):
        raise ConfigError(f"{where}: {_dotted(path[:-1])} is {_a_kind(node)}, which has no key '{last}'")
    node[last] = value


def _child(node: Any, key, path: tuple, where: str, next_key) -> Any:
    if isinstance(key, int):
        _index(node, key, path, where)
        return node[key]
    if not isinstance(node, dict):
        raise ConfigError(f"{where}: {_dotted(path[:-1])} is {_a_kind(node)}, which has no key '{key}'")
    if node.get(key) is None:  # a section or entry not written: made, for the schema to judge
        node[key] = [] if isinstance(next_key, int) else {}
    return node[key]


def _index(node: Any, i: int, path: tuple, where: str) -> None:
    if not isinstance(node, list):
        raise ConfigError(f"{where}: {_dotted(path[:-1])} is {_a_kind(node)}, not a list")
    if not 0 <= i < len(node):
        raise ConfigError(f"{where}: {_dotted(path[:-1])} has {len(node)} item(s); use an index"
                          f" from 0 to {len(node) - 1}")


def _a_kind(value: Any) -> str:
    """'a list', 'an integer': the kind of a YAML value with its article."""
    kind = _kind(value)
    return ("an " if kind[0] in "aeiou" else "a ") + kind


def _kind(value: Any) -> str:
    return {dict: "mapping", list: "list", str: "string", bool: "boolean", int: "integer",
            float: "number", type(None): "null"}.get(type(value), type(value).__name__)


# -- the network a config describes, with the data's sizes ---------------------------------


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
                   alphas=alphas, rng=np.random.default_rng(cfg.training.seed),
                   huber_delta=cfg.huber_delta,
                   dropout=[layer.dropout or 0.0 for layer in cfg.network.layers])


def _check_memory(cfg: Config, sizes: list[int]) -> None:
    """Refuse, before allocating, a network whose training state would not fit in memory."""
    n_params = sum(sizes[l] * (sizes[l - 1] + 1) for l in range(1, len(sizes)))
    # theta, grad, the weight mask and up to three optimizer buffers of the same size,
    # plus Z, A, scratch and gradient buffers for a batch
    batch = min(cfg.training.batch_for(1 << 20), 1 << 20)
    need = (6 * n_params + 4 * batch * sum(sizes)) * np.dtype(cfg.training.dtype).itemsize
    try:
        memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not on this platform: assume 8 GiB
        memory = 8 << 30
    if need > memory // 2:
        raise cfg.error(("network", "layers"), f"{n_params:,} parameters would need about"
                        f" {need / 2**30:.1f} GiB for training, more than half of this machine's"
                        f" {memory / 2**30:.0f} GiB; use smaller layers")


if __name__ == "__main__":
    print(reference_markdown(), end="")
