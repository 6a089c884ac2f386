"""``Config.with_values``: a config changed by key path (for ``--set`` and sweeps), checked
by the same schema, its errors naming the assignment as a file's errors name the line."""

from __future__ import annotations

import pytest

from nnctl import config
from nnctl.errors import ConfigError

IRIS = config.BUNDLED / "configs" / "iris.yaml"


def test_nested_keys_list_indexes_and_new_entries():
    cfg = config.load(IRIS)
    new = cfg.with_values({"training.optimizer.lr": config.parse_value("3e-4"),
                           "network.layers[1].units": config.parse_value("32"),
                           "network.layers[0].activation": "relu",
                           "data.columns.sepal_width.type": "drop",
                           "training.seed": 7})
    assert new.training.optimizer.lr == 3e-4 and new.training.optimizer.name == cfg.training.optimizer.name
    assert new.network.layers[1].units == 32 and new.network.layers[0].activation == "relu"
    assert new.data.columns["sepal_width"].type == "drop" and new.training.seed == 7
    assert new.name == cfg.name == "iris"
    assert new.data.train == cfg.data.train  # the file's relative path, resolved the same
    # the rest is the file's, unchanged
    assert new.training.epochs == cfg.training.epochs and new.loss == cfg.loss
    assert config.parse_value("[8, 4]") == [8, 4] and config.parse_value("true") is True


@pytest.mark.parametrize("values, fragments", [
    ({"network.layers[5].units": 3}, ["--set network.layers[5].units:", "has 3 item(s)", "0 to 2"]),
    ({"network.layerz": 3}, ["--set network.layerz:", "did you mean 'layers'"]),
    ({"training.optimizer.lr": "fast"}, ["--set training.optimizer.lr:", "finite number", "'fast'"]),
    ({"training.optimizer.lr": -1.0}, ["--set training.optimizer.lr:"]),
    ({"training.epochs.x": 1}, ["--set training.epochs.x:", "is an integer, which has no key 'x'"]),
    ({"network.layers[1].unitz": 4}, ["network.layers[1].unitz", "did you mean 'units'"]),
    ({"[0]": 1}, ["not a key path"]),
    ({"training..lr": 1}, ["not a key path"]),
])
def test_errors_name_the_assignment(values, fragments):
    with pytest.raises(ConfigError) as e:
        config.load(IRIS).with_values(values)
    for fragment in fragments:
        assert fragment in str(e.value), str(e.value)
    assert "line" not in str(e.value)  # not the file's line: the value came from the command line


def test_a_bad_value_in_the_file_still_names_its_line(tmp_path):
    (tmp_path / "c.yaml").write_text("training:\n  epochs: 0\n")
    with pytest.raises(ConfigError, match=r"c.yaml, line 2: training.epochs"):
        config.load(tmp_path / "c.yaml").with_values({"training.seed": 1})
    with pytest.raises(ConfigError, match="is not a YAML value"):
        config.parse_value("[1, 2")


def test_train_set_runs_with_the_values_and_saves_them_in_the_resolved_config(cli):
    from helpers import assert_one_line_error

    run = cli("train", IRIS, "--epochs", 1, "--set", "training.optimizer.lr=3e-4",
              "--set", "network.layers[1].units=32", "-q")
    assert run.code == 0, run
    saved = config.load("runs/iris/1/config.yaml")
    assert saved.training.optimizer.lr == 3e-4 and saved.network.layers[1].units == 32
    assert saved.training.epochs == 1
    assert_one_line_error(cli("train", IRIS, "--set", "network.layers[7].units=3"), 2,
                          "--set network.layers[7].units", "has 3 item(s)")
    assert_one_line_error(cli("train", IRIS, "--set", "lr"), 2, "write KEY=VALUE")


