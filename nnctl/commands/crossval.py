"""``nnctl train --folds K``: K-fold cross-validation of a config (``train``'s Session on
each fold, ``data.prepare``'s folds), every fold's test metrics and their mean and spread.

The rule for the model: cross-validation estimates how well the config trains; it saves
no model (each fold's model saw only part of the data). Train without ``--folds`` for the
model, on the config's own splits.
"""

from __future__ import annotations

import json
import math
import statistics

from .. import render
from ..config import Config
from ..errors import ConfigError
from .evaluate import finite
from .train import Session


def run(cfg: Config, *, as_json: bool = False) -> dict:
    """Train and test the config once per fold; the folds' figures, and mean and std."""
    k = cfg.training.folds
    if cfg.run_parent is None:
        raise ConfigError("cross-validation (--folds, training.folds) saves no model, so it"
                          " takes no -o or output.model; train without --folds for the model")
    folds = []
    for i in range(k):
        session = Session(cfg, fold=(i, k))
        if i == 0:
            for warning in session.prep.warnings + session.network.warnings:
                render.warning(warning)
        with render.progress(cfg.training.epochs, 0, lines=False) as progress:  # a line a fold
            history = session.fit(on_epoch=progress.epoch, on_batch=progress.batch)
        results = session.evaluate()
        rows = {name: split.m for name, split in session.prep.splits.items()}
        folds.append({"fold": i + 1, "rows": rows,
                      "epochs_run": history.records[-1].epoch if history.records else 0,
                      "best_epoch": history.best_epoch, "test": results["test"]})
        render.fold_done(folds[-1], k)
    metrics = list(folds[0]["test"])
    summary = {}
    for name in metrics:
        values = [f["test"][name] for f in folds]
        if all(v is not None and math.isfinite(v) for v in values):
            summary[name] = {"mean": statistics.fmean(values), "std": statistics.stdev(values),
                             "min": min(values), "max": max(values)}
        else:  # a fold without the metric (one class in its test rows: no ROC AUC)
            summary[name] = {"mean": None, "std": None, "min": None, "max": None}
    out = {"config": cfg.name, "folds": k, "task": session.prep.target.kind,
           "stratified": session.prep.target.kind == "classification" and cfg.data.stratify,
           "seed": cfg.training.seed, "per_fold": folds, "summary": summary,
           "model": None}
    render.cross_validation(out)
    if as_json:
        render.data(json.dumps(finite(out), indent=2, allow_nan=False) + "\n")
    return out
