"""A config's data, ready for the network: read, split, imputed, encoded and standardized.

The order matters: rows without a target are dropped first (and counted), then the rows
are split (stratified for classes), and only then are the preprocessing steps and the
scaler fitted, on the training rows alone, so that nothing of the validation and test
rows leaks into the model.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from ..errors import DataError, ModelFileError
from .columns import Preprocessor
from .read import Frame, read_table
from .scaling import Scaler
from .split import fold_indices, split_indices
from .target import Target, class_indices, encode_target, inspect_target

if TYPE_CHECKING:
    from ..config import Config


@dataclass
class Split:
    """Rows of one split: ``X: (m, n[0])``, ``Y: (m, n[L])`` (the network takes ``.T``)."""

    X: NDArray
    Y: NDArray

    @property
    def m(self) -> int:
        return self.X.shape[0]


@dataclass
class Prepared:
    """The data of a config, encoded, standardized and split."""

    features: list[str]
    feature_columns: list[int]
    preprocessor: Preprocessor
    target: Target
    loss: str
    loss_inferred: bool
    scaler: Scaler
    #: z-scores of a regression target (losses are on that scale), or None.
    target_scaler: Scaler | None
    splits: dict[str, Split]
    header: bool
    delimiter: str
    encoding: str
    na_values: list[str]
    #: rows of the training file left out because a target cell was missing
    dropped_rows: int = 0
    warnings: list[str] = field(default_factory=list)
    #: per class label, the weight of its samples' loss (None: all 1)
    class_weights: dict[str, float] | None = None
    #: the delimiter was sniffed (data.delimiter: auto): predict sniffs each file again
    sniffed: bool = False

    def sample_weight(self, split: str = "train") -> NDArray | None:
        """``w: (m,)`` for a split's rows from the class weights, or None."""
        if self.class_weights is None:
            return None
        Y = self.splits[split].Y
        idx = Y[:, 0].astype(np.intp) if Y.shape[1] == 1 else Y.argmax(axis=1)
        weights = np.array([self.class_weights[c] for c in self.target.classes])
        return weights[idx]

    @property
    def encoded(self) -> list[str]:
        return self.preprocessor.encoded

    def metadata(self) -> dict:
        """Everything ``predict`` needs to turn raw rows into network inputs (JSON)."""
        return {"features": self.features, "feature_columns": self.feature_columns,
                "preprocess": self.preprocessor.to_json(), "encoded": self.encoded,
                "target": self.target.names, "task": self.target.kind,
                "classes": self.target.classes, "loss": self.loss, "header": self.header,
                "delimiter": self.delimiter, "sniff_delimiter": self.sniffed,
                "encoding": self.encoding,
                "na_values": self.na_values, "scaler": self.scaler.to_json(),
                "target_scaler": self.target_scaler.to_json() if self.target_scaler else None}


def read_options(d) -> dict:
    return {"delimiter": d.delimiter, "header": d.header, "encoding": d.encoding,
            "na_values": list(d.na_values)}


