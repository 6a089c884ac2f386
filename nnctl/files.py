"""Writing files so that an interrupted write never leaves a broken file at the target."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

from .errors import DataError, NnctlError


def atomic_write(path: str | Path, write: Callable[[BinaryIO], object], *,
                 error: type[NnctlError], what: str) -> None:
    """Run ``write(f)`` on a temporary file beside ``path``, then rename it over ``path``.

    A crash or kill at any moment leaves either the old file or the complete new one (the
    rename is atomic within a directory); failures become ``error`` naming the path.
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as e:
        raise error(f"{path}: cannot write the {what} here ({e.strerror}); choose another path") from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise error(f"{path}: cannot write the {what} ({e.strerror})") from None
        raise


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write(path, lambda f: f.write(text.encode("utf-8")), error=DataError, what="file")
