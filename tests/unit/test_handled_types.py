"""A worker reads the classes its handlers name, or refuses to start naming those it cannot.

A publisher's graph binds its message classes; a worker's graph need not: attaching a
consumer registers each attrs class, dataclass or pydantic model its handlers name with the
registry's typed serializers. A class none of them rebuilds is refused when the dispatcher
is built, and so is a consumer with no handler at all.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import pinject
import pytest
from pydantic import BaseModel

from melange import Consumer, MessageDispatcher, QueuePublisher, Subscription, consumer
from melange.aio import AsyncInMemoryBackend
from melange.app.application import Application
from melange.app.topology import derive_topology
from melange.backends import InMemoryBackend
from melange.consuming.aio_dispatcher import AsyncMessageDispatcher
from melange.exceptions import ConfigurationError, SerializerConfigurationError
from melange.serializers import (
    JsonSerializer,
    PydanticSerializer,
    SerializerRegistry,
    TypedJsonSerializer,
)
from melange.settings import MelangeSettings
from melange_bindings import MelangeBindingSpec, ObjectGraph, new_object_graph
from tests.support.messaging import json_registry


@attrs.frozen
class TicketReserved:
    """An attrs event."""

    ticket: int


@dataclasses.dataclass(frozen=True)
class TicketCancelled:
    """A dataclass event."""

    ticket: int


class SeatChanged(BaseModel):
    """A pydantic event."""

    ticket: int
    seat: str


@attrs.frozen
class VipTicketReserved(TicketReserved):
    """A subclass of a bound class, named by a handler of its own."""

    lounge: str


class Tickets(Consumer):
    """Handles the ticket events, recording them."""

    subscription = Subscription("tickets", dead_letter_queue="tickets-dlq")

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[object] = []

    @consumer
    def on_ticket(self, event: TicketReserved | TicketCancelled) -> None:
        self.seen.append(event)

    @consumer
    def on_vip(self, event: VipTicketReserved) -> None:
        self.seen.append(event)


class Seats(Tickets):
    """Handles seat changes as well."""

    @consumer
    def on_seat(self, event: SeatChanged) -> None:
        self.seen.append(event)


class ConsumersSpec(pinject.BindingSpec):
    """The worker's consumers; no serializer bindings."""

    def __init__(self, consumers: Sequence[Consumer]) -> None:
        self._consumers = list(consumers)

    def provide_melange_consumers(self) -> Sequence[Consumer]:
        """The consumers given."""
        return self._consumers


class BindingsSpec(pinject.BindingSpec):
    """The publisher's serializer bindings."""

    def __init__(self, bindings: Mapping[type, str]) -> None:
        self._bindings = dict(bindings)

    def provide_melange_serializer_bindings(self) -> Mapping[type, str]:
        """The bindings given."""
        return self._bindings


def graph(
    backend: InMemoryBackend, *specs: pinject.BindingSpec, pydantic: bool = False
) -> ObjectGraph:
    """Return a graph on ``backend`` (with PydanticSerializer as 'pydantic' if asked)."""
    extras: dict[str, Any] = {"pydantic": PydanticSerializer} if pydantic else {}
    melange = MelangeBindingSpec(settings=MelangeSettings(), backend=backend, serializers=extras)
    return new_object_graph(binding_specs=list(specs), melange=melange)


def typed_registry() -> SerializerRegistry:
    """Return a registry like a graph's, without pydantic: json (the default) and typed_json."""
    return SerializerRegistry(
        {
            "serializers": {"json": JsonSerializer, "typed_json": TypedJsonSerializer},
            "default": "json",
        }
    )


def run_worker_once(app: Application) -> None:
    """Handle what each queue of the application's worker holds now."""
    for queue, dispatcher in app.worker().queues:
        dispatcher.process_available(queue)


def test_a_worker_reads_the_classes_its_handlers_name_without_binding_them() -> None:
    """Published by a graph that binds them, read by a worker's graph that binds nothing."""
    backend = InMemoryBackend()
    bindings = {TicketReserved: "typed_json", TicketCancelled: "typed_json"}
    publisher = graph(backend, BindingsSpec(bindings)).provide(QueuePublisher)
    tickets = Tickets()
    app = graph(backend, ConsumersSpec([tickets])).provide(Application)
    app.declare()
    publisher.publish("tickets", TicketReserved(1))
    publisher.publish("tickets", TicketCancelled(2))

    run_worker_once(app)

    assert tickets.seen == [TicketReserved(1), TicketCancelled(2)]
    assert backend.message_count("tickets-dlq") == 0


def test_a_pydantic_model_is_read_by_a_worker_whose_graph_has_the_pydantic_serializer() -> None:
    """Published through a binding to 'pydantic', read by a worker that only has the serializer."""
    backend = InMemoryBackend()
    publisher = graph(backend, BindingsSpec({SeatChanged: "pydantic"}), pydantic=True).provide(
        QueuePublisher
    )
    seats = Seats()
    app = graph(backend, ConsumersSpec([seats]), pydantic=True).provide(Application)
    app.declare()
    publisher.publish("tickets", SeatChanged(ticket=3, seat="12A"))

    run_worker_once(app)

    assert seats.seen == [SeatChanged(ticket=3, seat="12A")]