def test_provenance_tells_the_file_the_overrides_and_the_defaults_apart(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data: {train: x.csv, target: y}\nnetwork:\n  layers: [16, {}]\n"
                    "training:\n  optimizer: adamw\n  epochs: 5\n")
    cfg = config.load(path).with_values({"network.layers[0].dropout": 0.3}).with_overrides(
        epochs=9, lr=0.01)
    p = cfg.provenance()
    # `16` and `adamw` are shorthands: what they stand for came from the file
    assert {"data.train", "data.target", "network.layers[0].units", "training.optimizer.name"
            } <= set(p["file"])
    assert p["overridden"] == {"network.layers[0].dropout": "--set", "training.epochs": "--epochs 9",
                               "training.optimizer.lr": "--lr 0.01"}
    assert p["defaults"]["training.optimizer.weight_decay"] == 0.01
    assert p["defaults"]["training.seed"] == 0 and "training.epochs" not in p["defaults"]
    every = set(p["file"]) | set(p["overridden"]) | set(p["defaults"])
    assert len(every) == len(p["file"]) + len(p["overridden"]) + len(p["defaults"])  # disjoint
    head = cfg.to_yaml().split("data:", 1)[0]
    assert "# training.epochs: set by --epochs 9\n" in head and "# network.layers[0].dropout: set by --set\n" in head
    assert config.load(path).to_yaml().count("set by") == 0


def test_a_section_replaced_by_set_counts_only_the_keys_its_value_gives(tmp_path):
    """`--set training.optimizer=adamw` gives the name: AdamW's rate and betas are its
    defaults now, not overridden, and the file's old rate is no longer the file's."""
    path = tmp_path / "c.yaml"
    path.write_text("data: {train: x.csv, target: y}\nnetwork:\n  layers: [16, {}]\n"
                    "training:\n  optimizer: {name: adam, lr: 0.05}\n")
    p = config.load(path).with_values({"training.optimizer": "adamw"}, label="--set").provenance()
    assert p["overridden"] == {"training.optimizer.name": "--set training.optimizer"}
    assert p["defaults"]["training.optimizer.lr"] == 0.001
    assert "training.optimizer.lr" not in p["file"]
    assert p["defaults"]["training.optimizer.weight_decay"] == 0.01
    p = config.load(path).with_values({"training.optimizer": {"name": "sgd", "lr": 0.1}},
                                      label="--set").provenance()
    assert p["overridden"] == {"training.optimizer.name": "--set training.optimizer",
                               "training.optimizer.lr": "--set training.optimizer"}
    p = config.load(path).with_values({"network.layers": [8, {"activation": "softmax"}]},
                                      label="--set").provenance()
    assert p["overridden"] == {"network.layers[0].units": "--set network.layers",
                               "network.layers[1].activation": "--set network.layers"}
    assert not [k for k in p["file"] if k.startswith("network.layers")]  # all replaced


def test_setting_an_optimizers_name_drops_the_old_ones_defaults_not_the_files_values(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data: {train: x.csv, target: y}\nnetwork:\n  layers: [16, {}]\n"
                    "training:\n  optimizer: {name: adam, lr: 0.05}\n")
    cfg = config.load(path).with_values({"training.optimizer.name": "sgd"})
    assert cfg.resolved()["training"]["optimizer"] == {"name": "sgd", "lr": 0.05}
    cfg = config.load(path).with_values({"training.optimizer.name": "momentum",
                                         "training.optimizer.momentum": 0.8})
    assert cfg.resolved()["training"]["optimizer"]["momentum"] == 0.8
    # a parameter the file gave is the file's: checked against the new name, its line named
    path.write_text(path.read_text().replace("lr: 0.05}", "lr: 0.05, beta1: 0.8}"))
    with pytest.raises(ConfigError, match=r"c.yaml, line 5: training.optimizer.beta1"):
        config.load(path).with_values({"training.optimizer.name": "sgd"})


def test_the_summary_says_what_was_overridden_and_v_lists_the_defaults(cli, tmp_path):
    (tmp_path / "c.yaml").write_text(f"data: {{train: {config.BUNDLED / 'datasets' / 'iris.csv'},"
                                     " target: species}\ntraining: {epochs: 2}\noutput: {plots: false}\n")
    run = cli("train", "c.yaml", "--set", "training.seed=4", "-v")
    assert run.code == 0, run
    assert "1 overridden (training.seed by --set)" in run.stderr
    assert "training.optimizer.beta1: 0.9 (default)" in run.stderr
    assert "data.stratify: true (default)" in run.stderr


def test_the_header_of_a_resolved_config_keeps_hostile_keys_on_their_line():
    cfg = config.load(IRIS).with_values({"data.columns.x\ny\x1b.type": "numeric"})
    head = cfg.to_yaml().split("\ndata:", 1)[0]
    assert "# data.columns.x\\ny\\x1b.type: set by --set" in head
    assert all(line.startswith("#") for line in head.splitlines())
