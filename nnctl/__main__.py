"""``python -m nnctl``."""

from .cli import main

main(prog_name="nnctl")
