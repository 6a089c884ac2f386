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
the real ``nnctl predict``'s time goes (cProfile, a fresh process).
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


# -- where nnctl predict's time goes ---------------------------------------------------------

#: The real ``nnctl predict`` under cProfile, in a fresh process: the top functions.
PROFILE = (
    "import cProfile, io, pstats, sys\n"
    "from nnctl.cli import main\n"
    "profile = cProfile.Profile()\n"
    "profile.enable()\n"
    "try:\n"
    "    main(['predict', sys.argv[1], sys.argv[2], '-o', sys.argv[3]], standalone_mode=False)\n"
    "finally:\n"
    "    profile.disable()\n"
    "out = io.StringIO()\n"
    "pstats.Stats(profile, stream=out).sort_stats('cumulative').print_stats(25)\n"
    "print(out.getvalue())\n"
)


def profile_predict(tmp: Path) -> str:
    run = subprocess.run([sys.executable, "-c", PROFILE, "model.npz", "data.csv", "out_prof.csv"],
                         cwd=tmp, check=True, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    return run.stdout


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
        print("\nnnctl predict under cProfile (one run, a fresh process):\n" + r["profile"])


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
                        help="also show where nnctl predict's time goes (cProfile)")
    args = parser.parse_args(argv)
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
            result["profile"] = profile_predict(tmp)
    print_report(result)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
