"""Reading tables: delimiters, compression, encodings, lines in messages, and ownership."""

from __future__ import annotations

import bz2
import gzip
import lzma
import zipfile

import numpy as np
import pytest

from nnctl.data.read import parse_table, read_table
from nnctl.errors import DataError

from helpers import write

TEXT = "a,b,label\n1,2,x\n\n3,4,y\n"


@pytest.mark.parametrize("text, delimiter", [
    ("a,b,c\n1,2,3\n4,5,6\n", ","), ("a;b;c\n1;2;3\n4;5;6\n", ";"),
    ("a\tb\tc\n1\t2\t3\n4\t5\t6\n", "\t"), ("a|b|c\n1|2|3\n4|5|6\n", "|"),
    ('name,x\n"Smith, J",1\n"Doe, A",2\n', ","), ("x\n1\n2\n", ","),
])
def test_the_delimiter_is_sniffed(text, delimiter):
    frame = parse_table(text.encode(), "f.csv")
    assert frame.delimiter == delimiter and frame.m == 2


@pytest.mark.parametrize("suffix, pack", [
    (".csv.gz", gzip.compress), (".csv.bz2", bz2.compress), (".csv.xz", lzma.compress)])
def test_compressed_files_by_extension(tmp_path, suffix, pack):
    path = tmp_path / f"t{suffix}"
    path.write_bytes(pack(TEXT.encode()))
    frame = read_table(path)
    assert frame.df["label"].tolist() == ["x", "y"] and frame.line(1) == "line 4"


def _zip(data: bytes) -> bytes:
    import io

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("t.csv", data)
    return out.getvalue()


@pytest.mark.parametrize("pack", [gzip.compress, bz2.compress, lzma.compress, _zip])
def test_compressed_bytes_are_known_by_their_first_bytes_whatever_the_name(tmp_path, pack):
    """A gzip file named data.csv (or `gzip -c data.csv | nnctl predict m.npz -`) was 'byte
    0x8b is not UTF-8'; it is read as what its first bytes say."""
    path = tmp_path / "t.csv"
    path.write_bytes(pack(TEXT.encode()))
    for frame in (read_table(path), parse_table(path.read_bytes(), "<stdin>")):
        assert frame.df["label"].tolist() == ["x", "y"] and frame.line(1) == "line 4"


@pytest.mark.parametrize("header", ["PAR1,BZh91AY,label", "BZh,b,label", "PK,b,label"])
def test_a_csv_whose_header_begins_like_a_format_is_still_csv(tmp_path, header):
    path = tmp_path / "t.csv"
    path.write_text(f"{header}\n1,2,x\n3,4,y\nPAR1,2,z\n")
    assert read_table(path).df.columns.tolist() == header.split(",")


def test_a_spreadsheet_or_a_parquet_from_a_pipe_is_one_clear_error(tmp_path):
    book = tmp_path / "book.csv"
    with zipfile.ZipFile(book, "w") as z:  # an .xlsx, as Excel writes its parts
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.xml", "<workbook/>")
    with pytest.raises(DataError, match=r"book.csv: a spreadsheet workbook .*save the sheet as CSV"):
        read_table(book)
    with pytest.raises(DataError, match=r"<stdin>: a Parquet file, which is read from its path"):
        parse_table(b"PAR1" + bytes(100) + b"PAR1", "<stdin>")


def test_a_parquet_file_named_csv_is_read_as_parquet(tmp_path):
    pytest.importorskip("pyarrow")
    import pandas as pd

    path = tmp_path / "t.csv"
    pd.DataFrame({"a": [1.0, 3.0], "label": ["x", "y"]}).to_parquet(path)
    assert read_table(path).df["label"].tolist() == ["x", "y"]


def test_a_zip_with_one_csv_and_a_tsv_by_its_extension(tmp_path):
    with zipfile.ZipFile(tmp_path / "t.zip", "w") as z:
        z.writestr("inner.csv", TEXT)
    assert read_table(tmp_path / "t.zip").m == 2
    write(tmp_path / "t.tsv", "a,b\tc\n1,5\t2\n")  # a comma inside a tab-separated cell
    assert read_table(tmp_path / "t.tsv").columns == ["a,b", "c"]


