"""``nnctl sweep``: trials are real runs with derived seeds, the study resumes without
repeating a finished trial, the best config trains, and a bad sweep file is one line."""

from __future__ import annotations

import json
import os

import pytest

from nnctl.commands.sweep import trial_seed
from nnctl.config import BUNDLED

from helpers import assert_one_line_error

optuna = pytest.importorskip("optuna")

IRIS = BUNDLED / "datasets" / "iris.csv"


def write(tmp_path, trials, extra=""):
    (tmp_path / "base.yaml").write_text(
        f"data: {{train: {IRIS}, target: species}}\n"
        "network:\n  layers:\n    - {units: 8, activation: tanh}\n    - {activation: softmax}\n"
        "training: {epochs: 8, optimizer: {name: adam, lr: 0.01}}\noutput: {plots: false}\n")
    (tmp_path / "s.yaml").write_text(
        f"config: base.yaml\nobjective: val_accuracy\ntrials: {trials}\nsampler: random\n"
        "pruner: none\nseed: 3\nspace:\n"
        "  training.optimizer.lr: {low: 1.0e-3, high: 1.0e-1, log: true}\n"
        "  network.layers[0].units: {low: 4, high: 16, step: 4}\n"
        "  network.layers: {choices: [[{units: 6}, {activation: softmax}],"
        " [{units: 6}, {units: 4}, {activation: softmax}]]}\n" + extra)


def sweep(cli, *args):
    run = cli("sweep", "s.yaml", "--json", *args)
    assert run.code == 0, run
    return json.loads(run.stdout)


def test_trials_are_runs_and_the_best_config_trains(cli, tmp_path):
    write(tmp_path, 3)
    out = sweep(cli)
    assert out["completed"] == 3 and out["direction"] == "maximize"
    values = [t["value"] for t in out["trials"]]
    assert values == sorted(values, reverse=True)  # ranked, best first
    for t in out["trials"]:
        run_dir = tmp_path / t["run_dir"]
        assert (run_dir / "model.npz").is_file() and t["seed"] == trial_seed(3, t["number"])
        saved = json.loads((run_dir / "metrics.json").read_text())
        assert saved["results"]["validation"]["accuracy"] == t["value"]
        assert len(t["params"]["network.layers"]) in (2, 3)  # a whole list chosen
    best = out["best_config"]
    assert best.endswith("s.best.yaml")
    run = cli("train", best, "--json", "-q")
    assert run.code == 0, run
    again = json.loads(run.stdout)["results"]["validation"]["accuracy"]
    assert again == out["trials"][0]["value"]  # the same run: same seed, same values


def test_a_sweep_run_again_adds_only_the_missing_trials(cli, tmp_path):
    write(tmp_path, 2)
    first = sweep(cli)
    write(tmp_path, 4)
    second = sweep(cli)
    assert second["completed"] == 4
    assert sorted(t["number"] for t in second["trials"]) == [0, 1, 2, 3]
    before = {t["number"]: (t["params"], t["value"], t["run_dir"]) for t in first["trials"]}
    after = {t["number"]: (t["params"], t["value"], t["run_dir"]) for t in second["trials"]}
    assert all(after[n] == before[n] for n in before)
    assert len(list((tmp_path / "runs" / "s").iterdir())) == 4  # no trial ran twice
    third = sweep(cli)
    assert third["completed"] == 4 and len(list((tmp_path / "runs" / "s").iterdir())) == 4


@pytest.mark.parametrize("extra, fragments", [
    ("  network.layerz: {choices: [1]}\n", ["s.yaml: space network.layerz", "did you mean 'layers'"]),
    ("  training.optimizer.lr2: {low: 1}\n", ["s.yaml, line", "give low and high, or choices"]),
])
def test_a_bad_space_is_one_line(cli, tmp_path, extra, fragments):
    write(tmp_path, 2, extra)
    assert_one_line_error(cli("sweep", "s.yaml"), 2, *fragments)
    assert not (tmp_path / "runs").exists()


def test_an_optimizer_chosen_by_name_gets_its_own_defaults(cli, tmp_path):
    """The base config's adam: a trial of sgd or momentum must not carry adam's default
    beta1 (it did: every such trial failed, 'sgd takes no parameter beta1')."""
    write(tmp_path, 3, "  training.optimizer.name: {choices: [sgd, momentum, adamw]}\n")
    out = sweep(cli)
    assert out["completed"] == 3
    assert {t["params"]["training.optimizer.name"] for t in out["trials"]} <= {"sgd", "momentum", "adamw"}


