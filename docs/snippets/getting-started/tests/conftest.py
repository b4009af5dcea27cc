import pinject
import pytest

from examples.orders.app import CLASSES, OrdersBindingSpec
from melange import Application
from melange_bindings import TestGraph

# The root conftest of your tests: pytest reads pytest_plugins only there.
pytest_plugins = ["melange_bindings.pytest_plugin"]


@pytest.fixture(name="melange_binding_specs")
def fixture_melange_binding_specs() -> list[pinject.BindingSpec]:
    return [OrdersBindingSpec()]  # the app's own specs; melange's is added for you


@pytest.fixture(name="melange_graph_classes")
def fixture_melange_graph_classes() -> list[type]:
    return list(CLASSES)


@pytest.fixture(name="graph")
def fixture_graph(melange_test_graph: TestGraph) -> TestGraph:
    melange_test_graph.provide(Application).declare()  # what the consumers state, in memory
    return melange_test_graph
