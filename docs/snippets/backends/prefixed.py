"""PrefixedBackend puts every queue and topic name under a prefix; the code keeps its names.

``MELANGE_PREFIX=staging-`` wraps the backend of the settings the same way.
"""

from melange import QueuePublisher
from melange.backends import InMemoryBackend, PrefixedBackend
from melange.exceptions import QueueNotFoundError
from melange.serializers import JsonSerializer, SerializerRegistry

broker = InMemoryBackend()
staging = PrefixedBackend(broker, "staging-")
staging.declare_queue("billing", dead_letter_queue="billing-dlq")

registry = SerializerRegistry({"serializers": {"json": JsonSerializer}})
QueuePublisher(registry, staging).publish("billing", {"refund": 42})

print("the broker holds", [m.queue_name for m in broker.receive("staging-billing")])
print("dead letters go to", staging.redrive_policy("billing").dead_letter_queue)
try:
    QueuePublisher(registry, staging).publish("refunds", {"refund": 43})
except QueueNotFoundError as exc:
    print(f"{type(exc).__name__}: {exc}")
    print("broker_name:", exc.broker_name)
