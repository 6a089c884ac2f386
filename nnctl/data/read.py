"""Tables from files: CSV and TSV (delimiter sniffed or given, gzip/bz2/xz/zip by their
extension), and Parquet with the optional pyarrow extra, read by pandas.

Every error names the file, the line (as the file numbers it) and the column, says what
was found and what to do (``DataError``, exit 1); a pandas message never reaches the user.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import lzma
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import DataError
from ..registry import did_you_mean

#: Delimiters the sniffer chooses from.
DELIMITERS = ",;\t|"
_COMPRESSED = {".gz": gzip.decompress, ".bz2": bz2.decompress, ".xz": lzma.decompress}


@dataclass
class Frame:
    """A table read from ``path``: a pandas DataFrame with string column names, and how
    each of its rows maps back to a line of the file (for messages)."""

    path: str
    df: "object"  # pandas.DataFrame (pandas is imported on first use)
    header: bool
    delimiter: str
    #: the file's line of each data row, 1-based (None for Parquet: rows are numbered)
    row_lines: np.ndarray | None = field(default=None, repr=False)
    #: the file's text, kept when every row is one plain line (see ``raw_lines``)
    _text: str | None = field(default=None, repr=False)
    header_text: str | None = None
    _raw_lines: list[str] | None = field(default=None, repr=False)

    quoted: bool = False

    @property
    def raw_lines(self) -> list[str] | None:
        """Each data row's text as in the file, without its line end, when every row is one
        plain line (no quotes); else None. Built on first use (only predict needs it)."""
        if self._raw_lines is None and self._text is not None and self.row_lines is not None \
                and not self.quoted:
            lines = self._text.split("\n")
            self._raw_lines = [lines[i - 1].rstrip("\r") for i in self.row_lines.tolist()]
            self._text = None
        return self._raw_lines

    @property
    def columns(self) -> list[str]:
        return [str(c) for c in self.df.columns]

    @property
    def m(self) -> int:
        return len(self.df)

    def text_rows(self) -> tuple[list[str], list[list[str]]]:
        """The header and every data row's cells as the file writes them (the csv module)."""
        if self._text is None:
            raise ValueError("the frame's text is gone (raw_lines was built from it)")
        reader = csv.reader(io.StringIO(self._text, newline=""), delimiter=self.delimiter)
        rows = [row for row in reader if row and any(cell.strip() for cell in row)]
        if self.header:
            return [c.strip() for c in rows[0]], rows[1:]
        return list(self.columns), rows

    def take(self, rows) -> Frame:
        """A frame of the given rows (an index array or a boolean mask), renumbered from 0."""
        rows = np.flatnonzero(rows) if np.asarray(rows).dtype == bool else np.asarray(rows)
        df = self.df.iloc[rows].reset_index(drop=True)
        lines = None if self.row_lines is None else self.row_lines[rows]
        part = Frame(self.path, df, self.header, self.delimiter, lines, None, self.header_text)
        if self._raw_lines is not None:  # only when already built: training never needs them
            part._raw_lines = [self._raw_lines[i] for i in rows.tolist()]
        return part

    def line(self, row: int) -> str:
        """``line N`` (or ``row N`` for Parquet) of data row ``row`` (0-based)."""
        if self.row_lines is None:
            return f"row {row + 1}"
        return f"line {int(self.row_lines[row])}"

    def place(self, row: int, column: str) -> str:
        return f"{self.path}, {self.line(row)}, column '{column}'"

    def column(self, name: str | int, what: str) -> str:
        """The column's name, given by name or 0-based index; a ``DataError`` lists them."""
        columns = self.columns
        if isinstance(name, int) and not isinstance(name, bool):
            if not 0 <= name < len(columns):
                raise DataError(f"{self.path}: {what} column index {name} is out of range; the"
                                f" file has {len(columns)} columns (0 to {len(columns) - 1})")
            return columns[name]
        if name in columns:
            return name
        if not self.header and str(name).isdigit():
            return self.column(int(name), what)
        shown = ", ".join(columns[:12]) + (", ..." if len(columns) > 12 else "")
        where = f"{self.path}, line 1" if self.header else self.path
        raise DataError(f"{where}: no {what} column '{name}'{did_you_mean(str(name), columns)};"
                        f" the columns are {shown}")


