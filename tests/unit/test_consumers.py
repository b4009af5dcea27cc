"""Consumers: handlers chosen by the annotated message type, or one callable for everything."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

import melange
from melange import (
    Consumer,
    MessageContext,
    MessageDispatcher,
    QueuePublisher,
    consumer,
)
from melange.backends import InMemoryBackend
from melange.exceptions import ConfigurationError
from melange.serializers import JsonSerializer, SerializerRegistry


class Base:
    """A message type with subclasses."""


class Child(Base):
    """A subclass of ``Base``."""


class GrandChild(Child):
    """A subclass of ``Child``."""


class Unrelated:
    """A message type no test consumer declares."""


class OrderPlaced:
    """One side of a union annotation."""


class OrderCancelled:
    """The other side of a union annotation."""


class FamilyConsumer(Consumer):
    """Handles ``Base`` and, more specifically, ``Child``; records who handled what."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.handled: list[tuple[str, object]] = []

    @consumer
    def on_base(self, message: Base) -> None:
        self.handled.append(("base", message))

    @consumer
    def on_child(self, message: Child) -> None:
        self.handled.append(("child", message))


class OrderConsumer(Consumer):
    """Handles both order events with one ``A | B`` handler."""

    def __init__(self) -> None:
        super().__init__()
        self.handled: list[object] = []

    @consumer
    def on_order(self, event: OrderPlaced | OrderCancelled) -> None:
        self.handled.append(event)


class OverridingConsumer(FamilyConsumer):
    """Overrides the ``Base`` handler by name and adds a second ``Child`` handler."""

    @consumer
    def on_base(self, message: Base) -> None:
        self.handled.append(("overridden base", message))

    @consumer
    def on_child_again(self, message: Child) -> None:
        self.handled.append(("overriding child", message))


def record_into(handled: list[object]) -> Any:
    """Return a callable that appends every message it gets to ``handled``."""

    def on_message(message: object) -> None:
        handled.append(message)

    return on_message


def test_the_handler_for_the_annotated_type_runs() -> None:
    """A message goes to the ``@consumer`` method whose parameter names its type."""
    family = FamilyConsumer()
    base, child = Base(), Child()
    family.process(base)
    family.process(child)
    assert family.handled == [("base", base), ("child", child)]


def test_the_most_specific_type_in_the_mro_wins() -> None:
    """A GrandChild goes to the Child handler, not the Base one, whatever the method order."""
    family = FamilyConsumer()
    grandchild = GrandChild()
    family.process(grandchild)
    assert family.handled == [("child", grandchild)]


def test_handled_types_lists_the_declared_types() -> None:
    """``handled_types`` holds exactly the types the ``@consumer`` methods declare."""
    assert set(FamilyConsumer().handled_types) == {Base, Child}
    assert set(OrderConsumer().handled_types) == {OrderPlaced, OrderCancelled}


def test_a_union_annotation_handles_each_member() -> None:
    """A handler annotated ``A | B`` accepts and handles both types."""
    orders = OrderConsumer()
    placed, cancelled = OrderPlaced(), OrderCancelled()
    assert orders.accepts(placed)
    assert orders.accepts(cancelled)
    orders.process(placed)
    orders.process(cancelled)
    assert orders.handled == [placed, cancelled]


def test_a_subclass_overrides_its_bases_handlers() -> None:
    """A subclass's handler replaces the base class's for the same type, by name or not."""
    overriding = OverridingConsumer()
    base, child, grandchild = Base(), Child(), GrandChild()
    overriding.process(base)
    overriding.process(child)
    overriding.process(grandchild)
    assert overriding.handled == [
        ("overridden base", base),
        ("overriding child", child),
        ("overriding child", grandchild),
    ]


def test_an_override_with_a_narrower_type_drops_the_base_type() -> None:
    """Overriding ``on_base(Base)`` with ``on_base(Child)`` leaves no handler for Base."""

    class NarrowingConsumer(FamilyConsumer):
        @consumer
        def on_base(self, message: Child) -> None:
            self.handled.append(("narrowed", message))

    narrowing = NarrowingConsumer()
    assert not narrowing.accepts(Base())


