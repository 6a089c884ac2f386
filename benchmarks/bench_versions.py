"""Two versions of nnctl side by side in one run: seconds per epoch of ``fit``.

For a change's before/after: check the old commit out somewhere (``git worktree add
/tmp/before HEAD``) and compare it with this tree. Each round runs every version in its
own subprocess, alternating, so that the machine's drift hits both alike; reported is the
median seconds per epoch and the ratio new/old (below 1: faster).

    python benchmarks/bench_versions.py /tmp/before . -w tiny,small,mnist,wide --rounds 5

Only the stable public API (``nnctl.Network``, ``nnctl.Adam``, ``nnctl.fit``) is used,
so any two versions compare. The workloads are ``bench_train.py``'s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import json, statistics, sys
sys.path.insert(0, sys.argv[1])
sys.path.insert(0, sys.argv[2])
import numpy as np
import nnctl
from bench_train import WORKLOADS, make_data, targets_nnctl
w = WORKLOADS[sys.argv[3]]
r = int(sys.argv[4])
X, labels = make_data(w)
Y = targets_nnctl(w, labels)
try:
    from threadpoolctl import threadpool_limits
    limits = threadpool_limits(w.threads)
except ImportError:
    pass
net = nnctl.Network(list(w.sizes), [w.hidden] * (len(w.sizes) - 2) + [w.output], loss=w.loss,
                    dtype=w.dtype, rng=np.random.default_rng(r))
h = nnctl.fit(net, X.T, Y.T, optimizer=nnctl.Adam(lr=1e-3), epochs=w.epochs, batch_size=w.batch,
              rng=np.random.default_rng(r))
print(json.dumps({"seconds": statistics.mean(rec.seconds for rec in h.records),
                  "loss": h.records[-1].train_loss, "version": str(nnctl.__file__)}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", nargs="+", help="source trees of nnctl (old first)")
    parser.add_argument("-w", "--workloads", default="tiny,small,mnist,wide")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    here = str(Path(__file__).resolve().parent)
    trees = [str(Path(t).resolve()) for t in args.trees]
    results: dict = {}
    for name in args.workloads.split(","):
        times: dict[str, list[float]] = {t: [] for t in trees}
        losses: dict[str, float] = {}
        for r in range(args.rounds):
            for t in trees:
                out = subprocess.run([sys.executable, "-c", CHILD, t, here, name, str(r)],
                                     capture_output=True, text=True, check=True)
                got = json.loads(out.stdout.strip().splitlines()[-1])
                times[t].append(got["seconds"])
                losses[t] = got["loss"]
        med = {t: statistics.median(v) for t, v in times.items()}
        base = med[trees[0]]
        line = [f"{name:6s}"]
        for t in trees:
            line.append(f"{Path(t).name or t}: {med[t] * 1e3:9.2f} ms (min {min(times[t]) * 1e3:.2f},"
                        f" max {max(times[t]) * 1e3:.2f}) x{med[t] / base:.3f}")
        print("  ".join(line), flush=True)
        same = len({round(v, 12) for v in losses.values()}) == 1
        print(f"       last-round loss {'identical' if same else 'DIFFERS'}: "
              + ", ".join(f"{v!r}" for v in losses.values()), flush=True)
        results[name] = {"median_s": med, "all_s": times, "loss": losses}
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
