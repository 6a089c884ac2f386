"""``nnctl init``: the bundled example configs and datasets, copied into a folder."""

from __future__ import annotations

import os
from pathlib import Path

from .. import render
from ..config import BUNDLED
from ..errors import OutputError

#: What is copied: the same files the package installs (pyproject's package-data).
PATTERNS = ("configs/*.yaml", "configs/*.json", "datasets/*.csv", "datasets/*.md", "datasets/*.py")


def bundled_files() -> list[Path]:
    return sorted(p for pattern in PATTERNS for p in BUNDLED.glob(pattern) if p.is_file())


def run(directory: str) -> list[Path]:
    """Copy every bundled file to ``directory`` (its configs/ and datasets/ side by side, as
    the configs' relative paths expect). Refuses before writing anything if one exists; a
    failure midway removes what it wrote."""
    target = Path(directory)
    plan = [(src, target / src.relative_to(BUNDLED)) for src in bundled_files()]
    existing = [dst for _, dst in plan if os.path.lexists(dst)]
    if existing:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise OutputError(f"{existing[0]}: already exists{more}; nnctl init never overwrites:"
                          " give a new or empty folder (nnctl init DIR)")
    written: list[Path] = []
    made: list[Path] = []
    try:
        for src, dst in plan:
            for folder in reversed([dst.parent, *dst.parent.parents]):
                if not os.path.lexists(folder):
                    folder.mkdir()
                    made.append(folder)
            # O_EXCL: a file that appeared since the check is not overwritten either.
            fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
            written.append(dst)
            with os.fdopen(fd, "wb") as f:
                f.write(src.read_bytes())
    except OSError as e:
        for path in written:
            path.unlink(missing_ok=True)
        for folder in reversed(made):
            folder.rmdir()
        where = e.filename or target
        raise OutputError(f"{where}: cannot copy the examples there ({e.strerror}); nothing"
                          " was left behind; choose another folder") from None
    configs = sum(1 for _, dst in plan if dst.suffix == ".yaml")
    datasets = sum(1 for _, dst in plan if dst.suffix == ".csv")
    start = "" if target == Path(".") else f"cd {target} && "
    render.note(f"copied {configs} configs and {datasets} datasets into {target}/ (configs/,"
                f" datasets/); try: {start}nnctl train configs/iris.yaml", style="green")
    return [dst for _, dst in plan]
