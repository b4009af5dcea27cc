"""The message dispatcher: consumers, options and a cache, run against one queue or several.

Guarantees: a message is acknowledged only after every consumer that accepts it succeeded,
acknowledgements go out in batches; a failure makes the message visible again after an
exponential backoff; a message that cannot be read, that no consumer accepts, or that
fails on its last allowed receive goes to the dead-letter queue with the reason;
handlers that outlive half the visibility timeout get it extended; ``stop`` lets running
handlers finish, acknowledges them and releases what was received but not started, and
does not wait for a receive stuck in the network. A refusal that cannot heal (credentials,
permissions) ends ``run`` with that error; while the deduplication cache is unreachable
(``on_cache_unavailable="redeliver"``) receiving pauses.

The dispatcher is the configuration; each queue it consumes gets a ``QueueRunner``
(``melange.consuming._sync.runner``), which reads top-down from receiving to settling
through ``MessageHandling`` (``melange.consuming._sync.handling``).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from melange.backends.protocol import MessagingBackend
from melange.consuming._sync.runner import QueueRunner
from melange.consuming.concurrency import Handlers
from melange.consuming.consumers import Consumer, check_consumer
from melange.consuming.dedup import CacheProbe, DeduplicationCache, deduplicating
from melange.consuming.outcomes import (
    ConsumeHook,
    DispatcherStats,
    ExceptionHook,
    HandlingSetup,
    Settled,
)
from melange.consuming.reading import register_handled_types
from melange.exceptions import ConfigurationError, Problem
from melange.messages import ReceivedMessage
from melange.options import DispatcherOptions
from melange.payloads.store import PayloadStore
from melange.serializers.foreign import foreign_reader
from melange.serializers.registry import SerializerRegistry

__all__ = ["MessageDispatcher", "QueueThread", "build_options"]


class MessageDispatcher:
    """Consumes queues with the guarantees production SQS users expect.

    Options are given as one ``DispatcherOptions`` (``options=``), or as keywords of the
    same names, which build one (see ``DispatcherOptions`` for each option's meaning and
    default).

    Args:
        serializer_registry: reads messages back into objects.
        backend: the messaging backend.
        cache: a deduplication cache; with one, each consumer runs at most once per
            message id (successfully).
        consumers: consumers to attach now (``attach_consumer`` adds more).
        options: every option at once; keywords given as well override it.
        on_exception: called with (exception, message, received) when a consumer raises.
        after_consume: called with (message, received) after every consumer succeeded.
        payloads: where large messages' payloads are stored (``melange.payloads``): a
            message carrying a pointer is read from there; without one it is dead-lettered
            with a reason saying so.
        **option_values: ``DispatcherOptions`` fields (``workers=8``, ...).

    Raises:
        ConfigurationError: an option is out of range, a consumer is refused (see
            ``attach_consumer``), or ``foreign`` names an attrs class or dataclass that
            no serializer of the registry structures.
    """

    def __init__(
        self,
        serializer_registry: SerializerRegistry,
        backend: MessagingBackend,
        *,
        cache: DeduplicationCache | None = None,
        consumers: Iterable[Consumer] = (),
        options: DispatcherOptions | None = None,
        on_exception: ExceptionHook | None = None,
        after_consume: ConsumeHook | None = None,
        payloads: PayloadStore | None = None,
        **option_values: Any,
    ) -> None:
        self.options = build_options(options, option_values)
        self.backend = backend
        self.cache = cache
        self.payloads = payloads
        self._registry = serializer_registry
        self._consumers: list[Consumer] = []
        for each in consumers:
            self.attach_consumer(each)
        self._setup = HandlingSetup(
            serializer_registry,
            self._consumers,
            self.options,
            on_exception=on_exception,
            after_consume=after_consume,
            foreign=foreign_reader(self.options.foreign, serializer_registry),
        )
        self._probe = CacheProbe(cache)
        self.stats = DispatcherStats()
        self._runners: list[QueueRunner] = []
        # One runner per queue for process_batch (AWS Lambda), kept across invocations.
        self._batch_runners: dict[str, QueueRunner] = {}
        # Reentrant: stop() may run in a signal handler that interrupted runner() here.
        self._lock = threading.RLock()

    @property
    def workers(self) -> int:
        """Handler threads per queue (``options.workers``)."""
        return self.options.workers

    @property
    def pollers(self) -> int:
        """Receiving threads per queue (``options.poller_count``)."""
        return self.options.poller_count

    def attach_consumer(self, consumer: Consumer) -> None:
        """Add a consumer; every message it accepts must succeed before acknowledgement.

        Attaching the same consumer object again does nothing, so wiring code that runs
        twice does not make every message handled twice.

        Raises:
            ConfigurationError: ``consumer`` is not a ``Consumer``, skipped its
                ``Consumer.__init__``, has no handler at all or ``async def`` handlers,
                or a handler names a class no serializer of the registry reads back
                (``SerializerConfigurationError``; the classes it can read it registers).
        """
        check_consumer(consumer)
        if consumer.is_async:
            raise ConfigurationError(
                f"consumer {consumer.name!r} has async def handlers, which the threaded "
                "MessageDispatcher cannot await; attach it to "
                "melange.aio.AsyncMessageDispatcher (`python -m melange worker` runs apps "
                "with async consumers on it)",
                problems=[
                    Problem("consumers", consumer.name, "consumers without async def handlers")
                ],
            )
        register_handled_types(consumer, self._registry, self.options.foreign)
        if not any(attached is consumer for attached in self._consumers):
            self._consumers.append(consumer)

    # -- running -------------------------------------------------------------------------

    def runner(self, queue_name: str) -> QueueRunner:
        """Return a new runner of ``queue_name`` with this dispatcher's consumers and options.

        ``stop`` stops it with every other runner of this dispatcher. A worker that
        consumes several queues starts one runner per queue (``start``).
        """
        runner = self._new_runner(queue_name)
        with self._lock:
            self._runners = [r for r in self._runners if not r.finished] + [runner]
        return runner

    def start(self, queue_name: str) -> QueueThread:
        """Consume ``queue_name`` in a new thread; ``wait`` on what this returns."""
        return QueueThread(self.runner(queue_name))

    def run(self, queue_name: str) -> None:
        """Consume ``queue_name`` in this thread until ``stop``; then finish cleanly and return.

        See ``QueueRunner.run``.

        Raises:
            QueueNotFoundError: the queue does not exist when consuming starts.
            BackendRefusedError: the broker refused to deliver and will refuse again
                (credentials, permissions); raised once everything has stopped.
        """
        self.runner(queue_name).run()

    def stop(self) -> None:
        """Stop every runner of this dispatcher: no more receives, handlers finish.

        Thread-safe; safe to call from a signal handler.
        """
        with self._lock:
            runners = list(self._runners)
        for runner in runners:
            runner.stop()

    def process_available(self, queue_name: str, *, limit: int | None = None) -> int:
        """Handle every message visible now, in this thread, and return how many.

        For tests and scripts: the same reading, deduplication, retries and dead-lettering
        as ``run``, without threads or long polling.
        """
        return self._new_runner(queue_name).process_available(limit=limit)

    def process_batch(
        self, queue_name: str, batch: Sequence[ReceivedMessage], *, in_order: bool = False
    ) -> list[Settled]:
        """Handle a batch someone else received (AWS Lambda); say what became of each.

        See ``QueueRunner.process_batch``: what ``run`` would acknowledge is left to the
        event source mapping, everything else is settled as ``run`` settles it. A queue's
        batches share one runner, kept from the first.
        """
        return self._batch_runner(queue_name).process_batch(batch, in_order=in_order)

    def process_notifications(
        self, queue_name: str, batch: Sequence[ReceivedMessage]
    ) -> list[Settled]:
        """Handle notifications SNS delivered straight to a Lambda function; settle nothing.

        See ``QueueRunner.process_notifications``; ``queue_name`` names them in the
        counters, logs and spans.
        """
        return self._batch_runner(queue_name).process_notifications(batch)

    def _batch_runner(self, queue_name: str) -> QueueRunner:
        """Return the queue's runner for batches received elsewhere, kept from the first."""
        runner = self._batch_runners.get(queue_name)
        if runner is None:
            runner = self._batch_runners[queue_name] = self._new_runner(queue_name)
        return runner

    def _new_runner(self, queue_name: str) -> QueueRunner:
        return QueueRunner(
            self.backend,
            queue_name,
            self._setup,
            Handlers(),
            self.stats,
            cache=deduplicating(self.cache),
            probe=self._probe,
            payloads=self.payloads,
        )


