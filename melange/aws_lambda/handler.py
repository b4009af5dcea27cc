"""The application's consumers as an AWS Lambda function, for SQS batches or SNS notifications.

In the function's module, build the handler once per execution environment, from the
application's object graph (or a function returning it), and name it as the function's
handler::

    from melange.aws_lambda import sqs_handler
    from myapp import graph

    handler = sqs_handler(graph)

**SQS** (``sqs_handler``, for an event source mapping): each invocation's records go to
the consumers whose ``Subscription`` names the event source's queue (without
``MELANGE_PREFIX``), through the dispatcher the application's worker would use: the same
type routing, serializers, ``MessageContext``, deduplication cache, tracing, large
payloads and settling. A record the worker would acknowledge is not reported, so the
event source mapping deletes it; a failed record is reported in ``batchItemFailures``
after its visibility is set to the backoff, as the worker retries it; an unreadable,
unhandled, permanently failed or last-receive record is copied to the queue's
dead-letter queue with the reason and not reported. A FIFO batch stops at the first
record not acknowledged, as the worker releases the rest of its group, and reports every
record after it. The mapping needs ``FunctionResponseTypes: ["ReportBatchItemFailures"]``.

When every record fails, every record is reported and nothing is raised. Raising would
bring the same records back (after their visibility timeout), so it gains nothing for
them; it would count as a function error, and Lambda answers those by scaling the
mapping's concurrency down, which is not what one bad batch calls for; and the
visibility each retried record was given (the backoff) holds either way.

**SNS** (``sns_handler``, for a topic subscription delivering to the function): each
notification goes to the application's queues subscribed to its topic whose filter
policy matches its attributes, each as if that queue had received its copy: that queue's
consumers (by type) and options, with ``MessageContext.queue_name`` the queue's name and
the SNS subject and topic set. No queue holds the notification, so nothing is sent to
SQS: a notification every queue's consumers handled returns; any other outcome (a
failure, an unreadable message, one no consumer accepts) raises
``NotificationFailedError`` naming each reason, and Lambda's asynchronous invocation
retries the event and then gives it to the function's on-failure destination or
dead-letter queue. Consumers that succeeded run again on such a retry unless the
deduplication cache remembers them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from operator import methodcaller
from typing import TYPE_CHECKING, Any, Literal, Protocol

import attrs

from melange import wire
from melange.app.aio_worker import consumers_kind
from melange.app.application import Application
from melange.app.topology import AppQueue
from melange.aws_lambda.events import LambdaBatch, read_event
from melange.consuming.outcomes import Action, Settled
from melange.exceptions import LambdaEventError, NotificationFailedError
from melange.messages import ReceivedMessage
from melange.topology.filter_policy import matches

if TYPE_CHECKING:
    import asyncio

    from melange.consuming.aio_dispatcher import AsyncMessageDispatcher
    from melange.consuming.dispatcher import MessageDispatcher

__all__ = ["Invocation", "LambdaHandler", "sns_handler", "sqs_handler"]

logger = logging.getLogger(__name__)

#: What Lambda expects back from a function with ``ReportBatchItemFailures``.
BatchResponse = dict[str, list[dict[str, str]]]


class Graph(Protocol):
    """What the handler needs of an object graph: ``provide``."""

    def provide(self, cls: Any) -> Any:
        """Return an instance of ``cls`` with its dependencies."""


@attrs.frozen
class Invocation:
    """What one invocation did with its event's records.

    Attributes:
        batch: the event's records, read.
        settled: what became of each record, in order; an SNS record has one per queue
            its notification went to, and none when no filter policy let it through.
    """

    batch: LambdaBatch
    settled: tuple[Settled, ...]

    @property
    def failed(self) -> tuple[Settled, ...]:
        """The records to come back: neither acknowledged nor dead-lettered."""
        return tuple(s for s in self.settled if s.delivered_again)

    @property
    def dead_lettered(self) -> tuple[Settled, ...]:
        """The records copied to their queue's dead-letter queue, with the reasons."""
        return tuple(s for s in self.settled if s.action is Action.DEAD_LETTER)

    def response(self) -> BatchResponse:
        """Return the partial batch response: the failed records' message ids, once each."""
        ids = dict.fromkeys(s.received.broker_message_id for s in self.failed)
        return {"batchItemFailures": [{"itemIdentifier": i} for i in ids]}


