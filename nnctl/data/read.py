"""Tables from files: CSV and TSV (delimiter sniffed or given, gzip/bz2/xz/zip by their
extension), and Parquet with the optional pyarrow extra, read by pandas.

Every error names the file, the line (as the file numbers it) and the column, says what
was found and what to do (``DataError``, exit 1); a pandas message never reaches the user.

A whole table is read by ``read_table``; ``read_chunks`` reads a large plain file in
pieces of whole lines (``nnctl predict`` streams with it, in bounded memory).
"""

from __future__ import annotations

import bz2
import codecs
import csv
import gzip
import io
import lzma
import mmap
import os
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..registry import did_you_mean

#: Delimiters the sniffer chooses from.
DELIMITERS = ",;\t|"
_COMPRESSED = (".gz", ".bz2", ".xz")
#: The sniffer and the header look at the file's first bytes only.
HEAD = 1 << 20
_BOM = b"\xef\xbb\xbf"


@dataclass
class Frame:
    """A table read from ``path``: a pandas DataFrame with string column names, and how
    each of its rows maps back to a line of the file (for messages)."""

    path: str
    df: object  # pandas.DataFrame (pandas is imported on first use)
    header: bool
    delimiter: str
    #: the file's line of each data row, 1-based (None for Parquet: rows are numbered)
    row_lines: np.ndarray | None = field(default=None, repr=False)
    #: the bytes the rows were read from, when kept (see ``raw_lines``)
    _raw: bytes | None = field(default=None, repr=False)
    header_text: str | None = None
    _raw_lines: list[str] | None = field(default=None, repr=False)
    quoted: bool = False
    encoding: str = "utf-8"
    #: lines of the file before the first line of ``_raw`` (a piece of ``read_chunks``)
    line0: int = 0
    _columns: list[str] | None = field(default=None, repr=False)
    _positions: dict[str, int] | None = field(default=None, repr=False)

    @property
    def raw_lines(self) -> list[str] | None:
        """Each data row's text as in the file, without its line end, when every row is one
        plain line (no quotes); else None. Built on first use (only predict needs it)."""
        if self._raw_lines is None and self._raw is not None and self.row_lines is not None \
                and not self.quoted:
            lines = self._text().split("\n")
            index = self.row_lines - (self.line0 + 1)
            if index.size and index[-1] - index[0] == index.size - 1:  # no blank line between
                chosen = lines[int(index[0]):int(index[-1]) + 1]
            else:
                chosen = [lines[i] for i in index.tolist()]
            self._raw_lines = [s.removesuffix("\r") for s in chosen]
            self._raw = None
        return self._raw_lines

    def _text(self) -> str:
        text = self._raw.decode(self.encoding)
        return text.removeprefix("\ufeff")

    @property
    def columns(self) -> list[str]:
        """The column names as text (cached: the frame's columns never change)."""
        if self._columns is None or len(self._columns) != len(self.df.columns):
            self._columns = [str(c) for c in self.df.columns]
            self._positions = {c: i for i, c in enumerate(self._columns)}
        return self._columns

    def position(self, name: str) -> int:
        """The 0-based position of the column ``name`` (which must exist)."""
        self.columns
        return self._positions[name]

    @property
    def m(self) -> int:
        return len(self.df)

    def text_rows(self) -> tuple[list[str], list[list[str]]]:
        """The header and every data row's cells as the file writes them (the csv module);
        for Parquet, which has no text, the values as text (a missing one empty)."""
        if self._raw is None and self.row_lines is None:
            df = self.df
            return list(self.columns), df.astype(object).where(df.notna(), "").astype(str).values.tolist()
        if self._raw is None:
            raise ValueError("the frame's text is not kept (raw_lines was built from it)")
        reader = csv.reader(io.StringIO(self._text(), newline=""), delimiter=self.delimiter)
        rows = [row for row in reader if not _blank(row)]
        if self.header and self.line0 == 0:
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
            # A column named like the number (007, 7): YAML read the name as an index.
            named = [c for c in columns if c.isascii() and c.isdigit() and int(c) == name]
            if not 0 <= name < len(columns):
                hint = (f"; for the column named '{named[0]}', quote it in the config: '{named[0]}'"
                        if named else "")
                raise DataError(f"{self.path}: {what} column index {name} is out of range; the"
                                f" file has {len(columns)} columns (0 to {len(columns) - 1}){hint}")
            if named and columns[name] not in named:
                raise DataError(f"{self.path}: {what} column {name} is ambiguous: column index"
                                f" {name} is '{columns[name]}', and a column is named"
                                f" '{named[0]}'; quote the name ('{named[0]}') or give"
                                f" '{columns[name]}' by its name")
            return columns[name]
        if name in self._positions:
            return name
        if not self.header and str(name).isdigit():
            return self.column(int(name), what)
        shown = ", ".join(columns[:12]) + (", ..." if len(columns) > 12 else "")
        where = f"{self.path}, line 1" if self.header else self.path
        raise DataError(f"{where}: no {what} column '{name}'{did_you_mean(str(name), columns)};"
                        f" the columns are {shown}")


