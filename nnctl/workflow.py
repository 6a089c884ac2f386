"""What the commands do, between a validated config and the numerical core: prepare the
data, build the network, train and save, predict. No printing: the CLI renders results.
"""

from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from numpy.typing import NDArray

from . import model_file
from .activations import get_activation
from .config import Config
from .data import (Scaler, Table, Target, encode_target, inspect_target, output_size,
                   read_table, split_indices)
from .errors import ConfigError, DataError, NnctlError, TrainingDiverged, TrainingInterrupted
from .files import atomic_write
from .losses import check_pairing, get_loss
from .network import Network, layer_shapes
from .train import History, evaluate, fit

OUTPUT_ACTIVATION = {"mse": "identity", "binary_crossentropy": "logistic",
                     "categorical_crossentropy": "softmax"}
HIDDEN_ACTIVATION = "relu"


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


def network_shape(cfg: Config) -> tuple[list[int], list[str]]:
    """``n[0..L]`` and activations, reading the data only when the config leaves a size out."""
    net = cfg.network
    out = net.layers[-1]
    if net.inputs is not None and out.units is not None and (cfg.loss != "auto" or out.activation):
        loss = cfg.loss if cfg.loss != "auto" else {
            "logistic": "binary_crossentropy", "softmax": "categorical_crossentropy"}.get(out.activation, "mse")
        sizes, acts, _ = resolve_network(cfg, None, None, loss)
    else:
        prep = prepare_data(cfg)
        sizes, acts, _ = resolve_network(cfg, len(prep.features),
                                         output_size(prep.target, prep.loss), prep.loss)
    return sizes, acts


