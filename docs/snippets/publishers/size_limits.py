from melange import QueuePublisher, TopicPublisher
from melange.backends import InMemoryBackend
from melange.exceptions import MessageTooLargeError
from melange.serializers import JsonSerializer, SerializerRegistry

registry = SerializerRegistry({"serializers": {"json": JsonSerializer}})
backend = InMemoryBackend()
backend.declare_queue("reports", topics=["report-events"])

report = {"rows": "x" * 300_000}  # about 300 KB of JSON
QueuePublisher(registry, backend).publish("reports", report)
print("to the queue: sent")

try:
    TopicPublisher(registry, backend).publish("report-events", report)
except MessageTooLargeError as exc:
    print(f"to the topic: {exc.size:,} bytes, over its limit of {exc.limit:,}")
    print(f"retry on BackendError? no: it is a {type(exc).__mro__[1].__name__}")

try:
    QueuePublisher(registry, backend).publish("reports", {"rows": "x" * 1_048_576})
except MessageTooLargeError as exc:
    print(f"to the queue: {exc.size:,} bytes, over its limit of {exc.limit:,}")