def read_table(path: str | Path, *, delimiter: str = "auto", header: bool = True,
               encoding: str = "utf-8", na_values: Sequence[str] = (), what: str = "data"
               ) -> Frame:
    """Read a whole table. ``what`` names the file's role in messages (training, input...)."""
    path = Path(path)
    name = str(path)
    if path.is_dir():
        raise DataError(f"{name}: is a directory, not a data file")
    if path.suffix.lower() == ".parquet":
        return _read_parquet(path, header=header, what=what)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{name}: no such file") from None
    except OSError as e:
        raise DataError(f"{name}: cannot read the {what} file ({e.strerror})") from None
    plain = path.suffix.lower() not in (*_COMPRESSED, ".zip")
    return parse_table(_decompress(raw, path, name), name, delimiter=_delimiter_for(path, delimiter),
                       header=header, encoding=encoding, na_values=na_values, what=what,
                       _path=path if plain else None)


def parse_table(raw: bytes, name: str, *, delimiter: str = "auto", header: bool = True,
                encoding: str = "utf-8", na_values: Sequence[str] = (), what: str = "data",
                _path: Path | None = None) -> Frame:
    """A table from the bytes of a CSV file (see ``read_table``); ``name`` is used in messages.

    ``_path``: the same bytes as a plain file, which pandas then reads itself (its
    multi-threaded reader takes a path only)."""
    text = _decode(raw, name, encoding, what)
    if b"\r" in raw and b"\n" not in raw:
        text = text.replace("\r", "\n")  # old Mac line ends
    if not text or text.isspace():
        raise DataError(f"{name}: the {what} file is empty")
    if delimiter == "auto":
        delimiter = sniff_delimiter(text[:1 << 16])
    lines = _LineIndex(text, delimiter, raw if b"\r" not in raw or b"\n" in raw else None)
    try:
        columns = lines.header_fields() if header else None
        n_columns = len(columns) if columns is not None else lines.first_width()
    except _Malformed as e:
        raise DataError(f"{name}, line {e.line}: malformed CSV (an unclosed quote?); close the"
                        " quote or remove it") from None
    if columns is not None:
        _check_names(columns, name, lines.header_line)
    lines.check_widths(n_columns, name)
    import pandas as pd

    try:
        # The bytes, not the text: a StringIO holds up to 4 bytes a character. A plain file
        # by its path: pandas then parses it in parallel (low_memory's chunked mode); if the
        # chunks disagree on a column's type, it is read again in one piece.
        options = dict(sep=delimiter, encoding=encoding, header=0 if header else None,
                       na_values=list(na_values), keep_default_na=True, skip_blank_lines=True,
                       engine="c", encoding_errors="strict", index_col=False)
        df = None
        if _path is not None and lines.raw is not None:
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("error", pd.errors.DtypeWarning)
                try:
                    df = pd.read_csv(_path, **options)
                except pd.errors.DtypeWarning:
                    df = None
        if df is None:
            source = io.BytesIO(raw) if lines.raw is not None else io.StringIO(text)
            df = pd.read_csv(source, low_memory=False, **options)
    except pd.errors.EmptyDataError:
        raise DataError(f"{name}: the {what} file is empty") from None
    except pd.errors.ParserError as e:
        raise DataError(f"{name}{_parser_message(str(e))}") from None
    if columns is not None:
        df.columns = columns
    else:
        df.columns = [str(i) for i in range(df.shape[1])]
    _blank_cells_are_missing(df)
    if len(df) == 0:
        raise DataError(f"{name}: has a header but no data rows" if header
                        else f"{name}: the {what} file has no data rows")
    if len(lines.row_lines) != len(df):  # the two readings disagree: trust neither's lines
        row_lines = None
    else:
        row_lines = lines.row_lines
    return Frame(name, df, header, delimiter, row_lines, text,
                 lines.header_text if header else None, quoted=lines.quoted)


