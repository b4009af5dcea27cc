"""A Lambda handler run against a real queue, as an SQS event source mapping runs it.

``python -m melange lambda-local TARGET --queue NAME`` runs ``LocalEventSource``: it
receives up to ``batch_size`` messages with every system and message attribute, as the
mapping receives them, builds the event the mapping would (``sqs_event``), invokes the
handler, deletes the records the handler did not report and leaves the reported ones
with the visibility the handler gave them (the backoff of a retry). As on Lambda, an
invocation that raises deletes nothing, and neither does one that outlasts the queue's
visibility timeout (a Lambda function's timeout can be no longer than it): the whole
batch comes back. Nothing is deployed: the queue is whatever the ``MELANGE_*`` settings
reach (moto, fauxqs, LocalStack or AWS itself).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import botocore.exceptions
from botocore import xform_name

from melange.app.loading import GRAPH, ObjectProvider, TargetKind, load_target
from melange.aws_lambda.events import sqs_event
from melange.aws_lambda.handler import LambdaHandler, sqs_handler
from melange.backends.prefixed import PrefixedBackend
from melange.backends.sqs.errors import refusal
from melange.consuming.decisions import EMPTY_SHORT_POLL_PAUSE, OUTAGE_BACKOFF, may_heal
from melange.consuming.outcomes import reason_of
from melange.exceptions import (
    BackendError,
    BackendRefusedError,
    BackendUnavailableError,
    ConfigurationError,
    Problem,
)
from melange.limits import is_fifo

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

__all__ = ["HANDLER", "LocalBatch", "LocalEventSource", "load_handler"]

logger = logging.getLogger(__name__)

#: The most records one event holds: 10 on a FIFO queue, 10,000 on a standard one.
MAX_BATCH_SIZE = 10_000
MAX_FIFO_BATCH_SIZE = 10
#: One ReceiveMessage returns at most ten messages.
RECEIVE_MAX = 10

#: What ``lambda-local``'s TARGET names: the function's handler, as Lambda's handler
#: setting names it, or the application's graph (then run with ``sqs_handler``).
HANDLER = TargetKind(
    "a Lambda handler (melange.aws_lambda.sqs_handler(graph)) or " + GRAPH.what,
    "MODULE:HANDLER",
    "myapp.function:handler",
    lambda found: isinstance(found, LambdaHandler) or GRAPH.accepts(found),
)


def load_handler(reference: str) -> LambdaHandler:
    """Return the handler ``module:attribute`` names, or ``sqs_handler`` of the graph it names.

    Raises:
        FactoryNotFoundError: it names neither (see ``melange.app.loading.load_target``).
    """
    found: LambdaHandler | ObjectProvider = load_target(reference, HANDLER)
    return found if isinstance(found, LambdaHandler) else sqs_handler(found)


@attrs.frozen
class LocalBatch:
    """What became of one batch: the line ``lambda-local`` prints for it.

    Attributes:
        number: the batch's number, from 1.
        queue: the queue, as the application names it.
        received: records in the event.
        failed: records that come back: reported, or all of them when the invocation
            raised or timed out.
        dead_lettered: records the handler copied to the dead-letter queue.
        error: why the whole batch comes back, if it does.
    """

    number: int
    queue: str
    received: int
    failed: int
    dead_lettered: int
    error: str | None = None

    def line(self) -> str:
        """Return the batch as one line: ``batch 1 of 'orders': received 3, failed 1, ...``."""
        failed = f"failed {self.failed}" + (f" ({self.error})" if self.error else "")
        return (
            f"batch {self.number} of {self.queue!r}: received {self.received}, {failed}, "
            f"dead-lettered {self.dead_lettered}"
        )


class LocalEventSource:
    """Polls a queue and invokes a Lambda handler with each batch, as Lambda's mapping does.

    Args:
        handler: an ``sqs_handler``; its application's backend reaches the queue.
        queue: the queue, as the application names it (without ``MELANGE_PREFIX``).
        batch_size: records per event at most (the mapping's ``BatchSize``): up to 10 on
            a FIFO queue, 10,000 on a standard one; above 10 it receives several times.
        clock: the monotonic clock timing invocations against the visibility timeout.

    Raises:
        ConfigurationError: not an SQS handler, a queue the application does not read,
            a batch size the mapping would refuse, or a backend that is not SQS.
        QueueNotFoundError: the queue does not exist (``python -m melange declare``).
        BackendError: the broker refused or could not be reached.
    """

    def __init__(
        self,
        handler: LambdaHandler,
        queue: str,
        *,
        batch_size: int = 10,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if handler.source != "sqs":
            raise ConfigurationError(
                "lambda-local runs an SQS event source mapping; the handler is an "
                "sns_handler: point it at the module's sqs_handler(graph)",
                problems=[Problem("TARGET", "sns_handler", "an sqs_handler")],
            )
        app = handler.app
        app.queues_to_run([queue])  # refuses, naming them, a queue the app does not read
        largest = MAX_FIFO_BATCH_SIZE if is_fifo(queue) else MAX_BATCH_SIZE
        if not 1 <= batch_size <= largest:
            raise ConfigurationError(
                f"--batch-size {batch_size} is not what an event source mapping on "
                f"{queue!r} allows: 1 to {largest}",
                problems=[Problem("--batch-size", batch_size, f"an integer 1-{largest}")],
            )
        self.handler = handler
        self.queue = queue
        self.batch_size = batch_size
        self.broker_name = handler.prefix + queue
        self._clock = clock
        self._stopping = threading.Event()
        self._numbered = 0
        backend = _sqs_backend(app.backend)
        self.queue_arn: str = backend.queue_arn(self.broker_name)
        self._client: SQSClient = backend.sqs_client
        self._url = str(self._sqs("GetQueueUrl", QueueName=self.broker_name)["QueueUrl"])
        attributes = self._sqs(
            "GetQueueAttributes", QueueUrl=self._url, AttributeNames=["VisibilityTimeout"]
        )["Attributes"]
        #: Seconds a received batch stays hidden: the longest an invocation may take.
        self.visibility_timeout = int(attributes["VisibilityTimeout"])
        # Long polls as long as the settings ask and the client's read timeout allows.
        read_timeout = int(self._client.meta.config.read_timeout)
        wanted = app.dispatcher_factory.settings.dispatcher.wait_time_seconds
        self.wait_time_seconds = max(0, min(wanted, read_timeout - 1))

    def stop(self) -> None:
        """Stop after the batch in hand (if any) is settled. Signal-safe, thread-safe."""
        self._stopping.set()

    def run(
        self, *, once: bool = False, report: Callable[[LocalBatch], object] = print
    ) -> LocalBatch | None:
        """Poll and invoke until ``stop`` (with ``once``: until one batch was handled).

        ``report`` is called with each batch (the command prints its line). A broker that
        does not answer is tried again after a backoff, as the mapping does.

        Returns:
            The last batch handled, if any.

        Raises:
            BackendError: the broker refused for good, or (``once``) did not answer.
        """
        failures = 0
        last = None
        while not self._stopping.is_set():
            try:
                batch = self.poll()
            except BackendError as exc:
                if once or not may_heal(exc):
                    raise
                failures += 1
                pause = OUTAGE_BACKOFF.delay(failures)
                logger.warning(
                    "receiving from %r failed (%s); retrying in %d s", self.queue, exc, pause
                )
                self._stopping.wait(pause)
                continue
            failures = 0
            if batch is not None:
                report(batch)
                last = batch
                if once:
                    break
            elif self.wait_time_seconds == 0:  # a short poll found nothing: do not spin
                self._stopping.wait(EMPTY_SHORT_POLL_PAUSE)
        return last

    def poll(self) -> LocalBatch | None:
        """Receive one batch and invoke the handler with it; ``None``: the queue was empty."""
        messages = self._receive()
        if not messages:
            return None
        self._numbered += 1
        started = self._clock()
        event = sqs_event(messages, queue_arn=self.queue_arn)
        size = len(messages)
        try:
            # What handler(event, context) does, keeping what became of each record.
            invocation = self.handler.invoke(event)
        except Exception as exc:
            logger.exception(
                "the invocation raised; as on Lambda, nothing is deleted and the %d records "
                "come back after the visibility timeout",
                size,
            )
            return LocalBatch(self._numbered, self.queue, size, size, 0, f"raised {reason_of(exc)}")
        dead = len(invocation.dead_lettered)
        took = self._clock() - started
        if took > self.visibility_timeout:
            logger.warning(
                "the invocation took %.1f s, more than the queue's visibility timeout (%d s), "
                "which Lambda's function timeout may not exceed: as after a timeout, nothing "
                "is deleted and the %d records come back",
                took,
                self.visibility_timeout,
                size,
            )
            error = f"timed out after {took:.1f} s"
            return LocalBatch(self._numbered, self.queue, size, size, dead, error)
        reported = {item["itemIdentifier"] for item in invocation.response()["batchItemFailures"]}
        self._delete([m for m in messages if m["MessageId"] not in reported])
        return LocalBatch(self._numbered, self.queue, size, len(reported), dead)

    def _receive(self) -> list[Mapping[str, Any]]:
        """Receive up to ``batch_size`` messages, long-polling for the first ones only."""
        messages: list[Mapping[str, Any]] = []
        while len(messages) < self.batch_size:
            answer = self._sqs(
                "ReceiveMessage",
                QueueUrl=self._url,
                MaxNumberOfMessages=min(RECEIVE_MAX, self.batch_size - len(messages)),
                WaitTimeSeconds=0 if messages else self.wait_time_seconds,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            received = answer.get("Messages") or []
            messages.extend(received)
            if not received:
                break
        return messages

    def _delete(self, messages: Sequence[Mapping[str, Any]]) -> None:
        """Delete what the handler did not report, as the mapping does after an invocation."""
        for start in range(0, len(messages), RECEIVE_MAX):
            chunk = messages[start : start + RECEIVE_MAX]
            entries = [
                {"Id": str(index), "ReceiptHandle": m["ReceiptHandle"]}
                for index, m in enumerate(chunk)
            ]
            answer = self._sqs("DeleteMessageBatch", QueueUrl=self._url, Entries=entries)
            for failed in answer.get("Failed") or []:
                logger.warning(
                    "could not delete message %s (%s); it will be delivered again",
                    chunk[int(failed["Id"])]["MessageId"],
                    failed.get("Message") or failed.get("Code"),
                )

    def _sqs(self, operation: str, **params: Any) -> Mapping[str, Any]:
        """Make one SQS request; botocore's errors become melange's."""
        try:
            answer: Mapping[str, Any] = getattr(self._client, xform_name(operation))(**params)
        except botocore.exceptions.ClientError as exc:
            error = exc.response.get("Error", {})
            codes = (str(error.get("Code", "")), str(error.get("QueryErrorCode", "")))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            refused = refusal(codes, status)
            message = f"{operation} on queue {self.broker_name!r} failed: {exc}"
            if refused is not None:
                message = f"{message}; retrying cannot help, {refused.check}"
                raise BackendRefusedError(message, operation=operation, code=codes[0]) from exc
            raise BackendError(message, operation=operation, code=codes[0]) from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise BackendUnavailableError(
                f"{operation} on queue {self.broker_name!r} could not reach the endpoint "
                f"({exc}); check MELANGE_ENDPOINT_URL",
                operation=operation,
            ) from exc
        return answer


def _sqs_backend(backend: object) -> Any:
    """Return the SQS backend under ``backend`` (``PrefixedBackend`` wraps one).

    Raises:
        ConfigurationError: it is not an SQS backend (the in-memory one has no queue
            another process can fill).
    """
    from melange.backends.sqs.backend import SqsBackend

    inner = backend
    while isinstance(inner, PrefixedBackend):
        inner = inner.backend
    if not isinstance(inner, SqsBackend):
        raise ConfigurationError(
            f"lambda-local polls a real queue, and the application's backend is "
            f"{type(inner).__name__}; choose one with MELANGE_BACKEND=local and "
            "MELANGE_ENDPOINT_URL (moto, fauxqs, LocalStack) or MELANGE_BACKEND=aws",
            problems=[Problem("MELANGE_BACKEND", type(inner).__name__, "local or aws")],
        )
    return inner
