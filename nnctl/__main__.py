"""``python -m nnctl``."""

import sys

from .cli import entry

# The quick exit only when this is the program: not when a host runs it inside itself
# (runpy.run_module, IPython's %run -m), which goes on after it.
entry(quick=vars(sys.modules.get("__main__", sys)) is globals())
