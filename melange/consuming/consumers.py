"""Consumers: handler methods chosen by the message's type, or a plain callable.

A ``@consumer`` handler may take a second parameter annotated ``MessageContext``: the
message's ids, receive count, attributes, SNS subject and topic, sent time and queue.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

import attrs

from melange.consuming.subscription import Subscription
from melange.exceptions import ConfigurationError, Problem
from melange.messages import AttributeValue
from melange.options import Backoff
from melange.topology.specs import MAX_RECEIVE_COUNT

__all__ = [
    "Consumer",
    "MessageContext",
    "check_consumer",
    "consumer",
    "deliver",
    "process_takes_context",
]

F = TypeVar("F", bound=Callable[..., Any])

_MARKER = "__melange_consumer__"


def _copied(value: Mapping[str, AttributeValue]) -> Mapping[str, AttributeValue]:
    return dict(value)


@attrs.frozen(kw_only=True)
class MessageContext:
    """What a handler may know about the message it handles, beside the message itself.

    A ``@consumer`` method receives it as its second parameter when that parameter is
    annotated ``MessageContext``: ``def on_order(self, event: OrderPlaced, context:
    MessageContext) -> None``.

    Attributes:
        message_id: melange's id, given by the publisher; the same on every redelivery and
            on every queue a topic fans out to.
        broker_message_id: the queue's id for this copy (differs per queue).
        receive_count: how many times this copy was received, this time included.
        queue_name: the queue it was received from, as the application names it.
        attributes: the message attributes the publisher set (not melange's own).
        sent_at: when the queue accepted it (SQS ``SentTimestamp``, UTC), if known.
        sns_subject: the SNS subject, when it came through a topic without raw delivery
            (raw delivery does not carry it).
        sns_topic_arn: the topic's ARN, when it came through a topic without raw delivery.
    """

    message_id: str
    broker_message_id: str
    receive_count: int
    queue_name: str
    attributes: Mapping[str, AttributeValue] = attrs.field(factory=dict, converter=_copied)
    sent_at: datetime | None = None
    sns_subject: str | None = None
    sns_topic_arn: str | None = None

    @property
    def topic_name(self) -> str | None:
        """The topic's name as the broker knows it (the ARN's last part), if it came via SNS."""
        return None if self.sns_topic_arn is None else self.sns_topic_arn.rpartition(":")[2]


#: A handler and whether it takes a ``MessageContext`` after the message.
_Handler = tuple[Callable[..., object], bool]


def consumer(method: F) -> F:
    """Mark a ``Consumer`` method as the handler for the type its message parameter names.

    ``def on_order(self, event: OrderPlaced) -> None`` handles ``OrderPlaced`` and its
    subclasses; ``event: A | B`` handles both.
    """
    setattr(method, _MARKER, True)
    return method


class Consumer:
    """Handles messages: by ``@consumer`` methods keyed on their parameter type, or a callable.

    A worker (``python -m melange worker``) runs it on the queue its ``subscription``
    names: a class attribute ``subscription = Subscription("billing", ...)``, which
    leaves the constructor to the dependencies pinject injects, or ``subscription=``.

    Args:
        on_message: a callable that handles every message this consumer is given; with
            ``@consumer`` methods too, it handles the types they do not.
        name: identifies the consumer in deduplication keys and logs; defaults to the
            class's (or callable's) qualified name. Keep it stable across deployments.
        subscription: where this consumer reads; replaces the class's ``subscription``.
        throws: replaces the class's ``throws``.
        backoff: replaces the class's ``backoff``.
        max_receive_count: replaces the class's ``max_receive_count``.

    A failure is retried after a backoff unless it is permanent: a handler raising
    ``melange.Reject(reason)``, or an exception of a type in ``throws``, sends the message
    to the dead-letter queue at once, with the reason.

    Raises:
        ConfigurationError: a ``@consumer`` method has no annotated message parameter,
            ``subscription`` is not a ``Subscription``, or ``throws``, ``backoff`` or
            ``max_receive_count`` is not what it should be.
    """

    #: Where instances of this class read (queue, topics, filter policy...); ``None``: a
    #: consumer attached to a dispatcher by hand, which no worker runs on its own.
    subscription: Subscription | None = None
    #: Exception types that mean "this message will never succeed": a handler raising one
    #: (or a subclass) dead-letters the message at once, as ``melange.Reject`` does, instead
    #: of retrying it (dramatiq's ``throws``).
    throws: tuple[type[BaseException], ...] = ()
    #: The delay before this consumer's failures are retried; ``None``: the dispatcher's
    #: (``MELANGE_BACKOFF_*``).
    backoff: Backoff | None = None
    #: The receives a message may fail in this consumer before it is dead-lettered; ``None``:
    #: the queue's redrive policy decides (``max_receive_count`` of its ``Subscription``, or
    #: ``MELANGE_MAX_RECEIVE_COUNT``). A queue's own policy still applies when it is lower.
    max_receive_count: int | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _check_subscription(cls.subscription, cls.__qualname__)
        _check_retry(cls.throws, cls.backoff, cls.max_receive_count, cls.__qualname__)

    def __init__(
        self,
        on_message: Callable[[Any], object] | None = None,
        *,
        name: str | None = None,
        subscription: Subscription | None = None,
        throws: tuple[type[BaseException], ...] | None = None,
        backoff: Backoff | None = None,
        max_receive_count: int | None = None,
    ) -> None:
        if subscription is not None:
            _check_subscription(subscription, type(self).__qualname__)
            self.subscription = subscription
        if throws is not None or backoff is not None or max_receive_count is not None:
            throws = tuple(throws) if throws is not None else self.throws
            _check_retry(throws, backoff, max_receive_count, type(self).__qualname__)
            self.throws = throws
            self.backoff = backoff if backoff is not None else self.backoff
            if max_receive_count is not None:
                self.max_receive_count = max_receive_count
        self._on_message = on_message
        self._handlers = _collect_handlers(self)
        self._resolved: dict[type, _Handler | None] = {}
        self.name = name or _default_name(self, on_message)

    @property
    def handled_types(self) -> tuple[type, ...]:
        """The types the ``@consumer`` methods declare."""
        return tuple(self._handlers)

    @property
    def is_async(self) -> bool:
        """Whether a handler is ``async def``: it runs on ``AsyncMessageDispatcher``."""
        handlers = [handler for handler, _ in self._handlers.values()]
        if self._on_message is not None:
            handlers.append(self._on_message)
        return inspect.iscoroutinefunction(type(self).process) or any(
            inspect.iscoroutinefunction(handler) for handler in handlers
        )

    def handles_asynchronously(self, message: Any) -> bool:
        """Whether the handler for ``message`` is ``async def`` (awaited, not run in a thread)."""
        if inspect.iscoroutinefunction(type(self).process):
            return True
        found = self._handler_for(type(message))
        handler = found[0] if found is not None else self._on_message
        return inspect.iscoroutinefunction(handler)

    def accepts(self, message: Any) -> bool:
        """Return whether this consumer handles ``message``; override to filter further."""
        return self._on_message is not None or self._handler_for(type(message)) is not None

    def process(self, message: Any, context: MessageContext | None = None) -> Any:
        """Run the handler for ``message``'s most specific type (or ``on_message``).

        Args:
            message: the message, as deserialized.
            context: what the dispatcher knows about it; a handler that takes a
                ``MessageContext`` needs it (tests build one with ``MessageContext(...)``).
        """
        found = self._handler_for(type(message))
        if found is None and self._on_message is not None:
            found = (self._on_message, False)
        if found is None:
            raise ConfigurationError(
                f"consumer {self.name!r} has no handler for {type(message).__qualname__}; "
                f"it handles {[t.__qualname__ for t in self._handlers]!r}",
                problems=[
                    Problem(
                        "message",
                        type(message).__qualname__,
                        f"one of {[t.__qualname__ for t in self._handlers]!r}",
                    )
                ],
            )
        handler, wants_context = found
        if not wants_context:
            return handler(message)
        if context is None:
            raise ConfigurationError(
                f"the handler of consumer {self.name!r} for {type(message).__qualname__} takes "
                "a MessageContext; pass process(message, MessageContext(...))",
                problems=[Problem("context", None, "a MessageContext")],
            )
        return handler(message, context)

    def _handler_for(self, message_type: type) -> _Handler | None:
        if message_type not in self._resolved:
            found = next(
                (self._handlers[c] for c in message_type.__mro__ if c in self._handlers), None
            )
            self._resolved[message_type] = found
        return self._resolved[message_type]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


def _check_subscription(subscription: object, owner: str) -> None:
    if subscription is not None and not isinstance(subscription, Subscription):
        raise ConfigurationError(
            f"the subscription of consumer class {owner!r} is {subscription!r}; expected a "
            "melange.Subscription, e.g. subscription = Subscription('billing')",
            problems=[Problem("subscription", subscription, "a melange.Subscription")],
        )


def _check_retry(throws: object, backoff: object, max_receive_count: object, owner: str) -> None:
    if not isinstance(throws, tuple) or not all(
        isinstance(t, type) and issubclass(t, BaseException) for t in throws
    ):
        raise ConfigurationError(
            f"throws of consumer {owner!r} is {throws!r}; expected a tuple of exception "
            "classes, e.g. throws = (RefundRejected,)",
            problems=[Problem("throws", throws, "a tuple of exception classes")],
        )
    if backoff is not None and not isinstance(backoff, Backoff):
        raise ConfigurationError(
            f"backoff of consumer {owner!r} is {backoff!r}; expected a melange.Backoff, "
            "e.g. backoff = Backoff(base=2, cap=60)",
            problems=[Problem("backoff", backoff, "a melange.Backoff or None")],
        )
    if max_receive_count is not None and (
        not isinstance(max_receive_count, int)
        or isinstance(max_receive_count, bool)
        or not 1 <= max_receive_count <= MAX_RECEIVE_COUNT
    ):
        raise ConfigurationError(
            f"max_receive_count of consumer {owner!r} is {max_receive_count!r}; expected an "
            f"integer 1-{MAX_RECEIVE_COUNT} (receives before the message is "
            "dead-lettered) or None",
            problems=[
                Problem(
                    "max_receive_count",
                    max_receive_count,
                    f"an integer 1-{MAX_RECEIVE_COUNT} or None",
                )
            ],
        )


def check_consumer(candidate: object) -> None:
    """Refuse, when it is attached, a consumer that could not handle a single message.

    Without this check the mistakes below surface only at run time, as an error on every
    message: a subclass whose ``__init__`` never called ``Consumer.__init__`` (so it has no
    handlers, no ``on_message`` and no name), a consumer with no way to handle anything
    (no ``@consumer`` method, no ``on_message``, no ``process`` of its own), or a plain
    function given where a ``Consumer`` is expected.

    Raises:
        ConfigurationError: ``candidate`` is not a ``Consumer``, ``Consumer.__init__``
            did not run on it, or it has no handler at all.
    """
    if not isinstance(candidate, Consumer):
        raise ConfigurationError(
            f"{candidate!r} is not a Consumer; wrap a callable as "
            "Consumer(on_message=handler) or subclass Consumer",
            problems=[Problem("consumers", candidate, "a melange.Consumer")],
        )
    if "_handlers" not in vars(candidate):
        cls = type(candidate).__qualname__
        raise ConfigurationError(
            f"consumer class {cls!r} never ran Consumer.__init__, so it would fail every "
            f"message; call super().__init__() in {cls}.__init__",
            problems=[
                Problem("consumers", candidate, f"{cls}.__init__ calling super().__init__()")
            ],
        )
    if not candidate._handlers and candidate._on_message is None:
        _check_processes(type(candidate))


def _check_processes(cls: type[Consumer]) -> None:
    """Refuse a consumer class whose ``process`` is ``Consumer``'s and finds no handler."""
    if cls.process is Consumer.process:
        name = cls.__qualname__
        raise ConfigurationError(
            f"consumer class {name!r} has no @consumer method, no on_message and no process "
            "of its own, so every message given to it would fail and be dead-lettered; "
            f"mark a method of {name} @consumer (def on_order(self, event: OrderPlaced)), "
            "pass Consumer(on_message=handler), or override process",
            problems=[Problem("consumers", name, "a consumer with at least one handler")],
        )


