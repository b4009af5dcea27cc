"""Test graphs: the application's real wiring on a recording in-memory backend.

``new_test_graph(AppBindingSpec())`` gives a graph whose publishers send to a
``RecordingBackend``; a test provides its service, calls it, and asserts on
``graph.published(name)``, drains queues through the real consumers with
``graph.drain(queue, consumer)`` (``await graph.adrain(...)`` in an async test) and reads
what was dead-lettered, with the reasons, with ``graph.dead_letters(queue)``. Nothing is
patched.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar, overload

import pinject

from melange.consuming.consumers import Consumer
from melange.serializers import Serializer, SerializerRegistry
from melange.settings import DispatcherSettings, MelangeSettings
from melange.testing import DeadLetter, MessagingTestKit, RecordingBackend
from melange_bindings.graph import ObjectGraph, new_object_graph
from melange_bindings.spec import DispatcherFactory, MelangeBindingSpec

if TYPE_CHECKING:
    from melange.consuming.aio_dispatcher import AsyncMessageDispatcher

__all__ = ["TestGraph", "new_test_graph"]

T = TypeVar("T")

#: Settings of a test graph: in memory, no prefix, short polls.
TEST_SETTINGS = MelangeSettings(
    env="test", backend="memory", dispatcher=DispatcherSettings(wait_time_seconds=1)
)


class TestGraph:
    """An object graph for tests, with what was published and a way to drain queues.

    ``drain`` and ``adrain`` build their dispatchers with the graph's dispatcher
    factories, as a worker does: the settings' backoff, visibility timeout and
    deduplication cache apply. Names are the application's: with ``MELANGE_PREFIX`` set,
    ``published``, ``drain`` and ``dead_letters`` add it alike.
    """

    __test__ = False  # not a pytest test class

    def __init__(self, graph: ObjectGraph, backend: RecordingBackend, *, prefix: str = "") -> None:
        self.graph = graph
        self.backend = backend
        self.kit = MessagingTestKit(
            graph.provide(SerializerRegistry),
            backend,
            dispatcher_factory=graph.provide(DispatcherFactory),
            async_dispatcher_factory=self._async_dispatcher,
            prefix=prefix,
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
        Async consumers run on the graph's asyncio dispatcher, in an event loop of this
        call's own; in an async test, ``await adrain(...)``.
        """
        return self.kit.drain(queue_name, *consumers)

    async def adrain(self, queue_name: str, *consumers: Consumer) -> int:
        """Handle every message on ``queue_name`` on the running event loop; return how many."""
        return await self.kit.adrain(queue_name, *consumers)

    def dead_letters(self, queue_name: str) -> list[DeadLetter]:
        """Return the messages on ``queue_name``'s dead-letter queue, with their reasons."""
        return self.kit.dead_letters(queue_name)

    def _async_dispatcher(self, *consumers: Consumer) -> AsyncMessageDispatcher:
        from melange.app.aio_worker import AsyncDispatcherFactory

        return self.graph.provide(AsyncDispatcherFactory)(*consumers)


def new_test_graph(
    *binding_specs: pinject.BindingSpec,
    modules: Sequence[ModuleType] = (),
    classes: Sequence[type] = (),
    settings: MelangeSettings = TEST_SETTINGS,
    serializers: Mapping[str, Serializer | type[Serializer]] | None = None,
) -> TestGraph:
    """Return a test graph: the application's specs, melange's, and a recording backend.

    ``serializers``: the extra serializers the application's ``MelangeBindingSpec`` adds.
    """
    backend = RecordingBackend()
    graph = new_object_graph(
        modules=modules,
        classes=classes,
        binding_specs=binding_specs,
        melange=MelangeBindingSpec(settings=settings, backend=backend, serializers=serializers),
    )
    return TestGraph(graph, backend, prefix=settings.prefix)
