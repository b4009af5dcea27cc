from melange import QueuePublisher
from melange.backends import InMemoryBackend
from melange.serializers import JsonSerializer, SerializerRegistry

registry = SerializerRegistry({"serializers": {"json": JsonSerializer}})
backend = InMemoryBackend()
backend.declare_queue("invoices")
publisher = QueuePublisher(registry, backend)

ids = publisher.publish_many("invoices", ({"invoice": n} for n in range(25)))

print(f"{len(ids)} ids, one per item, in the items' order; all distinct: {len(set(ids)) == 25}")