def prepare_data(cfg: Config, *, saved: dict | None = None,
                 fold: tuple[int, int] | None = None) -> Prepared:
    """Read the config's files; ``saved`` (a model's data metadata) fixes every fitted step.

    ``fold = (i, k)``: cross-validation's fold ``i`` of ``k``. The training file's rows are
    dealt into ``k`` folds (``split.fold_indices``, stratified for classification, seeded by
    ``training.seed``); fold ``i`` is the test split and the others are the training file,
    from which the validation split is cut as usual: exactly the run that gets those rows as
    its training and test files. ``data.test`` and ``test_split`` are not used.
    """
    d = cfg.data
    dtype = np.dtype(cfg.training.dtype)
    for key in ("train", "validation", "test"):
        path = getattr(d, key)
        if path is not None and (not Path(path).exists() or Path(path).is_dir()):
            what = "is a directory" if Path(path).is_dir() else "no such file"
            raise cfg.error(("data", key), f"{path}: {what}; give the path of a data file"
                            " (relative to the config file)")
    options = read_options(d)
    frame = read_table(d.train, what="training", **options)
    targets = [frame.column(t, "target") for t in d.target]
    if d.features is None:
        dropped = {name for name, c in d.columns.items() if c.type == "drop"}
        features = [c for c in frame.columns if c not in targets and c not in dropped]
        if not features:
            raise cfg.error(("data", "target"), f"every column of {frame.path} is a target;"
                            " there are no feature columns left")
    else:
        features = [frame.column(f, "feature") for f in d.features]
        both = sorted(set(features) & set(targets))
        if both:
            raise cfg.error(("data", "features"), f"column '{both[0]}' is both a feature and the"
                            " target; remove it from data.features")
    unknown = sorted(set(d.columns) - set(frame.columns))
    if unknown:
        raise cfg.error(("data", "columns", unknown[0]), f"no column '{unknown[0]}' in"
                        f" {frame.path}; the columns are {', '.join(frame.columns[:12])}")

    positions = [frame.position(f) for f in features]
    delimiter = frame.delimiter  # the one sniffed, if it was: predict reads with it
    present = frame.df[targets].notna().all(axis=1).to_numpy()
    dropped_rows = int(present.size - present.sum())
    if dropped_rows:
        if not present.any():
            raise DataError(f"{frame.path}: every row's target is missing; fill in the"
                            f" target column{'s' if len(targets) > 1 else ''} {', '.join(targets)}")
        frame = frame.take(present)

    if saved is not None:
        target = Target(saved["target"], saved["task"], saved["classes"])
        loss, inferred = saved["loss"], False
    else:
        target, loss = inspect_target(frame, targets, cfg.loss, cfg.task)
        inferred = cfg.loss == "auto"

    held_out = None
    fold_warnings: list[str] = []
    if fold is not None:
        i, k = fold
        if not 2 <= k <= frame.m:
            raise cfg.error(("training", "folds"), f"{k} folds need at least {k} labelled rows;"
                            f" {frame.path} has {frame.m}")
        strata = class_indices(frame, targets[0], target) \
            if target.kind == "classification" and d.stratify else None
        folds = fold_indices(frame.m, k, np.random.default_rng(cfg.training.seed), strata)
        if strata is not None:  # as scikit-learn's StratifiedKFold warns
            counts = np.bincount(strata, minlength=len(target.classes))
            rare = [(c, int(n)) for c, n in zip(target.classes, counts) if n < k]
            if rare:
                fold_warnings.append(
                    f"class '{rare[0][0]}' has {rare[0][1]} labelled row(s), fewer than the {k}"
                    f" folds{f' (and {len(rare) - 1} more class(es))' if len(rare) > 1 else ''}:"
                    " some folds test without it; use fewer folds")
        held_out = frame.take(folds[i])
        frame = frame.take(np.sort(np.concatenate([f for j, f in enumerate(folds) if j != i])))

    fractions, names, files = [], [], {}
    for name, file, fraction in (("validation", d.validation, d.validation_split),
                                 ("test", d.test, d.test_split)):
        if held_out is not None and name == "test":
            continue
        if file is not None:
            files[name] = file
        elif fraction > 0:
            fractions.append(fraction)
            names.append(name)
    strata = None
    if target.kind == "classification" and d.stratify:
        strata = class_indices(frame, targets[0], target)
    parts = split_indices(frame.m, fractions, np.random.default_rng(cfg.training.seed), strata)
    if parts[0].size == 0:
        raise cfg.error(("data", "validation_split"), f"{frame.path} has {frame.m} rows: the"
                        " splits leave none for training; lower the split fractions or add rows")
    frames = {"train": frame.take(parts[0]) if fractions else frame}
    frames.update({n: frame.take(idx) for n, idx in zip(names, parts[1:]) if idx.size})
    if held_out is not None:
        frames["test"] = held_out
    whole = frame  # for the columns' types (not their statistics)
    warnings: list[str] = list(fold_warnings)
    if saved is not None:
        preprocessor = Preprocessor.from_json(saved["preprocess"], "the model")
    else:
        settings = {name: c.model_dump() for name, c in d.columns.items()}
        preprocessor, fitted = Preprocessor.fit(
            frames["train"], features, settings=settings, impute_numeric=d.impute.numeric,
            impute_categorical=d.impute.categorical, indicator=d.missing_indicator,
            max_categories=d.max_categories, whole=whole)
        warnings += fitted
    del whole, frame
    for name, file in files.items():
        other = read_table(file, what=name, text_columns=text_columns(preprocessor, target),
                           **options)
        kept = other.df[[other.column(t if other.header else c, "target")
                         for t, c in zip(target.names, targets)]].notna().all(axis=1).to_numpy()
        frames[name] = other.take(kept) if not kept.all() else other

    splits: dict[str, Split] = {}
    for name in ("train", "validation", "test"):
        if name not in frames:
            continue
        part = frames.pop(name)
        X, unseen = preprocessor.transform(part, dtype)
        for column, count in unseen.items():
            warnings.append(f"{name}: {count} row(s) of column '{column}' hold a category the"
                            " training rows do not have; they are encoded as all zeros")
        splits[name] = Split(X, encode_target(part, target, loss, dtype))

    if saved is not None:
        scaler = Scaler.from_json(saved["scaler"])
        target_scaler = saved.get("target_scaler") and Scaler.from_json(saved["target_scaler"])
    else:
        scaler = Scaler.fit(splits["train"].X, d.standardize)
        target_scaler = (Scaler.fit(splits["train"].Y, "zscore")
                         if target.kind == "regression" and d.standardize_target else None)
    for s in splits.values():
        scaler.transform(s.X, out=s.X)
        if target_scaler:
            target_scaler.transform(s.Y, out=s.Y)
    class_weights = _class_weights(cfg, target, splits["train"], loss)
    return Prepared(features, positions, preprocessor, target, loss, inferred, scaler,
                    target_scaler, splits, d.header, delimiter, d.encoding, list(d.na_values),
                    dropped_rows, warnings, class_weights, d.delimiter == "auto")


