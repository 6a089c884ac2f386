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
import math
from pathlib import Path

import numpy as np

from .. import config as config_mod
from .. import render
from ..errors import ConfigError, DataError, TrainingDiverged, TrainingInterrupted
from ..files import Output, write_outputs
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
        if all(v is None or isinstance(v, (bool, int, float, str)) for v in p.choices):
            return trial.suggest_categorical(key, p.choices)
        return p.choices[trial.suggest_categorical(key + "#", list(range(len(p.choices))))]
    if p.integer:
        return trial.suggest_int(key, p.low, p.high, step=p.step or 1, log=p.log)
    return trial.suggest_float(key, float(p.low), float(p.high), step=p.step, log=p.log)


def run(path: str, *, as_json: bool = False) -> dict:
    """``nnctl sweep``: run the missing trials, then the ranked table and the best config."""
    try:
        import optuna
    except ImportError:
        raise DataError(MISSING) from None
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # nnctl says what happens itself
    sweep, config_path = config_mod.load_sweep(path)
    base = config_mod.load(config_path)
    name = Path(path).stem
    # Every key of the space, checked against the schema before any trial runs.
    for key, p in sweep.space.items():
        config_mod.parse_path(key, f"{path}: space")
        sample = p.choices[0] if p.choices is not None else p.low
        base.with_values({key: sample}, label=f"{path}: space {key}")
    storage = sweep.storage or f"sqlite:///{(Path(path).parent / f'{name}.db').resolve()}"
    sampler = {"tpe": lambda: optuna.samplers.TPESampler(seed=sweep.seed),
               "random": lambda: optuna.samplers.RandomSampler(seed=sweep.seed),
               "grid": lambda: optuna.samplers.GridSampler(
                   {k: (p.choices if all(v is None or isinstance(v, (bool, int, float, str))
                                         for v in p.choices) else list(range(len(p.choices))))
                    for k, p in sweep.space.items()}, seed=sweep.seed)}[sweep.sampler]()
    pruner = optuna.pruners.MedianPruner(n_warmup_steps=5) if sweep.pruner == "median" \
        else optuna.pruners.NopPruner()
    study = optuna.create_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner,
                                direction=sweep.direction, load_if_exists=True)
    done = [t for t in study.trials if _counts(t)]
    missing = max(0, sweep.trials - len(done))
    render.note(f"sweep {name}: {sweep.trials} trials of {config_path} ({len(done)} done,"
                f" {missing} to run); {sweep.direction} validation {sweep.metric}; study in"
                f" {storage}", style="dim")
    per_epoch = {"loss": "val_loss", "accuracy": "val_accuracy", "r2": "val_r2"}.get(sweep.metric)

    def objective(trial) -> float:
        values = {key: suggest(trial, key.removesuffix("#"), p) for key, p in sweep.space.items()}
        seed = trial_seed(sweep.seed, trial.number)
        cfg = base.with_values({**values, "training.seed": seed}, label=f"trial {trial.number}",
                               stem=name)
        session = Session(cfg)
        if session.prep.splits.get("validation") is None:
            raise ConfigError(f"{config_path}: a sweep optimizes a validation figure; give"
                              " data.validation or a validation_split above 0")
        session.open_outputs()
        trial.set_user_attr("run_dir", str(session.run_dir))
        trial.set_user_attr("seed", seed)

        def each_epoch(record) -> None:
            if per_epoch is None:
                return
            value = record.val_loss if per_epoch == "val_loss" else record.metrics.get(per_epoch)
            if value is not None and math.isfinite(value):
                trial.report(value, record.epoch)
                if trial.should_prune():
                    raise optuna.TrialPruned(f"pruned at epoch {record.epoch}")

        with render.progress(cfg.training.epochs, 0, lines=False) as progress:
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

    if missing:
        study.optimize(objective, n_trials=missing, catch=())
    out = _report(study, sweep, name, storage)
    best = study.best_trial if out["completed"] else None
    if best is not None:
        cfg = base.with_values({**{k.removesuffix("#"): _value(sweep, k, v)
                                   for k, v in best.params.items()},
                                "training.seed": best.user_attrs["seed"]}, stem=name)
        best_path = Path(path).with_name(f"{name}.best.yaml")
        text = cfg.to_yaml()
        write_outputs([Output(best_path, lambda f: f.write(text.encode("utf-8")), DataError,
                              "best config")])
        out["best_config"] = str(best_path)
    render.sweep(out)
    if as_json:
        render.data(json.dumps(finite(out), indent=2, allow_nan=False) + "\n")
    return out


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
