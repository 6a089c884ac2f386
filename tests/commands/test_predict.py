"""``nnctl predict`` on large files (issue 8)."""

import csv
import io

import numpy as np

from helpers import write


def r2(y, p):
    return 1 - np.sum((y - p) ** 2) / np.sum((y - y.mean()) ** 2)


def test_cli_predicts_a_file_of_12000_rows_as_well_as_its_pieces(cli, tmp_path):
    """The repro of issue 8: 9,000+ rows, a linear target, the bundled defaults."""
    rng = np.random.default_rng(1)
    m = 12_000
    X = rng.normal(size=(m, 3))
    y = X @ [1.5, -2.0, 0.7] + 0.1 * rng.normal(size=m)
    rows = [",".join(f"{v:.6f}" for v in (*r, t)) for r, t in zip(X, y)]
    header = "x1,x2,x3,y"
    write(tmp_path / "reg.csv", "\n".join([header, *rows]) + "\n")
    write(tmp_path / "reg.yaml", "data: {train: reg.csv, target: y}\ntraining: {epochs: 20}\n")
    assert cli("train", "reg.yaml", "-o", "reg.npz").code == 0
    run = cli("predict", "reg.npz", "reg.csv", "-o", "all.csv")
    assert run.code == 0, run
    out = list(csv.DictReader(io.StringIO((tmp_path / "all.csv").read_text())))
    assert len(out) == m
    p = np.array([float(r["predicted_y"]) for r in out])
    assert r2(y, p) > 0.95  # 0.989 when written; 0.10 before the fix
    pieces = []
    for i, (a, b) in enumerate([(0, 1), (1, 4097), (4097, 9000), (9000, m)]):
        write(tmp_path / f"part{i}.csv", "\n".join([header, *rows[a:b]]) + "\n")
        assert cli("predict", "reg.npz", f"part{i}.csv", "-o", f"p{i}.csv").code == 0
        pieces += [r["predicted_y"] for r in csv.DictReader(io.StringIO((tmp_path / f"p{i}.csv").read_text()))]
    assert pieces == [r["predicted_y"] for r in out]  # the same text, to the last digit


def test_a_quoted_file_passes_its_cells_through_as_written(cli, tmp_path):
    write(tmp_path / "t.csv", "code,x,y\n" + "".join(f"{i:03d},{i / 7:.2f},{i % 5 / 10}\n"
                                                     for i in range(60)))
    write(tmp_path / "c.yaml", "data: {train: t.csv, target: y, columns: {code: {type: drop}}}\n"
                               "training: {epochs: 2}\n")
    assert cli("train", "c.yaml", "-o", "m.npz").code == 0
    write(tmp_path / "q.csv", 'code,x,y\n"007",1.50,1e3\n"a,b",2.00,0.10\n')
    run = cli("predict", "m.npz", "q.csv")
    assert run.code == 0, run
    rows = list(csv.reader(io.StringIO(run.stdout)))
    assert rows[0] == ["code", "x", "y", "predicted_y"]
    assert rows[1][:3] == ["007", "1.50", "1e3"] and rows[2][:3] == ["a,b", "2.00", "0.10"]
