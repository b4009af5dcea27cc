"""Every error melange raises, in one hierarchy.

Catch ``MelangeError`` to catch them all, or a branch to catch a kind::

    MelangeError
    ├── ConfigurationError                  a setting or argument is wrong (``.problems``)
    │   ├── DeclarationError                a queue, topic or subscription SQS/SNS refuse
    │   ├── FactoryNotFoundError            the CLI's MODULE:FACTORY cannot be loaded
    │   ├── SubscriptionConflictError       consumers sharing a queue disagree on a setting
    │   └── SerializerConfigurationError    (also a SerializationError)
    ├── SerializationError                  turning objects into text or back failed
    │   ├── SerializerNotFoundError         no serializer for a type or an identifier
    │   ├── DeserializationError            content that a serializer cannot read
    │   │   └── PickleNotAllowedError       pickle from a queue, not allowed by the app
    │   ├── MalformedMessageError           a received message that is not melange's format
    │   ├── MessageAttributeError           a user attribute that cannot travel
    │   └── NotReadableByMelange7Error      refused: melange 7.x consumers could not read it
    ├── Reject                              raised by a handler: the message can never be
    │                                       handled; dead-letter it now, with the reason
    ├── MessageRejectedError                refused before any request is sent: sending it
    │   │                                   again can never succeed, do not retry
    │   └── MessageTooLargeError            over the destination's size limit
    └── BackendError                        the broker refused or could not be reached
        ├── QueueNotFoundError
        ├── PayloadNotFoundError            a large payload's S3 object is gone
        ├── TopicNotFoundError
        ├── BatchPublishError               some entries of a batch were not accepted
        ├── BackendUnavailableError         the endpoint did not answer (may heal: back off)
        ├── BackendRefusedError             refused for good: credentials, permissions,
        │                                   unsupported operation, invalid request
        └── DeduplicationUnavailableError   the deduplication cache (Redis) did not answer

Every exception carries the offending values as attributes and builds a one-sentence
message that names the value and says what to do. A ``ConfigurationError`` lists what is
wrong as ``problems``: one ``Problem`` (``setting``, ``value``, ``expected``) per wrong
setting, so a program can tell which one to fix; ``load_settings`` reports every wrong
``MELANGE_*`` variable in one error, one problem each.

A ``BackendError`` is about the broker: what it answered, or that it did not answer
(``BackendRefusedError`` will not heal, the others may: retry those). A
``MessageRejectedError`` is about the message itself: melange refused it before any
request, and it fails again however often it is sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from types import TracebackType
from typing import TypeVar

import attrs

__all__ = [
    "BackendError",
    "BackendRefusedError",
    "BackendUnavailableError",
    "BatchEntryFailure",
    "BatchPublishError",
    "ConfigurationError",
    "DeclarationError",
    "DeduplicationUnavailableError",
    "DeserializationError",
    "FactoryNotFoundError",
    "MalformedMessageError",
    "MelangeError",
    "MessageAttributeError",
    "MessageRejectedError",
    "MessageTooLargeError",
    "NotReadableByMelange7Error",
    "PayloadNotFoundError",
    "PickleNotAllowedError",
    "Problem",
    "QueueNotFoundError",
    "Reject",
    "SerializationError",
    "SerializerConfigurationError",
    "SerializerNotFoundError",
    "SubscriptionConflictError",
    "TopicNotFoundError",
]


class MelangeError(Exception):
    """The root of every error melange raises."""


@attrs.frozen
class Problem:
    """One wrong setting a ``ConfigurationError`` is about.

    Attributes:
        setting: what the user sets to fix it, as they write it: a ``MELANGE_*`` variable,
            an argument or option (``visibility_timeout``), a field of a declaration, a
            command-line reference.
        value: what was given (``None``: nothing was).
        expected: what is allowed, in words (``"an integer 1-43200"``).
    """

    setting: str
    value: object
    expected: str

    def __str__(self) -> str:
        return f"{self.setting}={self.value!r}: expected {self.expected}"


class ConfigurationError(MelangeError):
    """A setting, argument or declaration is wrong; the message says which and what to set.

    Attributes:
        problems: each wrong setting, its value and what is allowed; a program reads these
            instead of the message (``load_settings`` lists every wrong variable).
    """

    def __init__(self, message: str, *, problems: Iterable[Problem]) -> None:
        super().__init__(message)
        self.problems = tuple(problems)


class DeclarationError(ConfigurationError):
    """A queue, topic or subscription declaration that SQS or SNS would refuse.

    Attributes:
        name: the queue or topic declared.
        field: the part of the declaration that is wrong (``"name"``, ``"filter_policy"``...).
        value: the offending value.
        problems: one ``Problem(field, value, expected)``.
    """

    def __init__(
        self, message: str, *, name: str, field: str, value: object, expected: str
    ) -> None:
        super().__init__(message, problems=[Problem(field, value, expected)])
        self.name = name
        self.field = field
        self.value = value


class FactoryNotFoundError(ConfigurationError):
    """A ``MODULE:FACTORY`` reference names nothing that builds a dispatcher.

    The module cannot be found or fails its own import, has no such attribute, or the
    attribute is a class, a callable that needs arguments, or neither a dispatcher nor a
    callable returning one. melange's errors raised by the module or the factory itself (a
    broker that is down, wrong settings) are not this: they propagate unchanged.

    Attributes:
        reference: the ``MODULE:FACTORY`` reference given.
        import_error: what the module raised while it was imported, when it was found but
            failed its own import (an import inside it, or its code); its traceback shows
            where. ``None`` for the other cases.
        problems: one ``Problem`` naming the reference's placeholder (``MODULE:APP``...),
            the reference, and what it should name.
    """

    def __init__(
        self,
        message: str,
        *,
        reference: str,
        setting: str,
        expected: str,
        import_error: BaseException | None = None,
    ) -> None:
        super().__init__(message, problems=[Problem(setting, reference, expected)])
        self.reference = reference
        self.import_error = import_error


class SubscriptionConflictError(ConfigurationError):
    """Two consumers read one queue but state different values for one of its settings.

    Attributes:
        queue: the shared queue.
        field: the ``Subscription`` field they disagree on (``"filter_policy"`` for a topic
            both subscribe the queue to).
        consumers: the two consumers' names.
        values: what each states, in the same order.
        problems: one ``Problem`` per consumer: its value of ``field``, expected to be
            the other's.
    """

    def __init__(
        self, *, queue: str, field: str, consumers: tuple[str, str], values: tuple[object, object]
    ) -> None:
        super().__init__(
            f"consumers {consumers[0]!r} and {consumers[1]!r} both read queue {queue!r} but "
            f"state {field}={values[0]!r} and {field}={values[1]!r}; a queue has one "
            f"{field}: make them agree, or give one consumer a queue of its own",
            problems=[
                Problem(
                    field,
                    values[index],
                    f"{values[1 - index]!r}, as consumer {consumers[1 - index]!r} states "
                    f"for queue {queue!r}",
                )
                for index in (0, 1)
            ],
        )
        self.queue = queue
        self.field = field
        self.consumers = consumers
        self.values = values


class SerializationError(MelangeError):
    """Turning an object into text, or text back into an object, failed."""


class SerializerConfigurationError(SerializationError, ConfigurationError):
    """The serializer registry's configuration is inconsistent (``problems`` says where)."""


