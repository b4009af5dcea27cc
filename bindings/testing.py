"""``bindings.testing`` is ``melange_bindings.testing`` (see bindings/__init__.py)."""

import sys

from melange_bindings import testing

# The import system returns what sys.modules holds once this module has run, so every
# name (public or not) and every class is shared with melange_bindings.testing.
sys.modules[__name__] = testing
