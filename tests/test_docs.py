"""docs/worked-example.md is what ``nnctl explain`` prints, and its hand checks add up."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parent.parent / "docs" / "worked-example.md"


def block(text: str) -> str:
    found = re.search(r"<!-- explain: COLUMNS=100 nnctl explain -->\n```\n(.*?)```\n<!-- end of explain -->",
                      text, re.S)
    assert found, "docs/worked-example.md lost its explain markers"
    return found.group(1)


def test_the_page_is_the_commands_output(tmp_path):
    # A process of its own: rich takes its width from COLUMNS once, when it is imported.
    run = subprocess.run([sys.executable, "-m", "nnctl", "explain"], cwd=tmp_path, text=True,
                         capture_output=True, env={**os.environ, "COLUMNS": "100"}, timeout=120)
    assert run.returncode == 0, run.stderr
    assert block(PAGE.read_text()) == run.stdout, (
        "docs/worked-example.md is stale: regenerate its block with COLUMNS=100 nnctl explain")


@pytest.mark.parametrize("shown", ["-0.2359", "-0.2102", "0.3340", "0.5827", "0.874041",
                                   "0.2005 0.5580", "-0.2673", "0.2993", "-0.2920", "0.7898",
                                   "-0.2306", "0.2441", "-0.0500"])
def test_the_hand_checks_quote_the_output(shown):
    assert shown in block(PAGE.read_text())


def test_the_hand_arithmetic_is_right():
    """The page's own arithmetic, to the four decimals it shows."""
    z = 0.1027 * -1.0583 + -0.1079 * 0.4501 + 0.5229 * -0.1506
    assert round(z, 4) == -0.2360
    assert round(math.exp(-0.2359) - 1, 4) == -0.2101
    z3 = -0.4587 * 0.3440 + 0.5136 * 0.9576
    assert round(z3, 4) == 0.3340
    assert round(1 / (1 + math.exp(-0.3340)), 4) == 0.5827
    assert round(-math.log(1 - 0.5827), 4) == 0.8739
    assert [round(0.5827 * a, 4) for a in (0.3440, 0.9576)] == [0.2004, 0.5580]
    assert [round(a * 0.5827, 4) for a in (-0.4587, 0.5136)] == [-0.2673, 0.2993]
    assert round(-0.2920 * 0.7898, 4) == -0.2306
    assert round(-0.2306 * -1.0583, 4) == 0.2440
    lr_t = 0.05 * math.sqrt(1 - 0.999) / (1 - 0.9)
    assert round(lr_t, 5) == 0.01581 and round(lr_t * 0.1 / math.sqrt(0.001), 6) == 0.05
