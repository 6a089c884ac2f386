"""The layout holds (docs/architecture.md): imports only go down the layers.

cli -> commands -> data / config / model_file -> core; core imports nothing of nnctl but
errors and registry; only render imports rich; nothing imports upward.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "nnctl"

#: What each part of nnctl may import of nnctl (by top-level module or package name).
ALLOWED = {
    "core": {"core", "errors", "registry"},
    "data": {"data", "errors", "files", "registry", "core", "config"},
    "config": {"config", "core", "errors", "files", "registry"},
    "model_file": {"model_file", "core", "errors", "registry", "files", "__init__"},
    "files": {"files", "errors"},
    "errors": {"errors"},
    "registry": {"registry", "errors"},
    "render": {"render", "errors", "files"},
    "commands": {"commands", "config", "core", "data", "errors", "files", "model_file", "registry",
                 "render", "plots", "onnx_graph", "kernels"},
    "cli": {"cli", "commands", "errors", "render", "__init__"},
    "plots": {"plots", "render"},
    "onnx_graph": {"onnx_graph", "core", "errors"},
    "kernels": {"kernels", "core"},
    "bundled": set(),  # datasets/make_default.py, a script beside the data it made
    "__init__": {"__init__", "core", "errors"},
    "__main__": {"cli"},
}


def part_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def nnctl_imports(path: Path) -> set[str]:
    """The top-level nnctl modules a file imports (relative or absolute)."""
    tree = ast.parse(path.read_text())
    rel = path.relative_to(PACKAGE)
    depth = len(rel.parts) - 1  # 0 for nnctl/x.py, 1 for nnctl/core/x.py
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                up = node.level - 1
                base = list(rel.parts[:depth - up]) if up <= depth else None
                if base is None:
                    raise AssertionError(f"{rel}: import above the package")
                parts = base + (node.module.split(".") if node.module else [])
                if parts:
                    found.add(parts[0])
                else:  # from . import x: a module, or a name of nnctl/__init__.py
                    found.update(alias.name if (PACKAGE / f"{alias.name}.py").exists()
                                 or (PACKAGE / alias.name).is_dir() else "__init__"
                                 for alias in node.names)
            elif node.module and node.module.split(".")[0] == "nnctl":
                found.add(node.module.split(".")[1] if "." in node.module else "__init__")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("nnctl."):
                    found.add(alias.name.split(".")[1])
    return found


def third_party(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module.split(".")[0])
    return names


FILES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_only_go_down_the_layers(path):
    part = part_of(path)
    assert part in ALLOWED, f"{path}: a module outside the documented layout"
    upward = nnctl_imports(path) - ALLOWED[part]
    assert not upward, f"{path.relative_to(PACKAGE)} imports {sorted(upward)}"


def test_only_render_imports_rich():
    importers = sorted(p.relative_to(PACKAGE).as_posix() for p in FILES if "rich" in third_party(p))
    assert importers == ["render.py"]


def test_only_onnx_graph_imports_onnx():
    importers = sorted(p.relative_to(PACKAGE).as_posix() for p in FILES
                       if {"onnx", "onnxruntime"} & third_party(p))
    assert importers == ["onnx_graph.py"]


def test_only_kernels_imports_numba():
    importers = sorted(p.relative_to(PACKAGE).as_posix() for p in FILES
                       if {"numba", "llvmlite"} & third_party(p))
    assert importers == ["kernels/__init__.py", "kernels/loop.py"]


def test_only_plots_imports_matplotlib():
    importers = sorted(p.relative_to(PACKAGE).as_posix() for p in FILES
                       if "matplotlib" in third_party(p))
    assert importers == ["plots.py"]


@pytest.mark.parametrize("path", [p for p in FILES if part_of(p) == "core"],
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_core_imports_only_numpy_and_the_standard_library(path):
    assert third_party(path) - set(sys.stdlib_module_names) <= {"numpy"}, path


def test_workflow_is_gone_and_every_command_has_a_module():
    assert not (PACKAGE / "workflow.py").exists()
    from nnctl.cli import main

    for name in main.commands:
        assert (PACKAGE / "commands" / f"{name}.py").is_file(), name


def test_the_checker_sees_an_upward_import(tmp_path):
    """The scan itself can fail: a core module importing render is caught."""
    bad = PACKAGE / "core" / "_layout_probe.py"
    bad.write_text("from .. import render\nfrom ..data.table import Table\n")
    try:
        assert nnctl_imports(bad) - ALLOWED["core"] == {"render", "data"}
    finally:
        bad.unlink()
