"""What a dispatcher reads its consumers' messages with, checked when it is built.

``register_handled_types`` teaches the registry every class a consumer's handlers name, so
a worker reads the messages its handlers take without binding their classes, and refuses
a class it could never read, at start, instead of dead-lettering each of its messages.
``foreign_reader`` (``melange.serializers.foreign``) reads the queue's foreign messages.
Both dispatchers call these when a consumer is attached; no I/O.
"""

from __future__ import annotations

from melange.consuming.consumers import Consumer
from melange.exceptions import Problem, SerializerConfigurationError
from melange.serializers.foreign import Foreign, foreign_types, is_message_class
from melange.serializers.registry import SerializerRegistry

__all__ = ["register_handled_types"]


def register_handled_types(
    consumer: Consumer, registry: SerializerRegistry, foreign: Foreign | None
) -> None:
    """Register the classes ``consumer``'s handlers name with ``registry``; refuse unreadable ones.

    Each class is registered as ``SerializerRegistry.register`` says. An attrs class,
    dataclass or pydantic model that no serializer of the registry rebuilds, and that the
    queue's ``foreign`` does not read foreign messages as, could reach no handler: every
    message of it would be dead-lettered.

    Raises:
        SerializerConfigurationError: naming the consumer, those classes and the fix.
    """
    covered = foreign_types(foreign) if foreign is not None else ()
    unreadable: list[type] = []
    for cls in consumer.handled_types:
        if not isinstance(cls, type) or registry.register(cls) or not is_message_class(cls):
            continue  # readable, or not a class a serializer must be taught
        if covered is not None and not any(issubclass(c, cls) for c in covered):
            unreadable.append(cls)  # and no foreign message is read as it either
    if not unreadable:
        return
    names = ", ".join(cls.__qualname__ for cls in unreadable)
    raise SerializerConfigurationError(
        f"consumer {consumer.name!r} handles {names}, which no serializer of the registry "
        "reads back, so each such message would be dead-lettered; bind it to the serializer "
        "its publishers use (serializer_bindings; in a graph, melange_serializer_bindings) "
        "and add that serializer if it is missing (a pydantic model needs "
        "PydanticSerializer: MelangeBindingSpec(serializers={'pydantic': "
        "PydanticSerializer})), or read the queue's foreign messages as it "
        f"(Subscription(..., foreign={unreadable[0].__qualname__}))",
        problems=[
            Problem(
                f"{consumer.name} handler",
                cls.__qualname__,
                "a class a serializer of the registry rebuilds",
            )
            for cls in unreadable
        ],
    )
