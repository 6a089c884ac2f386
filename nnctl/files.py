"""Where commands write: one output policy for every file nnctl produces.

- ``-`` is stdout. A path that names an open descriptor (``/dev/stdout``,
  ``/proc/self/fd/3``), a named pipe, a socket or a device is *streamed*: opened and written,
  never replaced. What goes there is complete first (spooled), so an error midway writes
  nothing.
- Any other path is a regular file (``/dev/shm/p.csv`` too), written *atomically*: a temporary file in the same
  directory, renamed over the target when complete, so a crash, a kill or a full disk
  leaves the old file or the whole new one, and two runs writing one path at once leave
  one of the two, never a mix. Through a symlink the link's target is replaced and the
  link kept. A new file gets the umask's mode, a replaced one keeps its own.
- A run directory (``new_run_dir``) is a new folder, never one that exists: its files
  cannot replace anything, so they are written in place, as the run goes.
- Before any work (``check_outputs``): an output that is one of the run's inputs or
  another output, by any spelling, symlink or hard link, is refused, as is an output whose
  directory is missing or cannot take a new file.

Inputs are read by ``read_input`` and ``read_stdin``: a regular file, a pipe (``-``,
``/dev/stdin``, a named pipe, ``<(command)``) read as a stream, with a bounded wait for a
named pipe nobody writes to; a terminal, a device, a closed stdin or a directory is
refused with what to do instead.
"""

from __future__ import annotations

import errno
import io
import os
import re
import select
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .errors import ConfigError, DataError, NnctlError, OutputError

STDOUT = "-"
#: A streamed output is spooled in memory up to this size, then in a temporary file.
SPOOL_IN_MEMORY = 1 << 25


#: Paths that name one of this process's open descriptors (the shell's redirections).
_DESCRIPTOR = re.compile(r"^/(?:proc/(?:self|\d+)/fd/\d+|dev/fd/\d+|dev/std(?:in|out|err))$")


#: Control characters (C0, DEL, C1) and the bidirectional overrides and marks that can reorder what
#: a terminal shows, each written as an escape instead.
_ESCAPES = {c: f"\\x{c:02x}" for c in [*range(32), 127, *range(0x80, 0xA0)]}
_ESCAPES.update({c: f"\\u{c:04x}" for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A),
                                              0x200E, 0x200F, 0x061C]})
_LINES = {k: v for k, v in _ESCAPES.items() if k != 10}
_TABLES = {k: v for k, v in _LINES.items() if k != 9}


def safe(text: str, *, lines: bool = False, tabs: bool = False) -> str:
    """``text`` with every control character escaped (``\\x1b``); ``lines`` keeps line ends,
    ``tabs`` line ends and tabs (a TSV's cells)."""
    return str(text).translate(_TABLES if tabs else _LINES if lines else _ESCAPES)


def byte_place(raw: bytes, offset: int) -> str:
    """Where byte ``offset`` of a text file is, as an editor shows it: ``line 3, column 7``
    (the column in characters, the first being 1)."""
    start = raw.rfind(b"\n", 0, offset) + 1
    column = len(raw[start:offset].decode("utf-8", "replace").removeprefix("\ufeff")) + 1
    line = raw.count(b"\n", 0, offset) + 1
    return f"line {line}, column {column}"


def is_streamed(path: str | Path) -> bool:
    """Whether ``path`` is written as a stream, in place, never replaced: stdout (``-``),
    an open descriptor (``/dev/stdout``, ``/proc/self/fd/3``), or a named pipe, device or
    socket. Any other path, wherever it is (``/dev/shm/x.csv``), is a file."""
    text = str(path)
    if text == STDOUT or _DESCRIPTOR.match(os.path.abspath(text)):
        return True
    try:
        mode = os.stat(text).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def _identity(path: str | Path, *, stdin: bool = False):
    """What makes two paths one file: its device and inode if it (or the path with every
    symlink resolved) exists, else that resolved path. ``-`` is stdin, or stdout for an
    output. None for what is not a file that can be lost (a terminal, a pipe, a device)."""
    try:
        if str(path) == STDOUT:
            st = os.fstat(0) if stdin else os.fstat(1)
        else:
            st = os.stat(os.path.realpath(path))
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise ConfigError(f"{path}: is a loop of symbolic links; give a real path") from None
        return ("path", os.path.realpath(path))
    if not stat.S_ISREG(st.st_mode):
        return None
    return ("inode", st.st_dev, st.st_ino)


