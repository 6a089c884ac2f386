"""``nnctl train``: a validated config -> data and network ready -> epochs -> saved model."""

from __future__ import annotations

import csv
import io
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .. import config as config_mod
from .. import kernels, model_file, render
from .evaluate import finite, headline, report
from ..config import Config, build_network, resolve_network
from ..core.network import Network, describe
from ..core.train import History, fit, history_columns
from ..data.prepare import prepare_data
from ..data.target import output_size
from ..errors import (ConfigError, DataError, ModelFileError, NnctlError, TrainingDiverged,
                      TrainingInterrupted)
from ..files import (Output, append_log, check_outputs, hold_signals, is_streamed, new_run_dir,
                     open_log, write_outputs)


@dataclass
class Outcome:
    """What a training run produced."""

    network: Network
    history: History
    results: dict[str, dict[str, float]]
    model_path: Path
    history_path: Path | None
    #: the run directory (``None`` with -o or output.model)
    run_dir: Path | None = None
    #: the names of the plot images written in the run directory
    images: tuple[str, ...] = ()


class Session:
    """One ``nnctl train``: data and network ready, outputs checked, before any epoch runs."""

    def __init__(self, cfg: Config, *, resume: model_file.Model | None = None,
                 resume_path: str | None = None, config_path: str | None = None,
                 fold: tuple[int, int] | None = None) -> None:
        self.cfg = cfg
        self.resume = resume
        #: which keys the file set, which options overrode, which are defaults (the summary)
        self.provenance = cfg.provenance()
        self.run_dir: Path | None = None
        self.images: tuple[str, ...] = ()
        self._history_file: _HistoryFile | None = None
        self._started = time.perf_counter()
        self._opened = False
        self.history_path: Path | None = None  # in a run directory: known once it is made
        if cfg.run_parent is None and fold is None:  # -o or output.model: exactly there
            # A streamed model (stdout, a pipe) has no file to put a history beside.
            self.history_path = None if cfg.output.history is None and is_streamed(cfg.model_path) \
                else cfg.history_path
            check_outputs([("model", cfg.model_path, True), ("history", self.history_path)],
                          [("config", config_path), ("resumed model", resume_path),
                           ("training data", cfg.data.train), ("validation data", cfg.data.validation),
                           ("test data", cfg.data.test)])
        #: the epochs of the resumed model's earlier runs, continued by this one
        self.earlier = _earlier_history(resume)
        saved = resume.metadata.get("data") if resume is not None else None
        if saved is not None and cfg.data.header and list(map(str, cfg.data.target)) != saved["target"]:
            raise ConfigError(
                f"{resume_path}: the model predicts {', '.join(saved['target'])} but the config's target"
                f" is {', '.join(map(str, cfg.data.target))}; resume with the config the model was"
                " trained with")
        self.prep = prepare_data(cfg, saved=saved, fold=fold)
        if resume is not None:
            net = resume.network
            sizes, acts, _ = resolve_network(cfg, len(self.prep.encoded),
                                             output_size(self.prep.target, self.prep.loss), self.prep.loss)
            if sizes != net.sizes or acts != net.activations:
                raise ConfigError(
                    f"{resume_path}: the model's network {describe(net.sizes, net.activations)}"
                    f" does not match the config's {describe(sizes, acts)}; resume with the config"
                    " the model was trained with")
            wanted = cfg.loss if cfg.loss != "auto" else net.loss.name
            delta = getattr(net.loss, "delta", None)
            if wanted != net.loss.name or (delta is not None and (cfg.huber_delta or 1.0) != delta):
                had = net.loss.name + (f" (delta {delta:g})" if delta is not None else "")
                raise ConfigError(f"{resume_path}: the model was trained with loss {had}, not"
                                  f" {wanted}" + (f" (delta {cfg.huber_delta or 1.0:g})"
                                                  if wanted == "huber" else "")
                                  + "; resume with the config the model was trained with")
            if net.dtype.name != cfg.training.dtype:
                raise ConfigError(f"{resume_path}: the model is {net.dtype.name} but the config"
                                  f" asks for {cfg.training.dtype}")
            net.set_dropout([layer.dropout or 0.0 for layer in cfg.network.layers])  # training only
            self.network = net
            self.start_epoch = int(resume.metadata.get("training", {}).get("epochs_run", 0))
        else:
            self.network = build_network(cfg, len(self.prep.encoded),
                                         output_size(self.prep.target, self.prep.loss), self.prep.loss)
            self.start_epoch = 0
        self.optimizer = cfg.build_optimizer()
        # A one-pass Adam step, activation and dropout mask, with the fast extra, for large
        # networks or runs long enough to pay for numba's start-up (bit for bit the same).
        # With early stopping a run may end long before its planned epochs: a small network
        # then gets them once the epochs run so far would have paid for them and the epochs
        # still planned would too (``_accelerate_later``).
        m = self.prep.splits["train"].m
        self.steps_per_epoch = -(-m // cfg.training.batch_for(m))
        planned = None if cfg.training.patience is not None else cfg.training.epochs * self.steps_per_epoch
        # whether the compiled steps would run this training (they save the most)
        self._loop = kernels.steps.applies(
            self.network, self.optimizer, min(cfg.training.batch_for(m), m),
            weighted=self.prep.class_weights is not None)
        self.fused = self._accelerate(planned)
        self._decide_later = cfg.training.patience is not None and not self.fused
        if resume is not None and resume.optimizer_state:
            self.optimizer.load_state(resume.optimizer_state)
        # Built once: reduce_on_plateau keeps its state across the epochs, and a resumed
        # run takes it from the model it continues.
        self.schedule = cfg.build_schedule()
        saved_schedule = (resume.metadata.get("training", {}).get("schedule_state")
                          if resume is not None else None)
        if saved_schedule is not None and hasattr(self.schedule, "load_state"):
            try:
                self.schedule.load_state(saved_schedule)
            except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as e:
                raise ModelFileError(f"{resume_path}: its schedule_state is damaged ({e});"
                                     " resume from another model or train anew") from None

    def open_outputs(self) -> None:
        """Before the first epoch: claim the run directory (without -o) and write its
        resolved config, and start the history file, which then grows an epoch at a time."""
        if self._opened:
            return
        self._opened = True
        cfg = self.cfg
        if cfg.run_parent is not None:
            resolved = cfg.to_yaml()
            self.run_dir = new_run_dir(cfg.run_parent)
            self.cfg = cfg = cfg.in_run(self.run_dir)
            self.history_path = cfg.history_path
            config_file = open_log(self.run_dir / "config.yaml", "resolved config")
            try:
                append_log(config_file, resolved.encode("utf-8"), self.run_dir / "config.yaml",
                           "resolved config")
            finally:
                config_file.close()
        # Live in a run directory, which is new; with -o the model and the history are
        # replaced together at the end, so an older pair there is never left half-replaced.
        if self.run_dir is not None:
            columns = history_columns(self.network, "validation" in self.prep.splits,
                                      cfg.training.diagnostics)
            self._history_file = _HistoryFile(self.history_path, columns, self.earlier)

    def train(self, *, on_epoch: Callable | None = None, on_batch: Callable | None = None) -> Outcome:
        """Run the epochs, evaluate every split, save the model (and in a run directory its
        metrics and plots); the history is written as the epochs finish.

        On divergence or Ctrl-C the best model so far (if an epoch finished) and the history
        are saved before the error is raised again, its message saying where they went.
        """
        self.open_outputs()
        cfg = self.cfg
        log = self._history_file

        def each_epoch(record) -> None:
            if log is not None:
                log.add(record)
            for warning in record.warnings:
                render.warning(warning)
            if on_epoch is not None:
                on_epoch(record)

        try:
            history = self.fit(on_epoch=each_epoch, on_batch=on_batch)
        except (TrainingInterrupted, TrainingDiverged) as e:
            e.args = (f"{e}; {self._save_partial(e.history, e)}",)
            raise
        finally:
            if log is not None:
                log.close()
        with hold_signals():  # a finished run is saved; a stop asked for now comes after
            results = self.evaluate()
            self._save(history, results, status="completed")
        return Outcome(self.network, history, results, cfg.model_path, self.history_path,
                       self.run_dir, self.images)

    def _accelerate(self, steps: int | None) -> bool:
        """The kernels for a run of ``steps`` (None: not known), if they pay; True if given."""
        return kernels.accelerate(self.optimizer, self.network.theta.size, steps, self._loop) | \
            kernels.accelerate_layers(self.network, steps, self._loop)

    def _accelerate_later(self, record) -> None:
        """After an epoch of a run with early stopping: the kernels, once both the steps run
        and the steps still planned would pay for their start-up (decided once: a machine
        without numba is not asked again each epoch)."""
        run = record.epoch - self.start_epoch
        steps = min(run, self.cfg.training.epochs - run) * self.steps_per_epoch
        if self._decide_later and kernels.pays(self.network.theta.size, steps, self._loop):
            self._decide_later = False
            self.fused = self._accelerate(steps)

    def fit(self, *, on_epoch: Callable | None = None, on_batch: Callable | None = None) -> History:
        """The epochs alone, as the config says: no output is written (``train`` and
        cross-validation's folds both run this)."""
        cfg, prep, t = self.cfg, self.prep, self.cfg.training
        train, val = prep.splits["train"], prep.splits.get("validation")
        epoch_done = on_epoch
        if self._decide_later:
            def epoch_done(record) -> None:  # the kernels' check, then the caller's
                self._accelerate_later(record)
                if on_epoch is not None:
                    on_epoch(record)
        return fit(self.network, train.X.T, train.Y.T, optimizer=self.optimizer,
                   epochs=t.epochs, batch_size=t.batch_for(train.m),
                   rng=np.random.default_rng(t.seed + self.start_epoch),
                   X_val=val.X.T if val else None, Y_val=val.Y.T if val else None,
                   schedule=self.schedule, patience=t.patience, min_delta=t.min_delta,
                   on_epoch=epoch_done, on_batch=on_batch, start_epoch=self.start_epoch,
                   sample_weight=prep.sample_weight(), diagnostics=t.diagnostics)

    def evaluate(self) -> dict[str, dict[str, float]]:
        """Loss and the report's headline figures on every split (regression in the
        target's units), from one pass of the network over each; the whole reports are
        kept in ``self.reports``."""
        out = {}
        self.reports = {}
        net = self.network
        for name, s in self.prep.splits.items():
            with np.errstate(over="ignore", invalid="ignore"):  # report() refuses non-finite
                Z, A = net.outputs(s.X.T, logits=net.loss.fused)
            self.reports[name] = report(A, s.Y, self.prep.target, self.prep.target_scaler)
            out[name] = {"loss": net.loss.value(Z, A, s.Y.T),
                         **headline(self.reports[name], self.prep.target.kind)}
        return out

    def _save_partial(self, history: History, error: NnctlError) -> str:
        ran = len(history.records)
        epochs = f"{ran} epoch{'s' if ran != 1 else ''} finished"
        status = "interrupted" if isinstance(error, TrainingInterrupted) else "diverged"
        if history.best_epoch is None:
            self._write_end(history, status, None, [])
            where = f"; the history is in {self.history_path}" if self.history_path else ""
            return f"{epochs}, so no model was saved{where}"
        self._save(history, self.evaluate(), status=status)
        where = (f" in {self.run_dir}" if self.run_dir is not None else f" to {self.cfg.model_path}"
                 + (f" and the history to {self.history_path}" if self.history_path else ""))
        return f"{epochs}; saved the best model so far (epoch {history.best_epoch}){where}"

    def _save(self, history: History, results: dict, *, status: str) -> None:
        cfg = self.cfg
        epochs_run = history.records[-1].epoch if history.records else self.start_epoch
        meta = {
            "data": self.prep.metadata(),
            "config": cfg.to_dict(),
            "training": {"status": status, "epochs_run": epochs_run,
                         "class_weights": self.prep.class_weights,
                         "best_epoch": history.best_epoch, "stopped_early": history.stopped_early,
                         "loss_inferred": self.prep.loss_inferred, "results": finite(results),
                         "reports": finite(self.reports), "run_name": cfg.name},
        }
        # The optimizer's moments belong to the last step, not to the best epoch a partial
        # save keeps (and after a divergence they are not finite): only a finished run has them.
        state = self.optimizer.state() if status == "completed" else None
        if state is not None and hasattr(self.schedule, "state"):
            meta["training"]["schedule_state"] = finite(self.schedule.state())
        rows, every = _model_history(finite(self.earlier + history.rows()))
        meta["training"]["history"] = rows
        if every is not None:
            meta["training"]["history_every"] = every
        self._write_end(history, status, results,
                        [model_file.output(cfg.model_path, self.network, meta, state)])

    def _write_end(self, history: History, status: str, results: dict | None,
                   outputs: list[Output]) -> None:
        """The files written once the epochs are over: the model, a streamed history, and in
        a run directory the metrics and the plot images."""
        rows = self.earlier + history.rows()
        if self.history_path is not None and self._history_file is None:  # a stream
            outputs.insert(0, Output(self.history_path, history_writer(rows), DataError, "history"))
        if self.run_dir is not None:
            metrics = {"status": status, "config": self.cfg.name, "task": self.prep.target.kind,
                       "classes": self.prep.target.classes,
                       "epochs_run": history.records[-1].epoch if history.records else self.start_epoch,
                       "best_epoch": history.best_epoch, "stopped_early": history.stopped_early,
                       "seconds": round(time.perf_counter() - self._started, 3),
                       "results": finite(results) if results is not None else None,
                       "reports": finite(self.reports) if results is not None else None}
            text = json.dumps(metrics, indent=2, allow_nan=False) + "\n"
            outputs.append(Output(self.run_dir / "metrics.json",
                                  lambda f: f.write(text.encode("utf-8")), DataError, "metrics"))
            outputs.extend(self._images(rows, results))
        write_outputs(outputs)

    def _images(self, rows: list[dict], results: dict | None) -> list[Output]:
        """The plot images of a run directory (with the plot extra), as outputs."""
        from .. import plots

        if not self.cfg.output.plots or not plots.available():
            return []
        kind = self.prep.target.kind
        confusion = classes = None
        if kind == "classification" and results is not None:
            split = report_split(self.reports)
            confusion, classes = self.reports[split]["confusion_matrix"], self.prep.target.classes
        try:
            images = plots.images(rows, task=kind, confusion=confusion, classes=classes)
        except Exception as e:  # noqa: BLE001 - an optional drawing must never lose the run
            render.warning(f"the plot images could not be drawn ({type(e).__name__}: {e});"
                           f" the run is saved; try nnctl plot {self.run_dir}")
            return []
        self.images = tuple(images)
        return [Output(self.run_dir / name, (lambda data: lambda f: f.write(data))(data),
                       DataError, "plot") for name, data in images.items()]

    def summary(self) -> dict:
        """Facts for the one-screen summary before training."""
        prep, net = self.prep, self.network
        return {
            "config": shown(self.cfg.source),
            "data": shown(self.cfg.data.train),
            "rows": {k: s.m for k, s in prep.splits.items()},
            "features": prep.features,
            "columns": [_describe_column(c) for c in prep.preprocessor.columns],
            "dropped_columns": prep.preprocessor.dropped,
            "encoded": len(prep.encoded),
            "dropped_rows": prep.dropped_rows,
            "target": prep.target.names,
            "task": prep.target.kind,
            "classes": prep.target.classes,
            "loss": prep.loss,
            "loss_inferred": prep.loss_inferred,
            "network": describe(net.sizes, net.activations),
            "params": net.n_params,
            "dtype": net.dtype.name,
            "optimizer": self.cfg.training.optimizer.name,
            "lr": self.cfg.training.lr,
            "epochs": self.cfg.training.epochs,
            "batch_size": self.cfg.training.batch_for(prep.splits["train"].m),
            "l2": self.cfg.training.l2,
            "class_weights": prep.class_weights,
            "schedule": self.cfg.training.schedule.name,
            "warmup": self.cfg.training.warmup,
            "clip_norm": self.cfg.training.clip_norm,
            "clip_value": self.cfg.training.clip_value,
            "weight_decay": getattr(self.cfg.training.optimizer, "weight_decay", None),
            "huber_delta": getattr(net.loss, "delta", None),
            "dropout": net.dropout,
            "patience": self.cfg.training.patience,
            "standardize": prep.scaler.method,
            "resumed_from_epoch": self.start_epoch if self.resume is not None else None,
            "settings": {"file": len(self.provenance["file"]),
                         "overridden": self.provenance["overridden"],
                         "defaults": self.provenance["defaults"]},
            "warnings": prep.warnings + net.warnings,
            "model": str(self.cfg.model_path),
            "output": (f"{shown(self.run_dir)}/" if self.run_dir is not None
                       else shown(self.cfg.model_path)),
        }


def shown(path) -> str:
    """A path as the summary shows it: relative to the working directory when inside it."""
    import os

    text = str(path)
    bundled = config_mod.BUNDLED
    if Path(text).is_relative_to(bundled):
        return f"{Path(text).relative_to(bundled)} (bundled with nnctl)"
    try:
        rel = os.path.relpath(text)
    except ValueError:
        return text
    return rel if not rel.startswith("..") else text


def _describe_column(c) -> str:
    """``island (categorical, 3)``: a feature column as the summary shows it."""
    if c.type == "categorical":
        kind = f"categorical, {len(c.categories)}"
    elif c.type == "date":
        kind = "date: " + ", ".join(c.parts)
    else:
        kind = c.type
    return f"{c.name} ({kind})"


#: The columns of a history before any epoch finished (metrics columns follow epochs).
HISTORY_COLUMNS = ("epoch", "train_loss", "val_loss", "lr", "seconds")


#: The history a model file carries is at most about this many bytes of JSON; the run's
#: history.csv has every epoch. (A 100,000-epoch run with diagnostics made 154 MB, above
#: what model_file.load reads back.)
MODEL_HISTORY_BYTES = 16 << 20


def _model_history(rows: list[dict]) -> tuple[list[dict], int | None]:
    """The rows a model keeps: all of them, or beyond ``MODEL_HISTORY_BYTES`` every k-th
    and the last (k returned, else None)."""
    if len(rows) < 2:
        return rows, None
    sample = rows[::max(1, len(rows) // 200)][:200]
    per_row = len(json.dumps(sample)) / len(sample)
    every = math.ceil(per_row * len(rows) / MODEL_HISTORY_BYTES)
    if every <= 1:
        return rows, None
    kept = rows[::every]
    if kept[-1] is not rows[-1]:
        kept.append(rows[-1])
    return kept, every


def _earlier_history(resume: model_file.Model | None) -> list[dict]:
    """The history rows a resumed model carries (each run's model keeps all of them)."""
    if resume is None:
        return []
    return list(resume.metadata.get("training", {}).get("history") or [])


def report_split(reports: dict) -> str:
    """The split a run's confusion matrix is shown for: test, else validation, else train."""
    return "test" if "test" in reports else "validation" if "validation" in reports else "train"


def _csv_lines(columns: list[str], rows: list[dict], *, header: bool) -> bytes:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n", restval="")
    if header:
        writer.writeheader()
    for row in rows:
        # float(v): a numpy float is a float whose repr is 'np.float64(...)', not a number
        writer.writerow({k: ("" if v is None else repr(float(v)) if isinstance(v, float) else v)
                         for k, v in row.items()})
    return buf.getvalue().encode("utf-8")


def history_writer(rows: list[dict]) -> Callable:
    """The per-epoch rows as CSV; with no epoch finished, the header alone (a true history)."""
    columns = list(dict.fromkeys(k for row in rows for k in row)) or list(HISTORY_COLUMNS)
    data = _csv_lines(columns, rows, header=True)
    return lambda f: f.write(data)


class _HistoryFile:
    """The history CSV as training goes: the header and a resumed model's earlier rows at
    the start, then one line per epoch, each flushed in one write, so ``tail -f`` follows
    it and a run that is killed leaves every epoch it finished."""

    def __init__(self, path: Path, columns: list[str], earlier: list[dict]) -> None:
        self.columns = list(dict.fromkeys([*(k for row in earlier for k in row), *columns]))
        self.f = open_log(path, "history")
        self._write(_csv_lines(self.columns, earlier, header=True), path)
        self.path = path

    def add(self, record) -> None:
        self._write(_csv_lines(self.columns, [record.row()], header=False), self.path)

    def _write(self, data: bytes, path: Path) -> None:
        append_log(self.f, data, path, "history")

    def close(self) -> None:
        try:
            self.f.close()
        except OSError:
            pass


def _assignments(items: tuple[str, ...]) -> dict:
    """``--set KEY=VALUE`` options as ``{path: value}`` (the value read as YAML)."""
    out = {}
    for item in items:
        key, eq, text = item.partition("=")
        if not eq or not key.strip():
            raise ConfigError(f"--set {item}: write KEY=VALUE, as in --set training.optimizer.lr=3e-4")
        out[key.strip()] = config_mod.parse_value(text, f"--set {key.strip()}")
    return out


def run(config: str | None, *, epochs: int | None = None, lr: float | None = None,
        batch_size: int | None = None, seed: int | None = None, output: str | None = None,
        resume: str | None = None, as_json: bool = False, folds: int | None = None,
        assignments: tuple[str, ...] = ()) -> Outcome | dict:
    """``nnctl train``: summary, progress, results and curves on stderr; the run saved."""
    model = model_file.load(resume) if resume else None
    resume_path = model.path if model is not None else None
    if config is None and model is not None:
        saved = dict(model.metadata.get("config") or {})
        training = model.metadata.get("training") or {}
        name = str(training.get("run_name") or Path(resume_path).stem)
        if output is None:  # a new run directory: the paths saved in a model are never written to
            saved["output"] = {k: v for k, v in (saved.get("output") or {}).items()
                               if k == "runs"} if isinstance(saved.get("output"), dict) else {}
        cfg = config_mod.from_dict(saved, source=f"{resume_path} (its saved config)", stem=name)
    else:
        cfg = config_mod.load(config)
    if assignments:
        cfg = cfg.with_values(_assignments(assignments))
    cfg = cfg.with_overrides(epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, output=output,
                             folds=folds)
    if cfg.training.folds is not None:
        if model is not None:
            raise ConfigError("cross-validation (--folds) trains new models; it cannot --resume one")
        from . import crossval

        return crossval.run(cfg, as_json=as_json)
    if as_json and cfg.run_parent is None and str(cfg.model_path) == "-":
        raise ConfigError("--json and -o - would both write to stdout; write the model to a file")
    session = Session(cfg, resume=model, resume_path=resume_path, config_path=config)
    session.open_outputs()
    render.summary(session.summary())
    with render.progress(cfg.training.epochs, session.start_epoch) as progress:
        outcome = session.train(on_epoch=progress.epoch, on_batch=progress.batch)
    history = outcome.history
    if history.stopped_early:
        render.note(f"stopped early: no improvement for {cfg.training.patience} epochs;"
                    f" kept the weights of epoch {history.best_epoch}")
    confusion = None
    if session.prep.target.kind == "classification":
        split = report_split(session.reports)
        confusion = (session.reports[split]["confusion_matrix"], session.prep.target.classes, split)
    render.results(outcome.results, session.prep.target.kind, confusion)
    render.curves(history.column("train_loss"), history.column("val_loss"),
                  first_epoch=session.start_epoch + 1)
    from .. import plots

    if outcome.run_dir is not None and cfg.output.plots and not plots.available():
        render.note(f"no plot images: {plots.MISSING}", style="dim")
    render.saved(outcome.model_path, outcome.history_path, outcome.run_dir, outcome.images)
    if as_json:
        render.data(json.dumps({
            "run_dir": None if outcome.run_dir is None else str(outcome.run_dir),
            "model": str(outcome.model_path),
            "history": None if outcome.history_path is None else str(outcome.history_path),
            "epochs_run": history.records[-1].epoch if history.records else session.start_epoch,
            "best_epoch": history.best_epoch, "stopped_early": history.stopped_early,
            "results": finite(outcome.results)}, indent=2, allow_nan=False) + "\n")
    return outcome
