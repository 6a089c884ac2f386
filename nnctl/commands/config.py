"""``nnctl config``: a config with every default filled in, as the trainer reads it."""

from __future__ import annotations

import json

from .. import config as config_mod
from .. import render


def run(config: str | None, *, as_json: bool = False) -> str:
    """The resolved config on stdout: YAML that ``nnctl train`` reads back unchanged."""
    cfg = config_mod.load(config)
    text = json.dumps(cfg.resolved(), indent=2) + "\n" if as_json else cfg.to_yaml()
    render.data(text)
    return text