class LambdaHandler:
    """Runs the application's consumers on the SQS batches or SNS notifications of Lambda.

    Build it with ``sqs_handler`` or ``sns_handler``.

    Args:
        graph: the application's object graph, or a function returning it (called now,
            once per execution environment).
        source: the events it handles: ``"sqs"`` (an event source mapping) or ``"sns"``
            (a topic subscription).

    Raises:
        ConfigurationError: the graph cannot build the application (as for the worker).
    """

    def __init__(
        self, graph: Graph | Callable[[], Graph], *, source: Literal["sqs", "sns"] = "sqs"
    ) -> None:
        self.graph: Graph = graph if hasattr(graph, "provide") else graph()
        self.source = source
        self.app: Application = self.graph.provide(Application)
        self.prefix = self.app.dispatcher_factory.settings.prefix
        self._dispatchers: dict[str, MessageDispatcher | AsyncMessageDispatcher] = {}
        self._runner: asyncio.Runner | None = None

    def __call__(self, event: Mapping[str, Any], context: object = None) -> BatchResponse | None:
        """Handle the event's records; for SQS, return the ones to report as failed.

        Raises:
            LambdaEventError: not an event of this handler's source, records from two
                sources, or a queue or topic no consumer of the application reads (before
                any record is handled).
            NotificationFailedError: (SNS) a notification was not handled: Lambda retries.
        """
        invocation = self.invoke(event)
        if self.source == "sqs":
            return invocation.response()
        failed = invocation.failed
        if failed:
            raise NotificationFailedError(
                invocation.batch.arn,
                [(s.received.broker_message_id, s.received.queue_name, s.reason) for s in failed],
            )
        return None

    def invoke(self, event: Mapping[str, Any]) -> Invocation:
        """Handle the event's records and say what became of each (``__call__``'s work).

        Raises:
            LambdaEventError: as ``__call__``.
        """
        batch = read_event(event)
        if batch.source != self.source:
            raise _wrong_source(batch, self.source)
        if batch.source == "sqs":
            queue = self.queue_of(batch)
            messages = list(batch.messages)
            if queue.name != batch.name:  # MELANGE_PREFIX: the messages name the app's queue
                messages = [attrs.evolve(m, queue_name=queue.name) for m in messages]
            handle = methodcaller("process_batch", queue.name, messages, in_order=batch.in_order)
            return Invocation(batch, tuple(self._run(queue, handle)))
        notified: list[Settled] = []
        for route, copies in self.notified_queues(batch):
            handle = methodcaller("process_notifications", route.name, copies)
            notified.extend(self._run(route, handle))
        return Invocation(batch, tuple(notified))

    def queue_of(self, batch: LambdaBatch) -> AppQueue:
        """Return the application's queue the batch came from (its name without the prefix).

        Raises:
            LambdaEventError: no consumer of the application reads that queue.
        """
        name = self._unprefixed(batch.name)
        for queue in self.app.topology.queues:
            if queue.name == name:
                return queue
        raise LambdaEventError(
            f"the event comes from queue {batch.name!r} ({batch.arn}), which no consumer of "
            f"the application reads (it reads {list(self.app.queue_names)!r}, with "
            f"MELANGE_PREFIX={self.prefix!r}); map the function to one of those queues, or "
            "give a consumer a Subscription naming it",
            problem="a queue the application does not read",
        )

    def notified_queues(self, batch: LambdaBatch) -> list[tuple[AppQueue, list[ReceivedMessage]]]:
        """Return the queues each notification goes to, with the copies they get.

        A queue gets a notification when one of its subscriptions names the topic (its
        name without the prefix, or its ARN) and that subscription's filter policy
        matches the notification's attributes. An unreadable notification goes to every
        queue subscribed to the topic, whose handling then says why it cannot be read.

        Raises:
            LambdaEventError: no queue of the application is subscribed to the topic.
        """
        topic = self._unprefixed(batch.name)
        subscribed = [
            (queue, spec)
            for queue in self.app.topology.queues
            for spec in queue.subscriptions
            if topic in spec.topics or batch.arn in spec.topics
        ]
        if not subscribed:
            raise LambdaEventError(
                f"the event comes from topic {batch.name!r} ({batch.arn}), to which no queue "
                f"of the application is subscribed (MELANGE_PREFIX={self.prefix!r}); "
                "subscribe the function to a topic a consumer's Subscription(topics=[...]) "
                "names",
                problem="a topic the application does not read",
            )
        routes: dict[str, tuple[AppQueue, list[ReceivedMessage]]] = {}
        for message in batch.messages:
            attributes = _filterable(message)
            for queue, spec in subscribed:
                if attributes is None or matches(spec.filter_policy, attributes):
                    copy = attrs.evolve(message, queue_name=queue.name)
                    routes.setdefault(queue.name, (queue, []))[1].append(copy)
                else:
                    logger.debug(
                        "notification %s does not pass the filter policy of %r; not for it",
                        message.broker_message_id,
                        queue.name,
                    )
        return list(routes.values())

    def _unprefixed(self, name: str) -> str:
        if self.prefix and name.startswith(self.prefix):
            return name[len(self.prefix) :]
        return name

    def _run(self, queue: AppQueue, handle: methodcaller) -> list[Settled]:
        """Return ``handle(the queue's dispatcher)``; an asyncio one's on the handler's loop."""
        settled = handle(self._dispatcher(queue))
        if consumers_kind(queue.consumers) == "async":
            settled = self._loop().run(settled)
        return list(settled)

    def _dispatcher(self, queue: AppQueue) -> MessageDispatcher | AsyncMessageDispatcher:
        found = self._dispatchers.get(queue.name)
        if found is None:
            if consumers_kind(queue.consumers) == "async":
                from melange.app.aio_worker import AsyncDispatcherFactory

                factory = self.graph.provide(AsyncDispatcherFactory)
                found = factory(*queue.consumers, options=queue.options)
            else:
                found = self.app.dispatcher_factory(*queue.consumers, options=queue.options)
            self._dispatchers[queue.name] = found
        return found

    def _loop(self) -> asyncio.Runner:
        # One event loop for the execution environment's life: the asyncio clients it
        # opens are bound to it and reused by every invocation.
        if self._runner is None:
            import asyncio  # only for async consumers: a cold start without them skips it

            self._runner = asyncio.Runner()
        return self._runner