def deliver(target: Consumer, message: Any, context: MessageContext) -> object:
    """Hand ``message`` to ``target.process``, with ``context`` if that method takes one.

    A subclass may still override ``process(self, message)`` as melange 7 allowed; it is
    called without the context. Returns what the handler returned: an awaitable for an
    ``async def`` handler, which the asyncio dispatcher awaits.
    """
    if process_takes_context(type(target)):
        return target.process(message, context)
    return target.process(message)


#: Whether each Consumer class's ``process`` takes a context, found once per class.
_TAKES_CONTEXT: dict[type[Consumer], bool] = {}


def process_takes_context(cls: type[Consumer]) -> bool:
    """Return whether ``cls.process`` takes the context (melange 7's took the message only)."""
    if cls not in _TAKES_CONTEXT:
        parameters = inspect.signature(cls.process).parameters.values()
        kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        positional = [p for p in parameters if p.kind in kinds]
        _TAKES_CONTEXT[cls] = len(positional) >= 3 or any(
            p.kind is p.VAR_POSITIONAL for p in parameters
        )
    return _TAKES_CONTEXT[cls]


def _default_name(instance: Consumer, on_message: Callable[..., Any] | None) -> str:
    cls = type(instance)
    if cls is Consumer and on_message is not None:
        module = getattr(on_message, "__module__", "")
        return f"{module}.{getattr(on_message, '__qualname__', repr(on_message))}"
    return f"{cls.__module__}.{cls.__qualname__}"