def _blank_cells_are_missing(df) -> None:
    """A cell of spaces is missing, like an empty one; a text column that was text only
    because of such cells becomes numeric again."""
    import pandas as pd

    for name in df.columns:
        series = df[name]
        if series.dtype != object and not pd.api.types.is_string_dtype(series.dtype):
            continue
        blank = series.astype(str).str.strip() == ""
        if blank.any():
            series = series.mask(blank & series.notna())
            numbers = pd.to_numeric(series, errors="coerce")
            df[name] = numbers if numbers.notna().sum() == series.notna().sum() else series


def sniff_delimiter(text: str) -> str:
    """The delimiter of a CSV text, chosen from ``DELIMITERS`` on its first lines."""
    sample = "\n".join(text.lstrip("\ufeff").splitlines()[:20])
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        # One column, or the sniffer undecided: the most frequent candidate, else a comma.
        counts = {d: sample.count(d) for d in DELIMITERS}
        best = max(counts, key=counts.get)
        return best if counts[best] else ","


def _delimiter_for(path: Path, delimiter: str) -> str:
    if delimiter != "auto":
        return delimiter
    suffixes = [s.lower() for s in path.suffixes]
    return "\t" if ".tsv" in suffixes or ".tab" in suffixes else "auto"


def _decompress(raw: bytes, path: Path, name: str) -> bytes:
    suffix = path.suffix.lower()
    try:
        if suffix in _COMPRESSED:
            return _COMPRESSED[suffix](raw)
        if suffix == ".zip":
            with zipfile.ZipFile(io.BytesIO(raw)) as z:
                members = [i for i in z.infolist() if not i.is_dir()]
                if len(members) != 1:
                    raise DataError(f"{name}: a zip archive with {len(members)} files; nnctl reads"
                                    " a zip holding exactly one CSV file")
                return z.read(members[0])
    except (OSError, EOFError, lzma.LZMAError, zipfile.BadZipFile, ValueError) as e:
        raise DataError(f"{name}: not a valid {suffix[1:]} file ({type(e).__name__});"
                        " check the file or drop the extension") from None
    return raw


def _decode(raw: bytes, name: str, encoding: str, what: str) -> str:
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as e:
        import codecs

        line = raw[:e.start].count(b"\n") + 1
        shown = "UTF-8" if codecs.lookup(encoding).name == "utf-8" else encoding
        raise DataError(f"{name}, line {line}: byte 0x{raw[e.start]:02x} is not {shown}; save the"
                        " file as UTF-8 or set data.encoding (for example latin-1)") from None
    except LookupError:
        raise DataError(f"{name}: unknown encoding '{encoding}'; set data.encoding to one Python"
                        " knows, such as utf-8 or latin-1") from None
    return text.lstrip("\ufeff")


def _parser_message(message: str) -> str:
    import re

    found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", message)
    if found:
        want, line, got = found.groups()
        return f", line {line}: {got} fields, expected {want}; check the delimiter and quotes"
    if "EOF inside string" in message:
        return ": malformed CSV: a quote is opened and never closed; close it or remove it"
    return ": malformed CSV; check the delimiter and quotes"


def _check_names(columns: list[str], name: str, line: int) -> None:
    seen: dict[str, int] = {}
    for i, c in enumerate(columns):
        if not c.strip():
            raise DataError(f"{name}, line {line}: column {i + 1} has an empty name; name every"
                            " column or set data.header: false")
        if c in seen:
            raise DataError(f"{name}, line {line}: duplicate column name '{c}' (columns {seen[c] + 1}"
                            f" and {i + 1}); rename one")
        seen[c] = i