def test_a_worker_refuses_to_start_naming_a_class_no_serializer_of_its_graph_reads() -> None:
    """Without PydanticSerializer a pydantic model cannot be read: refused, not dead-lettered."""
    app = graph(InMemoryBackend(), ConsumersSpec([Seats()])).provide(Application)

    with pytest.raises(SerializerConfigurationError) as refused:
        app.worker()

    message = str(refused.value)
    assert f"consumer '{__name__}.Seats' handles SeatChanged, which no serializer" in message
    assert "MelangeBindingSpec(serializers={'pydantic': PydanticSerializer})" in message
    assert [p.value for p in refused.value.problems] == ["SeatChanged"]


def test_a_subclass_of_a_bound_class_is_registered_with_the_serializer_of_its_base() -> None:
    """Both graphs bind TicketReserved; the worker reads VipTicketReserved through its base's."""
    backend = InMemoryBackend()
    bindings = BindingsSpec({TicketReserved: "typed_json"})
    publisher = graph(backend, bindings).provide(QueuePublisher)
    tickets = Tickets()
    app = graph(backend, ConsumersSpec([tickets]), bindings).provide(Application)
    app.declare()
    publisher.publish("tickets", VipTicketReserved(4, lounge="north"))

    run_worker_once(app)

    assert tickets.seen == [VipTicketReserved(4, lounge="north")]


def test_registering_a_class_teaches_every_serializer_that_takes_it() -> None:
    """An unbound attrs class goes to each typed serializer; a pydantic model to pydantic's."""
    typed, pydantic = TypedJsonSerializer(), PydanticSerializer()
    registry = SerializerRegistry(
        {"serializers": {"typed_json": typed, "pydantic": pydantic}, "default": "typed_json"}
    )

    assert registry.register(TicketReserved) == (typed,)
    assert registry.register(SeatChanged) == (pydantic,)
    assert registry.register(dict) == ()
    assert TicketReserved in typed.known_types
    assert SeatChanged in pydantic.known_types


def test_a_class_bound_to_a_serializer_without_register_is_left_to_it() -> None:
    """A binding is trusted: the serializer it names reads the class; no other learns it."""
    typed = TypedJsonSerializer()
    registry = SerializerRegistry(
        {
            "serializers": {"json": JsonSerializer, "typed_json": typed},
            "serializer_bindings": {TicketReserved: "json"},
        }
    )

    assert registry.register(TicketReserved) == (registry.serializers["json"],)
    assert TicketReserved not in typed.known_types


def test_a_class_the_queues_foreign_messages_are_read_as_is_not_refused() -> None:
    """A model no serializer reads is still reached through foreign=, so it is not refused."""
    seats = Seats()

    dispatcher = MessageDispatcher(
        typed_registry(), InMemoryBackend(), consumers=[seats], foreign=SeatChanged
    )

    assert dispatcher.options.foreign is SeatChanged


def seat_from(value: Any) -> SeatChanged:
    """Read a foreign message as a seat change."""
    return SeatChanged.model_validate(value)


def ticket_from(value: Any) -> TicketReserved:
    """Read a foreign message as a reservation."""
    return TicketReserved(value["ticket"])


def anything_from(value: Any):  # no return annotation: what it returns is unknown
    """Read a foreign message as whatever it holds."""
    return value


def test_a_foreign_function_covers_the_classes_its_return_annotation_names() -> None:
    """-> SeatChanged reaches on_seat; -> TicketReserved does not; no annotation: unknown."""
    for covering in (seat_from, anything_from):
        MessageDispatcher(
            typed_registry(), InMemoryBackend(), consumers=[Seats()], foreign=covering
        )

    with pytest.raises(SerializerConfigurationError, match="handles SeatChanged"):
        MessageDispatcher(
            typed_registry(), InMemoryBackend(), consumers=[Seats()], foreign=ticket_from
        )


def test_the_asyncio_dispatcher_refuses_an_unreadable_class_too() -> None:
    """AsyncMessageDispatcher refuses the same consumer when it is attached."""

    async def build() -> None:
        AsyncMessageDispatcher(typed_registry(), AsyncInMemoryBackend(), consumers=[Seats()])

    with pytest.raises(SerializerConfigurationError, match="handles SeatChanged"):
        asyncio.run(build())


class Silent(Consumer):
    """No @consumer method, no on_message, no process of its own."""

    subscription = Subscription("silent")

    def accepts(self, message: Any) -> bool:
        """Accepts everything, and has nothing to handle it with."""
        return True


class Processing(Consumer):
    """No @consumer method, but a process of its own (melange 7's style)."""

    def process(self, message: Any, context: Any = None) -> None:
        """Handle anything."""


def test_a_consumer_without_any_handler_is_refused_when_attached() -> None:
    """A consumer that could handle no message is refused by dispatchers and topologies."""
    expected = "consumer class 'Silent' has no @consumer method, no on_message and no process"
    with pytest.raises(ConfigurationError, match=expected):
        MessageDispatcher(json_registry(), InMemoryBackend(), consumers=[Silent()])
    with pytest.raises(ConfigurationError, match=expected):
        derive_topology([Silent()])
    with pytest.raises(ConfigurationError, match="class 'Consumer' has no @consumer method"):
        MessageDispatcher(json_registry(), InMemoryBackend(), consumers=[Consumer()])
    # A process of its own, or on_message, is a handler.
    MessageDispatcher(
        json_registry(), InMemoryBackend(), consumers=[Processing(), Consumer(on_message=print)]
    )