def _collect_handlers(instance: Consumer) -> dict[type, _Handler]:
    # A subclass method replaces its base's method of the same name entirely, including
    # the types it was registered for.
    types_by_name: dict[str, tuple[tuple[type, ...], bool]] = {}
    for cls in reversed(type(instance).__mro__):
        for name, function in vars(cls).items():
            if callable(function) and getattr(function, _MARKER, False):
                types_by_name[name] = _message_types(cls, name, function)
            elif name in types_by_name:
                del types_by_name[name]  # overridden by a plain method: no longer a handler
    return {
        message_type: (getattr(instance, name), wants_context)
        for name, (message_types, wants_context) in types_by_name.items()
        for message_type in message_types
    }


def _message_types(
    cls: type, name: str, function: Callable[..., Any]
) -> tuple[tuple[type, ...], bool]:
    """Return the types a handler's first parameter names, and whether it takes a context."""
    parameters = list(inspect.signature(function).parameters.values())[1:]  # skip self
    try:
        hints = typing.get_type_hints(function) if parameters else {}
    except Exception as exc:  # e.g. a string annotation naming nothing the module defines
        raise _unresolved(f"{cls.__qualname__}.{name}", function, exc) from exc
    annotation = hints.get(parameters[0].name) if parameters else None
    if annotation is None:
        raise ConfigurationError(
            f"@consumer method {cls.__qualname__}.{name} needs a message parameter with a "
            "type annotation, e.g. def on_order(self, event: OrderPlaced) -> None",
            problems=[
                Problem(f"{cls.__qualname__}.{name}", None, "an annotated message parameter")
            ],
        )
    wants_context = len(parameters) > 1 and hints.get(parameters[1].name) is MessageContext
    required = [
        p
        for p in parameters[1 + wants_context :]
        if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    if required:
        raise ConfigurationError(
            f"@consumer method {cls.__qualname__}.{name} has a parameter {required[0].name!r} "
            "melange cannot fill; after the message it may take only one annotated "
            "MessageContext, e.g. def on_order(self, event: OrderPlaced, context: "
            "MessageContext) -> None",
            problems=[
                Problem(
                    f"{cls.__qualname__}.{name}",
                    required[0].name,
                    "the message, then at most one parameter annotated MessageContext",
                )
            ],
        )
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return tuple(typing.get_args(annotation)), wants_context
    return (typing.get_origin(annotation) or annotation,), wants_context


def _unresolved(where: str, function: Callable[..., Any], error: Exception) -> ConfigurationError:
    """Return the error for a handler whose annotations ``typing.get_type_hints`` cannot read.

    A misspelt type in a string annotation (``event: "TicketReservd"``) is a ``NameError``
    raised from deep inside ``typing``; this names the handler, the name, and the closest
    name the handler's module defines.
    """
    import difflib  # imported here: only an annotation that does not resolve needs it

    module = function.__module__
    unresolved = error.name if isinstance(error, NameError) else None
    if unresolved is None:
        message = f"has annotations that cannot be evaluated ({type(error).__name__}: {error})"
    else:
        close = difflib.get_close_matches(unresolved, getattr(function, "__globals__", {}), n=1)
        maybe = f" (did you mean {close[0]!r}?)" if close else ""
        message = (
            f"is annotated with {unresolved!r}, which module {module!r} does not define{maybe}"
        )
    return ConfigurationError(
        f"@consumer method {where} {message}; import the type there or correct the name",
        problems=[
            Problem(
                where,
                unresolved if unresolved is not None else str(error),
                f"annotations naming types module {module!r} defines or imports",
            )
        ],
    )
