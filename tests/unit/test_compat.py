"""melange 7's names and keywords: they still work, and each warns naming the new one.

melange 7.x code is never run here: these are the names its README and ``__init__``
exported, used the way 7.x applications used them.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

import pytest

import melange
import melange.backends
from melange import AckPolicy, Consumer, MessageDispatcher, QueuePublisher, consumer
from melange.aio import AsyncInMemoryBackend, AsyncMessageDispatcher
from melange.backends import InMemoryBackend
from melange.exceptions import ConfigurationError, Problem
from melange.serializers import JsonSerializer, SerializerRegistry

#: (module, melange 7 name, what it is in melange 8, what the warning tells to write).
OLD_NAMES = [
    ("melange", "SingleDispatchConsumer", Consumer, "melange.Consumer"),
    ("melange.backends", "InMemoryMessagingBackend", InMemoryBackend, "InMemoryBackend"),
    ("melange", "SimpleMessageDispatcher", None, r"consumers=\[consumer\]"),
]


@pytest.fixture(name="registry")
def fixture_registry() -> SerializerRegistry:
    """Give a JSON-only registry."""
    return SerializerRegistry({"serializers": {"json": JsonSerializer}})


@pytest.fixture(name="backend")
def fixture_backend() -> InMemoryBackend:
    """Give a backend with queue 'q'."""
    backend = InMemoryBackend()
    backend.declare_queue("q")
    return backend


@pytest.mark.parametrize(("module", "name", "now", "instead"), OLD_NAMES)
def test_an_old_name_warns_naming_the_new_one(
    module: str, name: str, now: type | None, instead: str
) -> None:
    """Each melange 7 name resolves from its 7.x module, warning with the name to use instead."""
    with pytest.warns(DeprecationWarning, match=instead) as caught:
        found = getattr(importlib.import_module(module), name)

    assert found is now or now is None
    assert f"{name} is melange 7's name" in str(caught[0].message)
    assert caught[0].filename == __file__  # points at the user's line, not melange's


def test_from_import_of_an_old_name_warns_once_at_the_import() -> None:
    """``from melange import SingleDispatchConsumer`` warns once, on the importing line."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from melange import SingleDispatchConsumer

    assert SingleDispatchConsumer is Consumer
    assert [(w.category, w.filename) for w in caught] == [(DeprecationWarning, __file__)]


def test_old_names_are_out_of_the_public_lists() -> None:
    """The old names are not in ``__all__`` (a star import does not warn) nor primary modules."""
    import melange.backends.memory.backend
    import melange.consuming.consumers
    import melange.consuming.dispatcher

    assert "SingleDispatchConsumer" not in melange.__all__
    assert "SimpleMessageDispatcher" not in melange.__all__
    assert "InMemoryMessagingBackend" not in melange.backends.__all__
    assert not hasattr(melange.consuming.consumers, "SingleDispatchConsumer")
    assert not hasattr(melange.consuming.dispatcher, "SimpleMessageDispatcher")
    assert not hasattr(melange.backends.memory.backend, "InMemoryMessagingBackend")


def test_a_consumer_subclassing_the_old_name_handles_messages(
    registry: SerializerRegistry, backend: InMemoryBackend
) -> None:
    """A 7.x consumer class derived from SingleDispatchConsumer is a Consumer and handles."""
    with pytest.warns(DeprecationWarning, match="SingleDispatchConsumer"):
        base: Any = melange.SingleDispatchConsumer

    class LegacyOrders(base):  # type: ignore[misc]
        """A consumer written against melange 7's name."""

        def __init__(self) -> None:
            super().__init__()
            self.handled: list[object] = []

        @consumer
        def on_order(self, order: dict[str, int]) -> None:
            self.handled.append(order)

    orders = LegacyOrders()
    QueuePublisher(registry, backend).publish("q", {"amount": 3})

    assert MessageDispatcher(registry, backend, consumers=[orders]).process_available("q") == 1
    assert orders.handled == [{"amount": 3}]


