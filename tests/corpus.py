"""The project's corpus of hostile input (issue 11): the cases, the runner and the standard.

Each case is a folder of real files and one command line. ``run`` executes it with the
real CLI in a process of its own (``python -m nnctl``, or, where that is the same process
(``forkable``), a fork of a zygote that imported nnctl once: tests/zygote.py), and
``assert_standard`` holds it to the whole standard: the documented exit code; exactly one
line on stderr, starting ``Error:`` and holding the case's fragments (click's two usage
lines may come before it); no traceback, no Python warning, no raw control character;
every file that was there before byte-for-byte the same; nothing new left behind (no
temporary file, no half output) except the outputs the case promises. Cases that must
work (exit 0) are held to the same, without the error line.

The tables are grouped by the classes of issue 11 (config, data, model, output, input,
terminal, os) plus the good inputs; ``tests/commands/test_corpus.py`` runs them all.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import signal
import stat
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from helpers import DATASETS
from zygote import Zygote, apply_fault

DEFAULT = (DATASETS / "default.csv").read_text()
CSV = "a,b,label\n1,2,x\n3,4,y\n5,6,x\n7,8,y\n"
#: a file value that stands for the corpus's trained model (default 3-3-2-1, 2 epochs)
MODEL = object()


@dataclass
class Case:
    name: str
    kind: str
    #: relative path -> text, bytes, MODEL, or a function(folder, model_path) that makes it
    files: dict[str, object]
    args: list[str]
    code: int
    fragments: list[str] = field(default_factory=list)
    #: bytes for stdin; None: stdin is /dev/null; "closed": no stdin at all
    stdin: bytes | str | None = None
    #: files the command may create (for example a history beside an output)
    outputs: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    #: the error comes after work began (the summary and progress are on stderr before it)
    late: bool = False
    #: "stdout closed", "stdin from data.csv", "file size 64 KiB", "as nobody" (the folder refuses new files, for
    #: root too), "stdout to head" (a reader that leaves after 10 bytes)
    fault: str | None = None

    @property
    def id(self) -> str:
        return f"{self.kind}: {self.name}"


@dataclass
class Outcome:
    code: int
    stdout: bytes
    stderr: str
    changed: list[str]
    new: list[str]
    seconds: float
    #: every entry of the folder afterwards
    files: dict[str, str] = field(default_factory=dict)
    #: how it ran: "fork" (of the zygote, tests/zygote.py) or "subprocess" (python -m nnctl)
    path: str = "subprocess"


def snapshot(folder: Path) -> dict[str, str]:
    """Every entry under ``folder``: a file's hash, a link's target, a pipe or a folder."""
    out = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root) / name
            rel = str(path.relative_to(folder))
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                out[rel] = "link -> " + os.readlink(path)
            elif stat.S_ISREG(mode):
                out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                out[rel] = "fifo" if stat.S_ISFIFO(mode) else "dir"
    return out


def build(case: Case, folder: Path, model: Path) -> None:
    for rel, value in case.files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if value is MODEL:
            path.write_bytes(model.read_bytes())
        elif isinstance(value, bytes):
            path.write_bytes(value)
        elif isinstance(value, str):
            path.write_text(value)
        else:
            value(folder, model)


def _preexec(fault: str | None, stdin: object):
    def setup():
        apply_fault(fault, stdin)
    return setup


#: The faults that change only a descriptor or a limit of the process (set up alike on both paths).
FORKABLE_FAULTS = (None, "stdin from data.csv", "file size 64 KiB")


def forkable(case: Case) -> bool:
    """Whether ``case`` may run as a fork of the zygote (tests/zygote.py), an interpreter that
    started and imported nnctl already, instead of a new ``python -m nnctl``.

    The two are the same process but for what an interpreter decides as it starts and
    imports, so a case goes to the zygote only where none of that can differ. Not when it
    brings an environment of its own: the zygote's start-up already chose the stdio
    encoding (PYTHON*, LANG, LC_*), rich its width, colour and terminal (COLUMNS, TERM,
    NO_COLOR, FORCE_COLOR), nnctl its limits (NNCTL_MAX_DECOMPRESSED, read at import).
    Not with stdin or stdout closed: a new interpreter then has ``sys.stdin`` or
    ``sys.stdout`` None, which nnctl tells apart. Not 'stdout to head' nor 'as nobody': the
    command line is another (bash, setpriv). What is left, a case's files, arguments (all
    text, so they reach ``sys.argv`` unchanged), stdin as a pipe, /dev/null or a file, and a
    file size limit, the zygote's child sets up as ``subprocess`` and ``_preexec`` do.
    (Its stdout and stderr are pipes, never a terminal, on both paths.)
    """
    return not case.env and case.stdin != "closed" and case.fault in FORKABLE_FAULTS


def environment(case: Case | None = None) -> dict[str, str]:
    """The environment a case runs in (the zygote's is that of a case with none of its own)."""
    env = {**os.environ, "COLUMNS": "100", "NNCTL_PIPE_WAIT": "1", **(case.env if case else {})}
    env.pop("FORCE_COLOR", None)
    env.pop("PYTEST_CURRENT_TEST", None)  # pytest's name of the test now running: it changes
    return env


def run(case: Case, folder: Path, model: Path, timeout: float = 180,
        zygote: Zygote | None = None) -> Outcome:
    """``case`` in ``folder``: forked by ``zygote`` if it is given and the case is
    ``forkable``, else a new ``python -m nnctl``; its outcome, with the files before and after."""
    folder.mkdir(parents=True, exist_ok=True)
    build(case, folder, model)
    if case.fault == "as nobody":
        folder.chmod(0o555)  # the folder cannot take a new file
    before = snapshot(folder)
    env = environment(case)
    fork = zygote is not None and forkable(case) and env == zygote.env
    stdin = case.stdin if isinstance(case.stdin, bytes) else None
    stdin_file = open(folder / "data.csv", "rb") if case.fault == "stdin from data.csv" else None
    start = time.perf_counter()
    try:
        if fork:
            code, out, err = zygote.run(case.args, folder, env, stdin=stdin, stdin_file=stdin_file,
                                        fault=case.fault, timeout=timeout)
        else:
            code, out, err = _subprocess(case, folder, env, stdin, stdin_file, timeout)
    finally:
        if stdin_file is not None:
            stdin_file.close()
    seconds = time.perf_counter() - start
    if case.fault == "as nobody":
        folder.chmod(0o755)
    after = snapshot(folder)
    changed = sorted(k for k in before if after.get(k) != before[k])
    new = sorted(k for k in after if k not in before and k not in case.outputs)
    return Outcome(code, out, err.decode("utf-8", "replace"), changed, new, seconds, after,
                   "fork" if fork else "subprocess")


def _subprocess(case: Case, folder: Path, env: dict[str, str], stdin: bytes | None, stdin_file,
                timeout: float) -> tuple[int, bytes, bytes]:
    command = [sys.executable, "-m", "nnctl", *case.args]
    if case.fault == "as nobody" and os.geteuid() == 0:
        # root ignores a folder's permissions unless it gives up the capabilities to
        command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--", *command]
    if case.fault == "stdout to head":
        command = ["bash", "-c", 'exec 3>&1; "$@" | head -c 10 >/dev/null; exit ${PIPESTATUS[0]}',
                   "bash", *command]
    proc = subprocess.Popen(command, cwd=folder, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE,
                            stdin=stdin_file or (subprocess.PIPE if stdin is not None else subprocess.DEVNULL),
                            preexec_fn=_preexec(case.fault, case.stdin))
    try:
        out, err = proc.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        err += b"\n(timed out: killed)"
    return proc.returncode, out, err


def assert_standard(case: Case, out: Outcome) -> None:
    """The standard (see the module's docstring)."""
    report = f"{case.id}: exit {out.code}\n--- stderr\n{out.stderr}"
    assert out.code == case.code, report
    for noise in ("Traceback", "RuntimeWarning", "UserWarning", "DeprecationWarning",
                  "FutureWarning", "ResourceWarning", "Exception ignored", "\x1b"):
        assert noise not in out.stderr, report
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    if case.code == 0:
        assert not any(line.startswith("Error:") for line in lines), report
        for promised in case.outputs:  # present, and not empty
            assert out.files.get(promised, "dir") not in ("dir", hashlib.sha256(b"").hexdigest()), report
    else:
        if lines and lines[0].startswith("Usage: nnctl"):
            assert lines[1].startswith("Try 'nnctl"), report
            lines = lines[2:]
        if case.late:  # what ran before is shown; the error is the one last line
            assert [line for line in lines if line.startswith("Error:")] == lines[-1:], report
            lines = lines[-1:]
        assert len(lines) == 1 and lines[0].startswith("Error: "), report
        for fragment in case.fragments:
            assert fragment in lines[0], f"{fragment!r} not in the error\n{report}"
    assert out.changed == [], f"inputs changed: {out.changed}\n{report}"
    assert out.new == [], f"left behind: {out.new}\n{report}"


# -- making files -----------------------------------------------------------------------------


def fifo(rel: str) -> Callable:
    def make(folder: Path, model: Path) -> None:
        os.mkfifo(folder / rel)
    return make


def symlink(rel: str, target: str) -> Callable:
    def make(folder: Path, model: Path) -> None:
        (folder / rel).symlink_to(target)
    return make


def hardlink(rel: str, target: str) -> Callable:
    def make(folder: Path, model: Path) -> None:
        os.link(folder / target, folder / rel)
    return make


def edited_model(rel: str, change: Callable[[dict, dict], None]) -> Callable:
    """The corpus's model with ``change(metadata, arrays)`` applied, saved as ``rel``."""
    def make(folder: Path, model: Path) -> None:
        with np.load(model, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        meta = json.loads(str(arrays["metadata"]))
        change(meta, arrays)
        arrays["metadata"] = np.array(json.dumps(meta, allow_nan=True))
        np.savez(folder / rel, **arrays)
    return make


def zipped(rel: str, members: dict[str, bytes]) -> Callable:
    """A zip archive (an .npz is one) with the given members, deflated."""
    def make(folder: Path, model: Path) -> None:
        with zipfile.ZipFile(folder / rel, "w", zipfile.ZIP_DEFLATED) as z:
            for name, data in members.items():
                z.writestr(name, data)
    return make


def npy(array) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def setting(path: str, value) -> Callable[[dict, dict], None]:
    """A change that sets ``meta[a][b]...`` (a dotted path) to ``value``."""
    def change(meta: dict, arrays: dict) -> None:
        keys = path.split(".")
        target = meta
        for key in keys[:-1]:
            target = target[key]
        if value is DELETE:
            del target[keys[-1]]
        else:
            target[keys[-1]] = value(target[keys[-1]]) if callable(value) else value
    return change


DELETE = object()


# -- config ---------------------------------------------------------------------------------


def config_case(name, yaml_text, fragments, code=2, csv=CSV, args=()):
    """``nnctl train c.yaml`` where c.yaml reads data.csv unless it says otherwise; the
    error names c.yaml (unless it is about a command-line option, ``args``)."""
    if isinstance(yaml_text, str) and "train:" not in yaml_text:
        yaml_text = "data:\n  train: data.csv\n" + yaml_text if "data:" not in yaml_text else \
            yaml_text.replace("data:\n", "data:\n  train: data.csv\n", 1)
    return Case(name, "config", {"c.yaml": yaml_text, "data.csv": csv}, ["train", "c.yaml", *args],
                code, ([] if args else ["c.yaml"]) + list(fragments))


BOMB = ("a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
        "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
        "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
        "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\nh: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
        "i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]\n")

CONFIG = [
    config_case("yaml syntax: unclosed list", "network:\n  layers: [3, 1\n",
                ["line 5, column 1", "YAML syntax error"]),
    config_case("yaml syntax: bad mapping", "training:\n  epochs: 3: 4\n",
                ["line 4, column 12", "YAML syntax error", "mapping values are not allowed"]),
    config_case("yaml syntax: tab indent", "training:\n\tepochs: 3\n", ["line 4, column 1", "YAML syntax error"]),
    Case("not a mapping", "config", {"c.yaml": "- 1\n- 2\n"}, ["train", "c.yaml"], 2,
         ["c.yaml, line 1", "must be a mapping of sections", "got a list"]),
    Case("a scalar document", "config", {"c.yaml": "hello\n"}, ["train", "c.yaml"], 2,
         ["c.yaml, line 1", "got a string"]),
    Case("empty file", "config", {"c.yaml": ""}, ["train", "c.yaml"], 2,
         ["c.yaml: the config file is empty", "give no config to use the defaults"]),
    Case("only comments", "config", {"c.yaml": "# nothing\n"}, ["train", "c.yaml"], 2,
         ["the config file is empty"]),
    config_case("unknown top-level key", "netwrok:\n  layers: [3, 1]\n",
                ["line 3: netwrok", "unknown key 'netwrok'", "did you mean 'network'?"]),
    config_case("a column named on, unquoted", "data:\n  target: label\n  features: [a, on]\n",
                ["line 4: data.features[1]", "got a boolean True", "quote a column of that name ('on')"]),
    config_case("a column named 1.50, unquoted", "data:\n  target: 1.50\n",
                ["data.target", "got a number 1.5", "quote a column named like a number"]),
    Case("a column named 007, unquoted", "config",
         {"c.yaml": "data:\n  train: data.csv\n  target: 007\n", "data.csv": "a,007,label\n1,2,x\n3,4,y\n"},
         ["train", "c.yaml"], 1, ["data.csv: target column index 7 is out of range",
                                  "for the column named '007', quote it in the config: '007'"]),
    Case("a column named 007 that is also an index in range", "config",
         {"c.yaml": "data:\n  train: data.csv\n  target: label\n  features: [a, 007]\n",
          "data.csv": "a,b,007,c,d,e,f,g,label\n" + "1,2,3,4,5,6,7,8,x\n1,2,3,4,5,6,7,8,y\n"},
         ["train", "c.yaml"], 1, ["data.csv: feature column 7 is ambiguous: column index 7 is 'g',"
                                  " and a column is named '007'; quote the name ('007')"]),
    config_case("a null target", "data:\n  target: ~\n", ["line 3: data.target: no target column given"]),
    config_case("no as a missing value, unquoted", "data:\n  target: label\n  na_values: ['?', no]\n",
                ["data.na_values[1]: got a boolean False", "quote the text ('no')"]),
    config_case("unknown data key", "data:\n  targte: label\n",
                ["line 3: data.targte", "did you mean 'target'?"]),
    config_case("unknown network key", "network:\n  layer: [3, 1]\n",
                ["line 4: network.layer", "did you mean 'layers'?"]),
    config_case("unknown layer key", "network:\n  layers:\n    - {units: 3, activaton: tanh}\n    - 1\n",
                ["line 5: network.layers[0].activaton", "did you mean 'activation'?"]),
    config_case("unknown training key", "training:\n  epochs: 3\n  bacth_size: 8\n",
                ["line 5: training.bacth_size", "did you mean 'batch_size'?"]),
    config_case("unknown optimizer parameter", "training:\n  optimizer: {name: adam, momentum: 0.9}\n",
                ["training.optimizer.momentum", "optimizer 'adam' takes no parameter 'momentum'"]),
    config_case("unknown output key", "output:\n  modle: m.npz\n", ["line 4: output.modle", "did you mean 'model'?"]),
    config_case("wrong type: epochs", "training:\n  epochs: many\n",
                ["line 4: training.epochs", "expected an integer, got a string 'many'"]),
    config_case("wrong type: layers", "network:\n  layers: 5\n",
                ["network.layers", "expected a list of layers, got an integer"]),
    config_case("wrong type: header", "data:\n  header: maybe\n", ["data.header", "expected true or false"]),
    config_case("wrong type: lr", "training:\n  optimizer: {name: sgd, lr: fast}\n",
                ["line 4: training.optimizer.lr", "expected a finite number, got a string 'fast'"]),
    config_case("negative units", "network:\n  layers:\n    - units: -3\n    - 1\n",
                ["line 5: network.layers[0].units", "must be from 1 to"]),
    config_case("zero units", "network:\n  layers:\n    - units: 0\n    - 1\n", ["network.layers[0].units"]),
    config_case("absurd units", "network:\n  layers:\n    - units: 100000000\n    - 1\n",
                ["network.layers[0].units", "must be from 1 to 1000000"]),
    config_case("too big for memory", "network:\n  layers:\n    - 200000\n    - 200000\n    - 1\n",
                ["network.layers", "parameters would need about", "GiB", "use smaller layers"]),
    config_case("zero layers", "network:\n  layers: []\n", ["network.layers", "at least one layer"]),
    config_case("unknown activation", "network:\n  layers:\n    - {units: 3, activation: rleu}\n    - 1\n",
                ["line 5: network.layers[0].activation", "expected one of arctan, binary_step, elu",
                 "did you mean 'relu'?"]),
    config_case("softmax in a hidden layer", "network:\n  layers:\n    - {units: 3, activation: softmax}\n    - 1\n",
                ["network.layers[0].activation", "only allowed in the output layer"]),
    config_case("alpha on tanh", "network:\n  layers:\n    - {units: 3, activation: tanh, alpha: 0.1}\n    - 1\n",
                ["network.layers[0].alpha", "takes no alpha; only elu and prelu do"]),
    config_case("unknown loss", "loss: hinge\n",
                ["line 3: loss", "unknown loss 'hinge'", "binary_crossentropy, categorical_crossentropy, huber, mae, mse"]),
    config_case("unknown optimizer", "training:\n  optimizer: adagrad\n",
                ["line 4: training.optimizer: unknown optimizer", "expected one of adam, adamw, momentum, nesterov, sgd"]),
    config_case("unknown schedule", "training:\n  schedule: linear\n",
                ["line 4: training.schedule: unknown schedule 'linear'", "cosine, exponential"]),
    config_case("unknown dtype", "training:\n  dtype: float16\n", ["training.dtype", "expected one of float32, float64"]),
    config_case("loss vs output activation", "network:\n  layers:\n    - 3\n    - {units: 1, activation: tanh}\n",
                ["line 6: network.layers[1].activation", "needs a 'logistic' output activation, got 'tanh'"]),
    config_case("softmax output with binary loss", "loss: binary_crossentropy\nnetwork:\n  layers:\n"
                "    - 3\n    - {activation: softmax}\n",
                ["network.layers[1].activation", "needs a 'logistic' output activation, got 'softmax'"]),
    config_case("n[0] mismatch", "network:\n  inputs: 4\n  layers: [3, 1]\n",
                ["line 4: network.inputs", "n[0] = 4, but the data has 2 feature column(s)"]),
    config_case("n[L] mismatch", "network:\n  layers: [3, 2]\n",
                ["line 4: network.layers[1].units", "n[L] = 2, but the target needs 1 output(s)"]),
    config_case("split fractions sum to 1", "data:\n  validation_split: 0.6\n  test_split: 0.4\n",
                ["data.test_split", "leaves no training rows"]),
    config_case("negative split", "data:\n  validation_split: -0.1\n", ["data.validation_split", "must be in [0.0, 1.0)"]),
    config_case("data path missing", "data:\n  train: nope.csv\n", ["line 2: data.train", "nope.csv: no such file"]),
    config_case("data path is a directory", "data:\n  train: .\n", ["data.train", "is a directory"]),
    config_case("validation path missing", "data:\n  validation: val.csv\n", ["data.validation", "val.csv: no such file"]),
    config_case("duplicate key", "training:\n  epochs: 3\n  epochs: 4\n", ["line 5: training.epochs", "duplicate key"]),
    config_case("feature is the target", "data:\n  features: [a, label]\n", ["data.features", "both a feature and the target"]),
    config_case("a one-character delimiter that is not ASCII", "data:\n  delimiter: '€'\n",
                ["data.delimiter", "an ASCII character"]),
    config_case("two-character delimiter", "data:\n  delimiter: ';;'\n", ["data.delimiter", "expected one character"]),
    Case("missing config file", "config", {}, ["train", "nope.yaml"], 2, ["nope.yaml: no such config file"]),
    Case("config is a directory", "config", {"d/x": ""}, ["train", "d"], 2, ["d: is a directory"]),
    # untrusted configs (issue 11, class 4)
    Case("an alias bomb", "config", {"c.yaml": BOMB}, ["train", "c.yaml"], 2,
         ["c.yaml, line", "expands to more than 100,000 values", "aliases"]),
    Case("nested 60 deep", "config", {"c.yaml": "a: " + "[" * 60 + "]" * 60 + "\n"}, ["train", "c.yaml"], 2,
         ["c.yaml, line 1", "nested more than 50 levels deep"]),
    Case("nested 100,000 deep", "config", {"c.yaml": "a: " + "[" * 100_000 + "]" * 100_000 + "\n"},
         ["train", "c.yaml"], 2, ["c.yaml", "nested too deeply"]),
    Case("a CSV of 2 MB as the config", "config", {"big.csv": "x1,x2,x3,label\n" + "0.1,0.2,0.3,1\n" * 150_000},
         ["train", "big.csv"], 2, ["big.csv: is 2,", "more than the 1,048,576 a config file may be",
                                   "is this a data file?"]),
    Case("a small CSV as the config", "config", {"data.csv": CSV}, ["train", "data.csv"], 2,
         ["data.csv, line 1", "got a string"]),
    Case("binary bytes as the config", "config", {"c.yaml": bytes(range(256))}, ["train", "c.yaml"], 2,
         ["c.yaml, line 2, column 118: byte 0x80 is not UTF-8 text", "save the config as UTF-8"]),
    Case("a Latin-1 letter after a BOM", "config",
         {"c.yaml": b"\xef\xbb\xbftraining:\n  epochs: 3\n  # caf\xe9\n"}, ["train", "c.yaml"], 2,
         ["c.yaml, line 3, column 8: byte 0xe9 is not UTF-8 text"]),
    Case("a Latin-1 letter in a comment of the config", "config",
         {"c.yaml": "training:\n  epochs: 3\n  # caf\xe9 au lait\n".encode("latin-1")}, ["train", "c.yaml"], 2,
         ["c.yaml, line 3, column 8: byte 0xe9 is not UTF-8 text", "save the config as UTF-8"]),
    Case("a NUL in the config", "config", {"c.yaml": "training:\n  epochs: 3\x00\n"}, ["train", "c.yaml"], 2,
         ["c.yaml, line 2, column 12: YAML syntax error: character '\\x00' is not allowed"]),
    config_case("a control character in a key", "training:\n  epo\x07chs: 3\n",
                ["c.yaml, line 4, column 6", "character '\\x07' is not allowed"]),
    config_case("an escape sequence in a quoted key", 'training:\n  "\\e]0;pwned\\a": 3\n',
                ["training.\\x1b]0;pwned\\x07", "unknown key"]),
    config_case("a key of 1,000 characters", "training:\n  " + "k" * 1_000 + ": 3\n",
                ["line 4: training." + "k" * 60 + "... (1,000 characters)", "unknown key"]),
    config_case("a key of 10,000 characters (YAML's limit is 1,024)", "training:\n  " + "k" * 10_000 + ": 3\n",
                ["line 4, column 10003: YAML syntax error"]),
    config_case("a value of 10,000 characters", "loss: " + "x" * 10_000 + "\n",
                ["line 3: loss", "(10,000 characters)"]),
    Case("the config is a named pipe nobody writes to", "config", {"c.yaml": fifo("c.yaml")},
         ["train", "c.yaml"], 2, ["c.yaml: a named pipe that nothing wrote to in 1 s"]),
    Case("the config is a device", "config", {"c.yaml": symlink("c.yaml", "/dev/zero")},
         ["train", "c.yaml"], 2, ["c.yaml: is a device or socket, not a config file"]),
    Case("a config path too long for the system", "config", {}, ["train", "c" * 300 + ".yaml"], 2,
         ["cannot read the config file (File name too long)"]),
    config_case("--epochs beyond the schema", "", ["training.epochs", "must be"], args=("--epochs", "20000000")),
    config_case("--lr inf", "", ["Invalid value for '--lr'", "not a finite number"], args=("--lr", "inf")),
    config_case("--lr nan", "", ["Invalid value for '--lr'", "not a finite number"], args=("--lr", "nan")),
    config_case("--batch-size 0", "", ["Invalid value for '--batch-size'"], args=("--batch-size", "0")),
    config_case("--seed -1", "", ["Invalid value for '--seed'"], args=("--seed", "-1")),
    config_case("--epochs as text", "", ["Invalid value for '--epochs'"], args=("--epochs", "ten")),
    Case("an escape sequence in an extra argument", "terminal", {"m.npz": MODEL},
         ["predict", "m.npz", "a.csv", "\x1b]0;pwned\x07"], 2,
         ["Got unexpected extra argument (\\x1b]0;pwned\\x07)"]),
    Case("an escape sequence in an unknown command", "terminal", {}, ["\x1b[2Jtrain"], 2,
         ["No such command '\\x1b[2Jtrain'"]),
    config_case("batch_size: 0", "training:\n  batch_size: 0\n",
                ["training.batch_size", "must be between 1 and 100000000 (or auto)"]),
    config_case("epochs: .inf", "training:\n  epochs: .inf\n", ["training.epochs", "expected an integer"]),
    config_case("lr: .nan", "training:\n  optimizer: {name: sgd, lr: .nan}\n",
                ["training.optimizer.lr", "expected a finite number"]),
    config_case("seed: 1e30", "training:\n  seed: 1e30\n", ["training.seed"]),
    config_case("yes as a class weight label", "training:\n  class_weight: {yes: 2}\n",
                ["training.class_weight", "no class 'True'", "quote the label"]),
]


# -- data -----------------------------------------------------------------------------------


def csv_case(name, csv, fragments, data="", extra="training: {epochs: 2}\n", file="data.csv"):
    """``nnctl train c.yaml`` on a bad data file: exit 1, the file and place named."""
    return Case(name, "data", {"c.yaml": f"data: {{train: {file}{data}}}\n" + extra, file: csv},
                ["train", "c.yaml"], 1, [file, *fragments])


DATA = [
    csv_case("empty file", "", ["the training file is empty"]),
    csv_case("blank lines only", "\n\n  \n", ["the training file is empty"]),
    csv_case("header only", "a,b,label\n", ["has a header but no data rows"]),
    csv_case("ragged row, too many", "a,b,label\n1,2,x\n3,4,5,y\n", ["line 3: 4 fields, expected 3"]),
    csv_case("ragged row, too few", "a,b,label\n1,2,x\n3,y\n", ["line 3: 2 fields, expected 3", "check the delimiter"]),
    csv_case("non-numeric cell", "a,b,label\n1,2,x\n3,oops,y\n", ["line 3, column 'b'", "'oops' is not a number"]),
    csv_case("inf cell", "a,b,label\n1,2,x\n3,-inf,y\n", ["line 3, column 'b'", "-inf in a feature column"]),
    csv_case("missing target column", "a,b,class\n1,2,x\n3,4,y\n", ["line 1: no target column 'label'", "the columns are a, b, class"]),
    csv_case("misspelt target column", "a,b,lable\n1,2,x\n3,4,y\n", ["no target column 'label'", "did you mean 'lable'?"]),
    csv_case("missing feature column", "a,b,label\n1,2,x\n3,4,y\n", ["no feature column 'c'"], data=", features: [a, c]"),
    csv_case("single-class target", "a,b,label\n1,2,x\n3,4,x\n", ["target column 'label' has a single class 'x'"]),
    csv_case("duplicate column names", "a,a,label\n1,2,x\n3,4,y\n", ["line 1: duplicate column name 'a'"]),
    csv_case("unnamed column", "a,,label\n1,2,x\n3,4,y\n", ["line 1: column 2 has an empty name"]),
    csv_case("non-UTF-8 bytes", b"a,b,label\n1,2,x\n3,4,caf\xe9\n", ["line 3: byte 0xe9 is not UTF-8", "save the file as UTF-8"]),
    csv_case("target index out of range", "1,2,x\n3,4,y\n", ["target column index 7 is out of range"],
             data=", header: false, target: 7"),
    csv_case("three classes for a binary loss", "a,b,label\n1,2,x\n3,4,y\n5,6,z\n",
             ["loss binary_crossentropy needs two classes", "use categorical_crossentropy"],
             extra="loss: binary_crossentropy\n"),
    csv_case("labels for a regression loss", "a,b,label\n1,2,x\n3,4,y\n", ["line 2, column 'label'", "'x' is not a number"],
             extra="loss: mse\n"),
    csv_case("unclosed quote", 'a,b,label\n1,2,"x\n3,4,y\n', ["line 2", "malformed CSV", "an unclosed quote"]),
    # more (issue 11, class 5)
    csv_case("a first row longer than the header", "a,b,label\n1,2,x,9\n3,4,y\n", ["line 2: 4 fields, expected 3"]),
    csv_case("a row of delimiters only, short", "a,b,label\n1,2,x\n,\n3,4,y\n", ["line 3: 2 fields, expected 3"]),
    csv_case("a lone CR joining two rows", b"a,b,label\n1,2,x\r3,4,y\n5,6,x\n\n7,8,y\n", ["line 2: 5 fields, expected 3"]),
    csv_case("a form feed line", b"a,b,label\n1,2,x\n\x0c\n3,4,y\n", ["line 3: 1 fields, expected 3"]),
    csv_case("UTF-16 without data.encoding", "a,b,label\n1,2,x\n3,4,y\n".encode("utf-16"),
             ["line 1: byte 0xff is not UTF-8", "data.encoding"]),
    csv_case("an unknown data.encoding", CSV, ["unknown encoding 'klingon'"], data=", encoding: klingon"),
    csv_case("a gzip that is not one", b"a,b\n1,2\n", ["data.csv.gz: gzip, but the data is damaged",
                                                     "drop the extension if it is plain text"], file="data.csv.gz"),
    csv_case("a damaged gzip named .csv", __import__("gzip").compress(CSV.encode() * 20)[:40],
             ["data.csv: its first bytes say gzip, but the data is damaged or cut short", "compress it again"]),
    csv_case("a corrupted deflate stream", __import__("gzip").compress(CSV.encode() * 20)[:12] + b"\xff" * 40,
             ["data.csv: its first bytes say gzip, but the data is damaged or cut short"]),
    csv_case("an empty bzip2 stream", __import__("bz2").compress(b""), ["the training file is empty"]),
    csv_case("a zip with two files", zipped("data.zip", {"a.csv": CSV.encode(), "b.csv": CSV.encode()}),
             ["a zip archive with 2 files"], file="data.zip"),
    csv_case("a truncated bz2", __import__("bz2").compress(CSV.encode())[:20], ["bzip2, but the data is damaged"],
             file="data.csv.bz2"),
    # Without the parquet extra (as in CI), the missing reader is named; with it, the file
    # is not Parquet at all (4 bytes of magic and nothing else).
    csv_case("a 4-byte parquet file", b"PAR1",
             ["not a readable Parquet file"] if importlib.util.find_spec("pyarrow") else
             ["reading Parquet needs pyarrow", "pip install 'nnctl[parquet]'"], file="data.parquet"),
    csv_case("every target missing", "a,b,label\n1,2,\n3,4,\n", ["every row's target is missing"]),
    csv_case("1,001 classes", "a,label\n" + "".join(f"{i},c{i}\n" for i in range(1001)),
             ["has 1001 distinct values, too many for classes"]),
    csv_case("a stray text cell in numbers", "a,b,label\n" + "".join(f"{i},{i},x\n" for i in range(30))
             + "oops,1,y\n", ["line 32, column 'a'", "'oops' is not a number"]),
    csv_case("a NUL byte in a number", b"a,b,label\n1,2,x\n3,\x004,y\n5,6,x\n", ["line 3, column 'b'"]),
    csv_case("1e400 in a feature", "a,b,label\n1,2,x\n3,1e400,y\n", ["line 3, column 'b'", "inf in a feature column"]),
    csv_case("a huge cell", "a,b,label\n1,2,x\n3," + "9" * 200_000 + ",y\n", ["line 3, column 'b'"]),
    csv_case("a quoted cell with a line end in a number column", 'a,b,label\n1,2,x\n3,"4\n5",y\n',
             ["line 3, column 'b'", "is not a number"]),
    csv_case("data.encoding: punycode", CSV, ["cannot decode the file as punycode"], data=", encoding: punycode"),
    Case("a gzip bomb (64 MiB of zeros, the bound set to 8 MiB)", "data",
         {"c.yaml": "data: {train: data.csv.gz}\n",
          "data.csv.gz": __import__("gzip").compress(b"a,b\n" + bytes(1 << 20) * 64, 1)},
         ["train", "c.yaml"], 1, ["data.csv.gz: decompresses to more than 8,388,608 bytes"],
         env={"NNCTL_MAX_DECOMPRESSED": str(8 << 20)}),
    csv_case("20,000 columns, 4 rows: quick", "".join(f"c{i}," for i in range(20_000)) + "label\n"
             + ("1," * 20_000 + "x\n") * 2 + ("2," * 20_000 + "y\n") * 2 + "3,4\n",
             ["line 6: 2 fields, expected 20001"]),
    csv_case("the data is a named pipe nobody writes to", fifo("data.csv"),
             ["data.csv: a named pipe that nothing wrote to in 1 s"]),
    csv_case("the data is a device", symlink("data.csv", "/dev/zero"), ["data.csv: is a device or socket"]),
    Case("a validation file without the target", "data",
         {"c.yaml": "data: {train: data.csv, validation: val.csv}\ntraining: {epochs: 2}\n",
          "data.csv": CSV, "val.csv": "a,b\n1,2\n"}, ["train", "c.yaml"], 1,
         ["val.csv", "no target column 'label'"]),
    Case("a test file with a class training never saw", "data",
         {"c.yaml": "data: {train: data.csv, test: test.csv}\ntraining: {epochs: 2}\n",
          "data.csv": CSV, "test.csv": "a,b,label\n1,2,z\n"}, ["train", "c.yaml"], 1,
         ["test.csv, line 2, column 'label'", "class 'z' was not in the training data"]),
]

GOOD = {
    "UTF-8 BOM": "\ufeffa,b,label\n1,2,x\n3,4,y\n5,6,x\n7,8,y\n".encode(),
    "CRLF line ends": b"a,b,label\r\n1,2,x\r\n3,4,y\r\n5,6,x\r\n7,8,y\r\n",
    "old Mac line ends": b"a,b,label\r1,2,x\r3,4,y\r5,6,x\r7,8,y\r",
    "quoted fields": b'a,b,label\n"1",2,"x, left"\n3,"4",y\n5,6,"x, left"\n7,8,y\n',
    "blank lines and spaces": b"a, b ,label\n\n 1 ,2, x\n3,4,y\n\n5,6,x \n7,8,y\n\n",
    "no final newline": b"a,b,label\n1,2,x\n3,4,y\n5,6,x\n7,8,y",
    "integer labels": b"a,b,label\n1,2,0\n3,4,1\n5,6,0\n7,8,1.0\n",
    "features on a 1e300 scale": b"a,b,label\n1e300,2,x\n-3e300,4,y\n5e299,6,x\n7e300,8,y\n",
    "a header of 100,000 bytes": ("a" * 50_000 + ",b" + "c" * 50_000 + ",label\n1,2,x\n3,4,y\n5,6,x\n7,8,y\n").encode(),
    "a label with a line end in quotes": b'a,b,label\n1,2,"x\ny"\n3,4,z\n5,6,"x\ny"\n7,8,z\n',
    "a row of empty cells": b"a,b,label\n1,2,x\n,,\n3,4,y\n5,6,x\n7,8,y\n",
    "semicolons, sniffed": b"a;b;label\n1;2;x\n3;4;y\n5;6;x\n7;8;y\n",
}


def good_case(name, csv):
    return Case(name, "good", {"c.yaml": "data: {train: data.csv, validation_split: 0, test_split: 0}\n"
                                         "training: {epochs: 2, batch_size: 2}\noutput: {model: m.npz}\n",
                               "data.csv": csv}, ["train", "c.yaml"], 0, outputs=("m.npz", "m.history.csv"))


# -- model files ----------------------------------------------------------------------------


def model_case(name, make, fragments, *, command="predict", file="x.npz"):
    """A bad model file ``file`` made by ``make(folder, model)``, used by ``command``."""
    args = {"predict": ["predict", file, "data.csv"], "evaluate": ["evaluate", file, "data.csv"],
            "resume": ["train", "c.yaml", "--resume", file, "-o", "new.npz"]}[command]
    files = {"data.csv": DEFAULT, "c.yaml": "data: {train: data.csv}\ntraining: {epochs: 1}\n"}
    if make is not None:
        files[file] = make
    return Case(f"{name} ({command})", "model", files, args, 1, [file, *fragments])


def _text_file(folder, model):
    (folder / "x.npz").write_text("hello")


def _truncated(folder, model):
    raw = model.read_bytes()
    (folder / "x.npz").write_bytes(raw[:len(raw) // 2])


def _zip_bomb(folder, model):
    """A W1 member that inflates to 200 MB of zeros (a 200 KB file)."""
    with np.load(model, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    with zipfile.ZipFile(folder / "x.npz", "w", zipfile.ZIP_DEFLATED) as z:
        for k, v in arrays.items():
            if k == "W1":
                header = npy(np.zeros((3, 3)))[:128]
                with z.open("W1.npy", "w", force_zip64=True) as f:
                    f.write(header)
                    block = bytes(1 << 20)
                    for _ in range(200):
                        f.write(block)
            else:
                z.writestr(f"{k}.npy", npy(v))


MODEL_MUTATIONS = [  # (name, change, fragments)
    ("sizes not a list", setting("network.sizes", 5), ["metadata network.sizes"]),
    ("a negative size", setting("network.sizes", [3, -3, 2, 1]), ["metadata network.sizes[1]"]),
    ("a size of 10^9", setting("network.sizes", [3, 10 ** 9, 2, 1]), ["metadata network.sizes[1]"]),
    ("sizes that want 50 GB", setting("network.sizes", [3, 40_000, 40_000, 1]),
     ["needs about", "GiB, more than the"]),
    ("an unknown activation", setting("network.activations", ["rleu", "elu", "logistic"]),
     ["inconsistent model", "unknown activation 'rleu'"]),
    ("a NaN alpha", setting("network.alphas", [float("nan"), None, None]), ["metadata network.alphas[0]"]),
    ("float16", setting("network.dtype", "float16"), ["metadata network.dtype"]),
    ("an unknown loss", setting("network.loss", "hinge"), ["inconsistent model", "unknown loss 'hinge'"]),
    ("sizes as strings", setting("network.sizes", ["3", "3", "2", "1"]), ["metadata network.sizes[0]"]),
    ("three classes for one unit", setting("data.classes", ["0", "1", "2"]),
     ["inconsistent model", "3 classes do not fit 1 output unit(s)"]),
    ("one class", setting("data.classes", ["0"]), ["inconsistent model", "at least two distinct classes"]),
    ("duplicate classes", setting("data.classes", ["0", "0"]), ["inconsistent model", "at least two distinct"]),
    ("classes not text", setting("data.classes", [0, 1]), ["metadata data.classes[0]"]),
    ("a zero scale", setting("data.scaler.scale", lambda v: [0.0] + v[1:]), ["metadata data.scaler.scale[0]"]),
    ("a NaN shift", setting("data.scaler.shift", lambda v: [float("nan")] + v[1:]), ["metadata data.scaler.shift[0]"]),
    ("a negative scale", setting("data.scaler.scale", lambda v: [-1.0] + v[1:]), ["metadata data.scaler.scale[0]"]),
    ("a scaler of the wrong length", setting("data.scaler.shift", lambda v: v + [0.0]),
     ["inconsistent model", "data.scaler give 4 inputs but the network takes 3"]),
    ("an unknown scaler", setting("data.scaler.method", "robust"), ["metadata data.scaler.method"]),
    ("encoded of the wrong length", setting("data.encoded", ["x1"]),
     ["inconsistent model", "data.encoded give 1 inputs"]),
    ("a feature step missing", setting("data.preprocess", lambda v: {**v, "columns": v["columns"][:2]}),
     ["inconsistent model", "its feature steps give 2 inputs"]),
    ("a feature step malformed", setting("data.preprocess", {"columns": [{"name": "x1", "typo": 1}]}),
     ["feature step 0 is malformed"]),
    ("a NaN fill", setting("data.preprocess", lambda v: {**v, "columns": [{**v["columns"][0], "fill": float("nan")}]
                                                          + v["columns"][1:]}), ["has no finite fill value"]),
    ("a newline delimiter", setting("data.delimiter", "\n"), ["metadata data.delimiter", "is not a delimiter"]),
    ("a two-character delimiter", setting("data.delimiter", ",,"), ["metadata data.delimiter"]),
    ("a digit delimiter", setting("data.delimiter", "1"), ["metadata data.delimiter"]),
    ("an unknown encoding", setting("data.encoding", "klingon"), ["metadata data.encoding", "unknown encoding"]),
    ("header as text", setting("data.header", "yes"), ["metadata data.header"]),
    ("an unknown task", setting("data.task", "clustering"), ["metadata data.task"]),
    ("no target", setting("data.target", []), ["metadata data.target"]),
    ("a regression with classes", lambda m, a: m["data"].update(task="regression"),
     ["inconsistent model", "a regression model with classes"]),
    ("a data loss that is not the network's", setting("data.loss", "mse"),
     ["inconsistent model", "data.loss is mse but the network's loss is binary_crossentropy"]),
    ("no data section", setting("data", DELETE), ["metadata data"]),
    ("data as a list", setting("data", []), ["metadata data"]),
    ("negative epochs run", setting("training.epochs_run", -1), ["metadata training.epochs_run"]),
    ("best epoch after the last", setting("training.best_epoch", 999), ["inconsistent model", "best epoch 999"]),
    ("an unknown status", setting("training.status", "magic"), ["metadata training.status"]),
    ("a negative class weight", setting("training.class_weights", {"0": -1.0}), ["metadata training.class_weights"]),
    ("a class weight for no class", setting("training.class_weights", {"9": 1.0}),
     ["inconsistent model", "class weights for classes the model does not have"]),
    ("a history row of text", setting("training.history", [{"epoch": "one"}]), ["metadata training.history[0]"]),
    ("no config", setting("config", DELETE), ["metadata config is missing"]),
    ("format version 1", setting("format_version", 1), ["model format version 1", "retrain it with this nnctl"]),
    ("format version as text", setting("format_version", "2"), ["no format version"]),
    ("optimizer moments of the wrong size",
     lambda m, a: a.update({"optimizer.M": np.zeros(5), "optimizer.V": np.zeros(5), "optimizer.t": np.array(3)}),
     ["optimizer state 'M' does not fit the network's 23 parameters"]),
    ("NaN optimizer moments",
     lambda m, a: a.update({"optimizer.M": np.full(23, np.nan), "optimizer.V": np.zeros(23), "optimizer.t": np.array(3)}),
     ["optimizer state 'M' is not finite"]),
    ("a negative step count",
     lambda m, a: a.update({"optimizer.M": np.zeros(23), "optimizer.V": np.zeros(23), "optimizer.t": np.array(-1)}),
     ["optimizer step count is not a non-negative integer"]),
    ("moments without a step count",
     lambda m, a: a.pop("optimizer.t"),
     ["optimizer state is incomplete"]),
    ("an array no model has", lambda m, a: a.update({"evil": np.zeros(3)}), ["holds an array 'evil.npy'"]),
    ("Infinite weights", lambda m, a: a.update({"W2": np.full((2, 3), np.inf)}), ["holds non-finite parameters"]),
    ("an integer bias", lambda m, a: a.update({"b1": np.array([1, 2, 3])}), None),
]

MODEL_CASES = [
    model_case("a text file", _text_file, ["not an nnctl model (not an .npz archive)"]),
    model_case("a .npy file", lambda f, m: np.save(f / "x.npy", np.zeros(3)), ["not an nnctl model (a single .npy array"],
               file="x.npy"),
    model_case("an empty file", lambda f, m: (f / "x.npz").write_bytes(b""), ["not an nnctl model"]),
    model_case("truncated", _truncated, ["not an nnctl model, or truncated"]),
    model_case("an npz without metadata", lambda f, m: np.savez(f / "x.npz", W1=np.zeros((3, 3))),
               ["not an nnctl model (no metadata)"]),
    model_case("metadata not JSON", lambda f, m: _resave(f, m, lambda a: a.update(metadata=np.array("{oops"))),
               ["metadata is not valid JSON"]),
    model_case("another program's JSON", edited_model("x.npz", setting("format", "keras")),
               ["metadata format is not 'nnctl-model'"]),
    model_case("a newer format version", edited_model("x.npz", setting("format_version", 99)),
               ["model format version 99 is newer", "upgrade nnctl"]),
    model_case("a wrong array shape", edited_model("x.npz", lambda m, a: a.update(W2=np.zeros((3, 2)))),
               ["inconsistent model", "W2 has shape (3, 2), expected (2, 3)"]),
    model_case("a missing array", edited_model("x.npz", lambda m, a: a.pop("b3")),
               ["inconsistent model", "missing parameter array(s): b3"]),
    model_case("NaN weights", edited_model("x.npz", lambda m, a: a.update(W1=np.full((3, 3), np.nan))),
               ["holds non-finite parameters"]),
    model_case("an object array (pickle)", lambda f, m: _resave(
        f, m, lambda a: a.update(W1=np.array([{"x": 1}], dtype=object))),
               ["holds pickled objects, which nnctl never loads"]),
    model_case("pickled metadata", lambda f, m: np.savez(f / "x.npz", metadata=np.array([{"evil": 1}], dtype=object)),
               ["holds pickled objects"]),
    model_case("string weights", edited_model("x.npz", lambda m, a: a.update(W1=np.array([["a"] * 3] * 3))),
               ["inconsistent model", "array W1 has dtype <U1"]),
    model_case("a missing model file", None, ["no such model file"], file="nope.npz"),
    model_case("a zip bomb", _zip_bomb, ["its array 'W1.npy' declares 209,715,328 bytes", "more than the network's"]),
    model_case("huge metadata declared", zipped("x.npz", {"metadata.npy": npy(np.array("x" * (70 << 20)))}),
               ["its metadata declares", "far more than a model's"]),
    model_case("the model is a named pipe nobody writes to", fifo("x.npz"), ["a named pipe that nothing wrote to"]),
    model_case("the model is a directory", lambda f, m: (f / "x.npz").mkdir(),
               ["x.npz: a directory with no model.npz", "give a model file or a run directory"]),
    model_case("the model is a device", symlink("x.npz", "/dev/zero"), ["is a device or socket, not a model file"]),
]


def _resave(folder, model, change):
    """The corpus's model with its arrays changed by ``change(arrays)``, saved as x.npz."""
    with np.load(model, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    change(arrays)
    np.savez(folder / "x.npz", **arrays)


for _name, _change, _fragments in MODEL_MUTATIONS:
    if _fragments is None:
        continue
    for _command in ("predict", "evaluate"):
        MODEL_CASES.append(model_case(_name, edited_model("x.npz", _change), _fragments, command=_command))
MODEL_CASES += [
    model_case("truncated", _truncated, ["not an nnctl model, or truncated"], command="resume"),
    model_case("a zero scale", edited_model("x.npz", MODEL_MUTATIONS[13][1]), ["metadata data.scaler.scale[0]"],
               command="resume"),
    model_case("NaN optimizer moments", edited_model("x.npz", MODEL_MUTATIONS[43][1]), ["is not finite"],
               command="resume"),
]


# -- outputs (classes 1, 2 and 7) -------------------------------------------------------------


def output_case(name, args, code, fragments, files=None, fault=None, outputs=(), late=False):
    base = {"data.csv": DEFAULT, "c.yaml": "data: {train: data.csv}\ntraining: {epochs: 1}\n", "m.npz": MODEL}
    return Case(name, "output", {**base, **(files or {})}, args, code, fragments, fault=fault, outputs=outputs,
                late=late)


OUTPUT = [
    output_case("-o the training data", ["train", "c.yaml", "-o", "data.csv"], 2,
                ["data.csv: the model would overwrite the training data"]),
    output_case("-o the training data, spelt ./", ["train", "c.yaml", "-o", "./data.csv"], 2,
                ["data.csv: the model would overwrite the training data"]),
    output_case("-o the training data through a symlink", ["train", "c.yaml", "-o", "link.npz"], 2,
                ["the model would overwrite the training data"], files={"link.npz": symlink("link.npz", "data.csv")}),
    output_case("-o the training data through a hard link", ["train", "c.yaml", "-o", "hard.npz"], 2,
                ["the model would overwrite the training data"], files={"hard.npz": hardlink("hard.npz", "data.csv")}),
    output_case("-o the config", ["train", "c.yaml", "-o", "c.yaml"], 2, ["the model would overwrite the config"]),
    output_case("a history on the data", ["train", "h.yaml"], 2, ["the history would overwrite the training data"],
                files={"h.yaml": "data: {train: data.csv}\noutput: {model: m2.npz, history: data.csv}\n"}),
    output_case("the history on the model", ["train", "h.yaml"], 2, ["the history would overwrite the model"],
                files={"h.yaml": "data: {train: data.csv}\noutput: {model: m2.npz, history: m2.npz}\n"}),
    output_case("resume over the resumed model", ["train", "c.yaml", "--resume", "m.npz", "-o", "m.npz"], 2,
                ["the model would overwrite the resumed model"]),
    output_case("predictions over the input", ["predict", "m.npz", "data.csv", "-o", "data.csv"], 2,
                ["the predictions would overwrite the input"]),
    output_case("predictions over the model", ["predict", "m.npz", "data.csv", "-o", "m.npz"], 2,
                ["the predictions would overwrite the model"]),
    output_case("predictions through /proc/self/cwd onto the input",
                ["predict", "m.npz", "data.csv", "-o", "sub/../data.csv"], 2,
                ["the predictions would overwrite the input"], files={"sub/x": ""}),
    output_case("-o in a missing directory", ["train", "c.yaml", "-o", "no/dir/m.npz"], 1,
                ["the directory", "does not exist; create it first"]),
    output_case("-o under a file", ["train", "c.yaml", "-o", "data.csv/m.npz"], 1, ["does not exist"]),
    output_case("-o a directory", ["train", "c.yaml", "-o", "out"], 1, ["out: is a directory"], files={"out/x": ""}),
    output_case("predict -o a directory", ["predict", "m.npz", "data.csv", "-o", "out"], 1,
                ["out: is a directory"], files={"out/x": ""}),
    output_case("-o a name too long", ["train", "c.yaml", "-o", "m" * 300 + ".npz"], 1, ["File name too long"]),
    output_case("predict to a full disk", ["predict", "m.npz", "big.csv", "-o", "p.csv"], 1,
                ["p.csv: cannot write the predictions", "nothing was changed there"],
                files={"big.csv": DEFAULT + DEFAULT.split("\n", 1)[1] * 2, "p.csv": "old predictions\n"},
                fault="file size 64 KiB"),
    output_case("a model to a full disk: no history either", ["train", "wide.yaml", "-o", "m.npz"], 1,
                ["m.npz: cannot write the model", "nothing was changed there"],
                files={"wide.yaml": "data: {train: data.csv}\nnetwork: {layers: [5000, 1]}\ntraining: {epochs: 1}\n"},
                fault="file size 64 KiB", late=True),
    output_case("a long history to a full disk: no model either", ["train", "long.yaml", "-o", "m2.npz"], 1,
                ["m2.history.csv: cannot write the history", "nothing was changed there"],
                files={"long.yaml": "data: {train: small.csv, validation_split: 0, test_split: 0}\n"
                                    "training: {epochs: 1500, batch_size: 8, early_stopping: false}\n",
                       "small.csv": CSV + CSV.split("\n", 1)[1]}, fault="file size 64 KiB", late=True),
    output_case("predictions to /dev/full", ["predict", "m.npz", "data.csv", "-o", "/dev/full"], 1,
                ["/dev/full: cannot write the predictions (No space left on device)"]),
    output_case("-o the training data through /proc/self/cwd", ["train", "c.yaml", "-o", "/proc/self/cwd/data.csv"],
                2, ["the model would overwrite the training data"]),
    output_case("predictions over the input through /proc/self/cwd",
                ["predict", "m.npz", "data.csv", "-o", "/proc/self/cwd/data.csv"], 2,
                ["the predictions would overwrite the input"]),
    Case("predictions over the input given on stdin", "output",
         {"data.csv": DEFAULT, "m.npz": MODEL},
         ["predict", "m.npz", "-", "-o", "data.csv"], 2, ["the predictions would overwrite the input (stdin)"],
         fault="stdin from data.csv"),
    output_case("predictions to 'data.csv/'", ["predict", "m.npz", "data.csv", "-o", "data.csv/"], 2,
                ["data.csv/: names a directory; give a file name"]),
    output_case("predictions to 'p.csv/.'", ["predict", "m.npz", "data.csv", "-o", "p.csv/."], 2,
                ["names a directory"]),
    output_case("-o a symlink loop", ["train", "c.yaml", "-o", "loop.npz"], 2,
                ["loop.npz: is a loop of symbolic links"], files={"loop.npz": symlink("loop.npz", "loop.npz")}),
    output_case("model and history both on stdout", ["train", "s.yaml"], 2,
                ["both the model and the history would go there"],
                files={"s.yaml": "data: {train: data.csv}\noutput: {model: '-', history: '-'}\n"}),
    output_case("predictions to a named pipe nothing reads", ["predict", "m.npz", "data.csv", "-o", "p.csv"], 1,
                ["p.csv: a named pipe that nothing read from in 1 s"], files={"p.csv": fifo("p.csv")}),
    output_case("predict into a folder that refuses", ["predict", "m.npz", "data.csv", "-o", "p.csv"], 1,
                ["p.csv: cannot write the predictions there (Permission denied)"], fault="as nobody"),
    output_case("train into a folder that refuses", ["train", "c.yaml", "-o", "new.npz"], 1,
                ["new.npz: cannot write the model there (Permission denied)"], fault="as nobody"),
    output_case("predictions to a closed stdout", ["predict", "m.npz", "data.csv"], 1,
                ["stdout is closed; write the output to a file with -o FILE"], fault="stdout closed"),
    output_case("shapes to a closed stdout", ["shapes", "c.yaml"], 1, ["stdout is closed"], fault="stdout closed"),
    output_case("evaluate --json to a closed stdout", ["evaluate", "m.npz", "data.csv", "--json"], 1,
                ["stdout is closed"], fault="stdout closed"),
    output_case("predictions to a reader that leaves early", ["predict", "m.npz", "big.csv"], 1,
                ["(broken pipe)", "write to a file with -o"],
                files={"big.csv": DEFAULT + DEFAULT.split("\n", 1)[1] * 40},
                fault="stdout to head"),
]


# -- inputs (class 5) and the terminal (class 6) ----------------------------------------------


def input_case(name, args, code, fragments, files=None, stdin=None, kind="input"):
    base = {"data.csv": DEFAULT, "m.npz": MODEL}
    return Case(name, kind, {**base, **(files or {})}, args, code, fragments, stdin=stdin)


ESC = "\x1b]0;pwned\x07\x1b[2J"

INPUT = [
    input_case("predict on a named pipe nobody writes to", ["predict", "m.npz", "p.csv"], 1,
               ["p.csv: a named pipe that nothing wrote to in 1 s"], files={"p.csv": fifo("p.csv")}),
    input_case("predict on a device", ["predict", "m.npz", "z.csv"], 1, ["z.csv: is a device or socket"],
               files={"z.csv": symlink("z.csv", "/dev/zero")}),
    input_case("predict on a directory", ["predict", "m.npz", "d"], 1, ["d: is a directory"], files={"d/x": ""}),
    input_case("predict with stdin closed", ["predict", "m.npz", "-"], 1, ["<stdin>: stdin is closed"],
               stdin="closed"),
    input_case("predict on empty stdin", ["predict", "m.npz", "-"], 1, ["<stdin>: the input file is empty"],
               stdin=b""),
    input_case("evaluate with stdin closed", ["evaluate", "m.npz", "-"], 1, ["stdin is closed"], stdin="closed"),
    input_case("predict on a missing file", ["predict", "m.npz", "nope.csv"], 1, ["nope.csv: no such input file"]),
    input_case("predict on a header only", ["predict", "m.npz", "h.csv"], 1, ["h.csv: has a header but no data rows"],
               files={"h.csv": "x1,x2,x3\n"}),
    Case("predict on features at 1e308: saturated, finite", "good",
         {"m.npz": MODEL, "x.csv": "x1,x2,x3\n0,0,0\n1e308,-1e308,1e308\n"},
         ["predict", "m.npz", "x.csv", "-o", "p.csv"], 0, outputs=("p.csv",)),
    input_case("predict on a missing feature column", ["predict", "m.npz", "x.csv"], 1,
               ["x.csv, line 1: no feature column 'x2'"], files={"x.csv": "x1,x3\n0.1,0.2\n"}),
    input_case("predict on text in a feature", ["predict", "m.npz", "x.csv"], 1,
               ["x.csv, line 2, column 'x2'", "'abc' is not a number"], files={"x.csv": "x1,x2,x3\n0.1,abc,0.2\n"}),
    input_case("predict on a ragged row", ["predict", "m.npz", "x.csv"], 1, ["x.csv, line 3: 2 fields, expected 3"],
               files={"x.csv": "x1,x2,x3\n0.1,0.2,0.3\n0.1,0.2\n"}),
    input_case("evaluate on a file without labels", ["evaluate", "m.npz", "x.csv"], 1,
               ["x.csv, line 1: no target column 'label'"], files={"x.csv": "x1,x2,x3\n0.1,0.2,0.3\n"}),
    input_case("evaluate on an unseen class", ["evaluate", "m.npz", "x.csv"], 1,
               ["x.csv, line 2, column 'label'", "class '7' was not in the training data"],
               files={"x.csv": "x1,x2,x3,label\n0.1,0.2,0.3,7\n"}),
    input_case("an escape sequence in a column name", ["predict", "m.npz", "x.csv"], 1,
               ["no feature column 'x2'", "\\x1b]0;pwned\\x07\\x1b[2J"], files={"x.csv": f"x1,{ESC},x3\n1,2,3\n"},
               kind="terminal"),
    input_case("an escape sequence in a label", ["evaluate", "m.npz", "x.csv"], 1,
               ["class '\\x1b]0;pwned\\x07\\x1b[2J' was not in the training data"],
               files={"x.csv": f"x1,x2,x3,label\n1,2,3,{ESC}\n"}, kind="terminal"),
    input_case("an escape sequence in a cell", ["predict", "m.npz", "x.csv"], 1,
               ["'\\x1b]0;pwned\\x07\\x1b[2J' is not a number"], files={"x.csv": f"x1,x2,x3\n1,{ESC},3\n"},
               kind="terminal"),
    input_case("an escape sequence in a file name", ["predict", "m.npz", f"{ESC}.csv"], 1,
               ["\\x1b]0;pwned\\x07\\x1b[2J.csv: no such input file"], kind="terminal"),
    input_case("a bidi override in a column name", ["predict", "m.npz", "x.csv"], 1,
               ["\\u202egnp.exe"], files={"x.csv": "x1,\u202egnp.exe,x3\n1,2,3\n"}, kind="terminal"),
    input_case("a line end in a quoted column name", ["predict", "m.npz", "x.csv"], 1,
               ["no feature column 'x2'", "x\\x0ay"], files={"x.csv": 'x1,"x\ny",x3\n1,2,3\n'}, kind="terminal"),
    Case("an escape sequence in a config value", "terminal", {"c.yaml": 'loss: "\\e[2J\\e]0;x\\a"\n'},
         ["train", "c.yaml"], 2, ["unknown loss '\\x1b[2J\\x1b]0;x\\x07'"]),
    Case("an escape sequence in a training column", "terminal",
         {"c.yaml": "data: {train: data.csv, target: label}\ntraining: {epochs: 1}\n",
          "data.csv": f"a,b,label\n1,2,x\n3,{ESC},y\n"}, ["train", "c.yaml"], 1,
         ["data.csv, line 3, column 'b'", "'\\x1b]0;pwned\\x07\\x1b[2J' is not a number"]),
]


CASES = (CONFIG + DATA + [good_case(name, csv) for name, csv in GOOD.items()] + MODEL_CASES + OUTPUT
         + INPUT)
