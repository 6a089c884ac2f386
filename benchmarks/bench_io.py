"""Start-up time, CSV loading throughput and peak memory of `nnctl train`.

    python benchmarks/bench_io.py                 # all three
    python benchmarks/bench_io.py --csv-mb 100 --only csv

- start-up: wall time of `nnctl --help` (median of runs);
- CSV: seconds to load a numeric CSV of about --csv-mb MB with nnctl's reader (every
  column as float64) against `numpy.loadtxt` on the same file;
- memory: peak resident memory of `nnctl train` (one epoch) on a CSV of N bytes, minus
  that of the same command on a tiny CSV (Python, numpy and the network), against 2 N.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nnctl.data.table import read_table  # noqa: E402


def nnctl_command() -> list[str]:
    exe = shutil.which("nnctl")
    return [exe] if exe else [sys.executable, "-m", "nnctl"]


def startup(runs: int = 15) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(nnctl_command() + ["--help"], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def write_csv(path: Path, mb: float, columns: int = 20, seed: int = 0) -> int:
    """A numeric CSV of about ``mb`` MB: ``columns`` features and a target; returns rows."""
    rng = np.random.default_rng(seed)
    row_bytes = (columns + 1) * 10
    rows = int(mb * 1e6 / row_bytes)
    header = ",".join([f"x{i}" for i in range(columns)] + ["y"])
    with path.open("w") as f:
        f.write(header + "\n")
        for start in range(0, rows, 100_000):
            block = rng.standard_normal((min(100_000, rows - start), columns + 1))
            np.savetxt(f, block, fmt="%.6f", delimiter=",")
    return rows


def csv_load(mb: float, rounds: int = 3) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.csv"
        rows = write_csv(path, mb)
        size = path.stat().st_size
        t_np, t_nn = [], []
        for _ in range(rounds):
            start = time.perf_counter()
            a = np.loadtxt(path, delimiter=",", skiprows=1)
            t_np.append(time.perf_counter() - start)
            del a
            start = time.perf_counter()
            table = read_table(path)
            b = table.numbers(list(range(len(table.columns))), np.float64, "feature")
            t_nn.append(time.perf_counter() - start)
            del table, b
    return {"bytes": size, "rows": rows, "numpy_loadtxt_s": statistics.median(t_np),
            "nnctl_s": statistics.median(t_nn)}


def peak_rss(args: list[str], cwd: Path) -> int:
    """Peak resident bytes of a child process (Linux reports ru_maxrss in KiB)."""
    code = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, "
            "capture_output=True); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, check=True,
                         capture_output=True, text=True)
    return int(out.stdout.strip()) * 1024


def memory(mb: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_csv(tmp / "big.csv", mb)
        write_csv(tmp / "tiny.csv", 0.01)
        for name in ("big", "tiny"):
            (tmp / f"{name}.yaml").write_text(
                f"data: {{train: {name}.csv, target: y, validation_split: 0.1, test_split: 0.0}}\n"
                "network: {layers: [32, 1]}\nloss: mse\n"
                "training: {epochs: 1, batch_size: 256}\n")
        size = (tmp / "big.csv").stat().st_size
        big = peak_rss(nnctl_command() + ["train", "big.yaml"], tmp)
        tiny = peak_rss(nnctl_command() + ["train", "tiny.yaml"], tmp)
    return {"bytes": size, "peak_rss": big, "baseline_rss": tiny, "extra": big - tiny}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["startup", "csv", "memory"])
    parser.add_argument("--csv-mb", type=float, default=100.0)
    parser.add_argument("--memory-mb", type=float, default=100.0)
    args = parser.parse_args(argv)
    if args.only in (None, "startup"):
        print(f"start-up: `nnctl --help` takes {startup() * 1e3:.0f} ms (median of 15)")
    if args.only in (None, "csv"):
        r = csv_load(args.csv_mb)
        mb = r["bytes"] / 1e6
        print(f"CSV: {mb:.0f} MB, {r['rows']:,} rows x 21 columns: numpy.loadtxt"
              f" {r['numpy_loadtxt_s']:.2f} s ({mb / r['numpy_loadtxt_s']:.0f} MB/s), nnctl"
              f" {r['nnctl_s']:.2f} s ({mb / r['nnctl_s']:.0f} MB/s):"
              f" {r['numpy_loadtxt_s'] / r['nnctl_s']:.2f}x loadtxt's speed")
    if args.only in (None, "memory"):
        r = memory(args.memory_mb)
        n = r["bytes"]
        print(f"memory: training on a {n / 1e6:.0f} MB CSV peaks at {r['peak_rss'] / 1e6:.0f} MB;"
              f" {r['extra'] / 1e6:.0f} MB above the same run on a tiny CSV"
              f" ({r['baseline_rss'] / 1e6:.0f} MB) = {r['extra'] / n:.2f} N (goal: under 2 N)")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("COLUMNS", "100")
    sys.exit(main())