@dataclass
class _Options:
    """How to read a file: what ``read_table`` takes, resolved."""

    name: str
    delimiter: str
    header: bool
    encoding: str
    na_values: list[str]
    what: str
    text_columns: tuple[str, ...]

    def pandas(self) -> dict:
        return dict(sep=self.delimiter, encoding=self.encoding, na_values=self.na_values,
                    keep_default_na=True, skip_blank_lines=True, engine="c",
                    encoding_errors="strict", index_col=False)


def read_table(path: str | Path, *, delimiter: str = "auto", header: bool = True,
               encoding: str = "utf-8", na_values: Sequence[str] = (), what: str = "data",
               text_columns: Sequence[str] = (), keep_text: bool = False) -> Frame:
    """Read a whole table. ``what`` names the file's role in messages (training, input...);
    ``text_columns`` are read as text whatever they hold; ``keep_text`` keeps the file's
    bytes for ``Frame.raw_lines`` and ``Frame.text_rows``."""
    path = Path(path)
    name = str(path)
    fmt = _format(path)
    if fmt == ".parquet":
        return _read_parquet(path, header=header, what=what)
    plain = fmt not in (*_COMPRESSED, ".zip")
    if plain and not keep_text and _ascii_safe(encoding) and path.is_file():  # (a pipe would block)
        # Checked through a memory map: the bytes are not copied, pandas reads the path.
        # The map is not closed here: it closes when the last view of it goes (an error's
        # traceback may hold one).
        try:
            with open(path, "rb") as f:
                buffer = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if _file_size(f) else None
        except FileNotFoundError:
            raise DataError(f"{name}: no such file") from None
        except (OSError, ValueError) as e:
            raise DataError(f"{name}: cannot read the {what} file"
                            f" ({getattr(e, 'strerror', None) or e})") from None
        if buffer is not None:
            return parse_table(buffer, name, delimiter=_delimiter_for(path, delimiter),
                               header=header, encoding=encoding, na_values=na_values, what=what,
                               text_columns=text_columns, _path=path, keep_text=False)
    raw = _read_bytes(path, what)
    return parse_table(_decompress(raw, fmt or path.suffix.lower(), name), name,
                       delimiter=_delimiter_for(path, delimiter),
                       header=header, encoding=encoding, na_values=na_values, what=what,
                       text_columns=text_columns, _path=path if plain and path.is_file() else None,
                       keep_text=keep_text)


#: A file's first bytes, by what they say it is (a .csv that is gzip, say).
_MAGIC = ((b"\x1f\x8b", ".gz"), (b"\xfd7zXZ\x00", ".xz"), (b"PK\x03\x04", ".zip"))


def _magic(head: bytes, tail: bytes) -> str | None:
    """The compression or Parquet format of a file that starts with ``head`` and ends with
    ``tail`` (a few bytes each), or None for text."""
    head = bytes(head)
    # bzip2's block magic (pi's digits) or, for an empty stream, its end (sqrt(pi)'s)
    if head[:3] == b"BZh" and head[4:10] in (b"1AY&SY", b"\x17rE8P\x90"):
        return ".bz2"
    if head[:4] == b"PAR1" == bytes(tail[-4:]):  # at both ends: a CSV may begin 'PAR1,'
        return ".parquet"
    return next((fmt for magic, fmt in _MAGIC if head.startswith(magic)), None)


