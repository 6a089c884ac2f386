"""Model files: one ``.npz`` readable with ``numpy.load(path, allow_pickle=False)``.

Arrays ``W1..WL``, ``b1..bL`` (and ``alpha<l>`` for PReLU layers) in the notation's shapes,
``optimizer.<name>`` for resuming, and ``metadata``: a JSON string with the network, the
data description (features, target, classes, standardization), the resolved config and a
training summary. Never pickle. Writes go to a temporary file in the same directory that
is renamed over the target, so an interrupted save leaves the old file or the new one.
"""

from __future__ import annotations

import io
import json
import tokenize
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ConfigError, ModelFileError
from .files import Output, available_memory, is_run_number, read_input, write_outputs
from .core.network import Network

FORMAT = "nnctl-model"
FORMAT_VERSION = 2  # 2: feature steps (types, imputation, categories) in data.preprocess


@dataclass
class Model:
    """A loaded model: the network, its metadata and the optimizer's saved state."""

    network: Network
    metadata: dict
    optimizer_state: dict
    #: where it was read from (for messages)
    path: str = "the model"


def network_metadata(network: Network) -> dict:
    meta = {
        "sizes": network.sizes,
        "activations": network.activations,
        "alphas": [layer.alpha if isinstance(layer.alpha, float) else None for layer in network.layers],
        "loss": network.loss.name,
        "dtype": network.dtype.name,
    }
    if hasattr(network.loss, "delta"):  # only for huber: other models' files are as before
        meta["huber_delta"] = network.loss.delta
    return meta


def save(path: str | Path, network: Network, metadata: dict, optimizer_state: dict | None = None) -> None:
    """Write ``network`` and ``metadata`` to ``path`` atomically."""
    write_outputs([output(path, network, metadata, optimizer_state)])


def output(path: str | Path, network: Network, metadata: dict,
           optimizer_state: dict | None = None) -> Output:
    """The model file as one of a command's outputs (``files.write_outputs``)."""
    from datetime import datetime, timezone

    from . import __version__

    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "nnctl_version": __version__,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "network": network_metadata(network), **metadata}
    arrays = dict(network.arrays())
    for name, value in (optimizer_state or {}).items():
        arrays[f"optimizer.{name}"] = np.asarray(value)
    arrays["metadata"] = np.array(json.dumps(meta))
    return Output(path, lambda f: np.savez(f, **arrays), ModelFileError, "model")


#: Bounds on what a model file may declare, checked before anything is allocated.
MAX_METADATA_BYTES = 64 << 20
MAX_PARAMETERS = 2_000_000_000
_NPY_HEADER = 4096  # an .npy member is its array's bytes plus a header of at most this


#: The model's name inside a run directory (``nnctl train`` without ``-o``).
RUN_MODEL = "model.npz"


def locate(path: str | Path) -> Path:
    """The model file ``path`` names: the file itself, or a run directory's ``model.npz``.

    A folder of runs (``runs/iris``) names its latest run that holds a model.
    """
    path = Path(path)
    if not path.is_dir():
        return path
    if (path / RUN_MODEL).exists():
        return path / RUN_MODEL
    runs = sorted((int(p.name), p) for p in _subdirs(path) if is_run_number(p.name)
                  and (p / RUN_MODEL).is_file())
    if runs:
        return runs[-1][1] / RUN_MODEL
    raise ModelFileError(f"{path}: a directory with no {RUN_MODEL} (neither a run directory of"
                         " 'nnctl train' nor a folder of runs); give a model file or a run directory")


def _subdirs(path: Path) -> list[Path]:
    try:
        return [p for p in path.iterdir() if p.is_dir()]
    except OSError as e:
        raise ModelFileError(f"{path}: cannot list the directory ({e.strerror})") from None


