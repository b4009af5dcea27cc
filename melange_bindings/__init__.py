"""pinject binding specs: the composition root that wires melange for an application.

``melange`` itself never imports pinject; this package does. It is named so that no
application module shadows it (many applications have a ``bindings`` of their own); a
checkout of melange also has it as ``bindings``. ``new_object_graph(classes=[MyService])``
needs no application spec at all.

The test graph (``TestGraph``, ``new_test_graph``) is loaded on first use, as melange's
names are: a service or a Lambda function wiring itself does not load the test kit.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from melange_bindings.graph import ObjectGraph, new_object_graph
from melange_bindings.spec import DispatcherFactory, MelangeBindingSpec

if TYPE_CHECKING:
    from melange_bindings.testing import TestGraph, new_test_graph

__all__ = [
    "DispatcherFactory",
    "MelangeBindingSpec",
    "ObjectGraph",
    "TestGraph",
    "new_object_graph",
    "new_test_graph",
]

#: The names loaded on first use, and their module.
_LAZY = {"TestGraph": "melange_bindings.testing", "new_test_graph": "melange_bindings.testing"}


# Type checkers see the names above and nothing else (as in ``melange``'s own package).
if not TYPE_CHECKING:

    def __getattr__(name: str) -> Any:
        if name in _LAZY:
            return getattr(importlib.import_module(_LAZY[name]), name)
        raise AttributeError(f"module 'melange_bindings' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
