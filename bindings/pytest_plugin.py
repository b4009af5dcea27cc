"""``bindings.pytest_plugin`` is ``melange_bindings.pytest_plugin`` (see bindings/__init__.py)."""

import sys

from melange_bindings import pytest_plugin

# The import system returns what sys.modules holds once this module has run, so every
# name (public or not) and every class is shared with melange_bindings.pytest_plugin.
sys.modules[__name__] = pytest_plugin
