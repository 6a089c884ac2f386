"""CSV files -> tables: reading, column lookup, numbers and text per column.

Tables are kept as rows (one sample per row, as in the file); the network's ``(n, m)``
arrays are their transposes, views that cost nothing. Every error names the file, the
line and the column, and says what to do.
"""

from __future__ import annotations

import csv
import io
import re
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
from numpy.typing import NDArray

from ..errors import DataError
from ..registry import did_you_mean

class Table:
    """A CSV file, parsed on demand, column set by column set.

    A well-formed file goes through numpy's C reader (``np.loadtxt``), which is fast and
    makes no Python object per cell. Anything it refuses, and every error message, goes
    through the csv module (``cells``, ``lines``), which knows each cell's line and column.
    """

    def __init__(self, path: str, source: Path | bytes, *, delimiter: str, header: bool,
                 what: str) -> None:
        self.path, self.delimiter, self.header = path, delimiter, header
        # A file is streamed by the fast reader and read whole only when the exact path or
        # an irregular file needs it; stdin arrives as bytes.
        self._file = source if isinstance(source, Path) else None
        self._raw = source if isinstance(source, bytes) else None
        self._text: str | None = None
        head = self._head(1 << 16)
        self._cr_only = b"\r" in head and b"\n" not in head  # old Mac line ends
        if self._cr_only:
            head = self.raw[:1 << 16]
        if len(head) == 1 << 16:
            head = head[:head.rfind(b"\n") + 1] or head  # whole lines only (a long first row: all)
        reader = csv.reader(io.StringIO(head.decode("utf-8-sig", errors="ignore"), newline=""),
                            delimiter=delimiter, strict=True)
        first = None
        try:
            for row in reader:
                if row and not (len(row) == 1 and not row[0].strip()):
                    first = row
                    break
        except csv.Error as e:
            raise DataError(f"{path}, line {reader.line_num}: malformed CSV ({e})") from None
        if first is None and not _NON_SPACE.search(self.raw):
            raise DataError(f"{path}: the {what} file is empty; it needs "
                            f"{'a header and ' if header else ''}at least one row")
        if first is None:  # a first row longer than the head: read it from the whole text
            reader = csv.reader(io.StringIO(self.text, newline=""), delimiter=delimiter, strict=True)
            first = next(row for row in reader if row and not (len(row) == 1 and not row[0].strip()))
        if header:
            self.columns = [c.strip() for c in first]
            _check_names(self.columns, path, reader.line_num)
            self._skip = reader.line_num  # physical lines up to and including the header
            rest = _offset_after_lines(head, self._skip)
            if not _NON_SPACE.search(head, rest) and not _NON_SPACE.search(
                    self.raw, _offset_after_lines(self.raw, self._skip)):
                raise DataError(f"{path}: the {what} file has a header but no data rows")
        else:
            self.columns = [str(i) for i in range(len(first))]
            self._skip = 0
        self._cells: NDArray[np.str_] | None = None
        self._lines: list[int] = []
        self._m: int | None = None
        self._fast: dict[tuple, NDArray | None] = {}

    def _head(self, n: int) -> bytes:
        if self._raw is not None:
            return self._raw[:n]
        with self._file.open("rb") as f:
            return f.read(n)

    @property
    def raw(self) -> bytes:
        """The whole file's bytes (read when first needed)."""
        if self._raw is None:
            try:
                self._raw = self._file.read_bytes()
            except OSError as e:
                raise DataError(f"{self.path}: cannot read ({e.strerror})") from None
            if b"\r" in self._raw and b"\n" not in self._raw:
                self._raw = self._raw.replace(b"\r", b"\n")
        return self._raw

    @property
    def text(self) -> str:
        """The file as text (decoded when first needed: the fast reader works on the bytes)."""
        if self._text is None:
            try:
                self._text = self.raw.decode("utf-8-sig")
            except UnicodeDecodeError as e:
                line = self.raw.count(b"\n", 0, e.start) + 1
                raise DataError(f"{self.path}, line {line}: byte 0x{self.raw[e.start]:02x} is not"
                                " UTF-8; save the file as UTF-8") from None
        return self._text

    # -- the csv-module reading: exact, slow, used for errors and pass-through ----------------

    @property
    def cells(self) -> NDArray[np.str_]:
        """Every cell as text, ``(rows, columns)``; raises on ragged rows, naming the line."""
        if self._cells is None:
            self._cells, self._lines = self._read_cells()
            self._cells.flags.writeable = False  # the table's own: errors quote it later
            self._m = self._cells.shape[0]
        return self._cells

    @property
    def lines(self) -> list[int]:
        """The line in the file of each row."""
        self.cells
        return self._lines

    def _read_cells(self) -> tuple[NDArray[np.str_], list[int]]:
        reader = csv.reader(io.StringIO(self.text, newline=""), delimiter=self.delimiter, strict=True)
        rows, lines, start, seen_header = [], [], 1, not self.header
        n = len(self.columns)
        try:
            for row in reader:
                line, start = start, reader.line_num + 1
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue  # blank line
                if not seen_header:
                    seen_header = True
                    continue
                if len(row) != n:
                    raise DataError(f"{self.path}, line {line}: {len(row)} fields, expected {n}"
                                    f" ({'as in the header' if self.header else 'as in the first row'});"
                                    " check the delimiter and quoting of that row")
                rows.append(row)
                lines.append(line)
        except csv.Error as e:
            raise DataError(f"{self.path}, line {reader.line_num}: malformed CSV ({e})") from None
        return np.array(rows, dtype=str), lines

    # -- the fast reading ------------------------------------------------------------------

    def _loadtxt(self, cols: Sequence[int], dtype) -> NDArray | None:
        """``cols`` through numpy's C reader, or None when it refuses or the file is irregular.

        Numbers are read for every column at once when they all are numbers (one pass, and
        the reader itself checks that every row has as many fields as the first).
        """
        if np.dtype(dtype) == np.float64:
            every = self._read_fast(None, np.float64)
            if every is not None:
                return every if list(cols) == list(range(every.shape[1])) else every[:, list(cols)]
        return self._read_fast(tuple(cols), dtype)

    def _read_fast(self, cols: tuple | None, dtype) -> NDArray | None:
        key = (cols, np.dtype(dtype).str)
        if key not in self._fast:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)  # "line N contained no data"
                    values = np.loadtxt(self._stream(), delimiter=self.delimiter, dtype=dtype,
                                        skiprows=self._skip, usecols=cols, ndmin=2, comments=None,
                                        quotechar='"', encoding="utf-8")
            except (ValueError, IndexError):  # UnicodeDecodeError is a ValueError
                values = None
            if values is not None and values.shape[1] != len(self.columns) and cols is None:
                values = None
            # With usecols the C reader accepts longer rows, so count the delimiters (quoted
            # ones, which the count cannot tell apart, send the file down the exact path).
            if values is not None and cols is not None and self.raw.count(self.delimiter.encode()) != (
                    len(self.columns) - 1) * (values.shape[0] + (1 if self.header else 0)):
                values = None
            if values is not None:
                self._m = values.shape[0]
                values.flags.writeable = False  # shared by later reads; see numbers()
            self._fast[key] = values
        return self._fast[key]

    def _stream(self):
        """What the fast reader reads: the file itself (streamed), or the bytes in memory."""
        if self._raw is None and not self._cr_only:
            return self._file
        return io.BytesIO(self.raw)

    def data_lines(self) -> list[str] | None:
        """Each data row's text as in the file, without its line end, when every row is one
        plain line (no quotes); else None."""
        text = self.text
        if '"' in text:
            return None
        lines = [line.rstrip("\r") for line in text.split("\n")[self._skip:]]
        lines = [line for line in lines if line.strip()]
        return lines if len(lines) == self.m else None

    def header_line(self) -> str:
        """The header as written in the file."""
        return self.text.split("\n")[self._skip - 1].rstrip("\r")

    @property
    def m(self) -> int:
        if self._m is None:
            self.cells
        return self._m

    def index(self, column: str | int, what: str) -> int:
        """The position of a column given by name or 0-based index."""
        if isinstance(column, int):
            if column >= len(self.columns):
                raise DataError(f"{self.path}: {what} column index {column} is out of range;"
                                f" the file has {len(self.columns)} columns (0 to {len(self.columns) - 1})")
            return column
        if column in self.columns:
            return self.columns.index(column)
        if not self.header and column.isdigit():
            return self.index(int(column), what)
        shown = ", ".join(self.columns[:12]) + (", ..." if len(self.columns) > 12 else "")
        raise DataError(f"{self.path}, line 1: no {what} column '{column}'{did_you_mean(column, self.columns)};"
                        f" the columns are {shown}")

    def row_line(self, row: int) -> int:
        """The line in the file of data row ``row`` (0-based)."""
        return self.lines[row]

    def place(self, row: int, col: int) -> str:
        return f"{self.path}, line {self.lines[row]}, column '{self.columns[col]}'"

    def maybe_numbers(self, cols: Sequence[int]) -> NDArray[np.float64] | None:
        """The columns as float64 ``(rows, len(cols))``, or None if a cell is not a number.

        The result may be read-only (the table's cache of what it read): copy it to change
        it, or use ``numbers``, which hands over an array the caller owns.
        """
        values = self._loadtxt(cols, np.float64)
        if values is None:
            # Refused: a cell that is not a number, or an irregular file. Reading the columns
            # as text tells which without the slow reader when the file is regular.
            text = self._read_fast(tuple(cols), str)
            try:
                values = (self.cells[:, list(cols)] if text is None else text).astype(np.float64)
            except ValueError:
                return None
        return values

    def numbers(self, cols: Sequence[int], dtype, what: str) -> NDArray:
        """The columns ``cols`` as a finite ``(rows, len(cols))`` array of ``dtype``."""
        values = self.maybe_numbers(cols)
        if values is None:
            self._raise_first_non_number(cols, what)
        finite = np.isfinite(values)
        if not finite.all():
            r, c = np.argwhere(~finite)[0]
            raise DataError(f"{self.place(r, cols[c])}: {self.cells[r, cols[c]].strip()} in a {what}"
                            " column; replace it with a finite number or remove the row")
        if np.dtype(dtype) == np.float32 and (big := np.abs(values) > np.finfo(np.float32).max).any():
            r, c = np.argwhere(big)[0]
            raise DataError(f"{self.place(r, cols[c])}: {self.cells[r, cols[c]].strip()} does not fit"
                            " float32; use training.dtype: float64 or rescale the column")
        return self._owned(values).astype(dtype, copy=False)

    def _owned(self, values: NDArray) -> NDArray:
        """``values`` as an array the caller owns: taken out of the cache if it is there."""
        for key, cached in self._fast.items():
            if cached is values:
                del self._fast[key]
                values.flags.writeable = True  # no longer shared: the cache let go of it
                return values
        return values if values.flags.writeable else values.copy()

    def strings(self, col: int) -> NDArray[np.str_]:
        """One column's cells as text, surrounding spaces removed."""
        values = self._loadtxt([col], str)
        column = self.cells[:, col] if values is None else values[:, 0]
        return np.char.strip(column)

    def _raise_first_non_number(self, cols, what):
        sub = self.cells[:, list(cols)]
        for r in range(sub.shape[0]):
            for c in range(sub.shape[1]):
                cell = sub[r, c]
                try:
                    float(cell)
                except ValueError:
                    if not cell.strip():
                        raise DataError(f"{self.place(r, cols[c])}: empty cell in a {what} column;"
                                        " fill it in or remove the row") from None
                    raise DataError(f"{self.place(r, cols[c])}: '{cell}' is not a number;"
                                    f" {what} columns must be numeric") from None
        raise AssertionError("astype failed but every cell parses")  # pragma: no cover