def load(path: str | Path) -> Model:
    """Read a model file, refusing anything that is not a complete, consistent nnctl model.

    A model file is untrusted input: the archive's declared sizes are bounded before any
    member is read (a zip bomb ends in an error, fast), every metadata field is checked for
    type, range and consistency with the arrays (``check_metadata``), and the parameters,
    scalers and optimizer state must be finite.
    """
    path = locate(path)
    name = str(path)
    if not path.is_file():  # missing, a directory, a pipe or a device: read_input says
        source = io.BytesIO(read_input(path, "model", error=ModelFileError))
    else:
        source = path.open("rb")
    try:
        with source as f:
            magic = f.read(4)
            if magic != b"PK\x03\x04":
                what = "a single .npy array" if magic == b"\x93NUM" else "not an .npz archive"
                raise ModelFileError(f"{name}: not an nnctl model ({what});"
                                     " train one with 'nnctl train'")
            f.seek(0)
            with zipfile.ZipFile(f) as z:
                sizes = {i.filename: i.file_size for i in z.infolist()}
            f.seek(0)
            if "metadata.npy" not in sizes:
                raise ModelFileError(f"{name}: not an nnctl model (no metadata);"
                                     " train one with 'nnctl train'")
            if sizes["metadata.npy"] > MAX_METADATA_BYTES:
                raise ModelFileError(f"{name}: its metadata declares {sizes['metadata.npy']:,}"
                                     " bytes, far more than a model's; not an nnctl model")
            with np.load(f, allow_pickle=False) as npz:
                meta = _metadata(npz["metadata"], name)
                network_meta = check_network(meta, name)
                _check_member_sizes(sizes, network_meta, name)
                arrays = {k: npz[k] for k in npz.files if k != "metadata"}
    except ModelFileError:
        raise
    except MemoryError:  # an array's header declares a shape its bytes do not hold
        raise ModelFileError(f"{name}: an array declares more memory than there is; the file is"
                             " damaged or not what it claims") from None
    except ValueError as e:
        if "pickle" in str(e):
            raise ModelFileError(f"{name}: holds pickled objects, which nnctl never loads;"
                                 " use a model written by 'nnctl train'") from None
        raise ModelFileError(f"{name}: not an nnctl model, or damaged ({e})") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, KeyError,
            NotImplementedError, RuntimeError, SyntaxError, tokenize.TokenError, zlib.error) as e:
        # (NumPy parses an array's header with the tokenize module: a damaged header can end
        # in a TokenError or a SyntaxError; a damaged compressed member in a zlib.error.)
        raise ModelFileError(f"{name}: not an nnctl model, or truncated ({type(e).__name__});"
                             " retrain or restore the file") from None
    optimizer_state = {k.split(".", 1)[1]: v for k, v in arrays.items() if k.startswith("optimizer.")}
    params = {k: v for k, v in arrays.items() if not k.startswith("optimizer.")}
    try:
        network = Network(network_meta["sizes"], network_meta["activations"],
                          loss=network_meta["loss"], dtype=network_meta["dtype"],
                          alphas=network_meta["alphas"],
                          huber_delta=network_meta.get("huber_delta"))
        for k, v in params.items():
            if v.dtype.kind not in "fiu":
                raise ConfigError(f"array {k} has dtype {v.dtype}, expected floating point")
        extra = sorted(set(params) - set(network.arrays()))
        if extra:
            raise ConfigError(f"unexpected array(s) {', '.join(extra)}")
        network.set_arrays(params)
    except (ConfigError, KeyError, TypeError, ValueError) as e:
        raise ModelFileError(f"{name}: inconsistent model ({e}); retrain it") from None
    if not np.isfinite(network.theta).all():
        raise ModelFileError(f"{name}: holds non-finite parameters; retrain it")
    check_metadata(meta, network, name)
    _check_optimizer_state(optimizer_state, network, meta, name)
    return Model(network, meta, optimizer_state, name)


def _check_member_sizes(sizes: dict[str, int], net: dict, name: str) -> None:
    """Every member is one this network has, of at most its array's size: nothing larger
    than the declared network is ever decompressed or allocated."""
    n = net["sizes"]
    count = sum(n[l] * n[l - 1] + n[l] for l in range(1, len(n)))
    if count > MAX_PARAMETERS:
        raise ModelFileError(f"{name}: declares a network of {count:,} parameters, more than"
                             f" nnctl loads ({MAX_PARAMETERS:,}); not a model to trust")
    need = count * np.dtype(net["dtype"]).itemsize * 4  # theta, gradient, optimizer, buffers
    available = available_memory()
    if available is not None and need > available:
        raise ModelFileError(f"{name}: its network of {count:,} parameters needs about"
                             f" {need / 2**30:.1f} GiB, more than the {available / 2**30:.1f} GiB"
                             " of memory available")
    expected = {}
    for l in range(1, len(n)):
        expected[f"W{l}.npy"] = n[l] * n[l - 1]
        expected[f"b{l}.npy"] = n[l]
        expected[f"alpha{l}.npy"] = n[l]
    for member, size in sizes.items():
        if member == "metadata.npy":
            continue
        if member.startswith("optimizer."):
            limit = count * 8 + _NPY_HEADER
        elif member in expected:
            limit = expected[member] * 8 + _NPY_HEADER
        else:
            raise ModelFileError(f"{name}: holds an array '{member}' that no nnctl model has;"
                                 " not an nnctl model")
        if size > limit:
            raise ModelFileError(f"{name}: its array '{member}' declares {size:,} bytes, more"
                                 f" than the network's sizes allow ({limit:,}); the file is damaged"
                                 " or not what it claims")