def _class_weights(cfg: Config, target: Target, train: Split, loss: str) -> dict[str, float] | None:
    """``training.class_weight`` as a weight per class label (balanced: m / (k m_c))."""
    setting = cfg.training.class_weight
    if setting is None:
        return None
    if target.kind != "classification":
        raise cfg.error(("training", "class_weight"), "class weights need a classification"
                        " target; remove the key for regression")
    Y = train.Y
    idx = Y[:, 0].astype(np.intp) if Y.shape[1] == 1 else Y.argmax(axis=1)
    counts = np.bincount(idx, minlength=len(target.classes))
    if setting == "balanced":
        k = int((counts > 0).sum())
        return {c: (float(idx.size / (k * n)) if n else 1.0) for c, n in zip(target.classes, counts)}
    unknown = [label for label in setting if str(label) not in target.classes]
    if unknown:
        hint = (" (YAML reads yes/no/on/off as true/false: quote the label)"
                if unknown[0] in ("True", "False") else "")
        raise cfg.error(("training", "class_weight", unknown[0]), f"no class '{unknown[0]}' in the"
                        f" target; the classes are {', '.join(target.classes)}{hint}")
    return {c: float(setting.get(c, 1.0)) for c in target.classes}


def text_columns(preprocessor: Preprocessor, target: Target | None) -> list[str]:
    """The columns a file other than the training file reads as text: categories (and class
    labels, with a ``target``) are looked up by their text, whatever pandas would infer
    from that file alone."""
    names = [c.name for c in preprocessor.columns if c.type == "categorical"]
    if target is not None and target.kind == "classification":
        names += list(target.names)
    return names


def _model_options(data: dict, path: str, labelled: bool) -> dict:
    """The reading options a model was trained with (its metadata is checked on loading);
    ``labelled``: the file's target column is read too (evaluate)."""
    preprocessor = Preprocessor.from_json(data["preprocess"], path)
    if len(preprocessor.encoded) != len(data["encoded"]):
        raise ModelFileError(f"{path}: inconsistent model (its feature steps give"
                             f" {len(preprocessor.encoded)} inputs, its network takes"
                             f" {len(data['encoded'])}); retrain it")
    target = Target(data["target"], data["task"], data.get("classes")) if labelled else None
    delimiter = "auto" if data.get("sniff_delimiter") else data.get("delimiter", "auto")
    return {"delimiter": delimiter, "header": data.get("header", True),
            "encoding": data.get("encoding", "utf-8"), "na_values": data.get("na_values") or [],
            "text_columns": text_columns(preprocessor, target)}


def frame_for_model(path: str, data: dict, *, what: str = "input", raw: bytes | None = None,
                    model: str = "the model") -> Frame:
    """Read a file (or stdin's bytes) with the options a model was trained with."""
    from .read import parse_table

    options = _model_options(data, model, what == "labelled")
    if raw is not None:
        return parse_table(raw, path, what=what, **options)
    return read_table(path, what=what, keep_text=True, **options)


def chunks_for_model(path: str, data: dict, *, what: str = "input", model: str = "the model",
                     **sizes) -> Iterator[Frame] | None:
    """A large plain file's rows in pieces (``read.read_chunks``), read as training read its
    file; None where the file is better read whole."""
    from .read import read_chunks

    return read_chunks(path, what=what, **_model_options(data, model, what == "labelled"), **sizes)
