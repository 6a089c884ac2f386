"""``python -m nnctl``."""

from .cli import entry

entry()