def check_network(meta: dict, name: str) -> dict:
    """The ``network`` section, checked for types and ranges (before any array is read)."""
    from pydantic import ValidationError

    try:
        return _NetworkMeta.model_validate(meta.get("network")).model_dump()
    except ValidationError as e:
        raise ModelFileError(f"{name}: {_first_problem(e, 'network')}; retrain it or use a model"
                             " written by 'nnctl train'") from None


def check_metadata(meta: dict, network: Network, name: str) -> None:
    """Every field a command uses, for type, range and consistency with ``network``."""
    from pydantic import ValidationError

    try:
        data = _DataMeta.model_validate(meta.get("data"))
        training = _TrainingMeta.model_validate(meta.get("training"))
    except ValidationError as e:
        section = "data" if "data" not in meta or not _valid(_DataMeta, meta.get("data")) else "training"
        raise ModelFileError(f"{name}: {_first_problem(e, section)}; retrain it or use a model"
                             " written by 'nnctl train'") from None
    if not isinstance(meta.get("config"), dict):
        raise ModelFileError(f"{name}: metadata config is missing or not a mapping; retrain it")
    problem = _inconsistency(data, training, network, name)
    if problem:
        raise ModelFileError(f"{name}: inconsistent model ({problem}); retrain it")


def _inconsistency(data, training, network: Network, name: str) -> str | None:
    # (The feature steps in data.preprocess are checked by data.columns.Preprocessor, which
    # this module does not import: against data.encoded, checked here.)
    n0, nL = network.sizes[0], network.sizes[-1]
    if data.loss != network.loss.name:
        return f"data.loss is {data.loss} but the network's loss is {network.loss.name}"
    for what, length in (("data.encoded", len(data.encoded)),
                         ("data.scaler", len(data.scaler.shift)),
                         ("data.scaler's scales", len(data.scaler.scale))):
        if length != n0:
            return f"{what} give {length} inputs but the network takes {n0}"
    if data.task == "regression":
        if data.classes is not None:
            return "a regression model with classes"
        if len(data.target) != nL:
            return f"{len(data.target)} target column(s) but {nL} output unit(s)"
        if len(set(data.target)) != len(data.target):
            return "a target column named twice"
        if data.target_scaler is not None and (len(data.target_scaler.shift) != nL
                                               or len(data.target_scaler.scale) != nL):
            return f"data.target_scaler does not have {nL} value(s)"
    else:
        classes = data.classes or []
        if len(data.target) != 1 or len(classes) < 2 or len(set(classes)) != len(classes):
            return "a classifier needs one target column and at least two distinct classes"
        units = 1 if network.loss.name == "binary_crossentropy" else len(classes)
        if network.loss.name not in ("binary_crossentropy", "categorical_crossentropy") \
                or units != nL or (units == 1 and len(classes) != 2):
            return f"{len(classes)} classes do not fit {nL} output unit(s) and {network.loss.name}"
        if data.target_scaler is not None:
            return "a classifier with a target scaler"
        weights = training.class_weights or {}
        if not set(weights) <= set(classes):
            return "class weights for classes the model does not have"
    if training.best_epoch is not None and training.best_epoch > training.epochs_run:
        return f"best epoch {training.best_epoch} after the {training.epochs_run} epochs run"
    return None


def _check_optimizer_state(state: dict, network: Network, meta: dict, name: str) -> None:
    """Moments of the right size, finite, and a non-negative step count."""
    size = network.theta.size
    for key, value in state.items():
        if key == "t":
            if value.shape != () or value.dtype.kind not in "iu" or int(value) < 0:
                raise ModelFileError(f"{name}: optimizer step count is not a non-negative integer;"
                                     " retrain it")
            continue
        if key not in ("v", "M", "V") or value.dtype.kind != "f" or value.shape != (size,):
            raise ModelFileError(f"{name}: optimizer state '{key}' does not fit the network's"
                                 f" {size} parameters; retrain it")
        if not np.isfinite(value).all() or (key == "V" and (value < 0).any()):
            raise ModelFileError(f"{name}: optimizer state '{key}' is not finite; retrain it")
    if ("M" in state) != ("V" in state) or ("M" in state) != ("t" in state):
        raise ModelFileError(f"{name}: optimizer state is incomplete (M, V and t go together);"
                             " retrain it")


