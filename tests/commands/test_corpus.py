"""The corpus of hostile input (tests/corpus.py), every case through the real CLI in a
process of its own and held to the whole standard. The selected cases run concurrently,
once per session; each is then its own test.

A new interpreter spends about 0.7 s of CPU starting and importing before nnctl does
anything, so the cases for which it is the same (``corpus.forkable``: almost all) are forked
from a zygote that imported nnctl once (tests/zygote.py); the rest, and a sample of the
forked ones to show the two paths agree, start ``python -m nnctl``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from corpus import CASES, Zygote, assert_standard, environment, forkable, run

BY_ID = {case.id: case for case in CASES}
WORKERS = (os.cpu_count() or 2) + 1

#: Forked cases of every kind, run again with ``python -m nnctl`` to compare: among them stdin
#: through a pipe and from a file, a file size limit, a named pipe (NNCTL_PIPE_WAIT, read at
#: import), escape sequences in the arguments, a usage error of click's, and a success.
SAMPLE = [
    "config: yaml syntax: bad mapping",
    "config: --lr inf",
    "data: a gzip that is not one",
    "good: CRLF line ends",
    "model: format version 1 (evaluate)",
    "output: predict to a full disk",
    "output: predictions over the input given on stdin",
    "input: predict on empty stdin",
    "input: predict on a named pipe nobody writes to",
    "terminal: an escape sequence in an extra argument",
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A folder for the cases, the corpus's trained model, and the zygote (shut at the end)."""
    folder = tmp_path_factory.mktemp("corpus")
    zygote = Zygote(environment(), cwd=folder)  # it imports nnctl while the model trains
    try:
        trained = subprocess.run([sys.executable, "-m", "nnctl", "train", "--epochs", "2", "-o", "m.npz"],
                                 cwd=folder, capture_output=True, timeout=300)
        assert trained.returncode == 0, trained.stderr.decode()
        zygote.wait_ready()
    except BaseException:
        zygote.close()
        raise
    yield folder, folder / "m.npz", zygote
    log = zygote.stderr()
    # it ends when its stdin closes, and said nothing itself: no warning at import, no crash
    assert (zygote.close(), log) == (0, "")


@pytest.fixture(scope="module")
def outcomes(request, corpus):
    folder, model, zygote = corpus
    wanted = [item.callspec.params["case_id"] for item in request.session.items
              if getattr(item, "callspec", None) and "case_id" in item.callspec.params]
    # the cases that start an interpreter take longest: first, so that none is left for the end
    ids = sorted(dict.fromkeys(wanted), key=lambda i: forkable(BY_ID[i]))
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        futures = {i: pool.submit(run, BY_ID[i], folder / f"case{n}", model, zygote=zygote)
                   for n, i in enumerate(ids)}
        return {i: f.result() for i, f in futures.items()}


@pytest.mark.parametrize("case_id", list(BY_ID))
def test_case(outcomes, case_id):
    assert_standard(BY_ID[case_id], outcomes[case_id])


def test_the_corpus_has_200_cases_in_every_class():
    assert len(BY_ID) == len(CASES), "two cases share a name"
    kinds = Counter(case.kind for case in CASES)
    assert len(CASES) >= 200, len(CASES)
    assert set(kinds) == {"config", "data", "good", "model", "output", "input", "terminal"}, kinds


def test_only_the_cases_that_need_a_new_interpreter_start_one(outcomes):
    """Every forkable case was forked (none fell back because the environment had changed),
    and every other one started ``python -m nnctl``."""
    paths = {i: out.path for i, out in outcomes.items()}
    assert {i for i, p in paths.items() if p == "subprocess"} == {i for i in paths if not forkable(BY_ID[i])}
    assert {i for i, p in paths.items() if p == "fork"} == {i for i in paths if forkable(BY_ID[i])}


def _comparable(case, out):
    """What must be the same on both paths: timings (training's "(0.0 s)") aside, and a
    promised output only present (a model records when it was made)."""
    files = {k: "(an output)" if k in case.outputs else v for k, v in out.files.items()}
    return out.code, out.stdout, re.sub(r"\d+\.\d+ s\b", "(time) s", out.stderr), files


def test_a_fork_of_the_zygote_is_a_new_interpreter_to_each_case(corpus, tmp_path):
    """The sample of every kind, forked and started anew (each in a fresh folder): the same
    exit code, stdout bytes, stderr text and files."""
    _, model, zygote = corpus
    cases = [BY_ID[i] for i in SAMPLE]
    assert all(forkable(case) for case in cases)
    assert {case.kind for case in cases} == {case.kind for case in CASES}
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        forked = [pool.submit(run, case, tmp_path / f"fork{n}", model, zygote=zygote)
                  for n, case in enumerate(cases)]
        started = [pool.submit(run, case, tmp_path / f"new{n}", model) for n, case in enumerate(cases)]
        pairs = [(case, a.result(), b.result()) for case, a, b in zip(cases, forked, started)]
    assert [(a.path, b.path) for _, a, b in pairs] == [("fork", "subprocess")] * len(cases)
    for case, a, b in pairs:
        assert _comparable(case, a) == _comparable(case, b), case.id
        assert_standard(case, a)