def test_simple_message_dispatcher_runs_its_one_consumer(
    registry: SerializerRegistry, backend: InMemoryBackend
) -> None:
    """SimpleMessageDispatcher(consumer, registry, backend) is a one-consumer MessageDispatcher."""
    handled: list[object] = []
    QueuePublisher(registry, backend).publish_many("q", [{"n": 1}, {"n": 2}])
    with pytest.warns(DeprecationWarning, match="SimpleMessageDispatcher"):
        simple = melange.SimpleMessageDispatcher

    dispatcher = simple(Consumer(handled.append, name="recorder"), registry, backend)

    assert isinstance(dispatcher, MessageDispatcher)
    assert type(dispatcher).__name__ == "SimpleMessageDispatcher"
    assert dispatcher.process_available("q") == 2
    assert handled == [{"n": 1}, {"n": 2}]


@pytest.mark.parametrize(
    ("early_ack", "always_ack", "expected"),
    [
        (None, None, AckPolicy.AFTER_SUCCESS),
        (False, False, AckPolicy.AFTER_SUCCESS),
        (True, None, AckPolicy.ON_RECEIPT),
        (True, False, AckPolicy.ON_RECEIPT),
        (None, True, AckPolicy.ALWAYS),
        (False, True, AckPolicy.ALWAYS),
    ],
)
def test_the_old_booleans_map_onto_one_ack_policy(
    registry: SerializerRegistry, early_ack: bool | None, always_ack: bool | None, expected: Any
) -> None:
    """early_ack and always_ack become an AckPolicy on both dispatchers, warning at the call."""
    for build in (
        lambda: MessageDispatcher(
            registry, InMemoryBackend(), early_ack=early_ack, always_ack=always_ack
        ),
        lambda: AsyncMessageDispatcher(
            registry, AsyncInMemoryBackend(), early_ack=early_ack, always_ack=always_ack
        ),
    ):
        with pytest.warns(DeprecationWarning, match="ack_policy=AckPolicy") as caught:
            dispatcher = build()
        assert dispatcher.options.ack_policy is expected
        assert {w.filename for w in caught} == {__file__}


@pytest.mark.parametrize(
    ("arguments", "named", "problems"),
    [
        (
            {"early_ack": True, "always_ack": True},
            "early_ack=True and always_ack=True",
            ("early_ack", "always_ack"),
        ),
        (
            {"ack_policy": AckPolicy.ALWAYS, "early_ack": True},
            "early_ack=True contradicts",
            ("early_ack",),
        ),
        (
            {"ack_policy": AckPolicy.ALWAYS, "always_ack": False},
            "always_ack=False contradicts",
            ("always_ack",),
        ),
    ],
)
def test_contradicting_ack_arguments_are_refused(
    registry: SerializerRegistry,
    arguments: dict[str, Any],
    named: str,
    problems: tuple[str, ...],
) -> None:
    """Booleans that contradict each other or ack_policy raise ConfigurationError naming them."""
    with (
        pytest.warns(DeprecationWarning),
        pytest.raises(ConfigurationError, match=named) as caught,
    ):
        MessageDispatcher(registry, InMemoryBackend(), **arguments)

    assert tuple(p.setting for p in caught.value.problems) == problems
    assert all(isinstance(p, Problem) for p in caught.value.problems)


def test_an_agreeing_alias_is_accepted(registry: SerializerRegistry) -> None:
    """An old boolean that says what ack_policy says is not an error (only a warning)."""
    with pytest.warns(DeprecationWarning, match="melange 7's keyword"):
        dispatcher = MessageDispatcher(
            registry,
            InMemoryBackend(),
            ack_policy=AckPolicy.ON_RECEIPT,
            early_ack=True,
            always_ack=False,
        )

    assert dispatcher.options.ack_policy is AckPolicy.ON_RECEIPT


def test_an_unknown_keyword_is_still_refused_after_the_old_ones(
    registry: SerializerRegistry,
) -> None:
    """Translating melange 7's keywords leaves a misspelt one a TypeError."""
    with pytest.warns(DeprecationWarning), pytest.raises(TypeError, match="wrokers"):
        MessageDispatcher(registry, InMemoryBackend(), early_ack=True, wrokers=2)


def test_an_unknown_name_is_not_melange7s() -> None:
    """melange.compat raises AttributeError for a name melange 7 did not have."""
    from melange import compat

    with pytest.raises(AttributeError, match="NoSuchName"):
        compat.NoSuchName  # noqa: B018