class _LineIndex:
    """Where the data rows of a CSV text are: the line of each row, and its width.

    Without quote characters every row is one line, and a vectorized count of delimiters
    per line gives the widths; with quotes the csv module reads the rows exactly (slower;
    only for such files). Blank lines are skipped, as pandas skips them.
    """

    def __init__(self, text: str, delimiter: str, raw: bytes | None = None) -> None:
        self.text, self.delimiter, self.raw = text, delimiter, raw
        self.quoted = '"' in text
        self.header_line = 0  # the line of the header, 0 without one
        self.header_text: str | None = None

    def _rows(self, text: str | None = None):
        """``(first line, fields)`` of each non-blank row, through the csv module."""
        reader = csv.reader(io.StringIO(self.text if text is None else text, newline=""),
                            delimiter=self.delimiter, strict=True)
        line = 0
        try:
            for row in reader:
                start, line = line + 1, reader.line_num
                if row and any(cell.strip() for cell in row):
                    yield start, row
        except csv.Error:
            raise _Malformed(line + 1) from None

    def header_fields(self) -> list[str]:
        head = self.text[:1 << 20]
        if not self.quoted and "\n" in head:  # a plain header is its first lines: no copy of all
            text = head
        else:
            text = None
        for start, row in self._rows(text):
            self.header_line = start
            if not self.quoted:
                self.header_text = self.text.split("\n", start)[start - 1].rstrip("\r")
            return [c.strip() for c in row]
        return []

    def first_width(self) -> int:
        for _, row in self._rows():
            return len(row)
        return 0

    def check_widths(self, n: int, name: str) -> None:
        """Refuse a row with fewer or more fields than the header (pandas would fill the short
        ones and, with ``index_col=False``, cut the long ones, both silently)."""
        if self.quoted:
            lines = []
            try:
                for start, row in self._rows():
                    if start <= self.header_line:
                        continue
                    if len(row) != n:
                        raise DataError(f"{name}, line {start}: {len(row)} fields, expected {n};"
                                        " check the delimiter and quotes")
                    lines.append(start)
            except _Malformed as e:
                raise DataError(f"{name}, line {e.line}: malformed CSV (an unclosed quote?);"
                                " close the quote or remove it") from None
            self.row_lines = np.asarray(lines, dtype=np.int64)
            return
        raw = self.raw if self.raw is not None else self.text.encode("utf-8")
        data = np.frombuffer(raw, dtype=np.uint8)
        if raw.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        ends = np.flatnonzero(data == 10)
        if data.size and data[-1] != 10:
            ends = np.append(ends, data.size)
        starts = np.concatenate(([0], ends[:-1] + 1))
        # Delimiters per line from their positions: a few bytes per field, where a cumulative
        # count over every byte cost 16 bytes per byte of the file.
        delims = np.flatnonzero(data == ord(self.delimiter))
        counts = np.searchsorted(delims, ends) - np.searchsorted(delims, starts)
        del delims
        # Blank lines (only spaces, tabs, \r) are skipped, as pandas skips them; only lines
        # without a delimiter can be blank.
        blank = np.zeros(ends.size, dtype=bool)
        for i in np.flatnonzero(counts == 0).tolist():
            blank[i] = not bytes(data[starts[i]:ends[i]]).strip()
        number = np.arange(1, ends.size + 1)
        keep = ~blank & (number > self.header_line)
        wrong = keep & (counts != n - 1)
        if wrong.any():
            i = int(np.argmax(wrong))
            raise DataError(f"{name}, line {i + 1}: {int(counts[i]) + 1} fields, expected {n};"
                            " check the delimiter")
        self.row_lines = number[keep]

class _Malformed(Exception):
    def __init__(self, line: int) -> None:
        self.line = line


def _read_parquet(path: Path, *, header: bool, what: str) -> Frame:
    name = str(path)
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise DataError(f"{name}: reading Parquet needs pyarrow; install the extra:"
                        " pip install 'nnctl[parquet]'") from None
    import pandas as pd

    try:
        df = pd.read_parquet(path)
    except FileNotFoundError:
        raise DataError(f"{name}: no such file") from None
    except Exception as e:  # pyarrow raises many kinds for a file that is not Parquet
        raise DataError(f"{name}: not a readable Parquet file ({type(e).__name__})") from None
    df.columns = [str(c) for c in df.columns]
    _check_names(list(df.columns), name, 1)
    if len(df) == 0:
        raise DataError(f"{name}: the {what} file has no data rows")
    return Frame(name, df, True, ",", None, None, None)