def build_network(cfg: Config, prep: Prepared) -> Network:
    sizes, acts, alphas = resolve_network(cfg, len(prep.features),
                                          output_size(prep.target, prep.loss), prep.loss)
    _check_memory(cfg, sizes)
    return Network(sizes, acts, loss=prep.loss, dtype=cfg.training.dtype, init=cfg.network.init,
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


@dataclass
class Outcome:
    """What a training run produced."""

    network: Network
    history: History
    results: dict[str, dict[str, float]]
    model_path: Path
    history_path: Path


class Session:
    """One ``nnctl train``: data and network ready, outputs checked, before any epoch runs."""

    def __init__(self, cfg: Config, *, resume: model_file.Model | None = None,
                 resume_path: str | None = None) -> None:
        self.cfg = cfg
        self.resume = resume
        saved = resume.metadata.get("data") if resume is not None else None
        if saved is not None and cfg.data.header and list(map(str, cfg.data.target)) != saved["target"]:
            raise ConfigError(
                f"{resume_path}: the model predicts {', '.join(saved['target'])} but the config's target"
                f" is {', '.join(map(str, cfg.data.target))}; resume with the config the model was"
                " trained with")
        self.prep = prepare_data(cfg, saved=saved)
        if resume is not None:
            net = resume.network
            sizes, acts, _ = resolve_network(cfg, len(self.prep.features),
                                             output_size(self.prep.target, self.prep.loss), self.prep.loss)
            if sizes != net.sizes or acts != net.activations:
                raise ConfigError(
                    f"{resume_path}: the model's network {_describe(net.sizes, net.activations)}"
                    f" does not match the config's {_describe(sizes, acts)}; resume with the config"
                    " the model was trained with")
            if net.dtype.name != cfg.training.dtype:
                raise ConfigError(f"{resume_path}: the model is {net.dtype.name} but the config"
                                  f" asks for {cfg.training.dtype}")
            self.network = net
            self.start_epoch = int(resume.metadata.get("training", {}).get("epochs_run", 0))
        else:
            self.network = build_network(cfg, self.prep)
            self.start_epoch = 0
        self.optimizer = cfg.build_optimizer()
        if resume is not None and resume.optimizer_state:
            self.optimizer.load_state(resume.optimizer_state)
        model_file.check_writable(cfg.output.model)
        model_file.check_writable(cfg.history_path)

    def train(self, *, on_epoch: Callable | None = None, on_batch: Callable | None = None) -> Outcome:
        """Run the epochs, evaluate every split, save the model and the history.

        On divergence or Ctrl-C the best model so far (if an epoch finished) and the history
        are saved before the error is raised again, its message saying where they went.
        """
        cfg, prep = self.cfg, self.prep
        train, val = prep.splits["train"], prep.splits.get("validation")
        t = cfg.training
        try:
            history = fit(self.network, train.X.T, train.Y.T, optimizer=self.optimizer,
                          epochs=t.epochs, batch_size=t.batch_size,
                          rng=np.random.default_rng(t.seed + self.start_epoch),
                          X_val=val.X.T if val else None, Y_val=val.Y.T if val else None,
                          schedule=cfg.build_schedule(), patience=t.patience, min_delta=t.min_delta,
                          on_epoch=on_epoch, on_batch=on_batch, start_epoch=self.start_epoch)
        except (TrainingInterrupted, TrainingDiverged) as e:
            e.args = (f"{e}; {self._save_partial(e.history, e)}",)
            raise
        results = self.evaluate()
        self._save(history, results, status="completed")
        return Outcome(self.network, history, results, cfg.output.model, cfg.history_path)

    def evaluate(self) -> dict[str, dict[str, float]]:
        """Loss and metrics on every split."""
        out = {}
        for name, s in self.prep.splits.items():
            loss, metrics = evaluate(self.network, s.X.T, s.Y.T)
            out[name] = {"loss": loss, **metrics}
        return out

    def _save_partial(self, history: History, error: NnctlError) -> str:
        write_history(self.cfg.history_path, history)
        if history.best_epoch is None:
            return f"no epoch finished, so no model was saved; history in {self.cfg.history_path}"
        status = "interrupted" if isinstance(error, TrainingInterrupted) else "diverged"
        self._save(history, self.evaluate(), status=status)
        return (f"saved the best model so far (epoch {history.best_epoch}) to {self.cfg.output.model}"
                f" and the history to {self.cfg.history_path}")

    def _save(self, history: History, results: dict, *, status: str) -> None:
        cfg = self.cfg
        epochs_run = history.records[-1].epoch if history.records else self.start_epoch
        meta = {
            "data": self.prep.metadata(),
            "config": cfg.to_dict(),
            "training": {"status": status, "epochs_run": epochs_run,
                         "best_epoch": history.best_epoch, "stopped_early": history.stopped_early,
                         "loss_inferred": self.prep.loss_inferred, "results": results},
        }
        # The optimizer's moments belong to the last step, not to the best epoch a partial
        # save keeps (and after a divergence they are not finite): only a finished run has them.
        state = self.optimizer.state() if status == "completed" else None
        model_file.save(cfg.output.model, self.network, meta, state)
        write_history(cfg.history_path, history)

    def summary(self) -> dict:
        """Facts for the one-screen summary before training."""
        prep, net = self.prep, self.network
        return {
            "config": self.cfg.source,
            "data": str(self.cfg.data.train),
            "rows": {k: s.m for k, s in prep.splits.items()},
            "features": prep.features,
            "target": prep.target.names,
            "task": prep.target.kind,
            "classes": prep.target.classes,
            "loss": prep.loss,
            "loss_inferred": prep.loss_inferred,
            "network": _describe(net.sizes, net.activations),
            "params": net.n_params,
            "dtype": net.dtype.name,
            "optimizer": self.cfg.training.optimizer,
            "lr": self.cfg.training.lr,
            "epochs": self.cfg.training.epochs,
            "batch_size": self.cfg.training.batch_size,
            "l2": self.cfg.training.l2,
            "schedule": self.cfg.training.schedule,
            "patience": self.cfg.training.patience,
            "standardize": prep.scaler.method,
            "resumed_from_epoch": self.start_epoch if self.resume is not None else None,
            "warnings": net.warnings,
            "model": str(self.cfg.output.model),
        }


def _describe(sizes, acts) -> str:
    return "-".join(map(str, sizes)) + " (" + ", ".join(acts) + ")"


def write_history(path: Path, history: History) -> None:
    rows = history.rows()
    if not rows:
        return
    columns = list(rows[0])
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else repr(v) if isinstance(v, float) else v)
                         for k, v in row.items()})
    write_text(path, buf.getvalue())


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write(path, lambda f: f.write(text.encode("utf-8")), error=DataError, what="file")


def csv_text(header: list[str], rows: list[list[str]], delimiter: str = ",") -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


# -- shapes --------------------------------------------------------------------------------


