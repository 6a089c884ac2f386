"""The corpus of hostile input (tests/corpus.py), every case through the real CLI in a
subprocess and held to the whole standard. The selected cases run concurrently (they are
subprocesses), once per session; each is then its own test."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from corpus import CASES, assert_standard, run

BY_ID = {case.id: case for case in CASES}


@pytest.fixture(scope="module")
def outcomes(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    trained = subprocess.run([sys.executable, "-m", "nnctl", "train", "--epochs", "2", "-o", "m.npz"],
                             cwd=folder, capture_output=True, timeout=300)
    assert trained.returncode == 0, trained.stderr.decode()
    model = folder / "m.npz"
    wanted = [item.callspec.params["case_id"] for item in request.session.items
              if getattr(item, "callspec", None) and "case_id" in item.callspec.params]
    with ThreadPoolExecutor(max_workers=(os.cpu_count() or 2) + 1) as pool:
        futures = {i: pool.submit(run, BY_ID[i], folder / f"case{n}", model)
                   for n, i in enumerate(dict.fromkeys(wanted))}
        return {i: f.result() for i, f in futures.items()}


@pytest.mark.parametrize("case_id", list(BY_ID))
def test_case(outcomes, case_id):
    assert_standard(BY_ID[case_id], outcomes[case_id])


def test_the_corpus_has_200_cases_in_every_class():
    assert len(BY_ID) == len(CASES), "two cases share a name"
    kinds = Counter(case.kind for case in CASES)
    assert len(CASES) >= 200, len(CASES)
    assert set(kinds) == {"config", "data", "good", "model", "output", "input", "terminal"}, kinds
