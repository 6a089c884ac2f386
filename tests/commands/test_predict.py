"""``nnctl predict`` on large files (issue 8)."""

import csv
import json
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


# -- streaming: a large plain file is predicted in pieces of whole lines -------------------

import pytest  # noqa: E402

from nnctl.commands import predict  # noqa: E402

MIXED_HEADER = "x,code,colour,y"


def mixed_rows(rng, m, codes=("01", "02", "A7")):
    rows = []
    for i in range(m):
        x = "" if i % 11 == 3 else f"{rng.normal():.5f}"
        code = codes[i % len(codes)]
        colour = ("red", "green", "blue", "")[i % 4]
        rows.append(f"{x},{code},{colour},{'yes' if (i % 3 == 0) else 'no'}")
    return rows


@pytest.fixture
def mixed_model(cli, tmp_path):
    rng = np.random.default_rng(5)
    write(tmp_path / "train.csv", "\n".join([MIXED_HEADER, *mixed_rows(rng, 300)]) + "\n")
    write(tmp_path / "c.yaml", "data: {train: train.csv, target: y, columns: {code: {type: categorical}}}\n"
                               "training: {epochs: 3}\n")
    assert cli("train", "c.yaml", "-o", "m.npz").code == 0
    return tmp_path / "m.npz"


def predict_both_ways(cli, monkeypatch, model, name, block):
    """The output of predicting ``name`` whole and in pieces of ``block`` bytes."""
    monkeypatch.setattr(predict, "STREAM_ABOVE", 1 << 40)
    whole = cli("predict", model, name, "-o", "whole.csv")
    monkeypatch.setattr(predict, "STREAM_ABOVE", 0)
    monkeypatch.setattr(predict, "BLOCK", block)
    pieces = cli("predict", model, name, "-o", "pieces.csv")
    return whole, pieces


@pytest.mark.parametrize("block", [1, 7, 64, 1000, 1 << 20])
@pytest.mark.parametrize("shape", ["plain", "crlf+bom", "blank lines", "no final newline",
                                   "only numeric codes at the end"])
def test_pieces_give_the_bytes_of_the_whole_file(cli, tmp_path, monkeypatch, mixed_model, block, shape):
    rng = np.random.default_rng(9)
    rows = mixed_rows(rng, 120)
    if shape == "only numeric codes at the end":  # a piece where pandas alone would read 1, 2
        rows += mixed_rows(rng, 40, codes=("01", "02"))
    text = "\n".join([MIXED_HEADER, *rows]) + "\n"
    if shape == "crlf+bom":
        text = "\ufeff" + text.replace("\n", "\r\n")
    elif shape == "blank lines":
        text = text.replace("\n", "\n\n   \n", 5)
    elif shape == "no final newline":
        text = text.rstrip("\n")
    (tmp_path / "new.csv").write_bytes(text.encode("utf-8"))
    whole, pieces = predict_both_ways(cli, monkeypatch, mixed_model, "new.csv", block)
    assert whole.code == 0 and pieces.code == 0, (whole, pieces)
    assert whole.stderr == pieces.stderr  # the same warnings, counted over all pieces
    out = (tmp_path / "pieces.csv").read_bytes()
    assert out == (tmp_path / "whole.csv").read_bytes()
    assert out.count(b"\n") == len(rows) + 1  # every row, one header


@pytest.mark.parametrize("bad, fields", [("1.0,01,red", 3), ("1.0,01,red,yes,5", 5)])
def test_an_error_in_a_later_piece_names_the_files_line_and_writes_nothing(
        cli, tmp_path, monkeypatch, mixed_model, bad, fields):
    rows = mixed_rows(np.random.default_rng(2), 200)
    rows[150] = bad  # a field short or one too many, on line 303 (blank lines between)
    write(tmp_path / "bad.csv", "\n\n".join([MIXED_HEADER, *rows]) + "\n")  # a blank line each
    write(tmp_path / "pieces.csv", "kept\n")
    whole, pieces = predict_both_ways(cli, monkeypatch, mixed_model, "bad.csv", 100)
    for run in (whole, pieces):
        assert run.code == 1 and f"bad.csv, line 303: {fields} fields, expected 4" in run.stderr, run
    assert (tmp_path / "pieces.csv").read_text() == "kept\n"  # not replaced, not half-written
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_codes_that_look_like_numbers_are_the_categories_training_saw(cli, tmp_path, mixed_model):
    """Training read the column as text ('01', 'A7'); a file of only '01' and '02' is read
    as text too, not as the numbers 1 and 2 (which would be categories never seen)."""
    write(tmp_path / "codes.csv", MIXED_HEADER + "\n0.5,01,red,yes\n0.5,02,red,no\n0.5,1,red,no\n")
    run = cli("predict", mixed_model, "codes.csv")
    assert run.code == 0, run
    # '1' is not '01': training saw the text, so it is the one unseen cell
    assert "1 row(s) of column 'code' hold a category the model never saw" in run.stderr, run
    write(tmp_path / "mixed.csv", MIXED_HEADER + "\n0.5,01,red,yes\n0.5,A7,red,no\n")
    mixed = cli("predict", mixed_model, "mixed.csv")  # text in any reading
    assert run.stdout.splitlines()[1] == mixed.stdout.splitlines()[1]
    assert run.stdout.splitlines()[1].split(",")[4:] != run.stdout.splitlines()[2].split(",")[4:]


