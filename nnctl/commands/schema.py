"""``nnctl schema``: the JSON Schema of a config, from the one schema (``nnctl.config``)."""

from __future__ import annotations

import json

from .. import config as config_mod
from .. import render


def text() -> str:
    return json.dumps(config_mod.json_schema(), indent=2) + "\n"


def run() -> None:
    """The schema on stdout; the bundled ``configs/nnctl.schema.json`` holds the same text."""
    render.data(text())
