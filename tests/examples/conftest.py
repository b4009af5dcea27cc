"""The orders app's binding spec and classes for the ``melange_test_graph`` fixture."""

from __future__ import annotations

import pinject
import pytest

from examples.orders.app import CLASSES, OrdersBindingSpec


@pytest.fixture(name="melange_binding_specs")
def fixture_melange_binding_specs() -> list[pinject.BindingSpec]:
    """Give the orders app's binding specs."""
    return [OrdersBindingSpec()]


@pytest.fixture(name="melange_graph_classes")
def fixture_melange_graph_classes() -> list[type]:
    """Give the classes the orders app lets pinject bind implicitly."""
    return list(CLASSES)
