"""Data I/O speed and memory of nnctl against pandas alone, side by side in one run.

    python benchmarks/bench_io.py                       # 1M rows, 3 rounds
    python benchmarks/bench_io.py --rows 200000 --rounds 5 --json io.json
    python benchmarks/bench_io.py --pyarrow-python /tmp/pavenv/bin/python --profile

On one numeric CSV made in a temporary folder (4 float columns with 6 significant digits
and an integer 0/1 label, about 34 bytes a row), with a model trained by ``nnctl train``
on 2,000 rows of the same columns (``training: {epochs: 2}``):

1. read: ``nnctl.data.read.read_table(path)`` against ``pandas.read_csv(path)``, both in
   this process, one after the other in each round; target: nnctl within 1.3x.
2. predict: ``nnctl predict MODEL data.csv -o out.csv`` against a Python script that does
   ``pandas.read_csv`` + one extra float64 prediction column + ``DataFrame.to_csv``; both
   are subprocesses timed end to end (interpreter start and imports included), each
   started by a fresh Python parent that also reports its peak RSS; target: within 1.5x.
3. memory: the peak RSS of that ``nnctl predict`` against 3x the data's in-memory size
   (rows x columns x 8 bytes), judged both on the total and on the increment over the
   same command on a 5-row file (the interpreter, the imports and the model).
4. pyarrow: ``pandas.read_csv(engine="pyarrow")`` against the C engine, in a Python that
   has pyarrow (``--pyarrow-python``; this project's venv does not); skipped without one.

Figures are the median of ``--rounds`` with the min and max; the rounds of the two sides
alternate, so that the noise of a shared machine falls on both. ``--profile`` adds where
``nnctl predict``'s time, garbage collection and memory go, stage by stage, in a fresh
process (the stages repeat the steps of ``read.parse_table`` and
``predict.predict_text``; the output is checked byte for byte against ``nnctl predict``'s).
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

COLUMNS = ["a", "b", "c", "d", "y"]
TRAIN_ROWS = 2000
TINY_ROWS = 5

#: A fresh parent: runs the command, prints its wall time and peak RSS (Linux: KiB).
PARENT = (
    "import json, resource, subprocess, sys, time\n"
    "t = time.perf_counter()\n"
    "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)\n"
    "s = time.perf_counter() - t\n"
    "err = r.stderr.decode(errors='replace')[-800:]\n"
    "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024\n"
    "print(json.dumps({'rc': r.returncode, 's': s, 'err': err, 'rss': rss}))\n"
)

#: The pandas side of target 2: read, one extra prediction column, write.
PANDAS_PREDICT = (
    "import sys\n"
    "import numpy as np\n"
    "import pandas as pd\n"
    "df = pd.read_csv(sys.argv[1])\n"
    "p = np.random.default_rng(0).random(len(df))  # full-precision floats, like a network's\n"
    "if sys.argv[3] == '1':\n"
    "    df['predicted_y'] = p\n"
    "else:  # the three columns nnctl writes for a 2-class target\n"
    "    df['predicted_y'] = (p > 0.5).astype(np.int64)\n"
    "    df['p_0'] = 1 - p\n"
    "    df['p_1'] = p\n"
    "df.to_csv(sys.argv[2], index=False)\n"
)

#: Target 4, run by the Python that has pyarrow: C engine and pyarrow engine, alternating.
PYARROW_READ = (
    "import gc, json, sys, time\n"
    "import pandas as pd, pyarrow\n"
    "path, rounds = sys.argv[1], int(sys.argv[2])\n"
    "out = {'c': [], 'pyarrow': [], 'pandas': pd.__version__,\n"
    "       'pyarrow_version': pyarrow.__version__}\n"
    "pd.read_csv(path, engine='pyarrow', nrows=None)  # warm the file cache and the imports\n"
    "for _ in range(rounds):\n"
    "    for engine in ('c', 'pyarrow'):\n"
    "        gc.collect()\n"
    "        t = time.perf_counter(); df = pd.read_csv(path, engine=engine)\n"
    "        out[engine].append(time.perf_counter() - t)\n"
    "        assert df.shape[1] == 5 and str(df.dtypes.iloc[0]) == 'float64'\n"
    "        del df\n"
    "print(json.dumps(out))\n"
)


# -- data ------------------------------------------------------------------------------------


def write_csv(path: Path, rows: int, seed: int) -> None:
    """4 floats in [0, 100) with 6 significant digits and a 0/1 label (a + b > 100)."""
    rng = np.random.default_rng(seed)
    with path.open("w", newline="\n") as f:
        f.write(",".join(COLUMNS) + "\n")
        for start in range(0, rows, 200_000):
            X = rng.uniform(0, 100, (min(200_000, rows - start), 4))
            y = (X[:, 0] + X[:, 1] > 100).astype(np.int64)
            f.write("".join(f"{a:.6g},{b:.6g},{c:.6g},{d:.6g},{k}\n"
                            for (a, b, c, d), k in zip(X.tolist(), y.tolist())))


def nnctl_command() -> list[str]:
    exe = Path(sys.executable).parent / "nnctl"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "nnctl"]


def setup(tmp: Path, rows: int) -> dict:
    write_csv(tmp / "data.csv", rows, seed=0)
    write_csv(tmp / "train.csv", TRAIN_ROWS, seed=1)
    write_csv(tmp / "tiny.csv", TINY_ROWS, seed=2)
    (tmp / "train.yaml").write_text("data: {train: train.csv, target: y}\ntraining: {epochs: 2}\n")
    (tmp / "pandas_predict.py").write_text(PANDAS_PREDICT)
    r = subprocess.run(nnctl_command() + ["train", "train.yaml", "-o", "model.npz"], cwd=tmp,
                       capture_output=True, text=True, check=False)
    if r.returncode:
        sys.exit(f"nnctl train failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return {"bytes": (tmp / "data.csv").stat().st_size, "rows": rows, "columns": len(COLUMNS)}


# -- measuring -------------------------------------------------------------------------------


def summary(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "values": values}


def run_child(args: list[str], cwd: Path) -> dict:
    """Wall seconds and peak RSS (bytes) of ``args``, started by a fresh Python parent."""
    out = subprocess.run([sys.executable, "-c", PARENT, *args], cwd=cwd, check=True,
                         capture_output=True, text=True)
    r = json.loads(out.stdout)
    if r["rc"]:
        sys.exit(f"{' '.join(args)} failed ({r['rc']}):\n{r['err']}")
    return r


def bench_read(tmp: Path, rounds: int) -> dict:
    """Target 1, in this process: pandas.read_csv(path) and nnctl's read_table(path).

    Two more pandas calls tell where the gap comes from: the same call on one thread
    (pandas 3.1 reads a large local UTF-8 file on several threads when it may), and the
    call nnctl makes (a StringIO of the decoded text, low_memory=False: one thread).
    """
    import io

    import pandas as pd

    from nnctl.data.read import read_table

    path = tmp / "data.csv"
    pd.read_csv(path)  # the file in the page cache, the imports done

    def serial():
        with pd.option_context("mode.max_threads", 1):
            return pd.read_csv(path)

    def as_nnctl():
        return pd.read_csv(io.StringIO(path.read_bytes().decode("utf-8")), sep=",", header=0,
                           na_values=[], keep_default_na=True, engine="c", low_memory=False,
                           index_col=False)

    sides = {"pandas": lambda: pd.read_csv(path), "nnctl": lambda: read_table(path),
             "pandas_1_thread": serial, "pandas_as_nnctl_calls_it": as_nnctl}
    times: dict[str, list[float]] = {k: [] for k in sides}
    for _ in range(rounds):
        for side, fn in sides.items():
            gc.collect()
            start = time.perf_counter()
            result = fn()
            times[side].append(time.perf_counter() - start)
            del result
    return {side: summary(v) for side, v in times.items()}


def bench_pyarrow(python: str | None, tmp: Path, rounds: int) -> dict | None:
    """Target 4, in the Python given (which has pyarrow), or None when there is none."""
    if not python:
        return None
    try:
        out = subprocess.run([python, "-c", PYARROW_READ, str(tmp / "data.csv"), str(rounds)],
                             check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"pyarrow: skipped ({getattr(e, 'stderr', '') or e})".strip(), file=sys.stderr)
        return None
    r = json.loads(out.stdout)
    return {"c": summary(r["c"]), "pyarrow": summary(r["pyarrow"]), "python": python,
            "pandas": r["pandas"], "pyarrow_version": r["pyarrow_version"]}


def bench_predict(tmp: Path, rounds: int) -> dict:
    """Targets 2 and 3: subprocesses, alternating, each from a fresh parent."""
    nn = nnctl_command()
    commands = {
        "nnctl": nn + ["predict", "model.npz", "data.csv", "-o", "out_nnctl.csv"],
        "pandas": [sys.executable, "pandas_predict.py", "data.csv", "out_pandas.csv", "1"],
        "pandas_3cols": [sys.executable, "pandas_predict.py", "data.csv", "out_pandas3.csv", "3"],
        "nnctl_tiny": nn + ["predict", "model.npz", "tiny.csv", "-o", "out_tiny.csv"],
        "pandas_tiny": [sys.executable, "pandas_predict.py", "tiny.csv", "out_ptiny.csv", "1"],
    }
    runs: dict[str, list[dict]] = {k: [] for k in commands}
    for k in ("nnctl_tiny", "pandas_tiny"):  # warm-ups: page cache, .pyc files
        run_child(commands[k], tmp)
    for _ in range(rounds):
        for k, args in commands.items():
            runs[k].append(run_child(args, tmp))
    lines = sum(1 for _ in (tmp / "out_nnctl.csv").open("rb"))
    with (tmp / "out_nnctl.csv").open() as f:
        header = f.readline().strip()
    return {k: {"s": summary([r["s"] for r in v]), "rss": summary([float(r["rss"]) for r in v])}
            for k, v in runs.items()} | {
        "nnctl_output": {"lines": lines, "header": header,
                         "sha256": _sha256(tmp / "out_nnctl.csv")}}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- the profile of nnctl predict's stages ---------------------------------------------------


def _status() -> dict[str, int]:
    d = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":")
                d[key] = int(value.split()[0]) * 1024
    return d


class Stages:
    """Wall time, time in the garbage collector, RSS after and peak RSS of each stage.

    The peak is the kernel's high-water mark, reset at each stage's start (clear_refs 5).
    """

    def __init__(self) -> None:
        self.rows: list[dict] = []
        self.gc_time = 0.0
        self._gc_start = 0.0
        gc.callbacks.append(self._gc)

    def _gc(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter()
        else:
            self.gc_time += time.perf_counter() - self._gc_start

    def _reset_peak(self) -> None:
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            pass

    def __call__(self, name: str, fn, *args, **kwargs):
        before = _status()["VmRSS"]
        self._reset_peak()
        gc0 = self.gc_time
        start = time.perf_counter()
        result = fn(*args, **kwargs)
        seconds = time.perf_counter() - start
        after = _status()
        self.rows.append({"stage": name, "s": seconds, "gc_s": self.gc_time - gc0,
                          "rss_before": before, "rss_after": after["VmRSS"],
                          "peak": max(after["VmHWM"], after["VmRSS"])})
        return result


def profile_stages(model_path: str, csv_path: str, out_path: str) -> dict:
    """``nnctl predict`` step by step, as ``predict.run`` -> ``read.parse_table`` ->
    ``predict.predict_text`` -> ``files.write_text`` do them (for a plain, unquoted CSV
    and a classification model), each array or list kept alive as long as there."""
    import io

    t0 = time.perf_counter()
    st = Stages()
    now = _status()
    st.rows.append({"stage": "interpreter + imports so far", "s": 0.0, "gc_s": 0.0,
                    "rss_before": 0, "rss_after": now["VmRSS"], "peak": now["VmHWM"]})
    pd = st("import pandas", __import__, "pandas")
    from nnctl import model_file
    from nnctl.commands import predict as P
    from nnctl.data import read as R
    from nnctl.data.columns import Preprocessor
    from nnctl.data.scaling import Scaler

    loaded = st("model_file.load", model_file.load, model_path)
    data = loaded.metadata["data"]
    if data["task"] != "classification":
        sys.exit("profile: the stages follow the classification path only")
    name, delimiter = csv_path, data.get("delimiter", "auto")

    # read.parse_table (raw and text live until it returns)
    raw = st("read: Path.read_bytes", Path(csv_path).read_bytes)
    text = st("read: _decode (bytes -> str)", R._decode, raw, name, "utf-8", "input")
    st("read: text.strip() (empty-file check)", lambda t: not t.strip(), text)
    if delimiter == "auto":
        delimiter = st("read: sniff_delimiter", R.sniff_delimiter, text)
    lines = st("read: _LineIndex ('\"' in text)", R._LineIndex, text, delimiter)
    columns = st("read: header_fields (csv.reader on StringIO(text))", lines.header_fields)
    n = len(columns)
    if lines.quoted:
        sys.exit("profile: the file has quotes; the stages follow the plain-file path only")

    # _LineIndex.check_widths, step by step (its arrays live until it returns)
    def encode(t):
        return np.frombuffer(t.encode("utf-8"), np.uint8)

    def line_ends(b):
        ends = np.flatnonzero(b == 10)
        if b.size and b[-1] != 10:
            ends = np.append(ends, b.size)
        return ends, np.concatenate(([0], ends[:-1] + 1))

    def blanks(b, starts, ends):
        return R._between(~np.isin(b, (9, 10, 13, 32)), starts, ends) == 0

    def keep_rows(ends, blank, counts, header_line):
        number = np.arange(1, ends.size + 1)
        keep = ~blank & (number > header_line)
        assert not (keep & (counts != n - 1)).any()
        return number[keep]

    b = st("count: text.encode('utf-8')", encode, text)
    ends, starts = st("count: line ends (== 10, flatnonzero)", line_ends, b)
    counts = st("count: _between(delimiters) (cumsum int64)", R._between,
                b == ord(delimiter), starts, ends)
    blank = st("count: _between(~isin blanks) (cumsum int64)", blanks, b, starts, ends)
    lines.row_lines = st("count: row numbers", keep_rows, ends, blank, counts, lines.header_line)
    del b, ends, starts, counts, blank

    def read_csv(t):
        return pd.read_csv(io.StringIO(t), sep=delimiter, header=0, dtype=None,
                           na_values=list(data.get("na_values") or []), keep_default_na=True,
                           skip_blank_lines=True, skipinitialspace=False, engine="c",
                           low_memory=False, encoding_errors="strict", index_col=False)

    df = st("pandas.read_csv(io.StringIO(text), C engine, low_memory=False)", read_csv, text)
    df.columns = columns
    st("read: _blank_cells_are_missing", R._blank_cells_are_missing, df)
    raw_lines = st("read: plain_rows (text.split + list)", lines.plain_rows, len(df))
    frame = R.Frame(name, df, True, delimiter, lines.row_lines, raw_lines, lines.header_text)
    del raw, text, lines, df, raw_lines  # parse_table returns

    # predict.model_inputs and predict.predict_text: X, A, P, labels, extra and the lines
    # live until predict_text returns; frame lives on in run, through the write.
    def network(X):
        with np.errstate(over="ignore", invalid="ignore"):
            return loaded.network.predict(X.T).T

    def probabilities(A):
        Pm = np.hstack([1 - A, A]) if A.shape[1] == 1 else A
        return Pm, np.asarray(data["classes"], dtype=object)[Pm.argmax(axis=1)]

    def extra_lists(labels, rows):
        return [[lab, *map(P._fmt, row)] for lab, row in zip(labels, rows)]

    def text_lines(extra):
        d = delimiter
        label = {c: P._csv_cell(c, d) for c in data.get("classes") or []}
        names = P.prediction_columns(loaded.metadata)
        out = [frame.header_text + d + d.join(P._csv_cell(x, d) for x in names)]
        for line, e in zip(frame.raw_lines, extra):
            if label:
                e[0] = label[e[0]]
            out.append(line + d + d.join(e))
        return out

    pre = Preprocessor.from_json(data["preprocess"], model_path)
    X, _ = st("Preprocessor.transform", pre.transform, frame, loaded.network.dtype)
    X = st("Scaler.transform (a new array)", Scaler.from_json(data["scaler"]).transform, X)
    A = st("Network.predict(X.T).T", network, X)
    st("_check_finite", P._check_finite, A, frame, "the network's output")
    Pm, labels = st("probabilities + labels", probabilities, A)
    rows = st("P.tolist()", Pm.tolist)
    extra = st("extra: [[label, *map(_fmt, row)]] (a list a row)", extra_lists, labels, rows)
    del rows  # a temporary of the list comprehension
    out_lines = st("text lines: line + d + d.join(e) (a str a row)", text_lines, extra)
    joined = st('"\\n".join(lines) + "\\n" (two copies)', lambda x: "\n".join(x) + "\n",
                out_lines)
    del out_lines, extra, X, A, Pm, labels  # predict_text returns

    # files.write_text: the text and its bytes both alive during the write
    def write(encoded):
        with open(out_path, "wb") as f:
            f.write(encoded)
            f.flush()
            os.fsync(f.fileno())

    encoded = st("write_text: text.encode('utf-8')", joined.encode, "utf-8")
    st("write_text: write + fsync", write, encoded)
    return {"stages": st.rows, "total_s": time.perf_counter() - t0, "gc_total_s": st.gc_time,
            "sha256": hashlib.sha256(encoded).hexdigest(),
            "peak_rss": max(r["peak"] for r in st.rows)}


# -- report ----------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def fmt(s: dict, scale: float = 1.0, unit: str = "s", digits: int = 2) -> str:
    return (f"{s['median'] * scale:.{digits}f} {unit} "
            f"({s['min'] * scale:.{digits}f}-{s['max'] * scale:.{digits}f})")


def print_report(r: dict) -> None:
    import pandas as pd

    d = r["data"]
    print(f"CPU: {r['cpu']} ({os.cpu_count()} logical CPUs); Python {platform.python_version()},"
          f" pandas {pd.__version__}, numpy {np.__version__}")
    print(f"data: {d['rows']:,} rows x {d['columns']} columns, {d['bytes'] / 1e6:.1f} MB of CSV;"
          f" in memory (float64) {d['matrix_bytes'] / 2**20:.1f} MiB; median (min-max) of"
          f" {r['rounds']} rounds\n")
    rows = []
    rd = r["read"]
    ratio1 = rd["nnctl"]["median"] / rd["pandas"]["median"]
    rows.append(("1 read: nnctl read_table", fmt(rd["nnctl"]), "pandas.read_csv",
                 fmt(rd["pandas"]), f"{ratio1:.2f}x", "<= 1.3x", ratio1 <= 1.3))
    for key, what in (("pandas_1_thread", "pandas.read_csv, 1 thread"),
                      ("pandas_as_nnctl_calls_it", "read_csv(StringIO(text), low_memory=False)")):
        rows.append((f"  {what}", fmt(rd[key]), "pandas.read_csv", fmt(rd["pandas"]),
                     f"{rd[key]['median'] / rd['pandas']['median']:.2f}x", "info", None))
    pr = r["predict"]
    ratio2 = pr["nnctl"]["s"]["median"] / pr["pandas"]["s"]["median"]
    rows.append(("2 predict: nnctl predict", fmt(pr["nnctl"]["s"]), "read_csv + to_csv (+1 col)",
                 fmt(pr["pandas"]["s"]), f"{ratio2:.2f}x", "<= 1.5x", ratio2 <= 1.5))
    ratio2b = pr["nnctl"]["s"]["median"] / pr["pandas_3cols"]["s"]["median"]
    rows.append(("  (same, 3 output columns)", "", "read_csv + to_csv (+3 cols)",
                 fmt(pr["pandas_3cols"]["s"]), f"{ratio2b:.2f}x", "info", None))
    rows.append(("  (tiny file: start-up)", fmt(pr["nnctl_tiny"]["s"]), "pandas script, tiny",
                 fmt(pr["pandas_tiny"]["s"]), "", "info", None))
    mib, mb = 1 / 2**20, d["matrix_bytes"]
    peak, base = pr["nnctl"]["rss"]["median"], pr["nnctl_tiny"]["rss"]["median"]
    rows.append(("3 memory: nnctl predict peak", fmt(pr["nnctl"]["rss"], mib, "MiB", 0),
                 "3 x data in memory", f"{3 * mb * mib:.0f} MiB", f"{peak / mb:.2f}x", "< 3x",
                 peak < 3 * mb))
    rows.append(("  increment over tiny file", f"{(peak - base) * mib:.0f} MiB",
                 "nnctl predict, tiny file", fmt(pr["nnctl_tiny"]["rss"], mib, "MiB", 0),
                 f"{(peak - base) / mb:.2f}x", "< 3x", peak - base < 3 * mb))
    pb, pbase = pr["pandas"]["rss"]["median"], pr["pandas_tiny"]["rss"]["median"]
    rows.append(("  pandas script peak", fmt(pr["pandas"]["rss"], mib, "MiB", 0),
                 "pandas script, tiny", fmt(pr["pandas_tiny"]["rss"], mib, "MiB", 0),
                 f"{pb / mb:.2f}x ({(pb - pbase) / mb:.2f}x incr.)", "info", None))
    pa = r.get("pyarrow")
    if pa:
        ratio4 = pa["pyarrow"]["median"] / pa["c"]["median"]
        rows.append(("4 read_csv(engine='pyarrow')", fmt(pa["pyarrow"]), "read_csv C engine",
                     fmt(pa["c"]), f"{ratio4:.2f}x", "faster?", ratio4 < 1))
        rows.append(("  nnctl read_table", fmt(rd["nnctl"]), "read_csv pyarrow engine",
                     fmt(pa["pyarrow"]), f"{rd['nnctl']['median'] / pa['pyarrow']['median']:.2f}x",
                     "info", None))
    else:
        rows.append(("4 read_csv(engine='pyarrow')", "skipped", "", "", "", "", None))
    head = ("measurement", "nnctl", "against", "reference", "ratio", "target", "met")
    table = [head] + [(a, b, c, e, f, g, "" if m is None else ("yes" if m else "NO"))
                      for a, b, c, e, f, g, m in rows]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(head))]
    for i, row in enumerate(table):
        print("  ".join(str(x).ljust(w) for x, w in zip(row, widths)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    out = pr["nnctl_output"]
    print(f"\nnnctl predict wrote {out['lines']:,} lines ({out['header']}); both sides are"
          " subprocesses timed end to end by a fresh Python parent (start-up and imports"
          " included), which also reads their peak RSS (ru_maxrss of RUSAGE_CHILDREN).")
    r["targets"] = {"read_1.3x": ratio1 <= 1.3, "predict_1.5x": ratio2 <= 1.5,
                    "rss_total_3x": peak < 3 * mb, "rss_increment_3x": peak - base < 3 * mb}
    if r.get("profile"):
        print_profile(r["profile"])


def print_profile(p: dict) -> None:
    mib = 1 / 2**20
    total = sum(s["s"] for s in p["stages"])
    same = "matches" if p.get("matches") else "DIFFERS from"
    print(f"\nnnctl predict, stage by stage (one run in a fresh process; {total:.2f} s in the"
          f" stages, of which {p['gc_total_s']:.2f} s in the garbage collector; peak"
          f" {p['peak_rss'] * mib:.0f} MiB; output {same} nnctl predict's)")
    head = ("stage", "s", "share", "gc s", "RSS after", "peak in stage", "above start")
    table = [head]
    for s in p["stages"]:
        table.append((s["stage"], f"{s['s']:.3f}", f"{100 * s['s'] / total:.0f}%" if total else "",
                      f"{s['gc_s']:.3f}", f"{s['rss_after'] * mib:.0f} MiB",
                      f"{s['peak'] * mib:.0f} MiB",
                      f"{(s['peak'] - s['rss_before']) * mib:+.0f} MiB" if s["rss_before"] else ""))
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    for i, row in enumerate(table):
        print("  ".join(x.ljust(w) if j == 0 else x.rjust(w)
                        for j, (x, w) in enumerate(zip(row, widths))))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    groups: dict[str, float] = {}
    for s in p["stages"]:
        groups[_group(s["stage"])] = groups.get(_group(s["stage"]), 0.0) + s["s"]
    print("by step: " + "; ".join(f"{g} {v:.2f} s ({100 * v / total:.0f}%)"
                                  for g, v in groups.items() if total))


def _group(stage: str) -> str:
    if stage.startswith(("interpreter", "import", "model_file")):
        return "start-up"
    if stage.startswith(("read:", "count:", "pandas.read_csv")):
        return "read_table"
    if stage.startswith(("Preprocessor", "Scaler", "Network", "_check_finite")):
        return "features + network"
    if stage.startswith("write_text"):
        return "write"
    return "output text"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the CSV (1,000,000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each measurement (3)")
    parser.add_argument("--json", metavar="PATH", help="save the figures as JSON")
    parser.add_argument("--pyarrow-python", metavar="PYTHON",
                        default="/tmp/pavenv/bin/python" if Path("/tmp/pavenv/bin/python").exists()
                        else None, help="a Python with pandas and pyarrow, for target 4"
                        " (default /tmp/pavenv/bin/python if it exists)")
    parser.add_argument("--profile", action="store_true",
                        help="also profile nnctl predict's stages (time, GC, RSS)")
    parser.add_argument("--stages", nargs=3, metavar=("MODEL", "CSV", "OUT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.stages:  # the child of --profile
        print(json.dumps(profile_stages(*args.stages)))
        return 0
    if args.rounds < 1 or args.rows < 10:
        parser.error("--rounds must be >= 1 and --rows >= 10")
    with tempfile.TemporaryDirectory(prefix="bench_io.") as tmp_name:
        tmp = Path(tmp_name)
        print(f"making {args.rows:,} rows and training a model in {tmp} ...", file=sys.stderr)
        data = setup(tmp, args.rows)
        data["matrix_bytes"] = data["rows"] * data["columns"] * 8
        result = {"cpu": cpu_model(), "cpus": os.cpu_count(), "python": platform.python_version(),
                  "rounds": args.rounds, "data": data}
        print("target 1 (read) ...", file=sys.stderr)
        result["read"] = bench_read(tmp, args.rounds)
        print("targets 2 and 3 (predict) ...", file=sys.stderr)
        result["predict"] = bench_predict(tmp, args.rounds)
        print("target 4 (pyarrow) ...", file=sys.stderr)
        result["pyarrow"] = bench_pyarrow(args.pyarrow_python, tmp, args.rounds)
        if args.profile:
            print("profile ...", file=sys.stderr)
            out = subprocess.run([sys.executable, __file__, "--stages", "model.npz", "data.csv",
                                  "out_stages.csv"], cwd=tmp, check=True, capture_output=True,
                                 text=True)
            prof = json.loads(out.stdout)
            prof["matches"] = prof["sha256"] == result["predict"]["nnctl_output"]["sha256"]
            result["profile"] = prof
    print_report(result)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
