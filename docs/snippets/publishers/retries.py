from collections.abc import Sequence

from melange import Consumer, MessageDispatcher, QueuePublisher
from melange.backends import InMemoryBackend
from melange.consuming.dedup import InMemoryDeduplicationCache
from melange.exceptions import (
    BackendError,
    BackendUnavailableError,
    BatchEntryFailure,
    BatchPublishError,
)
from melange.messages import BatchResult, Destination, OutgoingMessage
from melange.serializers import JsonSerializer, SerializerRegistry


class AnswerLosingBackend(InMemoryBackend):
    """Delivers every message, then loses the answer: as a reset connection does.

    A single publish raises ``BackendUnavailableError``; a batch reports its odd entries
    failed. Only the first time, so that the retries succeed.
    """

    lose_single, lose_batch = True, True

    def publish(self, destination: Destination, messages: Sequence[OutgoingMessage]) -> BatchResult:
        result = super().publish(destination, messages)
        if len(messages) == 1 and self.lose_single:
            self.lose_single = False
            raise BackendUnavailableError("connection reset by peer", operation="SendMessage")
        if len(messages) > 1 and self.lose_batch:
            self.lose_batch = False
            ids = [message.envelope.message_id for message in messages]
            failed = [
                BatchEntryFailure(i, ids[i], "InternalError", "unknown", False)
                for i in range(1, len(ids), 2)
            ]
            return BatchResult(successful=tuple(ids[0::2]), failed=tuple(failed))
        return result


registry = SerializerRegistry({"serializers": {"json": JsonSerializer}})
backend = AnswerLosingBackend()
backend.declare_queue("billing")
publisher = QueuePublisher(registry, backend)
refund = {"refund": 42}
refunds = [{"refund": n} for n in range(10)]

# --8<-- [start:retry]
try:
    publisher.publish("billing", refund)
except BackendError as exc:  # e.g. BackendUnavailableError: delivered or not, unknown
    print(f"publish failed ({exc}); resending it with its message id")
    publisher.publish("billing", refund, message_id=exc.message_id)

try:
    publisher.publish_many("billing", refunds)
except BatchPublishError as exc:
    failed = exc.failures
    print(f"{len(failed)} of {len(refunds)} entries failed; resending them with their ids")
    publisher.publish_many(
        "billing", [refunds[f.index] for f in failed], message_ids=[f.message_id for f in failed]
    )
# --8<-- [end:retry]

handled: list[object] = []
dispatcher = MessageDispatcher(
    registry,
    backend,
    consumers=[Consumer(on_message=handled.append, name="billing")],
    cache=InMemoryDeduplicationCache(),  # drops the copies: same consumer, same message id
)
received = dispatcher.process_available("billing")
print(f"{received} messages received, {len(handled)} handled")