def shapes_report(sizes: list[int], activations: list[str], m: int, dtype: str) -> dict:
    """Per-layer shapes and counts for ``nnctl shapes`` (and its ``--json``).

    FLOPs count a multiply-add as 2: forward ``2 n n_prev m`` for ``W A`` plus ``n m`` for
    the bias; backward ``2 n n_prev m`` for ``dW``, ``n m`` for ``db``, ``n m`` for
    ``dZ = dA * f'(Z)`` and, above layer 1, ``2 n n_prev m`` for ``dA_prev``. Activation
    functions themselves are not counted. Cached bytes are ``A[0]`` plus ``Z[l]`` and
    ``A[l]`` for every layer.
    """
    itemsize = np.dtype(dtype).itemsize
    layers, fwd, bwd = [], 0, 0
    for s in layer_shapes(sizes, activations, m):
        n, n_prev = s.W
        f = 2 * n * n_prev * m + n * m
        b = 2 * n * n_prev * m + 2 * n * m + (2 * n * n_prev * m if s.l > 1 else 0)
        fwd, bwd = fwd + f, bwd + b
        layers.append({"l": s.l, "n": s.n, "activation": s.activation,
                       "shapes": {k: list(getattr(s, k)) for k in ("W", "b", "Z", "A", "dW", "db", "dZ", "dA")},
                       "params": s.params, "forward_flops": f, "backward_flops": b})
    params = sum(layer["params"] for layer in layers)
    return {
        "network": _describe(sizes, activations), "inputs": sizes[0], "m": m, "dtype": dtype,
        "layers": layers,
        "totals": {"params": params, "param_bytes": params * itemsize,
                   "activation_bytes": (sizes[0] + 2 * sum(sizes[1:])) * m * itemsize,
                   "forward_flops": fwd, "backward_flops": bwd},
    }


# -- predict -----------------------------------------------------------------------------


def prediction_columns(meta: dict) -> list[str]:
    """Names of the columns ``predict`` appends (documented in README.md)."""
    data = meta["data"]
    if data["task"] == "classification":
        target = data["target"][0]
        return [f"predicted_{target}"] + [f"p_{c}" for c in data["classes"]]
    return [f"predicted_{t}" for t in data["target"]]


def predict_text(model: model_file.Model, table: Table) -> str:
    """The input rows plus prediction columns, as CSV text with a header row.

    Rows that are plain lines in the file are copied as they are; otherwise (quoted
    fields) they are written back through the csv module.
    """
    data = model.metadata["data"]
    net = model.network
    if table.header:
        cols = [table.index(f, "feature") for f in data["features"]]
    else:
        cols = [table.index(int(c), "feature") for c in data["feature_columns"]]
    X = table.numbers(cols, net.dtype, "feature")
    X = Scaler.from_json(data["scaler"]).transform(X)
    A = net.predict(X.T).T  # (m, n[L])
    if data["task"] == "classification":
        P = np.hstack([1 - A, A]) if A.shape[1] == 1 else A
        labels = np.asarray(data["classes"], dtype=object)[P.argmax(axis=1)]
        extra = [[lab, *map(_fmt, row)] for lab, row in zip(labels, P.tolist())]
    else:
        if data.get("target_scaler"):
            A = Scaler.from_json(data["target_scaler"]).inverse(A)
        extra = [list(map(_fmt, row)) for row in A.tolist()]
    d = table.delimiter
    names = [_csv_cell(n, d) for n in prediction_columns(model.metadata)]
    lines = table.data_lines()
    if lines is None or d in "0123456789.+-eEinfa":
        return csv_text(table.columns + prediction_columns(model.metadata),
                        [list(r) + e for r, e in zip(table.cells.tolist(), extra)], d)
    label = {c: _csv_cell(c, d) for c in data.get("classes") or []}
    out = [(table.header_line() if table.header else d.join(table.columns)) + d + d.join(names)]
    for line, e in zip(lines, extra):
        if label:
            e[0] = label[e[0]]
        out.append(line + d + d.join(e))
    return "\n".join(out) + "\n"


def _csv_cell(value: str, delimiter: str) -> str:
    """``value`` as one CSV field: quoted when it holds the delimiter, a quote or a line end."""
    if any(c in value for c in (delimiter, '"', "\n", "\r")):
        return '"' + value.replace('"', '""') + '"'
    return value


def _fmt(x) -> str:
    return repr(float(x)) if math.isfinite(x) else str(float(x))