def check_outputs(outputs: Iterable[tuple[str, str | Path | None] | tuple[str, str | Path | None, bool]],
                  inputs: Iterable[tuple[str, str | Path | None]]) -> None:
    """Refuse, before any work, outputs that would overwrite an input or each other, or
    that cannot be written. Each entry is ``(what, path)``; a ``None`` path is skipped; an
    input ``-`` is stdin, an output ``-`` stdout, compared by what they are open on. An
    output ``(what, path, True)`` is binary, refused where it would go to a terminal.

    A clash is a ``ConfigError`` (a usage error: exit 2); an output that cannot be written
    there is an ``OutputError`` (exit 1).
    """
    seen: dict = {}
    for what, path in inputs:
        if path is not None:
            key = _identity(path, stdin=True)
            if key is not None:
                seen.setdefault(key, (what, "stdin" if str(path) == STDOUT else path))
    streams = []
    for what, path, *binary in outputs:
        if path is None:
            continue
        text = str(path)
        if text.endswith(("/", "/.")):
            raise ConfigError(f"{path}: names a directory; give a file name for the {what}")
        if binary and binary[0] and is_streamed(path) and _terminal(text):
            raise ConfigError(f"{'stdout' if text == STDOUT else path}: is a terminal, and the"
                              f" {what} is binary; redirect it to a file (> FILE) or a program"
                              " (| ...), or give a file name")
        if is_streamed(path):
            same = [w for w, p in streams if os.path.realpath(str(p)) == os.path.realpath(text)]
            if same or (text == STDOUT and any(str(p) == STDOUT for _, p in streams)):
                raise ConfigError(f"{path}: both the {same[0] if same else 'other output'} and the"
                                  f" {what} would go there; give one of them another path")
            streams.append((what, path))
        key = _identity(path)
        if key is not None and key in seen:
            other, other_path = seen[key]
            same = "" if str(other_path) == text else f" ({other_path})"
            raise ConfigError(f"{path}: the {what} would overwrite the {other}{same}, the same"
                              f" file; write the {what} somewhere else")
        if key is not None:
            seen[key] = (what, path)
        if not is_streamed(path):
            _check_writable(Path(path), what)


def _check_writable(path: Path, what: str) -> None:
    """The directory exists and takes a new file (probed: permissions alone do not tell,
    for instance on a read-only mount)."""
    target = Path(os.path.realpath(path))
    try:
        if target.is_dir():
            raise OutputError(f"{path}: is a directory; give a file name for the {what}")
        directory = target.parent
        if not directory.is_dir():
            raise OutputError(f"{path}: the directory {directory} does not exist; create it"
                              f" first or write the {what} elsewhere")
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".probe", dir=directory)
    except OSError as e:
        raise OutputError(f"{path}: cannot write the {what} there ({e.strerror}); choose"
                          " another path") from None
    os.close(fd)
    os.unlink(tmp)


def _new_file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def run_name(text: str) -> str:
    """``text`` as one safe folder name for a run (a config's stem, or a name a model file
    carries, which is untrusted): no ``/`` or NUL, not ``.`` or ``..``, at most 100
    characters."""
    name = str(text).replace("/", "_").replace("\0", "_")[:100]
    return name if name.strip(". ") else "run"