def test_a_trial_whose_values_do_not_fit_names_the_sweep_and_uses_no_budget(cli, tmp_path):
    """A space whose values clash only together (sgd has no beta1) fails at its first trial:
    one line naming the sweep file and the trial; run again (once fixed, say), that trial
    is not counted as done, so the sweep still has its whole budget to run."""
    write(tmp_path, 2, "  training.optimizer.name: {choices: [sgd]}\n"
                       "  training.optimizer.beta1: {low: 0.5, high: 0.9}\n")
    for _ in range(2):  # the sweep's own note, then the error: one line, no traceback
        run = cli("sweep", "s.yaml")
        assert run.code == 2 and "Traceback" not in run.stderr, run
        error = run.stderr.strip().splitlines()[-1]
        for fragment in ("Error: s.yaml: trial", "training.optimizer.beta1",
                         "'sgd' takes no parameter 'beta1'"):
            assert fragment in error, run.stderr
    text = (tmp_path / "s.yaml").read_text().replace(
        "  training.optimizer.beta1: {low: 0.5, high: 0.9}\n", "")
    (tmp_path / "s.yaml").write_text(text)
    assert sweep(cli)["completed"] == 2


def test_a_bad_objective_names_its_line(cli, tmp_path):
    write(tmp_path, 2)
    text = (tmp_path / "s.yaml").read_text().replace("val_accuracy", "val_acc")
    (tmp_path / "s.yaml").write_text(text)
    assert_one_line_error(cli("sweep", "s.yaml"), 2, "s.yaml, line 2: objective", "accuracy")


