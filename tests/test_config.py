"""The one schema: defaults, the JSON Schema for editors, and the error places it gives."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import yaml
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from nnctl import config
from nnctl.errors import ConfigError

from helpers import CONFIGS

VALIDATOR = jsonschema.Draft202012Validator(config.json_schema())


def test_the_json_schema_is_valid_and_accepts_every_bundled_config():
    jsonschema.Draft202012Validator.check_schema(config.json_schema())
    for path in sorted(CONFIGS.glob("*.yaml")):
        data = yaml.load(path.read_text(), Loader=config._Loader)
        assert not list(VALIDATOR.iter_errors(data)), path
        config.load(path)  # and the schema itself takes it


@pytest.mark.parametrize("data", [
    {"netwrok": {}},
    {"training": {"epochs": 0}},
    {"training": {"optimizer": {"name": "adam", "momentum": 0.9}}},
    {"network": {"layers": [3, {"units": 2, "activation": "rleu"}]}},
    {"data": {"standardize": "robust"}},
    {"training": {"dtype": "float16"}},
])
def test_the_json_schema_and_the_reader_refuse_the_same_mistakes(data):
    assert list(VALIDATOR.iter_errors(data)), data
    with pytest.raises(ConfigError):
        config.from_dict(data, source="x")


@pytest.mark.parametrize("data", [
    {"data": {"target": "y"}}, {"data": {"target": ["a", "b"]}}, {"data": {"target": 3}},
    {"network": {"layers": [16, 8, {"activation": "softmax"}]}},
    {"training": {"optimizer": "sgd", "schedule": "cosine", "early_stopping": 5}},
    {"training": {"optimizer": {"name": "nesterov", "lr": 0.1}, "early_stopping": False}},
    {"training": {"schedule": {"name": "step", "step_size": 3}}},
])
def test_shorthands_are_valid_in_both(data):
    assert not list(VALIDATOR.iter_errors(data)), data
    config.from_dict(data, source="x")


def test_defaults_are_declared_once_and_read_from_the_core_for_optimizers():
    import inspect

    from nnctl.core.optimizers import Adam, SGD

    cfg = config.from_dict({}, source="x")
    assert cfg.training.optimizer.lr == inspect.signature(Adam).parameters["lr"].default
    sgd = config.from_dict({"training": {"optimizer": "sgd"}}, source="x")
    assert sgd.training.optimizer.lr == inspect.signature(SGD).parameters["lr"].default
    assert cfg.training.epochs == config.TrainingConfig.model_fields["epochs"].default


def test_overrides_are_validated_by_the_schema():
    cfg = config.parse("training: {epochs: 3}\n", source="c.yaml")
    assert cfg.with_overrides(epochs=7, lr=0.5).training.optimizer.lr == 0.5
    with pytest.raises(ConfigError, match="training.epochs.*must be from 1 to"):
        cfg.with_overrides(epochs=10**9)


def test_an_error_names_the_line_of_a_nested_key():
    text = "training:\n  optimizer:\n    name: adam\n    beta1: 1.5\n"
    with pytest.raises(ConfigError, match=r"^c.yaml, line 4: training.optimizer.beta1: beta1 must be"
                                          r" in \[0.0, 1.0\), got 1.5"):
        config.parse(text, source="c.yaml")


@settings(max_examples=300, deadline=None)
@given(names=st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=4, unique=True),
       na=st.lists(st.text(max_size=8), max_size=3))
def test_the_resolved_yaml_reads_back_to_the_same_config_for_any_names(names, na):
    """``nnctl config`` text is YAML that reads back unchanged: names such as 1e3, yes, ~ or
    null are quoted for the loader's own resolvers, not PyYAML's."""
    try:
        cfg = config.from_dict({"data": {"features": names, "na_values": na, "target": "the target"}},
                               source="x")
    except ConfigError:
        cfg = None
    assume(cfg is not None)  # a name the schema refuses (the test is of the round trip)
    again = config.parse(cfg.to_yaml(), source="y")
    assert again.resolved() == cfg.resolved()


def test_a_config_from_a_stream_takes_relative_paths_from_the_current_directory(tmp_path,
                                                                                monkeypatch):
    """From a pipe (/dev/stdin, <(...)) 'd.csv' was looked for in /dev/fd or /dev, and a
    run's outputs were written there (found by a hostile review)."""
    import os
    import threading

    from nnctl import config

    monkeypatch.chdir(tmp_path)
    text = "data: {train: d.csv, target: y}\noutput: {model: m.npz}\n"
    (tmp_path / "fifos").mkdir()  # like /dev/fd: the stream's folder is not the user's
    fifo = tmp_path / "fifos" / "pipe"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_text(text))
    writer.start()
    streamed = config.load(fifo)
    writer.join()
    assert (tmp_path / streamed.data.train).resolve() == tmp_path / "d.csv"
    assert (tmp_path / streamed.model_path).resolve() == tmp_path / "m.npz"
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "c.yaml").write_text(text)
    from_file = config.load(sub / "c.yaml")  # a file: relative to its folder, as before
    assert Path(from_file.data.train).resolve() == sub / "d.csv"
