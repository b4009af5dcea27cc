from melange import Consumer, MessageDispatcher, QueuePublisher
from melange.backends import InMemoryBackend
from melange.exceptions import ConfigurationError
from melange.serializers import JsonSerializer, SerializerRegistry

registry = SerializerRegistry({"serializers": {"json": JsonSerializer}})
backend = InMemoryBackend()
backend.declare_queue("payments.fifo", dead_letter_queue="payments-dlq.fifo")
publisher = QueuePublisher(registry, backend)

for step in ("authorise", "capture", "refund"):
    publisher.publish("payments.fifo", {"order": 7, "step": step}, message_group_id="order-7")
publisher.publish("payments.fifo", {"order": 8, "step": "authorise"}, message_group_id="order-8")

# The same deduplication id within five minutes: the broker keeps the first only.
publisher.publish(
    "payments.fifo", {"order": 9}, message_group_id="order-9", deduplication_id="order-9-pay"
)
publisher.publish(
    "payments.fifo", {"order": 9}, message_group_id="order-9", deduplication_id="order-9-pay"
)
# Without one, the message id is the deduplication id: a resend with the same id is dropped.
message_id = publisher.publish("payments.fifo", {"order": 10}, message_group_id="order-10")
publisher.publish(
    "payments.fifo", {"order": 10}, message_group_id="order-10", message_id=message_id
)

try:
    publisher.publish("payments.fifo", {"order": 11})
except ConfigurationError as exc:
    print(f"refused: {exc}")

dispatcher = MessageDispatcher(registry, backend, consumers=[Consumer(on_message=print)])
dispatcher.process_available("payments.fifo")
