"""README.md tells the truth where it can be checked mechanically."""

from __future__ import annotations

import re

from nnctl import config

from helpers import ROOT

README = (ROOT / "README.md").read_text()


def test_config_reference_is_the_one_generated_from_the_schema():
    block = re.search(r"<!-- config-reference:[^\n]*-->\n(.*?)<!-- end of config-reference -->",
                      README, re.S)
    assert block, "README.md lost its config-reference markers"
    assert block.group(1) == config.reference_markdown(), (
        "README's config reference is stale: regenerate it with `python -m nnctl.config`")


def test_every_key_in_the_schema_appears_in_the_reference():
    text = config.reference_markdown()
    for section, model in config.Config.model_fields.items():
        assert f"\n{section}:" in "\n" + text, section
        sub = getattr(config.Config(), section)
        for key in getattr(type(sub), "model_fields", {}):
            assert f"  {key}:" in text, (section, key)


def test_readme_links_the_docs():
    assert "docs/notation.md" in README and "docs/architecture.md" in README
    assert (ROOT / "docs" / "notation.md").is_file() and (ROOT / "docs" / "architecture.md").is_file()