def test_on_message_handles_everything() -> None:
    """``Consumer(on_message=fn)`` accepts any message and passes each to ``fn``."""
    handled: list[object] = []
    everything = Consumer(on_message=record_into(handled))
    messages = [Base(), Unrelated(), {"n": 1}, "text", 42, None]
    assert all(everything.accepts(message) for message in messages)
    for message in messages:
        everything.process(message)
    assert handled == messages


def test_on_message_handles_the_types_the_methods_do_not() -> None:
    """With handlers and ``on_message``, the handlers keep their types and the rest fall through."""
    fallback: list[object] = []
    family = FamilyConsumer(on_message=record_into(fallback))
    child, unrelated = Child(), Unrelated()
    assert family.accepts(unrelated)
    family.process(child)
    family.process(unrelated)
    assert family.handled == [("child", child)]
    assert fallback == [unrelated]


def test_an_unhandled_type_is_not_accepted_and_process_names_the_consumer() -> None:
    """``accepts`` is False for an undeclared type, and ``process`` raises naming the consumer."""
    family = FamilyConsumer(name="family-consumer")
    assert not family.accepts(Unrelated())
    with pytest.raises(ConfigurationError, match=r"'family-consumer'.*Unrelated"):
        family.process(Unrelated())
    assert family.handled == []


def test_a_handler_without_an_annotated_parameter_is_refused_at_construction() -> None:
    """A ``@consumer`` method whose message parameter has no annotation raises on construction."""

    class Unannotated(Consumer):
        @consumer
        def on_anything(self, message) -> None:
            """Declare no type."""

    with pytest.raises(ConfigurationError, match=r"Unannotated\.on_anything"):
        Unannotated()


def test_a_misspelt_annotation_names_the_handler_the_name_and_the_closest_type() -> None:
    """A forward reference naming no type is a ConfigurationError naming Class.method."""

    class Tickets(Consumer):
        @consumer
        def on_order(self, event: OrderPlacd) -> None:  # type: ignore[name-defined]  # noqa: F821
            """Name a type that does not exist."""

    with pytest.raises(ConfigurationError) as caught:
        Tickets()

    message = str(caught.value)
    assert "Tickets.on_order is annotated with 'OrderPlacd'" in message
    assert "did you mean 'OrderPlaced'?" in message
    assert isinstance(caught.value.__cause__, NameError)
    (problem,) = caught.value.problems
    assert problem.setting.endswith("Tickets.on_order")
    assert problem.value == "OrderPlacd"


def test_a_handler_without_a_message_parameter_is_refused_at_construction() -> None:
    """A ``@consumer`` method that takes only ``self`` raises on construction."""

    class NoParameter(Consumer):
        @consumer
        def on_nothing(self) -> None:
            """Take no message."""

    with pytest.raises(ConfigurationError, match=r"NoParameter\.on_nothing"):
        NoParameter()


def test_the_name_defaults_to_the_module_and_qualified_class_name() -> None:
    """A subclass's default name is ``module.QualName``."""
    assert FamilyConsumer().name == f"{__name__}.FamilyConsumer"


def test_the_name_of_a_callable_consumer_defaults_to_the_callables() -> None:
    """``Consumer(on_message=fn)`` is named ``fn``'s ``module.qualname``."""
    assert (
        Consumer(on_message=record_into([])).name == f"{__name__}.record_into.<locals>.on_message"
    )


def test_the_name_can_be_given() -> None:
    """An explicit ``name`` wins over the default, for subclasses and callables alike."""
    assert FamilyConsumer(name="orders-v1").name == "orders-v1"
    assert Consumer(on_message=record_into([]), name="audit").name == "audit"


def test_the_class_and_the_decorator_are_exported() -> None:
    """``Consumer`` and ``consumer`` come from melange (melange 7's name: test_compat.py)."""
    assert melange.Consumer is Consumer
    assert melange.consumer is consumer