class SerializerNotFoundError(SerializationError):
    """No serializer is bound to a type, or none is registered under an identifier."""

    def __init__(
        self,
        message: str,
        *,
        message_type: type | None = None,
        serializer_id: int | None = None,
        bound_types: Sequence[type] = (),
    ) -> None:
        super().__init__(message)
        self.message_type = message_type
        self.serializer_id = serializer_id
        self.bound_types = tuple(bound_types)


class DeserializationError(SerializationError):
    """A serializer could not turn the received content back into an object."""

    def __init__(self, message: str, *, manifest: str | None = None) -> None:
        super().__init__(message)
        self.manifest = manifest


class PickleNotAllowedError(DeserializationError):
    """A pickle payload arrived but the application has not allowed unpickling.

    Unpickling runs code chosen by whoever wrote the payload, so a queue's content is
    never unpickled unless the application opted in.
    """


class MalformedMessageError(SerializationError):
    """A received message does not follow melange's wire format."""

    def __init__(self, message: str, *, body: str) -> None:
        super().__init__(message)
        self.body = body


class MessageAttributeError(SerializationError):
    """A user message attribute cannot travel on SQS/SNS (reserved name, bad type, too many).

    Attributes:
        name: the attribute at fault.
        message_type: the type of the message whose ``melange_attributes()`` supplied the
            attributes, or ``None`` when they all came from ``attributes=``.
    """

    def __init__(self, message: str, *, name: str, message_type: type | None = None) -> None:
        super().__init__(message)
        self.name = name
        self.message_type = message_type