def is_run_number(name: str) -> bool:
    """``3`` is a run's folder; ``²``, ``٣`` and ``03`` are not (``isdigit`` says yes to them)."""
    return name.isascii() and name.isdigit() and str(int(name)) == name


def new_run_dir(parent: Path) -> Path:
    """A new, empty directory ``parent/<n>``, ``n`` one more than the highest there.

    ``mkdir`` claims it (two runs started at once get two numbers), with the umask's mode.
    """
    try:
        parent.mkdir(parents=True, exist_ok=True)
        taken = [int(p.name) for p in parent.iterdir() if is_run_number(p.name)]
    except OSError as e:
        # Name the part of the path that is in the way (a file, a broken link), if any.
        blocker = next((p for p in [*reversed(parent.parents[:-1]), parent]
                        if os.path.lexists(p) and not p.is_dir()), None)
        if blocker is not None:
            raise OutputError(f"{blocker}: is not a folder (a file or a broken link), so the"
                              f" runs cannot go in {parent}; move it, set output.runs, or use"
                              " -o MODEL") from None
        raise OutputError(f"{parent}: cannot make the folder of runs there ({e.strerror});"
                          " set output.runs to a folder you can write, or use -o MODEL") from None
    n = max(taken, default=0) + 1
    while True:
        try:
            (parent / str(n)).mkdir()
            return parent / str(n)
        except FileExistsError:
            n += 1
        except OSError as e:
            raise OutputError(f"{parent / str(n)}: cannot make the run directory ({e.strerror});"
                              " set output.runs to a folder you can write, or use -o MODEL") from None