def test_accepts_can_be_overridden_to_filter() -> None:
    """A subclass's ``accepts`` can refuse messages its handlers' types would cover."""

    class BigOrdersOnly(Consumer):
        def __init__(self) -> None:
            super().__init__()
            self.handled: list[dict[str, int]] = []

        def accepts(self, message: Any) -> bool:
            return super().accepts(message) and message["amount"] >= 100

        @consumer
        def on_order(self, order: dict[str, int]) -> None:
            self.handled.append(order)

    big_orders = BigOrdersOnly()
    assert big_orders.handled_types == (dict,)
    assert big_orders.accepts({"amount": 100})
    assert not big_orders.accepts({"amount": 99})
    assert not big_orders.accepts(Unrelated())
    big_orders.process({"amount": 150})
    assert big_orders.handled == [{"amount": 150}]


# --- attaching: a consumer whose Consumer.__init__ never ran is refused -------------------


class Forgetful(Consumer):
    """Sets its own state but forgets ``super().__init__()`` (the trap)."""

    def __init__(self, repository: list[object]) -> None:
        self.repository = repository

    @consumer
    def on_base(self, message: Base) -> None:
        self.repository.append(message)


class Orders(Consumer):
    """A consumer of plain dicts."""

    def __init__(self) -> None:
        super().__init__()
        self.handled: list[object] = []

    @consumer
    def on_order(self, order: dict[str, int]) -> None:
        self.handled.append(order)


def json_dispatcher(consumers: list[Any] | None = None) -> MessageDispatcher:
    """Return a dispatcher on a fresh in-memory backend with queue 'q' and a JSON registry."""
    backend = InMemoryBackend()
    backend.declare_queue("q")
    registry = SerializerRegistry({"serializers": {"json": JsonSerializer}})
    return MessageDispatcher(registry, backend, consumers=consumers or [])


def test_a_consumer_that_skipped_init_is_refused_by_the_dispatcher_constructor() -> None:
    """``consumers=[...]`` refuses a subclass whose ``__init__`` skipped ``Consumer.__init__``."""
    with pytest.raises(ConfigurationError) as info:
        json_dispatcher([Forgetful([])])
    assert "'Forgetful'" in str(info.value)
    assert "call super().__init__() in Forgetful.__init__" in str(info.value)


def test_a_consumer_that_skipped_init_is_refused_by_attach_consumer() -> None:
    """``attach_consumer`` refuses a subclass whose ``__init__`` skipped ``Consumer.__init__``."""
    dispatcher = json_dispatcher()
    with pytest.raises(ConfigurationError, match=r"super\(\)\.__init__\(\) in Forgetful"):
        dispatcher.attach_consumer(Forgetful([]))


def test_an_object_that_is_not_a_consumer_is_refused_when_attached() -> None:
    """A plain function given as a consumer is refused with the way to wrap it."""
    with pytest.raises(ConfigurationError, match=r"Consumer\(on_message="):
        json_dispatcher([print])
    with pytest.raises(ConfigurationError, match=r"Consumer\(on_message="):
        json_dispatcher().attach_consumer(print)  # type: ignore[arg-type]


def test_properly_initialised_consumers_of_every_kind_attach_and_handle_messages() -> None:
    """Decorated subclasses, inherited or own ``__init__``, and callables attach and handle."""
    family, overriding, orders = FamilyConsumer(), OverridingConsumer(), Orders()
    handled: list[object] = []
    dispatcher = json_dispatcher([family, overriding, orders])
    dispatcher.attach_consumer(Consumer(on_message=record_into(handled)))
    QueuePublisher(
        SerializerRegistry({"serializers": {"json": JsonSerializer}}), dispatcher.backend
    ).publish("q", {"amount": 3})

    assert dispatcher.process_available("q") == 1
    assert orders.handled == [{"amount": 3}]
    assert handled == [{"amount": 3}]
    assert family.handled == overriding.handled == []


# -- MessageContext ----------------------------------------------------------------------