class NotReadableByMelange7Error(SerializationError):
    """A message melange 7.x consumers could not read, refused before any request is sent.

    Raised only by publishers built with ``readable_by_melange7=True``
    (``MELANGE_READABLE_BY_MELANGE7``); the docs' wire-format page tabulates what 7.x reads.

    Attributes:
        destination: the queue or topic it was for.
        serializer_id: the identifier of the serializer that wrote it.
        manifest: the serializer's description of its type.
    """

    def __init__(
        self, message: str, *, destination: str, serializer_id: int | None, manifest: str | None
    ) -> None:
        super().__init__(message)
        self.destination = destination
        self.serializer_id = serializer_id
        self.manifest = manifest


class BackendError(MelangeError):
    """The messaging backend refused a request or could not be reached.

    Attributes:
        operation: the request that failed, e.g. ``SendMessage``.
        code: the broker's error code, if it answered.
        message_id: set when ``publish`` failed: melange's id of the message it sent. The
            message may have been delivered all the same; publish again with
            ``message_id=`` this id and deduplication drops the copy.
    """

    message_id: str | None = None

    def __init__(self, message: str, *, operation: str = "", code: str = "") -> None:
        super().__init__(message)
        self.operation = operation
        self.code = code


def describe_name(name: str, broker_name: str | None = None) -> str:
    """Name a queue or topic as the application does, and as the broker does if that differs.

    ``describe_name("refunds", "shop-refunds")`` is ``"'refunds' (broker name
    'shop-refunds')"``: errors and logs lead with the name the application types, and
    show the prefixed name the broker knows only when a prefix made them differ.
    """
    if broker_name is None or broker_name == name:
        return repr(name)
    return f"{name!r} (broker name {broker_name!r})"


_Error = TypeVar("_Error", bound=BaseException)


def without_frames(error: _Error, modules: Iterable[str]) -> _Error:
    """Leave the frames of ``modules`` (and their submodules) out of ``error``'s traceback.

    For the machinery between where an error is reported and the code at fault (pinject
    resolving providers, importlib running a module): the traceback keeps melange's frames
    and the application's, and a context raised wholly inside the machinery (pinject's
    cache misses) is no longer shown. Causes and shown contexts are treated alike. The
    error is changed in place, and returned.
    """
    hidden = tuple(modules)
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        each = pending.pop()
        if each is None or id(each) in seen:
            continue
        seen.add(id(each))
        context = each.__context__
        machinery = [] if context is None else [_shown(tb, hidden) for tb in _frames(context)]
        if machinery and not any(machinery):
            each.__suppress_context__ = True
        kept = None
        for tb in reversed([tb for tb in _frames(each) if _shown(tb, hidden)]):
            kept = TracebackType(kept, tb.tb_frame, tb.tb_lasti, tb.tb_lineno)
        each.__traceback__ = kept
        pending += [each.__cause__, None if each.__suppress_context__ else context]
    return error


def _frames(error: BaseException) -> Iterator[TracebackType]:
    tb = error.__traceback__
    while tb is not None:
        yield tb
        tb = tb.tb_next


def _shown(tb: TracebackType, hidden: tuple[str, ...]) -> bool:
    module = str(tb.tb_frame.f_globals.get("__name__", ""))
    return not any(module == name or module.startswith(f"{name}.") for name in hidden)


