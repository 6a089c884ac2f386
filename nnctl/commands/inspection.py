"""What ``explain`` and ``gradcheck`` look at: a network and a batch of the user's own rows.

The network is a config's (initialised from its seed, as ``train`` starts) or a trained
model's; the rows come from the config's training file, or the file given with ``--data``,
read and prepared exactly as training and ``predict`` read them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import config as config_mod
from .. import model_file
from ..config import build_network
from ..core.network import Network
from ..core.optimizers import Optimizer
from ..data.columns import Preprocessor
from ..data.prepare import frame_for_model, prepare_data
from ..data.scaling import Scaler
from ..data.target import Target, encode_target, output_size
from ..errors import ConfigError, DataError
from .train import shown


@dataclass
class Subject:
    """A network, its optimizer as the next step would run it, and rows to pass through it."""

    network: Network
    optimizer: Optimizer
    #: the learning rate of the next step (the schedule's rate for the next epoch)
    lr: float
    #: ``config FILE`` or ``model FILE``, and what the weights are
    source: str
    weights: str
    data: str
    #: the rows' lines in the data file (1-based), and their number among its data rows
    lines: list[int]
    rows: list[int]
    #: the raw feature values of the rows, by column, and the encoded input names
    raw: dict[str, list]
    inputs: list[str]
    target: Target
    X: np.ndarray  # (n[0], m), the network's dtype
    Y: np.ndarray  # (n[L], m)
    w: np.ndarray | None  # (m,) class weights of the rows, or None
    #: the regression target is standardized (Y is its z-score, the scale training sees)
    target_scaled: bool = False
    #: what the user should know about the rows taken (fewer than --batch asked for)
    notes: tuple[str, ...] = ()

    @property
    def m(self) -> int:
        return self.X.shape[1]


def is_model(path: str | None) -> bool:
    """Whether the argument names a model (a ``.npz`` file or a directory) rather than a config."""
    return path is not None and (Path(path).suffix.lower() == ".npz" or Path(path).is_dir())


def load(path: str | None, *, data: str | None = None, sample: int | None = None,
         batch: int | None = None) -> Subject:
    """The subject named by ``path`` (a config, a model or a run; None: the bundled default).

    ``sample`` picks one data row by its number (1 is the first row after the header);
    ``batch`` takes the first ``batch`` labelled rows; neither: the first row.
    """
    if sample is not None and batch is not None:
        raise ConfigError("give --sample or --batch, not both")
    if is_model(path):
        loaded = model_file.load(path)
        network, meta = loaded.network, loaded.metadata["data"]
        cfg = config_mod.from_dict(dict(loaded.metadata["config"]),
                                   source=f"{loaded.path} (its saved config)")
        training = loaded.metadata.get("training") or {}
        epochs = int(training.get("epochs_run", 0))
        optimizer = cfg.build_optimizer()
        if loaded.optimizer_state:
            optimizer.load_state(loaded.optimizer_state)
        source, weights = f"model {shown(loaded.path)}", f"trained for {epochs} epoch(s)"
        if data is None:
            data = str(cfg.data.train)
            if not Path(data).is_file():
                raise DataError(f"{loaded.path}: its training data {data} is not there; give"
                                " labelled rows with --data FILE (with the target column)")
        class_weights = training.get("class_weights")  # as training weighted each row
        saved_state = training.get("schedule_state")
    else:
        cfg = config_mod.load(path)
        prep = prepare_data(cfg)
        network = build_network(cfg, len(prep.encoded), output_size(prep.target, prep.loss),
                                prep.loss)
        meta, epochs = prep.metadata(), 0
        optimizer = cfg.build_optimizer()
        source = f"config {shown(cfg.source)}"
        weights = f"initial weights ({network.init}, seed {cfg.training.seed})"
        data = str(cfg.data.train) if data is None else data
        class_weights = prep.class_weights
        saved_state = None
    schedule = cfg.build_schedule()
    if saved_state is not None and hasattr(schedule, "load_state"):
        try:  # reduce_on_plateau: the rate the run had lowered to
            schedule.load_state(saved_state)
        except (KeyError, TypeError, ValueError, OverflowError):
            pass  # train --resume reports a damaged state; explain shows the configured rate
    lr = schedule(optimizer.lr, epochs)
    subject = _rows(network, meta, optimizer, lr, source, weights, data, sample, batch,
                    class_weights)
    rates = [layer.dropout for layer in cfg.network.layers if layer.dropout]
    if rates:  # a step with a random mask would show numbers no other step has
        subject = dataclasses.replace(subject, notes=subject.notes + (
            "dropout is left out here (no mask): these are the network's equations as"
            " predict uses them; training multiplies each dropped layer's A by a random"
            " mask / (1 - p), see docs/notation.md",))
    return subject


def _rows(network, meta, optimizer, lr, source, weights, data, sample, batch,
          class_weights) -> Subject:
    frame = frame_for_model(data, meta, what="labelled")
    names = meta["target"]
    if not frame.header:  # columns are positions: name them as training did
        for name in Preprocessor.from_json(meta["preprocess"], source).names:
            frame.column(name, "feature")
    for name in names:
        frame.column(name, "target")
    labelled = np.flatnonzero(frame.df[names].notna().all(axis=1).to_numpy())
    notes: tuple[str, ...] = ()
    if sample is not None:
        if not 1 <= sample <= frame.m:
            raise DataError(f"{frame.path}: --sample {sample} is outside its {frame.m} data rows"
                            f" (1 to {frame.m})")
        if sample - 1 not in set(labelled.tolist()):
            raise DataError(f"{frame.path}, {frame.line(sample - 1)}: row {sample} has no target"
                            f" ({', '.join(names)}); pick a labelled row")
        chosen = np.array([sample - 1])
    else:
        if labelled.size == 0:
            raise DataError(f"{frame.path}: no row has a target ({', '.join(names)})")
        chosen = labelled[:batch or 1]
        if batch is not None and batch > chosen.size:
            notes = (f"{frame.path} has {chosen.size} labelled rows, fewer than --batch {batch}:"
                     f" m = {chosen.size}",)
    frame = frame.take(chosen)
    target = Target(names, meta["task"], meta["classes"])
    preprocessor = Preprocessor.from_json(meta["preprocess"], source)
    X, _ = preprocessor.transform(frame, network.dtype)
    if X.shape[1] != network.sizes[0]:
        raise DataError(f"{source}: its feature steps give {X.shape[1]} inputs but the network"
                        f" takes {network.sizes[0]}")
    X = Scaler.from_json(meta["scaler"]).transform(X)
    Y = encode_target(frame, target, meta["loss"], network.dtype)
    if meta.get("target_scaler"):
        Y = Scaler.from_json(meta["target_scaler"]).transform(Y)
    w = None
    if class_weights is not None:
        idx = Y[:, 0].astype(np.intp) if Y.shape[1] == 1 else Y.argmax(axis=1)
        w = np.array([class_weights[c] for c in target.classes])[idx]
    features = list(meta["features"])
    raw = {c: [_plain(v) for v in frame.df[c].tolist()] for c in features if c in frame.df.columns}
    lines = [int(v) for v in frame.row_lines] if frame.row_lines is not None else \
        [int(r) + 1 for r in chosen]
    return Subject(network=network, optimizer=optimizer, lr=lr, source=source, weights=weights,
                   data=shown(frame.path), lines=lines, rows=[int(r) + 1 for r in chosen], raw=raw,
                   inputs=list(meta["encoded"]), target=target, X=np.ascontiguousarray(X.T),
                   Y=np.ascontiguousarray(Y.T), w=w, target_scaled=bool(meta.get("target_scaler")),
                   notes=notes)


def _plain(value):
    """A cell as JSON holds it: a number, text, or None for a missing (or non-finite) cell."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return value if np.isfinite(value) else None
    if isinstance(value, str):
        return value
    try:
        import pandas as pd

        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)