@pytest.mark.parametrize("raw, fragments", [
    (b"a,b\n1,2\n3,\xff\n", ["f.csv, line 3", "byte 0xff is not UTF-8", "data.encoding"]),
    (b"a,b,label\n1,2,x\n3,y\n", ["f.csv, line 3", "2 fields, expected 3"]),
    (b"a,b,label\n1,2,x\n3,4,5,y\n", ["f.csv, line 3", "4 fields, expected 3"]),
    (b'a,b\n"1,2\n3,4\n', ["f.csv, line 2", "malformed CSV"]),
    (b"a,a\n1,2\n", ["f.csv, line 1", "duplicate column name 'a'"]),
    (b",b\n1,2\n", ["column 1 has an empty name"]),
    (b"a,b\n", ["has a header but no data rows"]),
    (b"  \n\n", ["the data file is empty"]),
])
def test_errors_name_the_file_and_line(raw, fragments):
    with pytest.raises(DataError) as e:
        parse_table(raw, "f.csv")
    for fragment in fragments:
        assert fragment in str(e.value)


def test_latin1_with_the_encoding_set_and_a_bom_without():
    assert parse_table("a,b\ncafé,1\n".encode("latin-1"), "f", encoding="latin-1").df["a"][0] == "café"
    assert parse_table(b"\xef\xbb\xbfa,b\n1,2\n", "f").columns == ["a", "b"]


def test_lines_of_rows_skip_blank_lines_and_count_quoted_ones():
    frame = parse_table(b'a,b\n1,"x\ny"\n\n2,z\n', "f.csv")
    assert frame.m == 2 and frame.line(0) == "line 2" and frame.line(1) == "line 5"
    assert frame.raw_lines is None  # a quoted row spans two lines: no plain pass-through


def test_take_gives_a_new_frame_and_leaves_the_old_one():
    frame = parse_table(TEXT.encode(), "f.csv")
    assert frame.raw_lines == ["1,2,x", "3,4,y"]  # built on first use
    part = frame.take(np.array([1]))
    part.df.loc[0, "a"] = 100  # the caller changes its own frame
    assert frame.df["a"].tolist() == [1, 3] and part.line(0) == "line 4"
    assert part.raw_lines == ["3,4,y"]


# -- findings of a review, each once a silent wrong result or a traceback ------------------

from nnctl.data.columns import Preprocessor  # noqa: E402
from nnctl.data.target import labels  # noqa: E402


def test_numeric_categories_are_the_same_with_or_without_gaps():
    with_gap = parse_table(b"c,y\n4,1\n\n8,0\n,1\n8,1\n", "f")
    without = parse_table(b"c,y\n4,1\n8,0\n8,1\n", "f")
    pre, _ = Preprocessor.fit(with_gap, ["c"], settings={"c": {"type": "categorical"}})
    assert pre.columns[0].categories == ["4", "8"]  # not "4.0", "8.0"
    X, unseen = pre.transform(without, np.float64)
    assert unseen == {} and X.tolist() == [[1, 0], [0, 1], [0, 1]]


def test_a_numeric_column_typed_date_is_read_as_years_not_nanoseconds():
    frame = parse_table(b"year,y\n1970,1\n1982,0\n1975,1\n", "f")
    pre, _ = Preprocessor.fit(frame, ["year"], settings={"year": {"type": "date"}})
    X, _ = pre.transform(frame, np.float64)
    assert X[:, 0].tolist() == [1970, 1982, 1975]


def test_dates_with_different_utc_offsets_and_many_distinct_days():
    days = "".join(f"2024-{1 + i // 28:02d}-{1 + i % 28:02d} 10:00+0{1 + i % 2}:00,{i % 2}\n"
                   for i in range(200))
    frame = parse_table(("day,y\n" + days).encode(), "f")
    pre, warnings = Preprocessor.fit(frame, ["day"])
    assert pre.columns[0].type == "date" and warnings == []  # not dropped as an identifier


def test_text_labels_stay_as_written_and_booleans_agree_with_or_without_gaps():
    assert labels(parse_table(b"t\n007\n7\nA1\n", "f").df["t"]).tolist() == ["007", "7", "A1"]
    plain = labels(parse_table(b"t\nTrue\nFalse\n", "f").df["t"]).tolist()
    gap = labels(parse_table(b"t,x\nTrue,1\nFalse,2\n,3\n", "f").df["t"].dropna()).tolist()
    assert plain == gap == ["True", "False"]


def test_yes_no_text_is_boolean_and_true_at_predict_time_counts_as_true():
    frame = parse_table(b"f,y\nyes,1\nno,0\nyes,1\n", "f")
    pre, _ = Preprocessor.fit(frame, ["f"])
    assert pre.columns[0].type == "boolean"
    X, _ = pre.transform(parse_table(b"f\nTRUE\nno\n", "g"), np.float64)
    assert X[:, 0].tolist() == [1.0, 0.0]