def _format(path: Path) -> str | None:
    """How to read ``path``: its suffix if that names a compression or Parquet; else, for a
    regular file, what its first bytes say (a gzip file named data.csv), or its suffix; None
    for a pipe or device, whose first bytes cannot be read twice."""
    suffix = path.suffix.lower()
    if suffix in (*_COMPRESSED, ".zip", ".parquet"):
        return suffix
    try:
        if not path.is_file():
            return None
        with open(path, "rb") as f:
            head = f.read(16)
            f.seek(-min(4, len(head)), os.SEEK_END)
            tail = f.read(4)
    except OSError:
        return suffix  # the reader gives the message
    return _magic(head, tail) or suffix


def parse_table(raw, name: str, *, delimiter: str = "auto", header: bool = True,
                encoding: str = "utf-8", na_values: Sequence[str] = (), what: str = "data",
                text_columns: Sequence[str] = (), keep_text: bool = True,
                _path: Path | None = None) -> Frame:
    """A table from the bytes of a CSV file (see ``read_table``); ``name`` is used in messages.

    ``raw`` is bytes or a read-only buffer of them (a memory map). ``_path``: the same bytes
    as a plain file, which pandas then reads itself (faster than from memory). Bytes that
    are compressed (stdin from ``gzip -c``, a pipe) are decompressed first."""
    fmt = _magic(raw[:16], raw[-4:])
    if fmt == ".parquet":
        raise DataError(f"{name}: a Parquet file, which is read from its path, not from a pipe"
                        " or stdin; save it to a file ending in .parquet")
    if fmt is not None:
        raw, _path = _decompress(raw, fmt, name), None
    raw, encoding, converted = _normalize(raw, name, encoding, what)
    if converted:
        _path = None
    opts = _Options(name, delimiter, header, encoding, list(na_values), what, tuple(text_columns))
    head = _head(raw, opts)
    quoted = raw.find(b'"') >= 0
    text = None
    if quoted or not head.strip():  # the csv module reads it, or the header is further on
        text = _decode(bytes(raw), name, encoding, what)
        if not text.strip():
            raise DataError(f"{name}: the {what} file is empty")
    if opts.delimiter == "auto":
        opts.delimiter = sniff_delimiter((head if head.strip() else text)[:1 << 16])
    try:
        header_line, columns, header_text = _header(text if text is not None else head, opts, quoted)
    except _Malformed as e:
        raise DataError(f"{name}, line {e.line}: malformed CSV (an unclosed quote?); close the"
                        " quote or remove it") from None
    if not columns:
        raise DataError(f"{name}: the {what} file is empty")
    n = len(columns)
    if quoted:
        row_lines = _quoted_row_lines(text, opts.delimiter, n, header_line, name)
    df = _pandas(raw, opts, columns, header_line, _path, quoted)
    if not quoted:
        row_lines = _plain_row_lines(raw, opts.delimiter, n, header_line, name, rows=len(df))
    if len(df) == 0:
        raise DataError(f"{name}: has a header but no data rows" if header
                        else f"{name}: the {what} file has no data rows")
    if len(row_lines) != len(df):  # the two readings disagree: trust neither's lines
        row_lines = None
    kept = bytes(raw) if keep_text else None
    return Frame(name, df, header, opts.delimiter, row_lines, kept, header_text,
                 quoted=quoted, encoding=encoding)


def read_chunks(path: str | Path, *, delimiter: str = "auto", header: bool = True,
                encoding: str = "utf-8", na_values: Sequence[str] = (), what: str = "data",
                text_columns: Sequence[str] = (), block: int = 1 << 21,
                smallest: int = 1 << 23) -> Iterator[Frame] | None:
    """The rows of a plain CSV file as frames of whole lines, about ``block`` bytes each,
    with the file's line numbers and text kept; or None if the file is better read whole
    (``read_table``): smaller than ``smallest`` bytes, compressed, Parquet, quoted (a row
    may span lines), or in an encoding a line end can hide in.

    Every piece is read with the same options; columns in ``text_columns`` are text in all
    of them, so a piece of only numbers reads them as the others do.
    """
    path = Path(path)
    name = str(path)
    if _format(path) in (*_COMPRESSED, ".zip", ".parquet") or not _ascii_safe(encoding) \
            or not path.is_file():
        return None
    try:
        with open(path, "rb") as f:
            if _file_size(f) < smallest:
                return None
            head = f.read(HEAD)
            if b"\n" not in head:  # old Mac line ends, or a header longer than HEAD
                return None
            data = head
            while data:  # a quote anywhere: read whole (block by block: a map of the whole
                if b'"' in data:  # file would count in the peak memory)
                    return None
                data = f.read(block)
    except OSError:
        return None  # read_table gives the message
    opts = _Options(name, _delimiter_for(path, delimiter), header, encoding, list(na_values),
                    what, tuple(text_columns))
    text = _head(head, opts)
    if not text.strip():
        return None
    if opts.delimiter == "auto":
        opts.delimiter = sniff_delimiter(text[:1 << 16])
    header_line, columns, header_text = _header(text, opts, False)
    if header and not header_line:
        return None
    start = 0  # the byte after the header's line end
    for _ in range(header_line):
        start = head.index(b"\n", start) + 1
    return _chunks(path, opts, columns, header_line, header_text, start, block)


