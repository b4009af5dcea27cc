"""``bindings`` is the repository's name for ``melange_bindings``, kept for a checkout.

Applications import ``melange_bindings``: an installed melange ships its bindings only
under that name, which no application module shadows (an application may well have a
``bindings.py`` of its own). In a checkout, ``bindings`` and each ``bindings.<module>``
are the very same modules as ``melange_bindings`` and ``melange_bindings.<module>``, so
tests, benchmarks and old snippets keep working and classes stay identical. The code
lives in ``melange_bindings/``; edit it there.
"""

from melange_bindings import *  # noqa: F403
from melange_bindings import __all__ as __all__
