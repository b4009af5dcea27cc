"""``bindings.graph`` is ``melange_bindings.graph`` (see bindings/__init__.py)."""

import sys

from melange_bindings import graph

# The import system returns what sys.modules holds once this module has run, so every
# name (public or not) and every class is shared with melange_bindings.graph.
sys.modules[__name__] = graph