def _missing_message(
    kind: str,
    name: str,
    broker_name: str | None,
    *,
    in_memory: bool,
    declare_command: str | None,
) -> str:
    """Say that a queue or topic does not exist, and how the user at hand makes it exist.

    ``declare_command`` is the command that declares it (``python -m melange declare
    myapp:graph``, added where the command line knows its target); without it the hint
    is the backend call. On the in-memory backend, which holds only what its own process
    declared, a missing name often means a broker was meant (``MELANGE_ENV`` forgotten),
    so the message says how to choose one; a command run in another process cannot
    declare into this one, so with a command the broker comes first.
    """
    described = f"{kind} {describe_name(name, broker_name)} does not exist"
    call = f"backend.declare_{kind}({name!r})"
    choose = (
        "MELANGE_ENV=<name> (config/<name>.env) or MELANGE_BACKEND=local or aws "
        "(memory is the default)"
    )
    if in_memory and declare_command is not None:
        return (
            f"{described} on the in-memory backend, which holds only what this process "
            f"declared; to use your broker, choose it with {choose}, and declare the "
            f"{kind} there with `{declare_command}`"
        )
    if in_memory:
        return (
            f"{described} on the in-memory backend, which holds only what this process "
            f"declared; declare it first with {call}, or, if it exists on a broker, "
            f"choose that broker with {choose}"
        )
    if declare_command is not None:
        return (
            f"{described}; declare it first with `{declare_command}`, or check the name "
            "and MELANGE_PREFIX"
        )
    return f"{described}; declare it first with {call} or check the name and prefix"


class QueueNotFoundError(BackendError):
    """The named queue does not exist.

    Attributes:
        queue_name: the queue as the application names it (what to pass to
            ``declare_queue``).
        broker_name: the queue as the broker names it (with ``MELANGE_PREFIX``, if any).
        in_memory: the backend is the in-memory one, which holds only what its own
            process declared.
        declare_command: the command that declares the queue, when the error is reported
            by one that knows it (``python -m melange declare myapp:graph``); ``None``:
            the message names the backend call.
    """

    def __init__(
        self,
        queue_name: str,
        *,
        operation: str = "",
        broker_name: str | None = None,
        in_memory: bool = False,
        declare_command: str | None = None,
    ) -> None:
        super().__init__(
            _missing_message(
                "queue",
                queue_name,
                broker_name,
                in_memory=in_memory,
                declare_command=declare_command,
            ),
            operation=operation,
            code="QueueDoesNotExist",
        )
        self.queue_name = queue_name
        self.broker_name = broker_name or queue_name
        self.in_memory = in_memory
        self.declare_command = declare_command

    def declared_with(self, command: str) -> QueueNotFoundError:
        """Return this error saying to declare the queue with ``command``."""
        return QueueNotFoundError(
            self.queue_name,
            operation=self.operation,
            broker_name=self.broker_name,
            in_memory=self.in_memory,
            declare_command=command,
        )


class TopicNotFoundError(BackendError):
    """The named topic does not exist.

    Attributes:
        topic_name: the topic as the application names it (what to pass to
            ``declare_topic``).
        broker_name: the topic as the broker names it (with ``MELANGE_PREFIX``, if any).
        in_memory: the backend is the in-memory one, which holds only what its own
            process declared.
        declare_command: the command that declares the topic, when the error is reported
            by one that knows it; ``None``: the message names the backend call.
    """

    def __init__(
        self,
        topic_name: str,
        *,
        operation: str = "",
        broker_name: str | None = None,
        in_memory: bool = False,
        declare_command: str | None = None,
    ) -> None:
        super().__init__(
            _missing_message(
                "topic",
                topic_name,
                broker_name,
                in_memory=in_memory,
                declare_command=declare_command,
            ),
            operation=operation,
            code="NotFound",
        )
        self.topic_name = topic_name
        self.broker_name = broker_name or topic_name
        self.in_memory = in_memory
        self.declare_command = declare_command

    def declared_with(self, command: str) -> TopicNotFoundError:
        """Return this error saying to declare the topic with ``command``."""
        return TopicNotFoundError(
            self.topic_name,
            operation=self.operation,
            broker_name=self.broker_name,
            in_memory=self.in_memory,
            declare_command=command,
        )