def _first_problem(error, section: str) -> str:
    e = error.errors()[0]
    where = section
    for part in e["loc"]:
        where += f"[{part}]" if isinstance(part, int) else f".{part}"
    message = e["msg"].replace("Input should be", "should be").replace("Value error, ", "")
    return f"metadata {where}: {message}"


def _valid(model, value) -> bool:
    from pydantic import ValidationError

    try:
        model.model_validate(value)
    except ValidationError:
        return False
    return True


def _metadata(value: np.ndarray, name: str) -> dict:
    if value.dtype.kind != "U" or value.shape != ():
        raise ModelFileError(f"{name}: not an nnctl model (metadata is not a JSON string)")
    try:
        meta = json.loads(str(value))
    except json.JSONDecodeError:
        raise ModelFileError(f"{name}: not an nnctl model (metadata is not valid JSON)") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(f"{name}: not an nnctl model (metadata format is not '{FORMAT}')")
    version = meta.get("format_version")
    if not isinstance(version, int):
        raise ModelFileError(f"{name}: not an nnctl model (no format version)")
    if version > FORMAT_VERSION:
        raise ModelFileError(f"{name}: model format version {version} is newer than this nnctl reads"
                             f" (up to {FORMAT_VERSION}); it was written by nnctl"
                             f" {meta.get('nnctl_version', '?')}: upgrade nnctl to load it")
    if version < FORMAT_VERSION:
        raise ModelFileError(f"{name}: model format version {version} was written by nnctl"
                             f" {meta.get('nnctl_version', '?')}, before models kept their feature"
                             " steps; retrain it with this nnctl")
    if not isinstance(meta.get("network"), dict):
        raise ModelFileError(f"{name}: not an nnctl model (no network description)")
    return meta


# -- the metadata's schema: types and ranges (consistency is checked above) ----------------

from typing import Annotated, Literal, Optional  # noqa: E402

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator  # noqa: E402

_Finite = Annotated[float, Field(allow_inf_nan=False)]
_Text = Annotated[str, StringConstraints(max_length=100_000)]
_Count = Annotated[int, Field(ge=0, le=1_000_000_000)]


class _Strict(BaseModel):
    # strict: a string is not a number, a number is not a bool; fields nnctl does not
    # read are allowed (a newer nnctl may add some), but never used.
    model_config = ConfigDict(strict=True, extra="allow")


class _NetworkMeta(_Strict):
    sizes: list[Annotated[int, Field(ge=1, le=100_000_000)]] = Field(min_length=2, max_length=10_000)
    activations: list[_Text] = Field(max_length=10_000)
    alphas: list[Optional[_Finite]] = Field(max_length=10_000)
    loss: _Text
    dtype: Literal["float32", "float64"]


class _ScalerMeta(_Strict):
    method: Literal["zscore", "minmax", "none"]
    shift: list[_Finite] = Field(max_length=100_000_000)
    scale: list[Annotated[float, Field(gt=0, allow_inf_nan=False)]] = Field(max_length=100_000_000)


class _DataMeta(_Strict):
    features: list[_Text]
    preprocess: dict
    encoded: list[_Text]
    target: list[_Text] = Field(min_length=1)
    task: Literal["classification", "regression"]
    classes: Optional[list[_Text]] = None
    loss: _Text
    header: bool
    delimiter: _Text
    sniff_delimiter: bool = False
    encoding: _Text = "utf-8"
    na_values: list[_Text] = []
    scaler: _ScalerMeta
    target_scaler: Optional[_ScalerMeta] = None

    @field_validator("delimiter")
    @classmethod
    def _one_plain_character(cls, value: str) -> str:
        if len(value) != 1 or not value.isascii() or value in '\r\n"' or value.isalnum() \
                or value in ".-+":
            raise ValueError(f"{value!r} is not a delimiter (one character such as , ; | or tab)")
        return value

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        import codecs

        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown encoding {value!r}") from None
        return value


class _TrainingMeta(_Strict):
    status: Literal["completed", "interrupted", "diverged"]
    epochs_run: _Count
    best_epoch: Optional[_Count] = None
    class_weights: Optional[dict[str, Annotated[float, Field(ge=0, allow_inf_nan=False)]]] = None
    stopped_early: bool = False
    history: list[dict[_Text, Optional[_Finite]]] = Field([], max_length=100_000_000)
