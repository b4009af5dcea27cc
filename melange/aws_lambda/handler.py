"""The application's consumers as an AWS Lambda function: one handler for SQS event batches.

In the function's module, build the handler once per execution environment, from the
application's object graph (or a function returning it), and name it as the function's
handler::

    from melange.aws_lambda import sqs_handler
    from myapp import graph

    handler = sqs_handler(graph)

Each invocation's records go to the consumers whose ``Subscription`` names the event
source's queue (without ``MELANGE_PREFIX``), through the dispatcher the application's
worker would use: the same type routing, serializers, ``MessageContext``, deduplication
cache, tracing, large payloads and settling. A record the worker would acknowledge is
not reported, so the event source mapping deletes it; a failed record is reported in
``batchItemFailures`` after its visibility is set to the backoff, as the worker retries
it; an unreadable, unhandled, permanently failed or last-receive record is copied to the
queue's dead-letter queue with the reason and not reported. A FIFO batch stops at the
first record left unsettled and reports it and every record after it.

When every record fails, every record is reported and nothing is raised: Lambda then
retries them after their visibility timeout like any reported record, without counting a
function error against the mapping (which, raised, would also retry the successes of a
partly failed batch, had there been any, and scale the mapping down). The mapping needs
``FunctionResponseTypes: ["ReportBatchItemFailures"]``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from melange.app.aio_worker import consumers_kind
from melange.app.application import Application
from melange.app.topology import AppQueue
from melange.aws_lambda.events import LambdaBatch, read_event
from melange.exceptions import LambdaEventError
from melange.messages import ReceivedMessage

if TYPE_CHECKING:
    import asyncio

    from melange.consuming.aio_dispatcher import AsyncMessageDispatcher
    from melange.consuming.dispatcher import MessageDispatcher

__all__ = ["LambdaHandler", "sqs_handler"]

#: What Lambda expects back from a function with ``ReportBatchItemFailures``.
BatchResponse = dict[str, list[dict[str, str]]]


class Graph(Protocol):
    """What the handler needs of an object graph: ``provide``."""

    def provide(self, cls: Any) -> Any:
        """Return an instance of ``cls`` with its dependencies."""


class LambdaHandler:
    """Runs the application's consumers on the SQS batches Lambda invokes it with.

    Args:
        graph: the application's object graph, or a function returning it (called now,
            once per execution environment).

    Raises:
        ConfigurationError: the graph cannot build the application (as for the worker).
    """

    def __init__(self, graph: Graph | Callable[[], Graph]) -> None:
        self.graph: Graph = graph if hasattr(graph, "provide") else graph()
        self.app: Application = self.graph.provide(Application)
        self.prefix = self.app.dispatcher_factory.settings.prefix
        self._dispatchers: dict[str, MessageDispatcher | AsyncMessageDispatcher] = {}
        self._runner: asyncio.Runner | None = None

    def __call__(self, event: Mapping[str, Any], context: object = None) -> BatchResponse:
        """Handle an SQS event's records; return the ones to report as failed.

        Raises:
            LambdaEventError: not an SQS event, records from two queues, or a queue no
                consumer of the application reads (before any record is handled).
            BackendRefusedError: reading a record was refused for good (a large
                payload's bucket is gone or denied): the whole batch comes back.
        """
        batch = read_event(event)
        if batch.source != "sqs":
            raise LambdaEventError(
                f"sqs_handler was invoked by an SNS subscription ({batch.arn}); it handles "
                "SQS event source mappings: subscribe a queue to the topic and map it",
                problem="an SNS event given to the SQS handler",
            )
        queue = self.queue_of(batch)
        messages = list(batch.messages)
        if queue.name != batch.name:  # MELANGE_PREFIX: the messages name the app's queue
            messages = [attrs.evolve(m, queue_name=queue.name) for m in messages]
        unsettled = self._process(queue, messages, in_order=batch.in_order)
        return {"batchItemFailures": [{"itemIdentifier": m.broker_message_id} for m in unsettled]}

    def queue_of(self, batch: LambdaBatch) -> AppQueue:
        """Return the application's queue the batch came from (its name without the prefix).

        Raises:
            LambdaEventError: no consumer of the application reads that queue.
        """
        name = batch.name
        if self.prefix and name.startswith(self.prefix):
            name = name[len(self.prefix) :]
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

    def _process(
        self, queue: AppQueue, messages: list[ReceivedMessage], *, in_order: bool
    ) -> list[ReceivedMessage]:
        dispatcher = self._dispatcher(queue)
        if consumers_kind(queue.consumers) == "async":
            run = dispatcher.process_batch(queue.name, messages, in_order=in_order)
            return self._loop().run(run)  # type: ignore[arg-type]
        return dispatcher.process_batch(queue.name, messages, in_order=in_order)  # type: ignore[return-value]

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


def sqs_handler(graph: Graph | Callable[[], Graph]) -> LambdaHandler:
    """Return the Lambda handler running ``graph``'s application on SQS event batches."""
    return LambdaHandler(graph)