def _filterable(message: ReceivedMessage) -> Mapping[str, Any] | None:
    """Return the attributes a filter policy sees, or ``None`` for an unreadable message."""
    try:
        return wire.unwrap(message).attributes
    except Exception:  # the queues' handling reads it again and says why it cannot
        return None


def _wrong_source(batch: LambdaBatch, expected: str) -> LambdaEventError:
    if expected == "sqs":
        return LambdaEventError(
            f"sqs_handler was invoked by an SNS subscription ({batch.arn}); it handles SQS "
            "event source mappings: for a topic delivering to the function, name "
            "sns_handler(graph) as its handler, or subscribe a queue to the topic and map "
            "the queue to the function",
            problem="an SNS event given to the SQS handler",
        )
    return LambdaEventError(
        f"sns_handler was invoked by an SQS event source mapping ({batch.arn}); it handles "
        "SNS subscriptions: for a queue mapped to the function, name sqs_handler(graph) "
        "as its handler",
        problem="an SQS event given to the SNS handler",
    )


def sqs_handler(graph: Graph | Callable[[], Graph]) -> LambdaHandler:
    """Return the Lambda handler running ``graph``'s application on SQS event batches."""
    return LambdaHandler(graph, source="sqs")


def sns_handler(graph: Graph | Callable[[], Graph]) -> LambdaHandler:
    """Return the Lambda handler running ``graph``'s application on SNS notifications."""
    return LambdaHandler(graph, source="sns")
