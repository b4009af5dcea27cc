"""InMemoryBackend is a backend with SQS's rules, not a mock: a message comes back, then moves.

The clock is a function the test controls, so a 30 s visibility timeout passes at once.
"""

from melange import QueuePublisher, wire
from melange.backends import InMemoryBackend
from melange.serializers import JsonSerializer, SerializerRegistry


class Clock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


clock = Clock()
backend = InMemoryBackend(clock=clock)
backend.declare_queue(
    "billing", dead_letter_queue="billing-dlq", max_receive_count=2, visibility_timeout=30
)
registry = SerializerRegistry({"serializers": {"json": JsonSerializer}})
QueuePublisher(registry, backend).publish("billing", {"refund": 42})

for _ in range(3):
    received = backend.receive("billing", wait_time_seconds=0)  # nobody acknowledges it
    print(f"t={clock.now:>4}s billing gives", [m.receive_count for m in received])
    print(f"t={clock.now:>4}s billing again", backend.receive("billing", wait_time_seconds=0))
    clock.now += 30  # the visibility timeout ends

(dead,) = backend.receive("billing-dlq", wait_time_seconds=0)
print("billing-dlq holds", wire.unwrap(dead).content)
