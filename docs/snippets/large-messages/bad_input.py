from melange import Consumer, MessageDispatcher, QueuePublisher
from melange.backends import InMemoryBackend
from melange.consuming.dead_letters import dead_letter_reason
from melange.payloads import InMemoryPayloadStore, LargePayloads, PayloadPointer
from melange.serializers import JsonSerializer, SerializerRegistry

registry = SerializerRegistry({"serializers": {"json": JsonSerializer}})
backend = InMemoryBackend()
backend.declare_queue("reports", dead_letter_queue="reports-dlq")
store = InMemoryPayloadStore(LargePayloads(bucket="shop-payloads"))
publisher = QueuePublisher(registry, backend, payloads=store)
dispatcher = MessageDispatcher(
    registry, backend, consumers=[Consumer(on_message=print, name="reports")], payloads=store
)

# 1. The object is gone (expired, or deleted by another consumer): dead-lettered.
message_id = publisher.publish("reports", {"rows": "x" * 2_000_000})
store.delete(PayloadPointer("shop-payloads", f"melange-payloads/reports/{message_id}"))
# 2. A crafted pointer to a bucket the application does not read: dead-lettered, not read.
secret = PayloadPointer("someone-elses-bucket", "payroll.csv")
backend.send_raw("reports", secret.body(), {"ExtendedPayloadSize": 1024})
# 3. A size attribute on something that is not a pointer: dead-lettered.
backend.send_raw("reports", "not a pointer", {"ExtendedPayloadSize": 13})

dispatcher.process_available("reports")
for number, dead in enumerate(backend.peek("reports-dlq"), 1):
    reason = dead_letter_reason(dead.attributes) or ""
    print(f"{number}. {reason.replace(message_id, '<message id>')}")
