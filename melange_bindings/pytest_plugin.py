"""pytest fixtures for applications: ``pytest_plugins = ["melange_bindings.pytest_plugin"]``.

Override ``melange_binding_specs`` in your conftest to return your application's specs
(and ``melange_graph_classes`` for classes pinject should bind implicitly);
``melange_test_graph`` then gives a fresh ``TestGraph`` per test.
"""

from __future__ import annotations

import pinject
import pytest

from melange_bindings.testing import TestGraph, new_test_graph


@pytest.fixture(name="melange_binding_specs")
def fixture_melange_binding_specs() -> list[pinject.BindingSpec]:
    """Give the application's binding specs (override this fixture in your conftest)."""
    raise pytest.UsageError(
        "override the melange_binding_specs fixture in your conftest.py to return your "
        "application's binding specs, e.g. [AppBindingSpec()]"
    )


@pytest.fixture(name="melange_graph_classes")
def fixture_melange_graph_classes() -> list[type]:
    """Give the classes pinject may bind implicitly (override to add your own)."""
    return []


@pytest.fixture(name="melange_test_graph")
def fixture_melange_test_graph(
    melange_binding_specs: list[pinject.BindingSpec], melange_graph_classes: list[type]
) -> TestGraph:
    """Give a test graph of the application's specs on a recording in-memory backend."""
    return new_test_graph(*melange_binding_specs, classes=melange_graph_classes)