def open_log(path: Path, what: str) -> BinaryIO:
    """A new file in a run directory (or a log the user named), written as the run goes."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
    except OSError as e:
        raise OutputError(f"{path}: cannot write the {what} ({e.strerror}); choose another"
                          " path") from None
    return os.fdopen(fd, "wb")


def append_log(f: BinaryIO, data: bytes, path: Path, what: str) -> None:
    """Add ``data`` to a log from ``open_log``, flushed: a reader sees whole lines."""
    try:
        f.write(data)
        f.flush()
    except OSError as e:
        raise OutputError(f"{path}: cannot write the {what} ({e.strerror}); free some space or"
                          " choose another place") from None


def write_output(path: str | Path, write: Callable[[BinaryIO], object], *,
                 error: type[NnctlError] = DataError, what: str = "file") -> None:
    """Write an output by the policy above: ``write(f)`` gets a binary file to fill."""
    write_outputs([Output(path, write, error, what)])


@dataclass
class Output:
    """One output of a command: where, how to fill it, and how to name it in errors."""

    path: str | Path
    write: Callable[[BinaryIO], object]
    error: type[NnctlError] = DataError
    what: str = "file"


def write_outputs(outputs: Sequence[Output]) -> None:
    """Write several outputs as one: every file is complete in its temporary file before
    any is renamed into place, so a failure on the last (a full disk) leaves all of them
    as they were, not a new model beside an old history. Streams are written last."""
    staged: list[tuple[str, Path]] = []
    try:
        for out in outputs:
            if not is_streamed(out.path):
                target = Path(os.path.realpath(out.path))
                staged.append((_stage(target, out.write, error=out.error, what=out.what,
                                      shown=out.path), target))
        for out in outputs:
            if is_streamed(out.path):
                _write_stream(str(out.path), out.write, error=out.error, what=out.what)
        with _signals_held():  # a stop between two renames would split the outputs
            for (tmp, target), out in zip(staged, [o for o in outputs if not is_streamed(o.path)]):
                try:
                    os.replace(tmp, target)  # atomic within a directory
                except OSError as e:
                    raise out.error(f"{out.path}: cannot write the {out.what} ({e.strerror})") from None
    except BaseException:
        for tmp, _ in staged:
            Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: str | Path, text: str, *, what: str = "file") -> None:
    """Write ``text`` (UTF-8) to ``path`` by the output policy."""
    write_output(path, lambda f: f.write(text.encode("utf-8")), error=DataError, what=what)


def _write_stream(path: str, write, *, error, what) -> None:
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool:
        write(spool)
        spool.seek(0)
        if _terminal(path):
            # Text (binary outputs are refused before any work) whose cells came from files:
            # a terminal shows their control characters escaped, never runs them.
            text = safe(spool.read().decode("utf-8", "backslashreplace"), tabs=True)
            spool = io.BytesIO(text.encode("utf-8"))
        if path == STDOUT:
            out = stdout_binary()
            try:
                shutil.copyfileobj(spool, out, 1 << 20)
                out.flush()
            except BrokenPipeError:
                raise
            except OSError as e:
                raise error(f"stdout: cannot write the {what} ({e.strerror})") from None
            return
        try:
            with os.fdopen(_open_for_writing(path, what, error), "wb") as f:
                shutil.copyfileobj(spool, f, 1 << 20)
        except BrokenPipeError:
            raise
        except OSError as e:
            raise error(f"{path}: cannot write the {what} ({e.strerror})") from None


def _open_for_writing(path: str, what: str, error) -> int:
    """A descriptor to write ``path`` in place; a named pipe that nothing reads is waited
    for ``PIPE_WAIT`` seconds, not forever."""
    import time

    deadline = time.monotonic() + PIPE_WAIT
    while True:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as e:
            if e.errno != errno.ENXIO:  # ENXIO: a pipe with no reader (yet)
                raise
            if time.monotonic() > deadline:
                raise error(f"{path}: a named pipe that nothing read from in {PIPE_WAIT:g} s;"
                            f" start the program that reads the {what} first") from None
            time.sleep(0.05)
            continue
        os.set_blocking(fd, True)
        return fd


def stdout_binary() -> BinaryIO:
    """stdout as a binary stream; a closed stdout is an error that says what to do."""
    out = sys.stdout
    if out is None:
        raise DataError("stdout is closed; write the output to a file with -o FILE")
    sys.stdout.flush()
    return getattr(out, "buffer", out)


class _signals_held:
    """Hold SIGINT, SIGTERM and SIGHUP until the block ends (then they arrive).

    The handlers are swapped for ones that only note the signal, and the first noted one
    is raised again at the end. (Blocking with ``pthread_sigmask`` is not enough: it blocks
    the main thread only, and the kernel gives the signal to any thread that does not
    block it, such as BLAS's, after which Python runs the handler all the same.)
    """

    SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")

    def __enter__(self):
        import signal
        import threading

        self.pending: list[int] = []
        self.saved: dict[int, object] = {}
        if threading.current_thread() is threading.main_thread():
            for name in self.SIGNALS:
                number = getattr(signal, name, None)
                if number is not None:
                    self.saved[number] = signal.signal(number, self._note)
        return self

    def _note(self, signum, frame) -> None:
        self.pending.append(signum)

    def __exit__(self, *exc):
        import signal

        for number, handler in self.saved.items():
            # None: a handler not set from Python; the default is the closest to it.
            signal.signal(number, handler if handler is not None else signal.SIG_DFL)
        if self.pending and exc[0] is None:
            signal.raise_signal(self.pending[0])


def hold_signals() -> _signals_held:
    """``with hold_signals():`` a stop asked for inside arrives when the block ends."""
    return _signals_held()


def _stage(path: Path, write, *, error, what, shown) -> str:
    """The complete new content of ``path`` in a temporary file beside it (its name)."""
    directory = path.parent if str(path.parent) else Path(".")
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mode = _new_file_mode()
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as e:
        raise error(f"{shown}: cannot write the {what} here ({e.strerror}); choose another"
                    " path") from None
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
            write(f)
            f.flush()
            os.fsync(f.fileno())
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise error(f"{shown}: cannot write the {what} ({e.strerror}); nothing was"
                        " changed there") from None
        raise
    return tmp


#: Seconds to wait for the first byte of a named pipe that no program writes to.
PIPE_WAIT = float(os.environ.get("NNCTL_PIPE_WAIT", "10"))


def read_input(path: str | Path, what: str, *, error: type[NnctlError] = DataError,
               limit: int | None = None, too_big: str = "") -> bytes:
    """The bytes of an input file; ``limit`` bounds what is read (more is an error)."""
    name = str(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise error(f"{name}: no such {what} file") from None
    except OSError as e:
        raise error(f"{name}: cannot read the {what} file ({e.strerror})") from None
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        raise error(f"{name}: is a directory, not a {what} file")
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISSOCK(mode):
        kind = "a terminal" if _is_tty(path) else "a device or socket"
        raise error(f"{name}: is {kind}, not a {what} file; give a file, or pipe it in"
                    " (cat FILE | nnctl ... -)")
    if limit is not None and stat.S_ISREG(mode) and st.st_size > limit:
        raise error(f"{name}: is {st.st_size:,} bytes, more than the {limit:,} a {what} file may"
                    f" be{'; ' + too_big if too_big else ''}")
    try:
        if stat.S_ISFIFO(mode):
            return _read_pipe(name, what, limit, error, too_big)
        with open(path, "rb") as f:
            data = f.read() if limit is None else f.read(limit + 1)
    except OSError as e:
        raise error(f"{name}: cannot read the {what} file ({e.strerror})") from None
    if limit is not None and len(data) > limit:
        raise error(f"{name}: is more than the {limit:,} bytes a {what} file may be"
                    f"{'; ' + too_big if too_big else ''}")
    return data


def _terminal(path: str) -> bool:
    """Whether the output ``path`` (``-``: stdout) is a terminal."""
    if path != STDOUT:
        return _is_tty(path)
    try:
        return sys.stdout is not None and sys.stdout.isatty()
    except (OSError, ValueError):
        return False


def _is_tty(path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError:
        return False
    try:
        return os.isatty(fd)
    finally:
        os.close(fd)


def _read_pipe(name: str, what: str, limit, error, too_big: str) -> bytes:
    """A named pipe: opened without waiting for a writer, then read to its end once the
    first byte (or the end) arrives, or refused after ``PIPE_WAIT`` seconds of nothing."""
    fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK)
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLHUP)
        if not poller.poll(PIPE_WAIT * 1000):
            raise error(f"{name}: a named pipe that nothing wrote to in {PIPE_WAIT:g} s; start"
                        f" the program that writes the {what} first, or give a file")
        os.set_blocking(fd, True)
        chunks, size = [], 0
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if limit is not None and size > limit:
                raise error(f"{name}: is more than the {limit:,} bytes a {what} file may be"
                            f"{'; ' + too_big if too_big else ''}")
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_stdin(what: str) -> bytes:
    """All of stdin; a closed stdin or a terminal (nothing piped in) is an error."""
    stream = sys.stdin
    closed = DataError(f"<stdin>: stdin is closed; give the {what} file's path, or pipe it"
                       " in (cat FILE | nnctl ... -)")
    if stream is None:
        raise closed
    try:
        fd = stream.fileno()
    except (OSError, ValueError):
        fd = None  # an in-memory stream (an embedding program, a test runner)
    if fd is not None:
        try:
            os.fstat(fd)
        except OSError:
            raise closed from None
    if fd is not None and os.isatty(fd):
        raise DataError(f"<stdin>: nothing is piped in (stdin is a terminal); give the {what}"
                        " file's path, or pipe it in (cat FILE | nnctl ... -)")
    try:
        return getattr(stream, "buffer", stream).read()
    except OSError as e:
        raise DataError(f"<stdin>: cannot read the {what} ({e.strerror})") from None


def available_memory() -> int | None:
    """Bytes of memory the system can give (Linux's MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None
