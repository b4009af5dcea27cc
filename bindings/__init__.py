"""pinject binding specs: the composition root that wires melange for an application.

``melange`` itself never imports pinject; this package does.
"""

from bindings.graph import ObjectGraph, new_object_graph
from bindings.spec import DispatcherFactory, MelangeBindingSpec
from bindings.testing import TestGraph, new_test_graph

__all__ = [
    "DispatcherFactory",
    "MelangeBindingSpec",
    "ObjectGraph",
    "TestGraph",
    "new_object_graph",
    "new_test_graph",
]
