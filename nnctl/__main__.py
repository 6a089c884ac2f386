"""``python -m nnctl``."""

from .cli import main

main()
