"""Property-based tests (hypothesis) through the real CLI: random CSV files, random YAML."""

from __future__ import annotations

import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnctl.cli import main


def run_cli(args, cwd):
    import os

    old = os.getcwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(main, args, prog_name="nnctl")
    finally:
        os.chdir(old)


def assert_clean(result):
    """Success, or one 'Error:' line and a non-zero exit: never a traceback."""
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    if result.exit_code != 0:
        assert result.exit_code in (1, 2), result.exit_code
        errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1, result.stderr


WEIRD = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", " ", "nan", "-inf", '"', '"1,5"', "1e400", "0x1F", "1_0", "é", ";", "x y"]),
    st.text(max_size=4))
NUMBER = st.one_of(st.integers(-9, 9).map(str), st.floats(-1e3, 1e3).map(lambda v: f"{v:.3g}"))
FEATURE = st.one_of(*[NUMBER] * 30, WEIRD)
LABEL = st.one_of(*[st.sampled_from(["x", "y"])] * 30, st.sampled_from(["z", "1", "", " x"]), WEIRD)
ROW = st.one_of(*[st.tuples(FEATURE, FEATURE, LABEL).map(list)] * 40,
                st.lists(FEATURE, min_size=0, max_size=5))  # now and then a ragged row


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(ROW, min_size=0, max_size=10), header=st.booleans(), crlf=st.booleans())
def test_random_csv_never_gives_a_traceback(tmp_path_factory, rows, header, crlf):
    tmp = tmp_path_factory.mktemp("csv")
    lines = ([",".join(["a", "b", "label"])] if header else []) + [",".join(r) for r in rows]
    (tmp / "data.csv").write_bytes(("\r\n" if crlf else "\n").join(lines).encode("utf-8", "surrogatepass"))
    target = "label" if header else "2"
    (tmp / "c.yaml").write_text(f"data: {{train: data.csv, header: {str(header).lower()}, target: {target},"
                                " validation_split: 0, test_split: 0}\ntraining: {epochs: 1}\n")
    assert_clean(run_cli(["train", "c.yaml"], tmp))


KEYS = st.sampled_from(["data", "network", "loss", "training", "output", "layers", "units",
                        "activation", "alpha", "epochs", "batch_size", "optimizer", "name", "lr",
                        "schedule", "early_stopping", "patience", "target", "train", "inputs",
                        "dtype", "seed", "header", "delimiter", "model", "weird"])
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-3, 5), st.floats(-2, 2),
                    st.sampled_from(["relu", "softmax", "adam", "sgd", "mse", "float32", "label",
                                     "x1", "../nope.csv", "cosine", ""]))
DOCS = st.recursive(SCALARS, lambda children: st.one_of(
    st.lists(children, max_size=3), st.dictionaries(KEYS, children, max_size=4)), max_leaves=12)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=DOCS)
def test_random_yaml_never_gives_a_traceback(tmp_path_factory, doc):
    tmp = tmp_path_factory.mktemp("yaml")
    (tmp / "c.yaml").write_text(yaml.safe_dump(doc))
    assert_clean(run_cli(["shapes", "c.yaml", "--json"], tmp))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=60))
def test_random_yaml_text_never_gives_a_traceback(tmp_path_factory, text):
    tmp = tmp_path_factory.mktemp("text")
    (tmp / "c.yaml").write_text(text, encoding="utf-8", errors="surrogatepass")
    assert_clean(run_cli(["shapes", "c.yaml"], tmp))