# -- the lines of rows, by counting bytes where that proves them, else line by line ---------

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@st.composite
def plain_files(draw):
    """A plain CSV (no quotes) of 3 columns with blank and space-only lines, CRLF or LF
    line ends, a BOM or none, a final line end or none; and its lines."""
    rows = draw(st.lists(st.tuples(*[st.sampled_from(["1", "2.5", "", "x", "-3e2"])] * 3),
                         min_size=1, max_size=30))
    lines = ["a,b,c"]
    for row in rows:
        lines += [""] * draw(st.integers(0, 2)) + ([" \t"] if draw(st.booleans()) else [])
        lines.append(",".join(row))
    if draw(st.booleans()):
        lines.insert(0, "")  # a blank line above the header
    end = draw(st.sampled_from(["\n", "\r\n"]))
    text = end.join(lines) + (end if draw(st.booleans()) else "")
    bom = "\ufeff" if draw(st.booleans()) else ""
    return (bom + text).encode("utf-8"), lines


@given(plain_files())
def test_row_lines_and_raw_lines_match_a_reading_line_by_line(tmp_path_factory, case):
    raw, lines = case
    path = tmp_path_factory.mktemp("r") / "f.csv"
    path.write_bytes(raw)
    header = next(i for i, line in enumerate(lines) if line.strip())
    expected = [i + 1 for i, line in enumerate(lines) if i > header and line.strip()]
    mapped = read_table(path)  # through a memory map, pandas reading the path
    kept = parse_table(raw, "f.csv")  # from bytes, the text kept
    assert mapped.row_lines.tolist() == kept.row_lines.tolist() == expected
    assert kept.raw_lines == [lines[i - 1] for i in expected]
    assert mapped.df.astype(str).values.tolist() == kept.df.astype(str).values.tolist()


@pytest.mark.parametrize("short, long", [(3, 5), (5, 3), (4, None), (None, 4)])
def test_the_first_row_of_a_wrong_width_is_named_even_when_the_counts_balance(tmp_path, short, long):
    """A short row and a long row leave the delimiter count right: the lines are then
    looked at one by one, and the first wrong one is named."""
    lines = ["a,b,c"] + ["1,2,3"] * 6
    if short:
        lines[short - 1] = "1,2"
    if long:
        lines[long - 1] = "1,2,3,4"
    (tmp_path / "f.csv").write_text("\n".join(lines) + "\n")
    first = min(x for x in (short, long) if x)
    for read in (lambda: read_table(tmp_path / "f.csv"), lambda: read_table(tmp_path / "f.csv", keep_text=True)):
        with pytest.raises(DataError, match=f"f.csv, line {first}: "):
            read()


def test_a_one_column_file_of_numbers_and_blank_lines(tmp_path):
    (tmp_path / "f.csv").write_text("y\n1\n\n2\n   \n3\n")
    frame = read_table(tmp_path / "f.csv")
    assert frame.df["y"].tolist() == [1, 2, 3] and frame.row_lines.tolist() == [2, 4, 6]


# -- findings of a review of the block-wise reader (each once wrong) ------------------------

from nnctl.data.read import HEAD, read_chunks  # noqa: E402


def pieces(path, **options):
    return list(read_chunks(path, smallest=0, block=4096, **options))


def test_a_character_across_the_first_mebibyte_is_read_in_pieces_and_whole(tmp_path):
    row = "1.5,café\n"
    rows = (HEAD - len("x,note\n")) // len(row.encode()) + 2000
    text = "x,note\n" + row * rows
    boundary = text.encode()[HEAD - 2:HEAD + 2]
    assert "é".encode() in boundary or b"\xc3" in boundary[1:3]  # é is cut by byte HEAD
    (tmp_path / "f.csv").write_text(text)
    whole = read_table(tmp_path / "f.csv")
    parts = pieces(tmp_path / "f.csv")
    assert sum(p.m for p in parts) == whole.m == rows
    assert {v for p in parts for v in p.df["note"]} == {"café"}


def test_a_bad_byte_in_a_later_piece_names_its_line(tmp_path):
    lines = ["x,y"] + [f"{i},{i % 2}" for i in range(3000)]
    lines[2500] = "7,\xff"
    (tmp_path / "f.csv").write_bytes("\n".join(lines).encode("latin-1") + b"\n")
    with pytest.raises(DataError, match="f.csv, line 2501: byte 0xff is not UTF-8"):
        pieces(tmp_path / "f.csv")
    with pytest.raises(DataError, match="f.csv, line 2501: byte 0xff is not UTF-8"):
        read_table(tmp_path / "f.csv")