def _context(**overrides: Any) -> MessageContext:
    values: dict[str, Any] = {
        "message_id": "m-1",
        "broker_message_id": "b-1",
        "receive_count": 1,
        "queue_name": "orders",
    }
    return MessageContext(**(values | overrides))


class ContextConsumer(Consumer):
    """Handles ``Base`` with the context, ``Unrelated`` without."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[Any, MessageContext | None]] = []

    @consumer
    def on_base(self, message: Base, context: MessageContext) -> None:
        self.seen.append((message, context))

    @consumer
    def on_unrelated(self, message: Unrelated) -> None:
        self.seen.append((message, None))


def test_a_handler_annotated_with_a_context_receives_it() -> None:
    """A second parameter annotated MessageContext is given the dispatcher's context."""
    target, message, context = ContextConsumer(), Child(), _context(receive_count=3)
    target.process(message, context)
    target.process(unrelated := Unrelated(), context)
    assert target.seen == [(message, context), (unrelated, None)]
    assert target.handled_types == (Base, Unrelated)


def test_a_handler_that_takes_a_context_refuses_to_run_without_one() -> None:
    """Calling process without a context, for a handler that takes one, names what to pass."""
    with pytest.raises(ConfigurationError, match="takes a MessageContext"):
        ContextConsumer().process(Base())


def test_a_second_parameter_that_is_not_a_context_is_refused_at_construction() -> None:
    """A handler's extra parameter melange cannot fill is refused when the consumer is built."""

    class Bad(Consumer):
        @consumer
        def on_base(self, message: Base, retries: int) -> None:
            raise AssertionError("never called")

    with pytest.raises(ConfigurationError, match=r"Bad.on_base has a parameter 'retries'"):
        Bad()


def test_the_topic_name_is_the_last_part_of_the_topic_arn() -> None:
    """topic_name reads the ARN; without SNS there is none."""
    arn = "arn:aws:sns:eu-west-1:123456789012:shop-orders"
    assert _context(sns_topic_arn=arn).topic_name == "shop-orders"
    assert _context().topic_name is None


def test_a_process_override_without_a_context_still_runs_under_the_dispatcher() -> None:
    """A melange 7 style override of process(message) is called without the context."""

    class Legacy(Consumer):
        def __init__(self) -> None:
            super().__init__(on_message=lambda message: None)
            self.seen: list[Any] = []

        def process(self, message: Any) -> None:  # type: ignore[override]
            self.seen.append(message)

    registry = SerializerRegistry({"serializers": {"json": JsonSerializer}})
    backend = InMemoryBackend()
    backend.declare_queue("q")
    QueuePublisher(registry, backend).publish("q", {"n": 1})
    legacy = Legacy()
    assert MessageDispatcher(registry, backend, consumers=[legacy]).process_available("q") == 1
    assert legacy.seen == [{"n": 1}]
    assert backend.message_count("q") == 0


def test_the_dispatcher_gives_a_handler_the_context_of_its_message() -> None:
    """Through the dispatcher, the context carries the ids, count, attributes and sent time."""
    registry = SerializerRegistry({"serializers": {"json": JsonSerializer}})
    backend = InMemoryBackend()
    backend.declare_queue("q")
    before = datetime.now(UTC)
    message_id = QueuePublisher(registry, backend).publish(
        "q", {"n": 1}, attributes={"tenant": "acme"}
    )

    class Recording(Consumer):
        def __init__(self) -> None:
            super().__init__()
            self.contexts: list[MessageContext] = []

        @consumer
        def on_dict(self, message: dict[str, int], context: MessageContext) -> None:
            self.contexts.append(context)

    recording = Recording()
    MessageDispatcher(registry, backend, consumers=[recording]).process_available("q")
    [context] = recording.contexts
    assert (context.message_id, context.receive_count, context.queue_name) == (message_id, 1, "q")
    assert context.attributes == {"tenant": "acme"}
    assert context.sent_at is not None and before <= context.sent_at <= datetime.now(UTC)
    assert context.sns_topic_arn is None