def test_true_false_categories_match_when_training_read_booleans(cli, tmp_path):
    rows = "".join(f"{i / 10},{'true' if i % 3 else 'false'},{'true' if i % 2 else 'false'}\n"
                   for i in range(60))
    write(tmp_path / "t.csv", "x,col,label\n" + rows)
    write(tmp_path / "c.yaml", "data: {train: t.csv, target: label, columns: {col: {type: categorical}}}\n"
                               "training: {epochs: 2}\n")
    assert cli("train", "c.yaml", "-o", "m.npz").code == 0
    run = cli("predict", "m.npz", "t.csv")
    assert run.code == 0 and "never saw" not in run.stderr, run
    evaluated = cli("evaluate", "m.npz", "t.csv", "--json")
    assert evaluated.code == 0, evaluated
    assert json.loads(evaluated.stdout)["rows"] == 60


def test_a_header_and_blank_lines_only_is_refused_in_pieces_too(cli, tmp_path, monkeypatch, mixed_model):
    write(tmp_path / "h.csv", MIXED_HEADER + "\n\n\n")
    whole, pieces = predict_both_ways(cli, monkeypatch, mixed_model, "h.csv", 2)
    for run in (whole, pieces):
        assert run.code == 1 and "h.csv: has a header but no data rows" in run.stderr, run


def test_predictions_of_predictions_are_refused_not_a_header_with_a_name_twice(cli, tmp_path):
    """Predicting from an earlier output gave 'predicted_y' twice, a file nnctl itself
    then refused (found by a hostile review): now one line, exit 1, no output file."""
    from helpers import assert_one_line_error

    rows = [f"{x},{2 * x + 1}" for x in range(40)]
    write(tmp_path / "d.csv", "\n".join(["x,y", *rows]) + "\n")
    write(tmp_path / "c.yaml", "data: {train: d.csv, target: y}\ntraining: {epochs: 2}\n"
                               "output: {plots: false}\n")
    assert cli("train", "c.yaml", "-o", "m.npz").code == 0
    assert cli("predict", "m.npz", "d.csv", "-o", "p1.csv").code == 0
    assert (tmp_path / "p1.csv").read_text().splitlines()[0] == "x,y,predicted_y"
    assert_one_line_error(cli("predict", "m.npz", "p1.csv", "-o", "p2.csv"), 1,
                          "p1.csv, line 1: already has a column 'predicted_y' (column 3)")
    assert not (tmp_path / "p2.csv").exists()


@pytest.mark.parametrize("name", ["rows.parquet", "rows.csv"])
def test_predict_on_parquet_gives_the_csv_of_the_same_rows(cli, tmp_path, name):
    """A Parquet file (also one named .csv, known by its bytes) was a ValueError traceback
    in predict: it has no text to pass through, so its values are written as text."""
    pytest.importorskip("pyarrow")
    import pandas as pd

    from nnctl.config import BUNDLED

    assert cli("train", "--epochs", "2", "-o", "m.npz", "-q").code == 0
    frame = pd.read_csv(BUNDLED / "datasets" / "default.csv").head(50)
    frame.loc[3, "x2"] = None  # a missing value: an empty cell in the CSV
    frame.to_parquet(tmp_path / name)
    frame.to_csv(tmp_path / "rows-as-text.csv", index=False)
    from_parquet = cli("predict", "m.npz", name)
    from_text = cli("predict", "m.npz", "rows-as-text.csv")
    assert from_parquet.code == 0 and from_text.code == 0, (from_parquet, from_text)
    got = list(csv.reader(io.StringIO(from_parquet.stdout)))
    want = list(csv.reader(io.StringIO(from_text.stdout)))
    assert got[0] == want[0] and len(got) == 51 and got[4][1] == ""
    assert [row[-3:] for row in got] == [row[-3:] for row in want]  # the same predictions


def test_a_quoted_cell_with_a_lone_carriage_return_stays_one_cell(cli, tmp_path):
    """The csv module quotes a line feed but not a lone CR: the cell was written bare and
    the row split in two when the predictions were read back."""
    import pandas as pd

    assert cli("train", "--epochs", "2", "-o", "m.npz", "-q").code == 0
    (tmp_path / "cr.csv").write_bytes(b'x1,x2,x3,note\n0.1,0.2,0.3,"a\rb"\n0.4,0.5,0.6,ok\n')
    assert cli("predict", "m.npz", "cr.csv", "-o", "p.csv").code == 0
    back = pd.read_csv(tmp_path / "p.csv")
    assert back["note"].tolist() == ["a\rb", "ok"] and back["x1"].tolist() == [0.1, 0.4]
