"""pinject binding specs: the composition root that wires melange for an application.

``melange`` itself never imports pinject; this package does. It is named so that no
application module shadows it (many applications have a ``bindings`` of their own); a
checkout of melange also has it as ``bindings``. ``new_object_graph(classes=[MyService])``
needs no application spec at all.
"""

from melange_bindings.graph import ObjectGraph, new_object_graph
from melange_bindings.spec import DispatcherFactory, MelangeBindingSpec
from melange_bindings.testing import TestGraph, new_test_graph

__all__ = [
    "DispatcherFactory",
    "MelangeBindingSpec",
    "ObjectGraph",
    "TestGraph",
    "new_object_graph",
    "new_test_graph",
]