def _chunks(path, opts, columns, header_line, header_text, start, block) -> Iterator[Frame]:
    names = columns if opts.header else [str(i) for i in range(len(columns))]
    line0 = header_line
    with open(path, "rb") as f:
        f.seek(start)
        carry = b""
        while True:
            data = f.read(block)
            piece = carry + data
            if data:
                cut = piece.rfind(b"\n") + 1
                if cut == 0:
                    carry = piece
                    continue
                piece, carry = piece[:cut], piece[cut:]
            else:
                carry = b""
            if piece.strip():
                df = _pandas(piece, opts, names, 0, None, False, names_given=True, line0=line0)
                lines = _plain_row_lines(piece, opts.delimiter, len(names), 0, opts.name,
                                         rows=len(df), line0=line0)
                if len(df):
                    yield Frame(opts.name, df, opts.header, opts.delimiter, lines, piece,
                                header_text, encoding=opts.encoding, line0=line0)
            line0 += piece.count(b"\n")
            if not data:
                return


def _pandas(raw, opts: _Options, columns: list[str], header_line: int, path: Path | None,
            quoted: bool, *, names_given: bool = False, line0: int = 0):
    """The rows below the header as a DataFrame with ``columns``, through pandas."""
    import warnings

    import pandas as pd

    options = opts.pandas()
    if names_given:
        options.update(header=None, names=columns)
    else:
        options.update(header=0 if opts.header else None)
    if opts.text_columns:
        given = columns if opts.header else [str(i) for i in range(len(columns))]
        options["dtype"] = {given.index(c) if not names_given else c: str
                            for c in opts.text_columns if c in given}
    try:
        with warnings.catch_warnings():
            # pandas cuts a first row longer than the header, with only this warning
            warnings.simplefilter("error", pd.errors.ParserWarning)
            df = None
            if path is not None:
                # pandas reads a plain file by its path in parallel chunks; if the chunks
                # disagree on a column's type, it is read again in one piece.
                warnings.simplefilter("error", pd.errors.DtypeWarning)
                try:
                    df = pd.read_csv(path, **options)
                except pd.errors.DtypeWarning:
                    df = None
            if df is None:
                df = pd.read_csv(io.BytesIO(raw), low_memory=False, **options)
    except UnicodeError:
        _decode(bytes(raw), opts.name, opts.encoding, opts.what, line0)  # raises, naming the line
        raise DataError(f"{opts.name}: cannot decode the file as {opts.encoding}; set"
                        " data.encoding to the file's text encoding") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{opts.name}: the {opts.what} file is empty") from None
    except (pd.errors.ParserError, pd.errors.ParserWarning) as e:
        if not quoted:  # the first line of the wrong width, as the file numbers it
            _plain_row_lines(raw, opts.delimiter, len(columns), header_line, opts.name,
                             line0=line0)
        raise DataError(f"{opts.name}{_parser_message(str(e))}") from None
    df.columns = columns if opts.header else [str(i) for i in range(df.shape[1])]
    _blank_cells_are_missing(df, opts.text_columns)
    if opts.delimiter != ",":
        _decimal_commas(df, opts.text_columns)
    return df


#: A number written with a decimal comma (-0,126; 3,5e-2), as a spreadsheet in much of
#: Europe saves it, with ';' between the cells.
_DECIMAL_COMMA = r"\s*[+-]?(?:\d+,\d*|,\d+|\d+)(?:[eE][+-]?\d+)?\s*"


