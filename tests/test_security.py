"""nnctl never runs code from a file it reads: no pickle, yaml.safe_load only, no eval/exec."""

from __future__ import annotations

import ast
import pickle
from pathlib import Path

import numpy as np

import nnctl

from helpers import assert_one_line_error, write

SOURCE = sorted(Path(nnctl.__file__).parent.glob("*.py"))


def calls(name_or_attr: str):
    """(file, line) of every call to a function or method with that name in nnctl's source."""
    for path in SOURCE:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                f = node.func
                called = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
                if called == name_or_attr:
                    yield path.name, node


def test_no_pickle_eval_or_exec_in_the_source():
    for path in SOURCE:
        tree = ast.parse(path.read_text())
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
                    for alias in node.names} | {node.module for node in ast.walk(tree)
                                                 if isinstance(node, ast.ImportFrom) and node.module}
        assert not imported & {"pickle", "cPickle", "dill", "marshal", "shelve"}, path.name
    assert not list(calls("eval")) and not list(calls("exec")) and not list(calls("__import__"))


def test_every_numpy_load_refuses_pickles():
    loads = list(calls("load"))
    np_loads = [(f, node) for f, node in loads if isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "np"]
    assert np_loads, "model_file.load is expected to call np.load"
    for f, node in np_loads:
        kwargs = {k.arg: k.value for k in node.keywords}
        assert isinstance(kwargs.get("allow_pickle"), ast.Constant) and kwargs["allow_pickle"].value is False, f


def test_yaml_is_read_with_the_safe_loader_only():
    import yaml

    from nnctl import config

    # nnctl's loader is SafeLoader plus one resolver (numbers such as 1e-3), nothing else.
    assert config._Loader.__mro__[1] is yaml.SafeLoader
    assert config._Loader.yaml_constructors is yaml.SafeLoader.yaml_constructors
    uses = [(f, node) for f, node in list(calls("load")) + list(calls("compose")) + list(calls("load_all"))
            if isinstance(node.func, ast.Attribute) and getattr(node.func.value, "id", None) == "yaml"]
    assert len(uses) >= 2  # compose (for the lines) and load
    for f, node in uses:
        loader = {k.arg: k.value for k in node.keywords}.get("Loader")
        assert loader is not None and ast.unparse(loader) in ("yaml.SafeLoader", "_Loader"), f


def test_a_yaml_python_tag_is_refused_and_not_run(cli, tmp_path):
    marker = tmp_path / "pwned"
    write(tmp_path / "c.yaml", f'training: !!python/object/apply:os.system ["touch {marker}"]\n')
    assert_one_line_error(cli("train", "c.yaml"), 2, "c.yaml, line 1", "YAML syntax error")
    assert not marker.exists()


class _Exploit:
    """Unpickling this would create a file."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


def test_a_pickle_inside_a_model_file_is_refused_and_not_run(cli, tmp_path):
    assert cli("train", "--epochs", "1", "-o", "m.npz").code == 0
    marker = tmp_path / "pwned"
    with np.load(tmp_path / "m.npz", allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["W1"] = np.array([_Exploit(marker)], dtype=object)
    np.savez(tmp_path / "evil.npz", **arrays)
    # The payload really is live: loading it with pickles allowed would run it.
    with np.load(tmp_path / "evil.npz", allow_pickle=True) as npz:
        pickle.loads(pickle.dumps(npz["W1"][0]))  # noqa: S301 - proves the exploit works
    assert marker.exists()
    marker.unlink()
    assert_one_line_error(cli("predict", "evil.npz", "-", input="x1,x2,x3\n1,2,3\n"), 1,
                          "evil.npz: holds pickled objects, which nnctl never loads")
    assert_one_line_error(cli("train", "--resume", "evil.npz"), 1, "holds pickled objects")
    assert not marker.exists()


def test_code_in_a_csv_is_only_data(cli, tmp_path):
    marker = tmp_path / "pwned"
    code = f"__import__('os').system('touch {marker}')"
    write(tmp_path / "data.csv", "a,b,label\n" + "".join(
        f'{i},{i % 3},"{code if i % 2 else "plain"}"\n' for i in range(20)))
    write(tmp_path / "c.yaml", "data: {train: data.csv}\ntraining: {epochs: 1}\n")
    run = cli("train", "c.yaml")
    assert run.code == 0, run
    assert "2 classes (__import__" in run.stderr  # a label like any other
    assert not marker.exists()