_NON_SPACE = re.compile(rb"\S")


def _offset_after_lines(raw: bytes, n: int) -> int:
    """The offset just after the first ``n`` lines of ``raw``."""
    pos = 0
    for _ in range(n):
        nl = raw.find(b"\n", pos)
        if nl < 0:
            return len(raw)
        pos = nl + 1
    return pos


def read_table(path: str | Path, *, delimiter: str = ",", header: bool = True,
               what: str = "data") -> Table:
    """Read a CSV file (UTF-8, optional BOM, any line ends, quoted fields)."""
    path = Path(path)
    name = str(path)
    if path.is_dir():
        raise DataError(f"{name}: is a directory; the {what} file must be a CSV file")
    if not path.exists():
        raise DataError(f"{name}: no such {what} file")
    try:
        return Table(name, path, delimiter=delimiter, header=header, what=what)
    except OSError as e:
        raise DataError(f"{name}: cannot read the {what} file ({e.strerror})") from None


def parse_table(raw: bytes, name: str, *, delimiter: str = ",", header: bool = True,
                what: str = "data") -> Table:
    """Parse CSV bytes (see ``read_table``); ``name`` is used in messages.

    Bytes that are not UTF-8 are reported, with their line, when a column holding them is
    read.
    """
    if b"\r" in raw and b"\n" not in raw:
        raw = raw.replace(b"\r", b"\n")  # old Mac line ends, which the fast reader does not know
    return Table(name, raw, delimiter=delimiter, header=header, what=what)


def _check_names(columns: list[str], name: str, line: int) -> None:
    seen: dict[str, int] = {}
    for i, c in enumerate(columns):
        if not c:
            raise DataError(f"{name}, line {line}: column {i + 1} has an empty name; name every column"
                            " or set data.header: false")
        if c in seen:
            raise DataError(f"{name}, line {line}: duplicate column name '{c}' (columns {seen[c] + 1}"
                            f" and {i + 1}); rename one")
        seen[c] = i