def _decimal_commas(df, text_columns: Sequence[str] = ()) -> None:
    """A text column whose every cell is a number with a decimal comma becomes those
    numbers. (In a file with ',' between cells such a comma would split the cell, so only
    other delimiters get here; a quoted '1,234' there may be a thousand, and stays text.)"""
    import pandas as pd

    for name in df.columns:
        series = df[name]
        if name in text_columns or (series.dtype != object and not pd.api.types.is_string_dtype(series.dtype)):
            continue
        cells = series.dropna().astype(str)
        if cells.empty or not cells.str.contains(",", regex=False).any():
            continue
        numbers = cells.str.fullmatch(_DECIMAL_COMMA)
        if numbers.all():
            df[name] = pd.to_numeric(series.str.replace(",", ".", regex=False))
        elif numbers.mean() >= 0.5 and cells[~numbers].nunique() <= 5:
            # Numbers but for a few odd cells (a typo, a '?'): the numbers written with a
            # dot, so that the column is refused naming the odd cell, as with dots.
            df[name] = series.mask(numbers.reindex(series.index, fill_value=False),
                                   series.str.replace(",", ".", regex=False))


def _blank_cells_are_missing(df, text_columns: Sequence[str] = ()) -> None:
    """A cell of spaces is missing, like an empty one; a text column that was text only
    because of such cells becomes numeric again (unless it is to be read as text)."""
    import pandas as pd

    for name in df.columns:
        series = df[name]
        if series.dtype != object and not pd.api.types.is_string_dtype(series.dtype):
            continue
        blank = series.astype(str).str.strip() == ""
        if blank.any():
            series = series.mask(blank & series.notna())
            if name in text_columns:
                df[name] = series
                continue
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


def _read_bytes(path: Path, what: str) -> bytes:
    from ..files import read_input  # a pipe is read as a stream, a device refused

    return read_input(path, what)


def _file_size(f) -> int:
    import os
    import stat

    st = os.fstat(f.fileno())
    return st.st_size if stat.S_ISREG(st.st_mode) else 0  # a pipe or device: read it whole


#: A compressed file may decompress to at most this many bytes (a bomb ends here, fast).
MAX_DECOMPRESSED = int(os.environ.get("NNCTL_MAX_DECOMPRESSED", 4 << 30))
_STREAMS = {".gz": gzip.GzipFile, ".bz2": bz2.BZ2File, ".xz": lzma.LZMAFile}