def test_a_lone_carriage_return_is_not_hidden_by_a_blank_line(tmp_path):
    """pandas ends a row at a lone \\r: two rows on one line and a blank line elsewhere
    leave both counts right; the rows must still be refused, not misaligned."""
    lines = ["a,b,c"] + ["1,2,3"] * 20
    lines[5] = "1,2,3\r4,5,6"
    lines[15] = ""
    (tmp_path / "f.csv").write_text("\n".join(lines) + "\n")
    for read in (lambda: read_table(tmp_path / "f.csv"), lambda: pieces(tmp_path / "f.csv")):
        with pytest.raises(DataError, match="f.csv, line 6: 5 fields, expected 3"):
            read()


def test_a_header_longer_than_the_head_is_read_whole(tmp_path):
    names = [f"c{i}" for i in range(HEAD // 5)]
    (tmp_path / "f.csv").write_text(",".join(names) + "\n" + ",".join("1" * len(names)) + "\n")
    frame = read_table(tmp_path / "f.csv")
    assert frame.columns == names and frame.m == 1


def test_a_line_of_form_feeds_is_a_row_as_pandas_reads_it(tmp_path):
    """pandas skips lines of spaces and tabs only: a form feed is a (short) row, refused
    with its line, never dropped from the rows while pandas keeps it (a row shift)."""
    with pytest.raises(DataError, match="f.csv, line 3: 1 fields, expected 2"):
        parse_table(b'a,b\n1,"x"\n\x0c\n2,y\n', "f.csv")
    frame = parse_table(b'a\n"1"\n\x0c\n2\n', "f.csv")
    header, rows = frame.text_rows()
    assert frame.m == len(rows) == 3 and frame.row_lines.tolist() == [2, 3, 4]


def test_decimal_commas_with_semicolons_are_numbers_as_a_european_spreadsheet_saves_them():
    """'0,126;-0,132;0' was read as text, and every feature then refused as an identifier
    ('no feature column is left to train on'); it is the numbers 0.126 and -0.132."""
    frame = parse_table(b"a;b;c;label\n0,126;-1,5e-2;7;x\n-3,;,25;8;y\n;1;9;x\n", "eu.csv")
    assert frame.df["a"].tolist()[:2] == [0.126, -3.0] and np.isnan(frame.df["a"].iloc[2])
    assert frame.df["b"].tolist() == [-0.015, 0.25, 1.0] and frame.df["c"].tolist() == [7, 8, 9]
    tabs = parse_table(b"a\tlabel\n1,5\tx\n2,25\ty\n", "eu.tsv")
    assert tabs.df["a"].tolist() == [1.5, 2.25]


@pytest.mark.parametrize("raw", [
    b'a,label\n"1,234",x\n"5,5",y\n',  # commas between cells: a quoted comma may be a thousand
    b"a;label\n1,5;x\n2,5 kg;y\n",  # not every cell a number
    b"a;label\n1.234,5;x\n2,5;y\n",  # a thousands dot: not read as a number here
])
def test_cells_that_are_not_all_decimal_comma_numbers_stay_text(raw):
    import pandas as pd

    assert not pd.api.types.is_numeric_dtype(parse_table(raw, "f.csv").df["a"])


def test_a_decimal_comma_column_with_a_stray_cell_names_that_cell_as_with_dots(tmp_path):
    """One '?' in a column of decimal-comma numbers left the column text: training took it
    for categories, and predict blamed a good cell ('5,1' is not a number)."""
    from nnctl.data.prepare import prepare_data
    from nnctl import config

    rows = "".join(f"{i},5;{i % 2}\n" for i in range(30))
    (tmp_path / "eu.csv").write_text("x;label\n" + rows + "?;1\n" + rows)
    cfg = config.parse("data: {train: eu.csv, target: label}\n", base=tmp_path)
    with pytest.raises(DataError, match=r"eu.csv, line 32, column 'x': '\?' is not a number"):
        prepare_data(cfg)
    frame = parse_table(("x;label\n" + rows + "?;1\n").encode(), "eu.csv", na_values=["?"])
    assert frame.df["x"].tolist()[:2] == [0.5, 1.5] and np.isnan(frame.df["x"].iloc[30])
