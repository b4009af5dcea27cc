"""The orders example's binding specs for the ``melange_test_graph`` fixture."""

from __future__ import annotations

import pinject
import pytest

from examples.orders.wiring import OrdersBindingSpec


@pytest.fixture(name="melange_binding_specs")
def fixture_melange_binding_specs() -> list[pinject.BindingSpec]:
    """Give the orders example's binding specs."""
    return [OrdersBindingSpec()]
