"""``nnctl sweep SWEEP.yaml``: a hyperparameter search with Optuna (the ``sweep`` extra).

Each trial is a normal training run of the base config with the trial's values set by key
path (``Config.with_values``), in a run directory of its own (``runs/<sweep>/<n>/``), with
a seed derived from the sweep's seed and the trial's number. It reports its validation
figure every epoch, so the pruner can stop a hopeless trial. The study lives in Optuna
storage (a SQLite file beside the sweep file by default), so a sweep run again, after
Ctrl-C or with a larger budget, adds only the trials still missing.
"""

from __future__ import annotations

import json
import logging
import math
import os
import stat
import warnings
from pathlib import Path

import numpy as np

from .. import config as config_mod
from .. import render
from ..errors import ConfigError, DataError, NnctlError, TrainingDiverged, TrainingInterrupted
from ..files import Output, check_outputs, write_outputs
from .evaluate import finite
from .train import Session

MISSING = "sweeps need the sweep extra: pip install 'nnctl[sweep]' (optuna)"


def trial_seed(sweep_seed: int, number: int) -> int:
    """Trial ``number``'s training seed: from both, so no two trials or sweeps share one."""
    return int(np.random.SeedSequence([sweep_seed, number]).generate_state(1)[0] % 2**31)


def suggest(trial, key: str, p: config_mod.SweepParam):
    """The trial's value for one dimension of the space."""
    if p.choices is not None:
        # Optuna stores choices that are numbers, strings, booleans or None; a list (of
        # layers, say) is chosen by its index, and the value looked up.
        if _plain(p.choices):
            return trial.suggest_categorical(key, p.choices)
        return p.choices[trial.suggest_categorical(key + "#", list(range(len(p.choices))))]
    if p.integer:
        return trial.suggest_int(key, p.low, p.high, step=p.step or 1, log=p.log)
    return trial.suggest_float(key, float(p.low), float(p.high), step=p.step, log=p.log)