class Reject(MelangeError):
    """Raised by a handler: this message will never succeed, so do not retry it.

    The dispatcher moves the message to the queue's dead-letter queue at once, with
    ``reason`` as its ``melange_error``, counts it (``melange.reason="rejected"``) and logs
    it once, at ERROR, without a traceback. A queue without a dead-letter queue keeps the
    message (nothing is dropped quietly) and says so at ERROR on every receive. For
    exception types of your own that mean the same, list them in the consumer's
    ``throws`` instead of catching and re-raising.

    Attributes:
        reason: why, in words an operator reads in ``python -m melange dlq show``.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MessageRejectedError(MelangeError):
    """melange refused to send a message, before any request: it can never be sent as is.

    Not a ``BackendError``: the broker was never asked, and sending the same message again
    fails the same way, so code that retries on ``BackendError`` must not retry this.

    Attributes:
        code: why, as a word a program can compare (``"MessageTooLarge"``).
    """

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


class MessageTooLargeError(MessageRejectedError):
    """A message exceeds the destination's size limit; raised before any request is sent.

    Attributes:
        destination: the queue or topic as the application names it.
        broker_destination: the queue or topic as the broker names it (prefixed, if so).
        size: the message's size in bytes (body and attributes).
        limit: the destination's limit in bytes.
    """

    def __init__(
        self, *, destination: str, size: int, limit: int, broker_destination: str | None = None
    ) -> None:
        super().__init__(
            f"message for {describe_name(destination, broker_destination)} is {size:,} bytes "
            f"(body and attributes), over the limit of {limit:,} bytes; send a smaller "
            "payload, or set MELANGE_LARGE_PAYLOAD_BUCKET (a publisher's payloads=) to send "
            "it through S3",
            code="MessageTooLarge",
        )
        self.destination = destination
        self.broker_destination = broker_destination or destination
        self.size = size
        self.limit = limit


class BackendUnavailableError(BackendError):
    """The backend's endpoint could not be reached or did not answer in time.

    Attributes:
        endpoint_url: the URL that did not answer, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        operation: str = "",
        code: str = "",
        endpoint_url: str | None = None,
    ) -> None:
        super().__init__(message, operation=operation, code=code)
        self.endpoint_url = endpoint_url


class BackendRefusedError(BackendError):
    """The broker refused a request and will refuse it again: retrying cannot help.

    Raised for authentication and authorization failures, operations the endpoint does
    not support, and requests it calls invalid. The dispatcher stops on it instead of
    backing off; throttling, 5xx answers and connection errors stay ``BackendError`` or
    ``BackendUnavailableError`` and are retried.
    """


class PayloadNotFoundError(BackendError):
    """A large payload's S3 object does not exist (expired, deleted, never written).

    The dispatcher moves its message to the dead-letter queue with this as the reason:
    reading it again cannot succeed.

    Attributes:
        bucket: the S3 bucket the pointer names.
        key: the object key the pointer names.
    """

    def __init__(self, bucket: str, key: str, *, operation: str = "GetObject") -> None:
        super().__init__(
            f"the payload s3://{bucket}/{key} does not exist: it expired (the bucket's "
            "lifecycle rule), was deleted after another consumer acknowledged it, or was "
            "never written; the message cannot be read",
            operation=operation,
            code="NoSuchKey",
        )
        self.bucket = bucket
        self.key = key


class DeduplicationUnavailableError(BackendError):
    """The deduplication cache could not be reached; the dispatcher's policy decides."""


@attrs.frozen
class BatchEntryFailure:
    """One entry of a batch that the broker did not accept.

    Attributes:
        index: position of the entry in the iterable given to ``publish_many``.
        message_id: melange's message id assigned to the entry.
        code: the broker's error code.
        reason: the broker's explanation.
        sender_fault: whether the broker blames the request (retrying it unchanged fails again).
    """

    index: int
    message_id: str
    code: str
    reason: str
    sender_fault: bool


class BatchPublishError(BackendError):
    """Some entries of a batch publish were not accepted; none is dropped silently."""

    def __init__(
        self,
        destination: str,
        *,
        failures: Sequence[BatchEntryFailure],
        succeeded: Sequence[str],
        broker_destination: str | None = None,
    ) -> None:
        first = failures[0]
        super().__init__(
            f"{len(failures)} of {len(failures) + len(succeeded)} messages to "
            f"{describe_name(destination, broker_destination)} were not accepted (first: "
            f"entry {first.index}, {first.code}: {first.reason}); see .failures and publish "
            "those entries again with message_ids=[f.message_id for f in .failures], as "
            "some may have been delivered",
            code=first.code,
        )
        self.destination = destination
        self.broker_destination = broker_destination or destination
        self.failures = tuple(failures)
        self.succeeded = tuple(succeeded)
