import attrs
from pydantic import BaseModel

from melange import Consumer, MessageDispatcher, QueuePublisher, consumer
from melange.backends import InMemoryBackend
from melange.exceptions import ConfigurationError
from melange.serializers import JsonSerializer, SerializerRegistry, TypedJsonSerializer


@attrs.frozen
class TicketReserved:
    ticket: int


class SeatChanged(BaseModel):
    ticket: int
    seat: str


class Tickets(Consumer):
    @consumer
    def on_reserved(self, event: TicketReserved) -> None:
        print(f"tickets: {event}")


def registry(bindings: dict[type, str]) -> SerializerRegistry:  # like a graph's
    return SerializerRegistry(
        {
            "serializers": {"json": JsonSerializer, "typed_json": TypedJsonSerializer},
            "serializer_bindings": bindings,
            "default": "json",
        }
    )


backend = InMemoryBackend()
backend.declare_queue("tickets", dead_letter_queue="tickets-dlq")
# The publishing service binds its class; the worker, another process, binds nothing.
QueuePublisher(registry({TicketReserved: "typed_json"}), backend).publish(
    "tickets", TicketReserved(7)
)
worker = MessageDispatcher(registry({}), backend, consumers=[Tickets()])
worker.process_available("tickets")
print(worker.stats)


class Seats(Consumer):
    @consumer
    def on_seat(self, event: SeatChanged) -> None: ...


try:  # no serializer of this registry rebuilds a pydantic model
    MessageDispatcher(registry({}), backend, consumers=[Seats()])
except ConfigurationError as refused:
    print(f"refused: {refused}")
