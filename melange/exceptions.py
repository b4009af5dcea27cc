"""Every error melange raises, in one hierarchy.

Catch ``MelangeError`` to catch them all, or a branch to catch a kind::

    MelangeError
    ├── ConfigurationError                  a setting or argument is wrong
    │   └── SerializerConfigurationError    (also a SerializationError)
    ├── SerializationError                  turning objects into text or back failed
    │   ├── SerializerNotFoundError         no serializer for a type or an identifier
    │   ├── DeserializationError            content that a serializer cannot read
    │   │   └── PickleNotAllowedError       pickle from a queue, not allowed by the app
    │   ├── MalformedMessageError           a received message that is not melange's format
    │   └── MessageAttributeError           a user attribute that cannot travel
    └── BackendError                        the broker refused or could not be reached
        ├── QueueNotFoundError
        ├── TopicNotFoundError
        ├── MessageTooLargeError            raised before any request is sent
        ├── BatchPublishError               some entries of a batch were not accepted
        ├── BackendUnavailableError         the endpoint did not answer
        └── DeduplicationUnavailableError   the deduplication cache (Redis) did not answer

Every exception carries the offending values as attributes and builds a one-sentence
message that names the value and says what to do.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

__all__ = [
    "BackendError",
    "BackendUnavailableError",
    "BatchEntryFailure",
    "BatchPublishError",
    "ConfigurationError",
    "DeduplicationUnavailableError",
    "DeserializationError",
    "MalformedMessageError",
    "MelangeError",
    "MessageAttributeError",
    "MessageTooLargeError",
    "PickleNotAllowedError",
    "QueueNotFoundError",
    "SerializationError",
    "SerializerConfigurationError",
    "SerializerNotFoundError",
    "TopicNotFoundError",
]


class MelangeError(Exception):
    """The root of every error melange raises."""


class ConfigurationError(MelangeError):
    """A setting, argument or declaration is wrong; the message says which and what to set."""


class SerializationError(MelangeError):
    """Turning an object into text, or text back into an object, failed."""


class SerializerConfigurationError(SerializationError, ConfigurationError):
    """The serializer registry's configuration is inconsistent."""


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
    """A user message attribute cannot travel on SQS/SNS (reserved name, bad type, too many)."""

    def __init__(self, message: str, *, name: str) -> None:
        super().__init__(message)
        self.name = name


class BackendError(MelangeError):
    """The messaging backend refused a request or could not be reached."""

    def __init__(self, message: str, *, operation: str = "", code: str = "") -> None:
        super().__init__(message)
        self.operation = operation
        self.code = code


class QueueNotFoundError(BackendError):
    """The named queue does not exist."""

    def __init__(self, queue_name: str, *, operation: str = "") -> None:
        super().__init__(
            f"queue {queue_name!r} does not exist; declare it first with "
            f"backend.declare_queue({queue_name!r}) or check the name and prefix",
            operation=operation,
            code="QueueDoesNotExist",
        )
        self.queue_name = queue_name


class TopicNotFoundError(BackendError):
    """The named topic does not exist."""

    def __init__(self, topic_name: str, *, operation: str = "") -> None:
        super().__init__(
            f"topic {topic_name!r} does not exist; declare it first with "
            f"backend.declare_topic({topic_name!r}) or check the name and prefix",
            operation=operation,
            code="NotFound",
        )
        self.topic_name = topic_name


class MessageTooLargeError(BackendError):
    """A message exceeds the destination's size limit; raised before any request is sent."""

    def __init__(self, *, destination: str, size: int, limit: int) -> None:
        super().__init__(
            f"message for {destination!r} is {size:,} bytes (body and attributes), over the "
            f"limit of {limit:,} bytes; send a smaller payload or store it elsewhere "
            "(e.g. S3) and publish a reference",
            code="MessageTooLarge",
        )
        self.destination = destination
        self.size = size
        self.limit = limit


class BackendUnavailableError(BackendError):
    """The backend's endpoint could not be reached or did not answer in time."""


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
    ) -> None:
        first = failures[0]
        super().__init__(
            f"{len(failures)} of {len(failures) + len(succeeded)} messages to "
            f"{destination!r} were not accepted (first: entry {first.index}, "
            f"{first.code}: {first.reason}); see .failures and publish those entries again",
            code=first.code,
        )
        self.destination = destination
        self.failures = tuple(failures)
        self.succeeded = tuple(succeeded)
