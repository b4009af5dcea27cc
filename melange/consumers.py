"""Consumers: handler methods chosen by the message's type, or a plain callable."""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from typing import Any, TypeVar

from melange.exceptions import ConfigurationError

__all__ = ["Consumer", "SingleDispatchConsumer", "check_consumer", "consumer"]

F = TypeVar("F", bound=Callable[..., Any])

_MARKER = "__melange_consumer__"


def consumer(method: F) -> F:
    """Mark a ``Consumer`` method as the handler for the type its message parameter names.

    ``def on_order(self, event: OrderPlaced) -> None`` handles ``OrderPlaced`` and its
    subclasses; ``event: A | B`` handles both.
    """
    setattr(method, _MARKER, True)
    return method


class Consumer:
    """Handles messages: by ``@consumer`` methods keyed on their parameter type, or a callable.

    Args:
        on_message: a callable that handles every message this consumer is given; with
            ``@consumer`` methods too, it handles the types they do not.
        name: identifies the consumer in deduplication keys and logs; defaults to the
            class's (or callable's) qualified name. Keep it stable across deployments.

    Raises:
        ConfigurationError: a ``@consumer`` method has no annotated message parameter.
    """

    def __init__(
        self, on_message: Callable[[Any], object] | None = None, *, name: str | None = None
    ) -> None:
        self._on_message = on_message
        self._handlers = _collect_handlers(self)
        self._resolved: dict[type, Callable[[Any], object] | None] = {}
        self.name = name or _default_name(self, on_message)

    @property
    def handled_types(self) -> tuple[type, ...]:
        """The types the ``@consumer`` methods declare."""
        return tuple(self._handlers)

    def accepts(self, message: Any) -> bool:
        """Return whether this consumer handles ``message``; override to filter further."""
        return self._on_message is not None or self._handler_for(type(message)) is not None

    def process(self, message: Any) -> None:
        """Run the handler for ``message``'s most specific type (or ``on_message``)."""
        handler = self._handler_for(type(message)) or self._on_message
        if handler is None:
            raise ConfigurationError(
                f"consumer {self.name!r} has no handler for {type(message).__qualname__}; "
                f"it handles {[t.__qualname__ for t in self._handlers]!r}"
            )
        handler(message)

    def _handler_for(self, message_type: type) -> Callable[[Any], object] | None:
        if message_type not in self._resolved:
            found = next(
                (self._handlers[c] for c in message_type.__mro__ if c in self._handlers), None
            )
            self._resolved[message_type] = found
        return self._resolved[message_type]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


#: The name melange 7 gave a consumer whose handlers are chosen by type.
SingleDispatchConsumer = Consumer


def check_consumer(candidate: object) -> None:
    """Refuse, when it is attached, a consumer that could not handle a single message.

    Without this check the mistakes below surface only at run time, as an error on every
    message: a subclass whose ``__init__`` never called ``Consumer.__init__`` (so it has no
    handlers, no ``on_message`` and no name), or a plain function given where a
    ``Consumer`` is expected.

    Raises:
        ConfigurationError: ``candidate`` is not a ``Consumer``, or ``Consumer.__init__``
            did not run on it.
    """
    if not isinstance(candidate, Consumer):
        raise ConfigurationError(
            f"{candidate!r} is not a Consumer; wrap a callable as "
            "Consumer(on_message=handler) or subclass Consumer"
        )
    if "_handlers" not in vars(candidate):
        cls = type(candidate).__qualname__
        raise ConfigurationError(
            f"consumer class {cls!r} never ran Consumer.__init__, so it would fail every "
            f"message; call super().__init__() in {cls}.__init__"
        )


def _default_name(instance: Consumer, on_message: Callable[..., Any] | None) -> str:
    cls = type(instance)
    if cls is Consumer and on_message is not None:
        module = getattr(on_message, "__module__", "")
        return f"{module}.{getattr(on_message, '__qualname__', repr(on_message))}"
    return f"{cls.__module__}.{cls.__qualname__}"


def _collect_handlers(instance: Consumer) -> dict[type, Callable[[Any], object]]:
    # A subclass method replaces its base's method of the same name entirely, including
    # the types it was registered for.
    types_by_name: dict[str, tuple[type, ...]] = {}
    for cls in reversed(type(instance).__mro__):
        for name, function in vars(cls).items():
            if callable(function) and getattr(function, _MARKER, False):
                types_by_name[name] = _message_types(cls, name, function)
            elif name in types_by_name:
                del types_by_name[name]  # overridden by a plain method: no longer a handler
    return {
        message_type: getattr(instance, name)
        for name, message_types in types_by_name.items()
        for message_type in message_types
    }


def _message_types(cls: type, name: str, function: Callable[..., Any]) -> tuple[type, ...]:
    parameters = list(inspect.signature(function).parameters.values())[1:]  # skip self
    hints = typing.get_type_hints(function) if parameters else {}
    annotation = hints.get(parameters[0].name) if parameters else None
    if annotation is None:
        raise ConfigurationError(
            f"@consumer method {cls.__qualname__}.{name} needs a message parameter with a "
            "type annotation, e.g. def on_order(self, event: OrderPlaced) -> None"
        )
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return tuple(typing.get_args(annotation))
    return (typing.get_origin(annotation) or annotation,)
