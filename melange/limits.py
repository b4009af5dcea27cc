"""What SQS and SNS accept of a message and a receive, checked before any request is sent.

Declarations (queues, topics, subscriptions) check themselves: see ``melange.topology.specs``.

Each check raises ``ConfigurationError`` naming the offending value and the allowed
range, so a mistake is reported the same way by every backend, and without a round trip.
"""

from __future__ import annotations

from melange.exceptions import ConfigurationError, Problem
from melange.messages import SendOptions

__all__ = [
    "MAX_ATTRIBUTES",
    "MAX_BATCH_ENTRIES",
    "MAX_DELAY_SECONDS",
    "MAX_VISIBILITY_TIMEOUT",
    "MAX_WAIT_TIME_SECONDS",
    "SNS_MAX_MESSAGE_BYTES",
    "SQS_MAX_MESSAGE_BYTES",
    "check_queue_options",
    "check_receive_args",
    "check_topic_options",
    "check_visibility_timeout",
    "is_fifo",
]

#: SQS and SNS accept at most 10 message attributes; melange uses 3 of them.
MAX_ATTRIBUTES = 10
#: SQS's message size limit (raised from 256 KiB to 1 MiB in August 2025).
SQS_MAX_MESSAGE_BYTES = 1_048_576
#: SNS's default message size limit: a topic's own ``MaximumMessageSize`` (1,024 to
#: 1,048,576 bytes) replaces it where set (``melange.backends.sqs.requests.topic_size_limit``).
SNS_MAX_MESSAGE_BYTES = 262_144
#: Entries per SendMessageBatch / PublishBatch / DeleteMessageBatch request.
MAX_BATCH_ENTRIES = 10
#: The longest per-message delay SQS accepts, in seconds.
MAX_DELAY_SECONDS = 900
#: The longest visibility timeout SQS accepts, in seconds (12 hours).
MAX_VISIBILITY_TIMEOUT = 43_200
#: The longest long-poll wait SQS accepts, in seconds.
MAX_WAIT_TIME_SECONDS = 20


def is_fifo(name: str) -> bool:
    """Return whether a queue or topic name denotes a FIFO destination."""
    return name.endswith(".fifo")


def check_queue_options(queue_name: str, options: SendOptions) -> None:
    """Raise ``ConfigurationError`` for options SQS would reject for this queue."""
    fifo = is_fifo(queue_name)
    if fifo and options.message_group_id is None:
        raise ConfigurationError(
            f"queue {queue_name!r} is FIFO and needs a message_group_id; pass "
            "message_group_id=... (messages of one group are delivered in order)",
            problems=[
                Problem("message_group_id", None, f"a group id for FIFO queue {queue_name!r}")
            ],
        )
    if options.delay_seconds is not None:
        if fifo:
            raise ConfigurationError(
                f"queue {queue_name!r} is FIFO, where SQS allows no per-message delay; "
                "drop delay_seconds or set a delay on the queue",
                problems=[Problem("delay_seconds", options.delay_seconds, "None for a FIFO queue")],
            )
        if not 0 <= options.delay_seconds <= MAX_DELAY_SECONDS:
            raise ConfigurationError(
                f"delay_seconds={options.delay_seconds!r} for queue {queue_name!r} is outside "
                f"0-{MAX_DELAY_SECONDS}; SQS delays a message by at most 15 minutes",
                problems=[
                    Problem(
                        "delay_seconds", options.delay_seconds, f"an integer 0-{MAX_DELAY_SECONDS}"
                    )
                ],
            )
    if options.subject is not None:
        raise ConfigurationError(
            f"subject={options.subject!r} applies to topics only, not queue {queue_name!r}",
            problems=[Problem("subject", options.subject, "None for a queue")],
        )
    _check_deduplication("queue", queue_name, options)


def _check_deduplication(kind: str, name: str, options: SendOptions) -> None:
    if options.deduplication_id is not None and not is_fifo(name):
        raise ConfigurationError(
            f"deduplication_id={options.deduplication_id!r} applies to FIFO destinations only, "
            f"not standard {kind} {name!r}; drop it or use a '.fifo' {kind}",
            problems=[
                Problem("deduplication_id", options.deduplication_id, f"None for a standard {kind}")
            ],
        )


def check_topic_options(topic_name: str, options: SendOptions) -> None:
    """Raise ``ConfigurationError`` for options SNS would reject for this topic."""
    if is_fifo(topic_name) and options.message_group_id is None:
        raise ConfigurationError(
            f"topic {topic_name!r} is FIFO and needs a message_group_id; pass "
            "message_group_id=... (messages of one group are delivered in order)",
            problems=[
                Problem("message_group_id", None, f"a group id for FIFO topic {topic_name!r}")
            ],
        )
    if options.delay_seconds is not None:
        raise ConfigurationError(
            f"delay_seconds={options.delay_seconds!r} applies to queues only, "
            f"not topic {topic_name!r}; set a delay on the subscribed queues instead",
            problems=[Problem("delay_seconds", options.delay_seconds, "None for a topic")],
        )
    _check_deduplication("topic", topic_name, options)


def check_receive_args(
    queue_name: str, max_messages: int, wait_time_seconds: int, visibility_timeout: int | None
) -> None:
    """Raise ``ConfigurationError`` for receive arguments outside what SQS accepts."""
    if not 1 <= max_messages <= MAX_BATCH_ENTRIES:
        raise ConfigurationError(
            f"max_messages={max_messages!r} for queue {queue_name!r} is outside 1-10, "
            "the most SQS returns per receive",
            problems=[Problem("max_messages", max_messages, f"an integer 1-{MAX_BATCH_ENTRIES}")],
        )
    if not 0 <= wait_time_seconds <= MAX_WAIT_TIME_SECONDS:
        raise ConfigurationError(
            f"wait_time_seconds={wait_time_seconds!r} for queue {queue_name!r} is outside "
            f"0-{MAX_WAIT_TIME_SECONDS}, the long-poll range SQS accepts",
            problems=[
                Problem(
                    "wait_time_seconds", wait_time_seconds, f"an integer 0-{MAX_WAIT_TIME_SECONDS}"
                )
            ],
        )
    if visibility_timeout is not None:
        check_visibility_timeout(queue_name, visibility_timeout)


def check_visibility_timeout(queue_name: str, timeout_seconds: int) -> None:
    """Raise ``ConfigurationError`` for a visibility timeout outside 0-43200 seconds."""
    if not 0 <= timeout_seconds <= MAX_VISIBILITY_TIMEOUT:
        raise ConfigurationError(
            f"visibility timeout {timeout_seconds!r} for queue {queue_name!r} is outside "
            f"0-{MAX_VISIBILITY_TIMEOUT} seconds (12 hours), the range SQS accepts",
            problems=[
                Problem(
                    "visibility_timeout", timeout_seconds, f"an integer 0-{MAX_VISIBILITY_TIMEOUT}"
                )
            ],
        )