def _decompress(raw: bytes, suffix: str, name: str) -> bytes:
    """The bytes inside a .gz, .bz2, .xz or one-file .zip (``suffix``, by the file's name or
    first bytes), read in blocks up to a bound (``MAX_DECOMPRESSED``, and the memory
    available), so a decompression bomb is an error in seconds, not an exhausted machine."""
    if suffix not in _STREAMS and suffix != ".zip":
        return raw
    from ..files import available_memory

    limit = min(MAX_DECOMPRESSED, (available_memory() or 4 * MAX_DECOMPRESSED) // 4)
    try:
        if suffix == ".zip":
            z = zipfile.ZipFile(io.BytesIO(raw))
            members = [i for i in z.infolist() if not i.is_dir()]
            if any(i.filename in ("[Content_Types].xml", "mimetype") for i in members):
                raise DataError(f"{name}: a spreadsheet workbook (Excel .xlsx, or OpenDocument),"
                                " not CSV; save the sheet as CSV (File > Save As > CSV)")
            if len(members) != 1:
                raise DataError(f"{name}: a zip archive with {len(members)} files; nnctl reads"
                                " a zip holding exactly one CSV file")
            stream = z.open(members[0])
        else:
            source = io.BytesIO(raw)
            stream = gzip.GzipFile(fileobj=source) if suffix == ".gz" else _STREAMS[suffix](source)
        with stream:
            out = io.BytesIO()
            while True:
                block = stream.read(1 << 22)
                if not block:
                    break
                out.write(block)
                if out.tell() > limit:
                    raise DataError(f"{name}: decompresses to more than {limit:,} bytes; not a"
                                    " data file to trust (a decompression bomb?)")
            return out.getvalue()
    except RuntimeError:  # zipfile's word for an encrypted member
        raise DataError(f"{name}: an encrypted zip archive; unpack it with its password and give"
                        " the CSV file") from None
    except (OSError, EOFError, lzma.LZMAError, zipfile.BadZipFile, ValueError, zlib.error,
            NotImplementedError) as e:
        kind = {".gz": "gzip", ".bz2": "bzip2", ".xz": "xz", ".zip": "zip"}[suffix]
        named = Path(name).suffix.lower() == suffix
        raise DataError(f"{name}: {'' if named else 'its first bytes say '}{kind}, but the data"
                        f" is damaged or cut short ({type(e).__name__}); check the file, or"
                        f" {'drop the extension if it is plain text' if named else 'compress it again'}"
                        ) from None


def _ascii_safe(encoding: str) -> bool:
    """Whether the bytes of line ends, delimiters and quotes mean only those characters."""
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        return False
    return name in ("utf-8", "utf-8-sig", "ascii") or name.startswith(("iso8859", "cp125"))


def _normalize(raw, name: str, encoding: str, what: str) -> tuple[object, str, bool]:
    """``raw`` in an encoding whose line ends and delimiters are single bytes (UTF-8 when
    the given one is not such), with ``\\n`` line ends; and whether it was converted."""
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise DataError(f"{name}: unknown encoding '{encoding}'; set data.encoding to one Python"
                        " knows, such as utf-8 or latin-1") from None
    old_mac = raw.find(b"\n") < 0 and raw.find(b"\r") >= 0
    if _ascii_safe(encoding) and not old_mac:
        return raw, encoding, False
    text = _decode(bytes(raw), name, encoding, what)
    if old_mac or ("\r" in text and "\n" not in text):
        text = text.replace("\r", "\n")  # old Mac line ends
    return text.encode("utf-8"), "utf-8", True


def _head(raw, opts: _Options) -> str:
    """The file's first lines (about ``HEAD`` bytes, whole lines; the whole first line
    however long), decoded, without a BOM."""
    head = bytes(raw[:HEAD])
    if len(head) == HEAD:  # more may follow: end at a line end, never inside a character
        cut = head.rfind(b"\n")
        if cut < 0:
            end = raw.find(b"\n")
            head = bytes(raw[:end + 1] if end >= 0 else raw)
        else:
            head = head[:cut + 1]
    return _decode(head, opts.name, opts.encoding, opts.what)


def _decode(raw: bytes, name: str, encoding: str, what: str, line0: int = 0) -> str:
    """``raw`` decoded; a byte the encoding does not have is an error naming its line
    (``line0`` lines of the file come before ``raw``)."""
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as e:
        line = line0 + raw[:e.start].count(b"\n") + 1
        shown = "UTF-8" if codecs.lookup(encoding).name == "utf-8" else encoding
        raise DataError(f"{name}, line {line}: byte 0x{raw[e.start]:02x} is not {shown}; save the"
                        " file as UTF-8 or set data.encoding (for example latin-1)") from None
    except LookupError:
        raise DataError(f"{name}: unknown encoding '{encoding}'; set data.encoding to one Python"
                        " knows, such as utf-8 or latin-1") from None
    except UnicodeError as e:  # codecs such as punycode raise their own kinds
        raise DataError(f"{name}: cannot decode the file as {encoding} ({e}); set data.encoding"
                        " to the file's text encoding, such as utf-8 or latin-1") from None
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


class _Malformed(Exception):
    def __init__(self, line: int) -> None:
        self.line = line


def _csv_rows(text: str, delimiter: str):
    """``(first line, fields)`` of each non-blank row, through the csv module."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    line = 0
    try:
        for row in reader:
            start, line = line + 1, reader.line_num
            if not _blank(row):
                yield start, row
    except csv.Error:
        raise _Malformed(line + 1) from None


def _blank(row: list[str]) -> bool:
    """A blank line, as pandas skips it: empty, or spaces and tabs only. A line of
    delimiters alone (``,,,``) or of other white space (a form feed) is a row of missing
    cells, not a blank line."""
    return not row or (len(row) == 1 and not row[0].strip(" \t"))


def _header(text: str, opts: _Options, quoted: bool) -> tuple[int, list[str], str | None]:
    """The header's line (0 without one), the column names (positions without a header:
    as many as the first row's fields) and, for a plain file, the header's own text."""
    for start, row in _csv_rows(text, opts.delimiter):
        if not opts.header:
            return 0, [str(i) for i in range(len(row))], None
        columns = [c.strip() for c in row]
        _check_names(columns, opts.name, start)
        header_text = None if quoted else text.split("\n", start)[start - 1].rstrip("\r")
        return start, columns, header_text
    return 0, [], None


def _quoted_row_lines(text: str, delimiter: str, n: int, header_line: int, name: str) -> np.ndarray:
    """The line of each data row of a file with quotes (a row may span lines), checking that
    each has ``n`` fields (pandas would fill short rows silently)."""
    lines = []
    try:
        for start, row in _csv_rows(text, delimiter):
            if start <= header_line:
                continue
            if len(row) != n:
                raise DataError(f"{name}, line {start}: {len(row)} fields, expected {n};"
                                " check the delimiter and quotes")
            lines.append(start)
    except _Malformed as e:
        raise DataError(f"{name}, line {e.line}: malformed CSV (an unclosed quote?);"
                        " close the quote or remove it") from None
    return np.asarray(lines, dtype=np.int64)


def _plain_row_lines(raw, delimiter: str, n: int, header_line: int, name: str, *,
                     rows: int | None = None, line0: int = 0) -> np.ndarray:
    """The line of each data row of a file without quotes (a row is a line), checking that
    each has ``n`` fields; ``line0`` lines of the file come before ``raw``.

    ``rows``: how many rows pandas read. pandas refuses a row with too many fields, so when
    the file has no blank line and exactly ``n - 1`` delimiters per row on average, every
    row has exactly ``n`` fields and the rows are the lines after the header: two counts
    over the bytes prove it, where finding each line costs ten times as much.
    """
    data = np.frombuffer(raw, dtype=np.uint8)
    if data[:3].tobytes() == _BOM:
        data = data[3:]
    size = data.size
    if rows is not None:
        newlines, delims, returns = _count(data, (10, ord(delimiter), 13))
        total = newlines + (1 if size and data[-1] != 10 else 0)
        # pandas ends a line at a lone \r too: then the lines are not the rows
        lone_returns = returns and returns != int(np.count_nonzero((data[:-1] == 13) & (data[1:] == 10)))
        if total == header_line + rows and delims == (n - 1) * (rows + (header_line > 0)) \
                and not lone_returns:
            return np.arange(line0 + header_line + 1, line0 + header_line + rows + 1, dtype=np.int64)
    ends = np.flatnonzero(data == 10)
    if size and data[-1] != 10:
        ends = np.append(ends, size)
    starts = np.concatenate(([0], ends[:-1] + 1))
    # Delimiters per line from their positions: a few bytes per field, where a cumulative
    # count over every byte cost 16 bytes per byte of the file.
    delims = np.flatnonzero(data == ord(delimiter))
    counts = np.searchsorted(delims, ends) - np.searchsorted(delims, starts)
    del delims
    # Blank lines (only spaces, tabs, a \r) are skipped, as pandas skips them; only lines
    # without a delimiter can be blank, and only those that start with a space (a
    # one-column file of numbers is not looked at line by line).
    blank = np.zeros(ends.size, dtype=bool)
    empty = np.flatnonzero(counts == 0)
    length = ends[empty] - starts[empty]
    blank[empty[length == 0]] = True
    spaced = empty[length > 0]
    spaced = spaced[np.isin(data[starts[spaced]], (9, 13, 32))]
    for i in spaced.tolist():
        blank[i] = not bytes(data[starts[i]:ends[i]]).strip(b" \t\r")
    number = np.arange(1, ends.size + 1)
    keep = ~blank & (number > header_line)
    wrong = keep & (counts != n - 1)
    if wrong.any():
        i = int(np.argmax(wrong))
        raise DataError(f"{name}, line {line0 + i + 1}: {int(counts[i]) + 1} fields, expected {n};"
                        " check the delimiter")
    return number[keep] + line0


def _count(data: np.ndarray, values: tuple[int, ...], block: int = 1 << 18) -> list[int]:
    """How many bytes of ``data`` equal each of ``values``: block by block, so that the
    comparisons stay in the cache (twice as fast as whole-array ones here)."""
    counts = [0] * len(values)
    mask = np.empty(min(block, data.size), dtype=bool)
    for start in range(0, data.size, block):
        part = data[start:start + block]
        out = mask[:part.size]
        for k, v in enumerate(values):
            np.equal(part, v, out=out)
            counts[k] += int(np.count_nonzero(out))
    return counts


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