def build_options(options: DispatcherOptions | None, values: dict[str, Any]) -> DispatcherOptions:
    """Return ``options`` (default: the defaults) with the keyword values given beside it.

    Raises:
        TypeError: a keyword that is no ``DispatcherOptions`` field (nor melange 7's).
    """
    base = options or DispatcherOptions()
    fields = attrs.fields_dict(DispatcherOptions)
    if not set(values) <= set(fields):
        # Only code written for melange 7 gets here. melange.compat sits above every
        # package (it may import this one), so it is looked up, not imported: the layers
        # keep pointing down, and a melange 8 process never loads it.
        values = importlib.import_module("melange.compat").melange7_options(values)
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise TypeError(f"MessageDispatcher() got unexpected keyword arguments {unknown!r}")
    return attrs.evolve(base, **values) if values else base


class QueueThread:
    """A queue runner consuming in a thread of its own (``MessageDispatcher.start``).

    Args:
        runner: the runner, started at once.
    """

    def __init__(self, runner: QueueRunner) -> None:
        self.runner = runner
        self._errors: list[BaseException] = []
        self._thread = threading.Thread(
            target=self._run, name=f"melange-runner-{runner.queue_name}", daemon=True
        )
        self._thread.start()

    @property
    def queue_name(self) -> str:
        """The queue consumed."""
        return self.runner.queue_name

    def stop(self) -> None:
        """Ask the runner to stop (see ``QueueRunner.stop``)."""
        self.runner.stop()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the runner to finish; return whether it did.

        Raises:
            BackendRefusedError: the error that ended ``run``, if any.
        """
        self._thread.join(timeout)
        if self._thread.is_alive():
            return False
        if self._errors:
            raise self._errors[0]
        return True

    def _run(self) -> None:
        try:
            self.runner.run()
        except BaseException as exc:  # re-raised by wait()
            self._errors.append(exc)
