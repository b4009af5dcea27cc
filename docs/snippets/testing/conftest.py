import pinject
import pytest

from examples.orders.app import CLASSES, OrdersBindingSpec
from melange import Application
from melange_bindings import TestGraph

pytest_plugins = ["melange_bindings.pytest_plugin"]  # in the root conftest.py


@pytest.fixture(name="melange_binding_specs")
def fixture_melange_binding_specs() -> list[pinject.BindingSpec]:
    return [OrdersBindingSpec()]  # the application's specs, as in production


@pytest.fixture(name="melange_graph_classes")
def fixture_melange_graph_classes() -> list[type]:
    return CLASSES


@pytest.fixture(name="graph")
def fixture_graph(melange_test_graph: TestGraph) -> TestGraph:
    # What the consumers state, declared in memory, as `melange declare` does:
    melange_test_graph.provide(Application).declare()
    return melange_test_graph
