"""A config's data, ready for the network: read, encoded, split and standardized."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from .scaling import Scaler
from .split import split_indices
from .table import Table, read_table
from .target import Target, encode_target, inspect_target

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
    target: Target
    target_columns: list[int]
    loss: str
    loss_inferred: bool
    scaler: Scaler
    #: z-scores of a regression target (losses are on that scale), or None.
    target_scaler: Scaler | None
    splits: dict[str, Split]
    header: bool
    delimiter: str

    def metadata(self) -> dict:
        return {"features": self.features, "feature_columns": self.feature_columns,
                "target": self.target.names, "target_columns": self.target_columns,
                "task": self.target.kind, "classes": self.target.classes, "loss": self.loss,
                "header": self.header, "delimiter": self.delimiter,
                "scaler": self.scaler.to_json(),
                "target_scaler": self.target_scaler.to_json() if self.target_scaler else None}


def prepare_data(cfg: Config, *, saved: dict | None = None) -> Prepared:
    """Read the config's CSV files; ``saved`` (a model's data metadata) fixes classes and scaling."""
    d = cfg.data
    dtype = np.dtype(cfg.training.dtype)
    for key in ("train", "validation", "test"):
        path = getattr(d, key)
        if path is not None and not Path(path).is_file():
            what = "is a directory" if Path(path).is_dir() else "no such file"
            raise cfg.error(("data", key), f"{path}: {what}; give the path of a CSV file"
                            " (relative to the config file)")
    table = read_table(d.train, delimiter=d.delimiter, header=d.header, what="training")
    tcols = [table.index(t, "target") for t in d.target]
    if d.features is None:
        fcols = [i for i in range(len(table.columns)) if i not in tcols]
        if not fcols:
            raise cfg.error(("data", "target"), f"every column of {table.path} is a target;"
                            " there are no feature columns left")
    else:
        fcols = [table.index(f, "feature") for f in d.features]
        both = sorted(set(fcols) & set(tcols))
        if both:
            raise cfg.error(("data", "features"), f"column '{table.columns[both[0]]}' is both a"
                            " feature and the target; remove it from data.features")
    if len(set(fcols)) != len(fcols):
        raise cfg.error(("data", "features"), "a column is listed twice")

    if saved is not None:
        target = Target(saved["target"], saved["task"], saved["classes"])
        loss, inferred = saved["loss"], False
    else:
        target, loss = inspect_target(table, tcols, cfg.loss)
        inferred = cfg.loss == "auto"
    features = [table.columns[c] for c in fcols]

    def rows(t: Table, fc: list[int], tc: list[int]) -> Split:
        return Split(t.numbers(fc, dtype, "feature"), encode_target(t, tc, target, loss, dtype))

    def rows_by_name(t: Table) -> Split:
        """Another file's columns: by name when it has a header, else by position."""
        return rows(t, [t.index(f if t.header else c, "feature") for f, c in zip(features, fcols)],
                    [t.index(n if t.header else c, "target") for n, c in zip(target.names, tcols)])

    full = rows(table, fcols, tcols)
    m, source = table.m, table.path
    del table  # the file's text: freed before the splits are copied out

    splits: dict[str, Split] = {}
    fractions, names = [], []
    for name, file, fraction in (("validation", d.validation, d.validation_split),
                                 ("test", d.test, d.test_split)):
        if file is not None:
            splits[name] = rows_by_name(read_table(file, delimiter=d.delimiter, header=d.header,
                                                   what=name))
        elif fraction > 0:
            fractions.append(fraction)
            names.append(name)
    strata = None
    if target.kind == "classification" and d.stratify:
        strata = full.Y[:, 0] if full.Y.shape[1] == 1 else full.Y.argmax(axis=1)
    parts = split_indices(m, fractions, np.random.default_rng(cfg.training.seed), strata)
    if parts[0].size == 0:
        raise cfg.error(("data", "validation_split"), f"{source} has {m} rows: the splits"
                        " leave none for training; lower the split fractions or add rows")
    if not fractions:
        splits["train"] = full  # no copy when the whole file trains
    else:
        splits["train"] = Split(full.X[parts[0]], full.Y[parts[0]])
        for name, idx in zip(names, parts[1:]):
            if idx.size:
                splits[name] = Split(full.X[idx], full.Y[idx])
    del full

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
    return Prepared(features, fcols, target, tcols, loss, inferred, scaler, target_scaler,
                    {k: splits[k] for k in ("train", "validation", "test") if k in splits},
                    d.header, d.delimiter)
