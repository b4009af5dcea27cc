import attrs

from melange import QueuePublisher, TopicPublisher
from melange.backends import InMemoryBackend
from melange.exceptions import NotReadableByMelange7Error
from melange.serializers import JsonSerializer, SerializerRegistry, TypedJsonSerializer


@attrs.frozen
class OrderPlaced:
    order_id: int


registry = SerializerRegistry(
    {
        "serializers": {"json": JsonSerializer, "typed_json": TypedJsonSerializer},
        "serializer_bindings": {OrderPlaced: "typed_json"},
        "default": "json",
    }
)
backend = InMemoryBackend()
backend.declare_queue("legacy", topics=["legacy-events"])
queue = QueuePublisher(registry, backend, readable_by_melange7=True)
topic = TopicPublisher(registry, backend, readable_by_melange7=True)

queue.publish("legacy", {"order_id": 1})  # json: melange 7.x reads it

try:
    queue.publish("legacy", OrderPlaced(2))  # typed JSON: 7.x has no serializer 3
except NotReadableByMelange7Error as exc:
    print(f"refused {exc.manifest} for {exc.destination!r}: serializer_id {exc.serializer_id}")

try:
    topic.publish("legacy-events", {"Message": "hi"})  # 7.x would read the escaped wrapper
except NotReadableByMelange7Error as exc:
    print(f"refused {exc.manifest} for {exc.destination!r}: a JSON object with a 'Message' key")
