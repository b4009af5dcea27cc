"""Test graphs: the application's real wiring on a recording in-memory backend.

``new_test_graph(AppBindingSpec())`` gives a graph whose publishers send to a
``RecordingBackend``; a test provides its service, calls it, and asserts on
``graph.published(name)`` or drains queues through the real consumers with
``graph.drain(queue, consumer)``. Nothing is patched.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any, TypeVar, overload

import pinject

from melange.consuming.consumers import Consumer
from melange.serializers import SerializerRegistry
from melange.settings import DispatcherSettings, MelangeSettings
from melange.testing import MessagingTestKit, RecordingBackend
from melange_bindings.graph import ObjectGraph, new_object_graph
from melange_bindings.spec import DispatcherFactory, MelangeBindingSpec

__all__ = ["TestGraph", "new_test_graph"]

T = TypeVar("T")

#: Settings of a test graph: in memory, no prefix, short polls.
TEST_SETTINGS = MelangeSettings(
    env="test", backend="memory", dispatcher=DispatcherSettings(wait_time_seconds=1)
)


class TestGraph:
    """An object graph for tests, with what was published and a way to drain queues.

    ``drain`` builds its dispatchers with the graph's ``dispatcher_factory``, as a worker
    does: the settings' backoff, visibility timeout and deduplication cache apply.
    """

    __test__ = False  # not a pytest test class

    def __init__(self, graph: ObjectGraph, backend: RecordingBackend) -> None:
        self.graph = graph
        self.backend = backend
        self.kit = MessagingTestKit(
            graph.provide(SerializerRegistry),
            backend,
            dispatcher_factory=graph.provide(DispatcherFactory),
        )

    @overload
    def provide(self, cls: type[T]) -> T: ...

    # A protocol (MessagingBackend, DeduplicationCache), as ObjectGraph.provide takes it.
    @overload
    def provide(self, cls: Callable[..., T]) -> T: ...

    def provide(self, cls: Any) -> Any:
        """Return an instance of ``cls`` with its dependencies injected, as ``ObjectGraph``'s."""
        return self.graph.provide(cls)

    def published(self, name: str) -> list[Any]:
        """Return the objects published to queue or topic ``name``, deserialized, in order."""
        return self.kit.published(name)

    def drain(self, queue_name: str, *consumers: Consumer) -> int:
        """Handle every message on ``queue_name`` with ``consumers`` now; return how many.

        The dispatcher is the one the graph's worker would get: same cache, same backoff.
        """
        return self.kit.drain(queue_name, *consumers)


def new_test_graph(
    *binding_specs: pinject.BindingSpec,
    modules: Sequence[ModuleType] = (),
    classes: Sequence[type] = (),
    settings: MelangeSettings = TEST_SETTINGS,
) -> TestGraph:
    """Return a test graph: the application's specs, melange's, and a recording backend."""
    backend = RecordingBackend()
    graph = new_object_graph(
        modules=modules,
        classes=classes,
        binding_specs=binding_specs,
        melange=MelangeBindingSpec(settings=settings, backend=backend),
    )
    return TestGraph(graph, backend)