def test_a_sweep_on_a_local_cluster_survives_a_killed_worker(tmp_path):
    """Two worker processes started here; one is killed (SIGKILL) while it trains a trial.
    Dask runs that task again on the worker left (or the one its nanny restarts), so the
    trial is retried, not lost, and the sweep ends with every trial of its budget completed."""
    import os
    import signal
    import subprocess
    import sys
    import time

    distributed = pytest.importorskip("distributed")
    write(tmp_path, 4)
    base = (tmp_path / "base.yaml").read_text().replace("epochs: 8", "epochs: 800")
    (tmp_path / "base.yaml").write_text(base.replace("training: {", "training: {early_stopping: false, "))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        proc = subprocess.Popen([sys.executable, "-m", "nnctl", "sweep", "s.yaml", "--json",
                                 "--scheduler", cluster.scheduler_address], cwd=tmp_path,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        runs = tmp_path / "runs" / "s"
        # both workers are training once two run directories have a history
        while len(list(runs.glob("*/history.csv"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        victim = next(iter(cluster.workers.values())).process.pid
        os.kill(victim, signal.SIGKILL)
        out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()
    report = json.loads(out)
    assert report["completed"] == 4 and report["failed"] == 0, (report, err.decode())
    assert sorted(t["number"] for t in report["trials"]) == [0, 1, 2, 3]
    # the killed attempt left its run directory without a model; the retry made a new one
    dirs = [runs / d for d in os.listdir(runs)]
    assert len(dirs) == 5 and sum(not (d / "model.npz").exists() for d in dirs) == 1
    assert all((tmp_path / t["run_dir"] / "model.npz").is_file() for t in report["trials"])
    assert "Traceback" not in err.decode() and "Warning" not in err.decode()


def test_two_local_workers_give_the_serial_sweep_trial_for_trial(cli, tmp_path):
    """``--workers 2`` (a LocalCluster of two processes, started and shut down by the
    command): the sampler lives in the sweep process, so the trials are asked in the same
    order with the same values, and each trial's seed comes from its number, so every
    figure equals the serial sweep's exactly."""
    pytest.importorskip("distributed")
    write(tmp_path, 4)
    serial = sweep(cli)
    import shutil

    (tmp_path / "s.db").unlink()  # a new study: every trial runs again, on the workers
    shutil.rmtree(tmp_path / "runs")
    parallel = sweep(cli, "--workers", "2")
    assert parallel["completed"] == 4 and parallel["failed"] == 0
    key = lambda out: {t["number"]: (t["params"], t["value"], t["seed"]) for t in out["trials"]}
    assert key(parallel) == key(serial)
    assert all((tmp_path / t["run_dir"] / "model.npz").is_file() for t in parallel["trials"])


def test_with_the_plot_extra_a_sweep_draws_its_history_and_importance(cli, tmp_path):
    pytest.importorskip("matplotlib")
    write(tmp_path, 4)
    base = tmp_path / "base.yaml"
    base.write_text(base.read_text().replace("output: {plots: false}", "output: {plots: true}"))
    out = sweep(cli)
    folder = tmp_path / "runs" / "s"
    names = {"history.png", "history.svg", "importance.png", "importance.svg"}
    assert {p.rsplit("/", 1)[-1] for p in out["images"]} == names
    assert all((folder / n).stat().st_size > 1000 for n in names)
    svg = (folder / "importance.svg").read_text()
    # the varying keys of the space, by name (a constant key would have no bar)
    for key in ("training.optimizer.lr", "network.layers[0].units", "network.layers"):
        assert f"<!-- {key} -->" in svg, key
    run = cli("sweep", "s.yaml")  # the table says where they are
    assert run.code == 0 and "plots: history.png, importance.png (and .svg) in runs/s" in run.stderr, run


def test_a_base_config_with_its_own_model_path_still_gives_each_trial_a_run(cli, tmp_path):
    write(tmp_path, 2)
    base = tmp_path / "base.yaml"
    base.write_text(base.read_text().replace("output: {plots: false}",
                                             "output: {plots: false, model: one.npz}"))
    run = cli("sweep", "s.yaml", "--json")
    assert run.code == 0, run
    out = json.loads(run.stdout)
    dirs = {t["run_dir"] for t in out["trials"]}
    assert len(dirs) == 2 and None not in dirs and not (tmp_path / "one.npz").exists()
    assert "output.model" in run.stderr  # said, not silently ignored


def test_local_workers_start_with_one_blas_thread_and_dasks_hash_seed(tmp_path):
    """The fork server nnctl starts early imports NumPy, so it must get Dask's pre-spawn
    environment first (found by a review: its workers had OpenBLAS on every core, two
    workers times two threads on two cores). A worker forked from it reports its BLAS
    threads and its hash seed, in a fresh process as a sweep would start it."""
    pytest.importorskip("distributed")
    pytest.importorskip("threadpoolctl")
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import multiprocessing, sys
        from nnctl.commands.sweep import _start_forkserver

        def report(q):
            from threadpoolctl import threadpool_info
            q.put(([p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"],
                   hash("nnctl")))

        if __name__ == "__main__":
            _start_forkserver()
            ctx = multiprocessing.get_context("forkserver")
            q = ctx.Queue()
            p = ctx.Process(target=report, args=(q,))
            p.start()
            print(q.get(timeout=60))
            p.join()
    """)
    (tmp_path / "child.py").write_text(code)
    env = {k: v for k, v in __import__("os").environ.items()
           if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                        "PYTHONHASHSEED")}
    done = subprocess.run([sys.executable, str(tmp_path / "child.py")], capture_output=True,
                          text=True, timeout=120, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    threads, seeded = __import__("ast").literal_eval(done.stdout.strip())
    expected = subprocess.run([sys.executable, "-c", "print(hash('nnctl'))"], capture_output=True,
                              text=True, env={**env, "PYTHONHASHSEED": "6640"}).stdout
    assert threads and all(t == 1 for t in threads), threads
    assert seeded == int(expected)


@pytest.mark.parametrize("base_name, data_name", [("s.best.yaml", None), ("base.yaml", "s.db")])
def test_an_output_of_the_sweep_that_is_one_of_its_inputs_is_refused_before_any_trial(
        cli, tmp_path, base_name, data_name):
    """A base config named like the sweep's best config (or data named like its study)
    was replaced at the end, after every trial; now exit 2 before any, the file intact."""
    write(tmp_path, 2)
    base = tmp_path / base_name
    (tmp_path / "base.yaml").rename(base)
    (tmp_path / "s.yaml").write_text((tmp_path / "s.yaml").read_text().replace(
        "config: base.yaml", f"config: {base_name}"))
    if data_name:
        (tmp_path / data_name).write_bytes(IRIS.read_bytes())
        base.write_text(base.read_text().replace(str(IRIS), data_name))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    what = "base config" if data_name is None else "training data"
    assert_one_line_error(cli("sweep", "s.yaml"), 2, base_name if data_name is None else data_name,
                          f"would overwrite the {what}")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def _foreign_sqlite(path):
    import sqlite3

    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE expenses (amount REAL)")
    return path.read_bytes()


@pytest.mark.parametrize("storage, study_file, code, fragments", [
    ("nonsense", None, 2, ["s.yaml, line 11: storage: not a storage URL"]),
    ("postgresql://u:secret@localhost/x", None, 1,
     ["storage postgresql://u:***@localhost/x", "driver for postgresql databases is not installed"]),
    ("nosuchdb+x://u@h/x", None, 2, ["storage nosuchdb+x://u@h/x", "no such database or driver"]),
    (None, "text", 1, ["s.db: not a SQLite database", "move it away"]),
    (None, "foreign", 1, ["s.db: a SQLite database of something else (tables expenses)"]),
    ("sqlite:///mine.db", "foreign", 1, ["mine.db: a SQLite database of something else"]),
    # SQLAlchemy decodes %-escapes, and names the driver: the same file either way
    ("sqlite:///mine%2Edb", "foreign", 1, ["mine.db: a SQLite database of something else"]),
    ("sqlite+pysqlite:///mine.db", "foreign", 1, ["mine.db: a SQLite database of something else"]),
    ("sqlite:///mine.db", "fifo", 1, ["mine.db: not a regular file, so not a study"]),
    ("user:secret@localhost/db", None, 2, ["not a storage URL: 'user:***@localhost/db'"]),
])
def test_a_bad_storage_or_a_study_file_that_is_not_a_study_is_one_line(
        cli, tmp_path, storage, study_file, code, fragments):
    """A storage URL that cannot be read or opened, or a study file that is someone else's
    (text, or a SQLite database of their own), was a SQLAlchemy traceback, or had Optuna's
    tables added to the user's database; now one line, and the file as it was."""
    write(tmp_path, 1, f"storage: '{storage}'\n" if storage else "")
    # The storage key follows the space: line 11 of the file.
    target = tmp_path / ("mine.db" if storage and storage.startswith("sqlite") else "s.db")
    if study_file == "text":
        target.write_text("date,amount\n2026-01-01,3\n" * 50)
    elif study_file == "foreign":
        _foreign_sqlite(target)
    elif study_file == "fifo":  # opened to be read, it would wait for a writer for ever
        os.mkfifo(target)
    def files():
        return {p.name: p.read_bytes() if p.is_file() else "fifo" for p in tmp_path.iterdir()}

    before = files()
    assert_one_line_error(cli("sweep", "s.yaml"), code, *fragments)
    assert files() == before
    assert not (tmp_path / "runs").exists()


def test_a_study_damaged_inside_or_in_a_folder_named_with_url_characters(cli, tmp_path):
    """A study whose pages were overwritten was an Optuna traceback; a folder named 'a#b'
    had its study checked at the wrong path (and an empty file made beside it)."""
    folder = tmp_path / "a#b?c%41"
    folder.mkdir()
    write(folder, 1)
    first = cli("sweep", str(folder / "s.yaml"), "--json")
    assert first.code == 0, first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a#b?c%41", "runs"]  # no stray file
    db = folder / "s.db"
    assert db.is_file() and json.loads(first.stdout)["storage"].startswith("sqlite:///")
    data = bytearray(db.read_bytes())
    data[len(data) // 4:len(data) * 3 // 4] = b"\xff" * (len(data) * 3 // 4 - len(data) // 4)
    db.write_bytes(bytes(data))
    write(folder, 2)
    assert_one_line_error(cli("sweep", str(folder / "s.yaml")), 1, "s.db",
                          "move it away to start a new study")
    assert db.read_bytes() == bytes(data)


def test_a_relative_sqlite_storage_is_taken_from_the_sweep_files_folder(cli, tmp_path, monkeypatch):
    write(tmp_path, 1, "storage: sqlite:///studies.db\n")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    run = cli("sweep", str(tmp_path / "s.yaml"), "--json")
    assert run.code == 0, run
    assert json.loads(run.stdout)["storage"] == f"sqlite:///{tmp_path / 'studies.db'}"
    assert (tmp_path / "studies.db").is_file() and not (tmp_path / "elsewhere" / "studies.db").exists()


@pytest.mark.parametrize("storage", ["sqlite://", "sqlite:///:memory:"])
def test_a_study_in_memory_is_run_and_said_to_end_with_the_sweep(cli, tmp_path, storage):
    write(tmp_path, 1, f"storage: '{storage}'\n")
    run = cli("sweep", "s.yaml")
    assert run.code == 0, run
    assert "keeps the study in memory: it ends with this sweep" in run.stderr
    assert not list(tmp_path.glob("*.db"))