class _Search:
    """A sweep file read and checked: what a trial needs, in this process or a Dask worker."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.sweep, self.config_path = config_mod.load_sweep(path)
        self.base = config_mod.load(self.config_path)
        self.name = self.path.stem
        # Each trial is a run of its own; a model path of the base config would have every
        # trial write the one file.
        self.own_paths = [k for k in ("model", "history") if getattr(self.base.output, k)]
        if self.own_paths:
            self.base = self.base.with_values({f"output.{k}": None for k in self.own_paths},
                                              label=f"{path}: trials")
        # Every key of the space, checked against the schema before any trial runs.
        for key, p in self.sweep.space.items():
            config_mod.parse_path(key, f"{path}: space")
            sample = p.choices[0] if p.choices is not None else p.low
            self.base.with_values({key: sample}, label=f"{path}: space {key}")
        self.storage_url, self.study_file, self.storage_shown = _storage(
            self.path, self.sweep.storage, self.path.with_name(f"{self.name}.db"))
        self.in_memory = _in_memory(self.storage_url)
        self.per_epoch = {"loss": "val_loss", "accuracy": "val_accuracy",
                          "r2": "val_r2"}.get(self.sweep.metric)
        # What the sweep writes beside its file, refused before any trial if it is one of
        # its inputs (a base config named s.best.yaml would be replaced at the end).
        self.best_path = self.path.with_name(f"{self.name}.best.yaml")
        data = self.base.data
        check_outputs([("best config", self.best_path),
                       ("study", self.study_file)],
                      [("sweep file", self.path), ("base config", self.config_path),
                       ("training data", data.train), ("validation data", data.validation),
                       ("test data", data.test)])
        if self.study_file is not None:
            _check_study_file(self.study_file)

    @property
    def draws_images(self) -> bool:
        """Whether the sweep ends with its images: the base config's output.plots, and
        matplotlib installed (asked only here, not in a worker, which never draws)."""
        from .. import plots

        return bool(self.base.output.plots) and plots.available()

    def study(self, storage, *, seed: int):
        """The study in ``storage`` (made if new), with a sampler seeded by ``seed``."""
        import optuna

        sweep = self.sweep
        sampler = {"tpe": lambda: optuna.samplers.TPESampler(seed=seed),
                   "random": lambda: optuna.samplers.RandomSampler(seed=seed),
                   "grid": lambda: optuna.samplers.GridSampler(
                       {k: (p.choices if _plain(p.choices) else list(range(len(p.choices))))
                        for k, p in sweep.space.items()}, seed=seed)}[sweep.sampler]()
        pruner = optuna.pruners.MedianPruner(n_warmup_steps=5) if sweep.pruner == "median" \
            else optuna.pruners.NopPruner()
        import sqlalchemy.exc

        where = f"{self.path}: storage {self.storage_shown}"
        try:
            # Asked first, not by load_if_exists: that tries to create it and catches the
            # error, which a Dask scheduler logs as a traceback.
            if self.name in optuna.study.get_all_study_names(storage):
                return optuna.load_study(study_name=self.name, storage=storage, sampler=sampler,
                                         pruner=pruner)
            return optuna.create_study(study_name=self.name, storage=storage, sampler=sampler,
                                       pruner=pruner, direction=sweep.direction)
        except ImportError:  # Optuna's word for a URL whose database driver is missing
            raise DataError(f"{where}: the driver for {storage.split(':')[0]} databases is not"
                            " installed; install it (psycopg2-binary for postgresql, pymysql for"
                            " mysql+pymysql) or leave storage out for a SQLite file") from None
        except sqlalchemy.exc.NoSuchModuleError:
            raise ConfigError(f"{where}: no such database or driver; give sqlite:///study.db or"
                              " dialect+driver://user@host/db (postgresql, mysql+pymysql)") from None
        except sqlalchemy.exc.ArgumentError:
            raise ConfigError(f"{where}: not a URL SQLAlchemy can read; give"
                              " sqlite:///study.db or dialect+driver://user@host/db") from None
        except (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.OptunaError, RuntimeError,
                ValueError) as e:
            # No such folder or server, a file that is no database, a study from an Optuna
            # whose tables this one cannot read.
            first = str(getattr(e, "orig", None) or e).strip().splitlines()[0]
            if self.study_file is not None:
                raise DataError(f"{self.study_file}: cannot read the study, a damaged SQLite file"
                                f" ({first}); move it away to start a new study") from None
            raise DataError(f"{where}: cannot open the study ({first}); check the URL and the"
                            " database server") from None

    def session(self, number: int, values: dict) -> tuple[Session, int]:
        """Trial ``number``'s training session, its run directory claimed, and its seed."""
        seed = trial_seed(self.sweep.seed, number)
        cfg = self.base.with_values({**values, "training.seed": seed}, label=f"{self.path}: trial {number}",
                                    stem=self.name)
        session = Session(cfg)
        if session.prep.splits.get("validation") is None:
            raise ConfigError(f"{self.config_path}: a sweep optimizes a validation figure; give"
                              " data.validation or a validation_split above 0")
        session.open_outputs()
        return session, seed

    def reported(self, record, epochs: int) -> float | None:
        """The figure an epoch reports to the pruner, or None. Every report is a write to
        the study's storage (a SQLite commit): only with a pruner, and about 20 a trial of
        ``epochs``, not one every epoch."""
        if self.per_epoch is None or self.sweep.pruner == "none" or record.epoch % max(1, epochs // 20):
            return None
        value = record.val_loss if self.per_epoch == "val_loss" else record.metrics.get(self.per_epoch)
        return value if value is not None and math.isfinite(value) else None

    def objective(self, trial) -> float:
        """One trial: a training run of the base config with the trial's values."""
        import optuna

        sweep = self.sweep
        values = {key: suggest(trial, key, p) for key, p in sweep.space.items()}
        try:
            session, seed = self.session(trial.number, values)
        except NnctlError:  # the sweep file's or the data's fault: run again once fixed
            trial.set_user_attr("interrupted", True)
            raise
        trial.set_user_attr("run_dir", str(session.run_dir))
        trial.set_user_attr("seed", seed)
        epochs = session.cfg.training.epochs

        def each_epoch(record) -> None:
            value = self.reported(record, epochs)
            if value is not None:
                trial.report(value, record.epoch)
                if trial.should_prune():
                    raise optuna.TrialPruned(f"pruned at epoch {record.epoch}")

        with render.progress(epochs, 0, lines=False) as progress:
            try:
                outcome = session.train(on_epoch=lambda r: (each_epoch(r), progress.epoch(r)),
                                        on_batch=progress.batch)
            except TrainingInterrupted:
                trial.set_user_attr("interrupted", True)  # run again when the sweep resumes
                raise
            except TrainingDiverged as e:
                trial.set_user_attr("error", str(e))
                render.note(f"trial {trial.number}: diverged; {session.run_dir}", style="dim")
                return float("nan")  # Optuna marks it failed; the sweep goes on
        value = outcome.results["validation"][sweep.metric]
        render.note(f"trial {trial.number}: validation {sweep.metric} {value:.4g}"
                    f" ({_shown(values)}); {outcome.run_dir}", style="dim")
        return value


def run(path: str, *, workers: int | None = None, scheduler: str | None = None,
        as_json: bool = False) -> dict:
    """``nnctl sweep``: run the missing trials (here, or as Dask tasks on ``workers`` local
    processes or the cluster at ``scheduler``), then the ranked table and the best config."""
    try:
        import optuna
    except ImportError:
        raise DataError(MISSING) from None
    _quiet_libraries()
    search = _Search(path)
    sweep, name = search.sweep, search.name
    if workers is None and scheduler is None:
        study = search.study(search.storage_url, seed=sweep.seed)
        missing = _start(study, search)
        if missing:
            study.optimize(search.objective, n_trials=missing, catch=())
        out = _finish(study, search)
    else:
        out = _distributed(search, workers, scheduler)
    if as_json:
        render.data(json.dumps(finite(out), indent=2, allow_nan=False) + "\n")
    return out


def _storage(sweep_path: Path, storage: str | None, default: Path) -> tuple[str, Path | None, str]:
    """The sweep's storage: its URL for Optuna, the SQLite file it names (None for a
    server or memory), and the URL as said on the terminal (its password hidden). A
    relative SQLite file is taken from the sweep file's folder, like every path in nnctl's
    files (SQLAlchemy alone would take it from wherever the sweep is run); SQLAlchemy
    parses the URL, so a %-escape or a '?' in a folder's name means what it means to it."""
    import sqlalchemy.exc
    from sqlalchemy.engine import URL, make_url

    if storage is None:
        url = URL.create("sqlite", database=str(default.resolve()))
    else:
        try:
            url = make_url(storage)
        except sqlalchemy.exc.ArgumentError:
            raise ConfigError(f"{sweep_path}: storage: not a URL SQLAlchemy can read; give"
                              " sqlite:///study.db or dialect+driver://user@host/db") from None
        url = url.set(drivername=url.drivername.lower())
    file = None
    database = url.database
    if url.get_backend_name() == "sqlite" and database not in (None, "", ":memory:") \
            and not database.startswith("file:"):
        file = Path(database)
        if not file.is_absolute():
            file = Path(os.path.abspath(config_mod.folder_of(sweep_path) / file))
            url = url.set(database=str(file))
    return url.render_as_string(hide_password=False), file, url.render_as_string(hide_password=True)


def _in_memory(url: str) -> bool:
    """Whether the storage ``url`` is SQLite's memory (``sqlite://``, ``sqlite:///:memory:``)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:")


def _check_study_file(path: Path) -> None:
    """Refuse a study file that is not Optuna's SQLite: Optuna would add its tables to any
    SQLite database (someone's own, named like the sweep) and fail on any other file."""
    import sqlite3

    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as e:
        raise DataError(f"{path}: cannot read the sweep's study ({e.strerror}); check its"
                        " permissions, or give storage: another file") from None
    if not stat.S_ISREG(mode):  # a named pipe would block the open; a device is no study
        raise DataError(f"{path}: not a regular file, so not a study; give storage: a file")
    if not (os.access(path, os.R_OK | os.W_OK) and os.access(path.parent, os.W_OK)):
        raise DataError(f"{path}: the study cannot be written here (a read-only file or"
                        " folder); make it writable, or copy it and give storage: the copy")
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError as e:
        raise DataError(f"{path}: cannot read the sweep's study ({e.strerror}); check its"
                        " permissions, or give storage: another file") from None
    if not head:
        return  # an empty file: SQLite makes it a database
    if head != b"SQLite format 3\x00":
        raise DataError(f"{path}: not a SQLite database, so not this sweep's study; move it"
                        " away, or give storage: another file")
    try:
        with sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True) as db:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.Error as e:
        raise DataError(f"{path}: a damaged SQLite database ({e}); move it away to start a"
                        " new study") from None
    if tables and not {"studies", "trials"} <= tables:
        raise DataError(f"{path}: a SQLite database of something else (tables"
                        f" {', '.join(sorted(tables)[:3])}), not an Optuna study; move it away,"
                        " or give storage: another file")


def _start(study, search: _Search) -> int:
    """Mark trials a dead sweep left running as failed; say what is to run; how many."""
    import optuna

    for t in study.trials:
        if t.state == optuna.trial.TrialState.RUNNING:  # no sweep runs this study but us
            study._storage.set_trial_user_attr(t._trial_id, "interrupted", True)
            study._storage.set_trial_state_values(t._trial_id, optuna.trial.TrialState.FAIL)
    done = [t for t in study.get_trials(deepcopy=False) if _counts(t)]
    missing = max(0, search.sweep.trials - len(done))
    changes_loss = [k for k in search.sweep.space if k in ("loss", "huber_delta")]
    if search.sweep.metric == "loss" and changes_loss:
        render.warning(f"{search.path}: the space changes {' and '.join(changes_loss)}, so the"
                       " trials' validation losses are on different scales; rank them by a"
                       " metric instead (objective: val_r2, val_mae or val_rmse)")
    if search.in_memory:
        render.warning(f"{search.path}: storage {search.storage_shown} keeps the study in memory:"
                       " it ends with this sweep, and a sweep run again starts over; give"
                       " sqlite:///study.db to keep it")
    if search.own_paths:
        render.note(f"{search.config_path}: {' and '.join(f'output.{k}' for k in search.own_paths)}"
                    " not used: each trial writes a run directory of its own", style="dim")
    render.note(f"sweep {search.name}: {search.sweep.trials} trials of {search.config_path}"
                f" ({len(done)} done, {missing} to run); {search.sweep.direction} validation"
                f" {search.sweep.metric}; study in {search.storage_shown}", style="dim")
    return missing


def _finish(study, search: _Search) -> dict:
    """The ranked trials, and the best config written beside the sweep file."""
    sweep, name = search.sweep, search.name
    out = _report(study, sweep, name, search.storage_shown)
    best = study.best_trial if out["completed"] else None
    if best is not None:
        cfg = search.base.with_values({**{k.removesuffix("#"): _value(sweep, k, v)
                                          for k, v in best.params.items()},
                                       "training.seed": best.user_attrs["seed"]},
                                      label=f"sweep {name}, trial {best.number}", stem=name)
        best_path = search.best_path
        text = cfg.to_yaml()
        write_outputs([Output(best_path, lambda f: f.write(text.encode("utf-8")), DataError,
                              "best config")])
        out["best_config"] = str(best_path)
    out["images"] = _images(study, search, out)
    render.sweep(out)
    return out


def _images(study, search: _Search, out: dict) -> list[str]:
    """With the plot extra (and the base config's ``output.plots``): the sweep's history
    and parameter importance, written into its folder of runs; their paths."""
    from .. import plots

    folder = search.base.with_values({}, stem=search.name).run_parent
    if folder is None or not search.draws_images:
        return []
    try:
        images = plots.sweep_images(out["trials"], objective=out["objective"],
                                    direction=search.sweep.direction,
                                    importances=_importances(study, search.sweep))
    except Exception as e:  # noqa: BLE001 - an optional drawing must never lose the sweep
        render.warning(f"the sweep's plot images could not be drawn ({type(e).__name__}: {e})")
        return []
    folder.mkdir(parents=True, exist_ok=True)
    write_outputs([Output(folder / name, (lambda data: lambda f: f.write(data))(data),
                          DataError, "plot") for name, data in images.items()])
    return [str(folder / name) for name in images]


def _importances(study, sweep) -> dict[str, float] | None:
    """Optuna's importance of each varying key of the space for the objective (PED-ANOVA,
    Optuna's default since 4.2), or None below 2 completed trials or where Optuna cannot
    tell (every trial had the same values, say)."""
    import sys

    import optuna

    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    names = {(k + "#" if p.choices is not None and not _plain(p.choices) else k): k
             for k, p in sweep.space.items()
             if (len(p.choices) > 1 if p.choices is not None else p.high > p.low)}
    seen = {name for t in done for name in t.params}
    names = {n: k for n, k in names.items() if n in seen}
    if len(done) < 2 or not names:
        return None
    if "optuna.importance" not in sys.modules and "sklearn.ensemble" not in sys.modules:
        # optuna.importance imports its fANOVA evaluator, which imports scikit-learn's
        # forests where scikit-learn is installed: 2.6 s of the sweep's end, for an
        # evaluator not used here. Blocked for that import only.
        sys.modules["sklearn.ensemble"] = None
        try:
            import optuna.importance  # noqa: F401
        finally:
            del sys.modules["sklearn.ensemble"]
    try:
        # PED-ANOVA named: before Optuna 4.2 the default was fANOVA, which needs scikit-learn
        found = optuna.importance.get_param_importances(
            study, evaluator=optuna.importance.PedAnovaImportanceEvaluator(), params=list(names))
    except (ValueError, RuntimeError, ZeroDivisionError):
        return None
    return {names[n]: float(v) for n, v in found.items()} or None


def _distributed(search: _Search, workers: int | None, scheduler: str | None) -> dict:
    """The missing trials as Dask tasks. Optuna stays here: this process asks the study for
    each trial's values, a worker trains it (``_train``) and sends back its figures, and
    this process reports and tells them. So the study's storage (the SQLite file) needs no
    network, workers need only nnctl, the data and the folder of runs, and a storage call
    costs what it costs serially. The median pruner is applied in the worker against the
    medians of the trials finished when the trial started."""
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError:
        raise DataError("--workers and --scheduler need dask: pip install 'nnctl[sweep]'"
                        " (optuna and dask[distributed])") from None
    import multiprocessing
    import threading

    sweep = search.sweep
    cluster = None
    # Dask's statistical profiler samples each task's stack every 10 ms, which made a trial
    # 25% slower (0.80 s -> 1.07 s for iris, 400 epochs): off in our workers. The setting
    # is read as each worker starts, so it holds for the whole sweep.
    settings = {"distributed.worker.profile.enabled": False}
    if scheduler is None and "forkserver" in multiprocessing.get_all_start_methods():
        # Workers forked from one server that imported Dask, NumPy, pandas and nnctl once,
        # instead of each spawned interpreter importing them again (POSIX; Windows spawns).
        settings["distributed.worker.multiprocessing-method"] = "forkserver"
        _start_forkserver()
    # Dask's timers, made for clusters of many machines, cost the main process and each
    # worker CPU that the trials need on a small machine: the event loops' health tick
    # (every 20 ms), the nanny's memory poll (100 ms), the system monitor (500 ms), and
    # work stealing's balance (100 ms), which has nothing to balance here: each worker
    # holds its trial and the next, and a lost worker's trial is sent again anyway.
    settings.update({"distributed.admin.tick.interval": "1s",
                     "distributed.worker.memory.monitor-interval": "1s",
                     "distributed.admin.system-monitor.interval": "2s",
                     "distributed.scheduler.work-stealing": False})
    with dask.config.set(settings):
        try:
            if scheduler is None:
                # The scheduler and a client now, the workers in the background (scale),
                # each importing nnctl as it starts (preload): their 2-3 s of start-up then
                # overlap this process opening the study and asking the first trials. Their
                # logs (a worker lost, restarted) stay off the terminal; nnctl says what
                # happened to each trial.
                with warnings.catch_warnings():
                    # Without a dashboard the scheduler still serves its health check over
                    # HTTP, on 8787 or, when another cluster has that, on a port it warns of.
                    warnings.filterwarnings("ignore", "Port .* is already in use", UserWarning)
                    cluster = LocalCluster(n_workers=0, threads_per_worker=1, processes=True,
                                           dashboard_address=None,
                                           silence_logs=logging.CRITICAL, preload=[__name__])
            try:
                client = Client(cluster if cluster is not None else scheduler, timeout="10s")
            except OSError as e:
                raise DataError(f"--scheduler {scheduler}: no Dask scheduler answers there"
                                f" ({e}); start one with 'dask scheduler' and workers with"
                                " 'dask worker ADDRESS'") from None
            if cluster is not None:
                cluster.scale(workers)
            study = search.study(search.storage_url, seed=sweep.seed)
            missing = _start(study, search)
            if missing and search.draws_images:
                # This process mostly waits now: the imports of the sweep's drawing, done
                # here ahead of the end, are 0.7 s less between the last trial and exit.
                from .. import plots

                threading.Thread(target=plots.warm, daemon=True, name="nnctl-warm").start()
            with client:
                _dispatch(client, study, search, missing,
                          threads=workers if cluster is not None else None)
        finally:
            if cluster is not None:
                cluster.close()
    return _finish(study, search)


def _start_forkserver() -> None:
    """Start the fork server of the local cluster's workers now, importing what a trial
    needs, so that its 1.3 s of imports overlap this process starting Dask and opening
    the study, and each worker then starts with nnctl imported (forked, not imported
    again: 0.6 s of CPU a worker)."""
    import multiprocessing
    import multiprocessing.forkserver
    import os

    import dask
    import distributed.utils

    # What Dask's nanny sets in this process's environment before it starts a worker (one
    # BLAS and OpenMP thread each, glibc's malloc trim, a fixed hash seed), it must set
    # before the fork server starts: NumPy, imported there, reads it once.
    env = {k: os.environ.get(k, str(v)) for k, v in
           dask.config.get("distributed.nanny.pre-spawn-environ", {}).items() if v is not None}
    if env.get("PYTHONHASHSEED") in (None, "0"):
        env["PYTHONHASHSEED"] = "6640"  # the nanny's own choice
    os.environ.update(env)
    multiprocessing.get_context("forkserver").set_forkserver_preload(
        ["distributed", "dask", "msgpack", "cloudpickle", "tornado", "toolz", "numpy",
         "pandas", __name__])
    multiprocessing.forkserver.ensure_running()
    # Dask sets the fork server's list (importing Dask, NumPy and pandas in this process
    # to check them) the first time it starts a worker, unless it is set: ours holds its.
    distributed.utils._forkserver_preload_set = True


def _dispatch(client, study, search: _Search, missing: int, threads: int | None) -> None:
    """Ask ``missing`` trials, run each as a Dask task, tell the study each outcome."""
    import os

    import optuna
    from distributed import as_completed

    sweep = search.sweep
    # Two tasks per worker thread in flight: a worker starts its next trial at once, without
    # waiting for this process to tell the last one and ask for another. (A local cluster's
    # workers are still starting now, so their number is the one asked for.) This process
    # keeps its normal priority: lowered, its main thread was preempted while it held the
    # GIL, which stalled the scheduler's thread, and the workers sat idle 60 ms between
    # trials on average, up to 260 ms.
    if threads is None:
        threads = sum(w.get("nthreads", 1) for w in
                      client.scheduler_info().get("workers", {}).values())
    slots = 2 * max(1, threads)
    cwd, path, asked = os.getcwd(), str(search.path.resolve()), {}
    pending = as_completed()

    def submit() -> None:
        trial = study.ask()
        values = {key: suggest(trial, key, p) for key, p in sweep.space.items()}
        asked[trial.number] = trial
        pending.add(client.submit(_train, path, cwd, trial.number, values,
                                  _medians(study, sweep), pure=False,
                                  key=f"nnctl-{search.name}-{trial.number}-{os.getpid()}"))

    for _ in range(min(slots, missing)):
        submit()
    submitted = min(slots, missing)
    for future in pending:
        try:
            result = future.result()
        except NnctlError:  # the config or the data: every trial would fail the same way
            number = int(future.key.split("-")[-2])
            trial = asked.pop(number)
            trial.set_user_attr("interrupted", True)  # not the budget's: run again once fixed
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            raise
        except Exception as e:  # noqa: BLE001 - a task lost (KilledWorker) or a bug
            number = int(future.key.split("-")[-2])
            study.tell(asked.pop(number), state=optuna.trial.TrialState.FAIL)
            render.warning(f"trial {number} failed in its worker ({type(e).__name__}: {e});"
                           " the sweep goes on")
        else:
            _tell(study, asked.pop(result["number"]), result, search)
        if submitted < missing:
            submit()
            submitted += 1


def _medians(study, sweep) -> dict[int, float] | None:
    """The median pruner's bar at each reported epoch: the median of the finished trials'
    figures there (None: no pruning, or too few trials yet, as MedianPruner's startup)."""
    import optuna

    if sweep.pruner == "none":
        return None
    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if len(done) < 5:  # MedianPruner's n_startup_trials
        return None
    steps: dict[int, list[float]] = {}
    for t in done:
        for step, value in t.intermediate_values.items():
            steps.setdefault(step, []).append(value)
    return {step: float(np.median(v)) for step, v in steps.items()}


def _tell(study, trial, result: dict, search: _Search) -> None:
    """A worker's figures into the study: the epochs' reports, the run, the outcome."""
    import optuna

    for step, value in result["reports"]:
        trial.report(value, step)
    trial.set_user_attr("run_dir", result["run_dir"])
    trial.set_user_attr("seed", result["seed"])
    state, value = result["state"], result["value"]
    if state == "complete":
        study.tell(trial, value)
        shown = f"validation {search.sweep.metric} {value:.4g}"
    else:
        if state == "diverged":
            trial.set_user_attr("error", result["error"])
        study.tell(trial, state=optuna.trial.TrialState.PRUNED if state == "pruned"
                   else optuna.trial.TrialState.FAIL)
        shown = state
    render.note(f"trial {trial.number}: {shown}; {result['run_dir']}", style="dim")


class _Pruned(Exception):
    """Raised out of a worker's training when its figure lags the median."""


#: A worker's sweeps, read once per process (a worker runs many trials of one sweep).
_SEARCHES: dict[str, _Search] = {}


def _train(path: str, cwd: str, number: int, values: dict, medians: dict[int, float] | None
           ) -> dict:
    """A Dask task: trial ``number`` of the sweep at ``path`` with ``values``, trained from
    ``cwd`` (its run directory is relative to it); its figures for the study."""
    import os

    _quiet_dask()
    render.configure(quiet=True)
    os.chdir(cwd)
    search = _SEARCHES.get(path) or _SEARCHES.setdefault(path, _Search(path))
    sweep = search.sweep
    session, seed = search.session(number, values)
    epochs = session.cfg.training.epochs
    reports: list[tuple[int, float]] = []
    worse = (lambda a, b: a < b) if sweep.direction == "maximize" else (lambda a, b: a > b)

    def each_epoch(record) -> None:
        value = search.reported(record, epochs)
        if value is None:
            return
        reports.append((record.epoch, value))
        bar = (medians or {}).get(record.epoch)
        if bar is not None and record.epoch > 5 and worse(value, bar):
            raise _Pruned

    out = {"number": number, "run_dir": str(session.run_dir), "seed": seed, "reports": reports,
           "state": "complete", "value": None, "error": None}
    try:
        outcome = session.train(on_epoch=each_epoch)
    except _Pruned:
        out["state"] = "pruned"
        return out
    except TrainingDiverged as e:
        out.update(state="diverged", error=str(e))
        return out
    out["value"] = outcome.results["validation"][sweep.metric]
    return out


def _quiet_libraries() -> None:
    """Optuna's and Dask's own messages off: nnctl says what happens to each trial itself."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    _quiet_dask()


def _quiet_dask() -> None:
    """Dask's messages off (in a worker, which never imports Optuna: 0.2 s a worker)."""
    for name in ("distributed", "distributed.nanny", "distributed.scheduler", "distributed.worker"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def _plain(choices) -> bool:
    """Whether Optuna can store the choices themselves (numbers, strings, booleans, None)."""
    return all(v is None or isinstance(v, (bool, int, float, str)) for v in choices)


def _counts(trial) -> bool:
    """Whether a trial uses up the budget: completed, pruned, or failed by itself (diverged);
    not one that was interrupted (Ctrl-C) or is still marked running by a sweep that died."""
    import optuna

    states = optuna.trial.TrialState
    return trial.state in (states.COMPLETE, states.PRUNED) or (
        trial.state == states.FAIL and not trial.user_attrs.get("interrupted"))


def _value(sweep, key: str, value):
    """A stored parameter as the config value (an index into choices for ``key#``)."""
    if key.endswith("#"):
        return sweep.space[key.removesuffix("#")].choices[value]
    return value


def _shown(values: dict) -> str:
    return ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                     for k, v in values.items() if not isinstance(v, (list, dict)))


def _report(study, sweep, name: str, storage: str) -> dict:
    import optuna

    states = optuna.trial.TrialState
    trials = []
    for t in study.trials:
        trials.append({"number": t.number, "state": t.state.name.lower(), "value": t.value,
                       "params": {k.removesuffix("#"): _value(sweep, k, v) for k, v in t.params.items()},
                       "run_dir": t.user_attrs.get("run_dir"), "seed": t.user_attrs.get("seed")})
    sign = -1 if sweep.direction == "maximize" else 1
    ranked = sorted(trials, key=lambda t: (t["state"] != "complete",
                                           sign * t["value"] if t["value"] is not None else math.inf,
                                           t["number"]))
    completed = sum(t.state == states.COMPLETE for t in study.trials)
    return {"sweep": name, "storage": storage, "objective": f"validation {sweep.metric}",
            "direction": sweep.direction, "trials": ranked, "completed": completed,
            "pruned": sum(t.state == states.PRUNED for t in study.trials),
            "failed": sum(t.state == states.FAIL for t in study.trials), "best_config": None}
