"""``bindings.spec`` is ``melange_bindings.spec`` (see bindings/__init__.py)."""

import sys

from melange_bindings import spec

# The import system returns what sys.modules holds once this module has run, so every
# name (public or not) and every class is shared with melange_bindings.spec.
sys.modules[__name__] = spec
