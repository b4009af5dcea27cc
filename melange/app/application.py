"""``Application``: an application's consumers, topics and backend, declared and run as one.

The object graph builds it (``graph.provide(Application)``) from the application's
``melange_consumers`` and ``melange_topics`` and melange's backend and dispatcher
factory. ``declare()`` makes every queue, dead-letter queue, topic and subscription the
consumers state exist; ``worker()`` returns a ``Worker`` running one dispatcher per
queue. ``python -m melange declare`` and ``worker`` are these two calls.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence

from melange.app.topology import AppQueue, AppTopology, derive_topology
from melange.app.worker import Worker
from melange.backends.protocol import MessagingBackend
from melange.consuming.consumers import Consumer
from melange.consuming.dedup import DeduplicationCache
from melange.consuming.dispatcher import MessageDispatcher
from melange.exceptions import ConfigurationError, Problem
from melange.options import DispatcherOptions
from melange.payloads.bucket import BucketDeclared, DeclaresBucket
from melange.payloads.store import PayloadStore
from melange.serializers.registry import SerializerRegistry
from melange.settings import MelangeSettings, options_from_settings
from melange.topology.declared import Declared
from melange.topology.specs import TopicSpec

__all__ = ["Application", "DispatcherFactory"]


class DispatcherFactory:
    """Builds dispatchers with the settings' options, the graph's registry, backend and cache.

    A dispatcher consumes one queue at a time with the consumers attached to it; a worker
    that consumes several queues asks the factory for one dispatcher per queue. With
    ``payloads`` (``MELANGE_LARGE_PAYLOAD_BUCKET``), each reads large messages' payloads
    from it.
    """

    def __init__(
        self,
        settings: MelangeSettings,
        registry: SerializerRegistry,
        backend: MessagingBackend,
        cache: DeduplicationCache,
        *,
        payloads: PayloadStore | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.backend = backend
        self.cache = cache
        self.payloads = payloads

    @property
    def options(self) -> DispatcherOptions:
        """The options the settings describe (``MELANGE_WORKERS`` and the others)."""
        return options_from_settings(self.settings.dispatcher)

    def __call__(
        self, *consumers: Consumer, options: DispatcherOptions | None = None
    ) -> MessageDispatcher:
        """Return a new dispatcher with ``consumers`` attached, and ``options`` if given."""
        return MessageDispatcher(
            self.registry,
            self.backend,
            consumers=consumers,
            cache=self.cache,
            options=options or self.options,
            payloads=self.payloads,
        )


class Application:
    """An application's consumers and topics, with what declares and runs them.

    Args:
        consumers: the consumers, each with a ``subscription`` saying where it reads.
        topics: the topics the application publishes to (names or ``TopicSpec``).
        backend: the backend to declare on and consume from.
        dispatcher_factory: builds each queue's dispatcher, with the settings' options.

    Raises:
        ConfigurationError: a consumer has no subscription, or consumers sharing a queue
            disagree (``SubscriptionConflictError``).
    """

    def __init__(
        self,
        consumers: Iterable[Consumer],
        topics: Iterable[str | TopicSpec],
        backend: MessagingBackend,
        dispatcher_factory: DispatcherFactory,
    ) -> None:
        self.consumers = tuple(consumers)
        self.backend = backend
        self.dispatcher_factory = dispatcher_factory
        self._workers: list[Worker] = []
        self._other_stops: list[Callable[[], None]] = []  # asyncio workers (also_stop)
        # Reentrant: stop() may run in a signal handler that interrupted worker() here.
        self._lock = threading.RLock()
        self.topology: AppTopology = derive_topology(
            self.consumers,
            topics,
            options=dispatcher_factory.options,
            max_receive_count=dispatcher_factory.settings.dispatcher.max_receive_count,
        )

    @property
    def queue_names(self) -> tuple[str, ...]:
        """The queues the application's consumers read."""
        return self.topology.queue_names

    def declare(self) -> list[Declared | BucketDeclared]:
        """Declare every topic, queue, dead-letter queue and subscription; idempotent.

        With a large-payload store (``MELANGE_LARGE_PAYLOAD_BUCKET``), then its bucket, its
        lifecycle rule and its default encryption (``S3PayloadStore.declare``).

        Returns:
            What each declaration did, in order.
        """
        done: list[Declared | BucketDeclared] = [
            self.backend.declare(spec) for spec in self.topology.declarations()
        ]
        payloads: object = self.dispatcher_factory.payloads  # S3's and memory's declare
        if isinstance(payloads, DeclaresBucket):
            done.extend(payloads.declare())
        return done

    def worker(self, queues: Sequence[str] = ()) -> Worker:
        """Return a worker consuming ``queues`` (default: every queue of the application).

        Raises:
            ConfigurationError: a name that is not one of the application's queues, or an
                application without consumers.
        """
        chosen = self.queues_to_run(queues)
        built = Worker(
            [(q.name, self.dispatcher_factory(*q.consumers, options=q.options)) for q in chosen]
        )
        with self._lock:
            self._workers.append(built)
        return built

    def queues_to_run(self, queues: Sequence[str] = ()) -> list[AppQueue]:
        """Return the application's queues named in ``queues`` (default: all), checked.

        Raises:
            ConfigurationError: a name that is not one of the application's queues, or an
                application without consumers.
        """
        known = self.topology.queue_names
        if not known:
            raise ConfigurationError(
                "the application has no consumers, so a worker has nothing to consume; "
                "provide melange_consumers in the application's binding spec",
                problems=[Problem("melange_consumers", (), "at least one consumer")],
            )
        unknown = [name for name in queues if name not in known]
        if unknown:
            raise ConfigurationError(
                f"queue(s) {', '.join(map(repr, unknown))} are not the application's; its "
                f"consumers read {', '.join(map(repr, known))}",
                problems=[
                    Problem("--queue", name, f"one of {', '.join(known)}") for name in unknown
                ],
            )
        return [q for q in self.topology.queues if not queues or q.name in queues]

    def also_stop(self, stop: Callable[[], None]) -> None:
        """Have ``stop()`` call ``stop`` too, for a worker built elsewhere (an asyncio one).

        ``stop`` may be called from any thread, or from a signal handler.
        """
        with self._lock:
            self._other_stops.append(stop)

    def stop(self) -> None:
        """Stop every worker this application built; running handlers finish. Signal-safe."""
        with self._lock:
            workers = list(self._workers)
            others = list(self._other_stops)
        for each in workers:
            each.stop()
        for stop in others:
            stop()
