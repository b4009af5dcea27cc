"""Declarative values for queues, topics and subscriptions, each checked when it is made.

A ``QueueSpec``, ``TopicSpec`` or ``SubscriptionSpec`` says what should exist; a backend's
``declare`` makes it so (idempotently). Every rule SQS and SNS apply to a declaration (name
characters and lengths, FIFO-ness from the name, a FIFO topic delivering only to FIFO
queues, redrive and retention ranges, filter policies) is checked here, once, when the
value is built, so each backend receives only declarations the broker would accept::

    QueueSpec("billing", dead_letter_queue="billing-dlq", max_receive_count=5)
    SubscriptionSpec("billing", topics=("order-events",), filter_policy={"region": ["eu"]})

No I/O here.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from melange.exceptions import ConfigurationError, DeclarationError
from melange.limits import MAX_VISIBILITY_TIMEOUT, is_fifo
from melange.topology import filter_policy as filters

__all__ = [
    "MAX_QUEUE_NAME",
    "MAX_TOPIC_NAME",
    "Declaration",
    "QueueSpec",
    "SubscriptionSpec",
    "TopicSpec",
    "copied_policy",
    "topic_names",
]

#: SQS queue names: 1-80 characters, ``.fifo`` included.
MAX_QUEUE_NAME = 80
#: SNS topic names: 1-256 characters, ``.fifo`` included.
MAX_TOPIC_NAME = 256
#: SQS keeps messages for 60 seconds to 14 days.
MIN_RETENTION_SECONDS, MAX_RETENTION_SECONDS = 60, 1_209_600
#: SQS's redrive policy moves a message after 1 to 1,000 receives.
MIN_RECEIVE_COUNT, MAX_RECEIVE_COUNT = 1, 1000

_NAME = re.compile(r"[A-Za-z0-9_-]+(\.fifo)?")


def _check_name(kind: str, name: str, longest: int, field: str = "name") -> None:
    """Raise ``DeclarationError`` for a queue or topic name SQS/SNS refuse.

    ``field`` is where the declaration states the name (``dead_letter_queue``, ``topics``).
    """
    if not isinstance(name, str) or not 0 < len(name) <= longest or not _NAME.fullmatch(name):
        raise DeclarationError(
            f"{kind} name {name!r} is not 1-{longest} letters, digits, hyphens and "
            f"underscores (with '.fifo' at the end for FIFO); SQS/SNS refuse it, rename the {kind}",
            name=str(name),
            field=field,
            value=name,
            expected=f"1-{longest} letters, digits, hyphens and underscores (and '.fifo')",
        )


def _check_topic_reference(name: str) -> None:
    # A subscription may name a topic by ARN (another account's, say): check its name part.
    if name.startswith("arn:"):
        _check_name("topic", name.rsplit(":", 1)[-1], MAX_TOPIC_NAME, "topics")
    else:
        _check_name("topic", name, MAX_TOPIC_NAME, "topics")


def _check_range(name: str, field: str, value: int | None, low: int, high: int, why: str) -> None:
    if value is not None and (isinstance(value, bool) or not low <= value <= high):
        raise DeclarationError(
            f"{field}={value!r} for queue {name!r} is outside {low}-{high}; {why}",
            name=name,
            field=field,
            value=value,
            expected=f"an integer {low}-{high}",
        )


@attrs.frozen
class QueueSpec:
    """A queue as it should be; ``None`` leaves a setting as the broker has it.

    Attributes:
        name: the queue's name; ``.fifo`` at the end makes a FIFO queue.
        dead_letter_queue: where the broker moves a message received ``max_receive_count``
            times; created with default settings if missing. Must be FIFO iff the queue is.
        max_receive_count: receives before the move to ``dead_letter_queue`` (1-1000).
        visibility_timeout: seconds a received message stays hidden (0-43200).
        retention_seconds: how long the queue keeps a message (60-1209600).
        content_based_deduplication: FIFO queues only: deduplicate by a hash of the body
            when a message has no deduplication id.

    Raises:
        DeclarationError: any of these SQS would refuse.
    """

    name: str
    dead_letter_queue: str | None = None
    max_receive_count: int = 5
    visibility_timeout: int | None = None
    retention_seconds: int | None = None
    content_based_deduplication: bool | None = None

    def __attrs_post_init__(self) -> None:
        _check_name("queue", self.name, MAX_QUEUE_NAME)
        if self.dead_letter_queue is not None:
            self._check_dead_letter_queue(self.dead_letter_queue)
        _check_range(
            self.name,
            "max_receive_count",
            self.max_receive_count,
            MIN_RECEIVE_COUNT,
            MAX_RECEIVE_COUNT,
            "SQS moves a message to the dead-letter queue after 1 to 1000 receives",
        )
        _check_range(
            self.name,
            "visibility_timeout",
            self.visibility_timeout,
            0,
            MAX_VISIBILITY_TIMEOUT,
            "SQS hides a received message for at most 12 hours",
        )
        _check_range(
            self.name,
            "retention_seconds",
            self.retention_seconds,
            MIN_RETENTION_SECONDS,
            MAX_RETENTION_SECONDS,
            "SQS keeps messages for 1 minute to 14 days",
        )
        if self.content_based_deduplication and not self.fifo:
            raise DeclarationError(
                f"content_based_deduplication=True for standard queue {self.name!r}; SQS "
                "deduplicates FIFO queues only: drop it or name the queue '...fifo'",
                name=self.name,
                field="content_based_deduplication",
                value=True,
                expected="None or False for a standard queue",
            )

    def _check_dead_letter_queue(self, dead_letter_queue: str) -> None:
        _check_name("queue", dead_letter_queue, MAX_QUEUE_NAME, "dead_letter_queue")
        if is_fifo(dead_letter_queue) != self.fifo:
            raise DeclarationError(
                f"queue {self.name!r} and its dead-letter queue {dead_letter_queue!r} must both "
                "be FIFO or both standard; SQS refuses a mixed redrive policy",
                name=self.name,
                field="dead_letter_queue",
                value=dead_letter_queue,
                expected=f"a {'FIFO' if self.fifo else 'standard'} queue, as {self.name!r} is",
            )

    @property
    def fifo(self) -> bool:
        """Whether this is a FIFO queue (its name ends in ``.fifo``)."""
        return is_fifo(self.name)

    def dead_letter_spec(self) -> QueueSpec | None:
        """Return the dead-letter queue's own spec (default settings), or ``None``."""
        return None if self.dead_letter_queue is None else QueueSpec(self.dead_letter_queue)

    def renamed(self, rename: Callable[[str], str]) -> QueueSpec:
        """Return this spec with ``rename`` applied to every queue name in it."""
        dead = self.dead_letter_queue
        return attrs.evolve(
            self, name=rename(self.name), dead_letter_queue=None if dead is None else rename(dead)
        )


@attrs.frozen
class TopicSpec:
    """A topic as it should be.

    Attributes:
        name: the topic's name; ``.fifo`` at the end makes a FIFO topic.

    Raises:
        DeclarationError: a name SNS would refuse.
    """

    name: str

    def __attrs_post_init__(self) -> None:
        _check_name("topic", self.name, MAX_TOPIC_NAME)

    @property
    def fifo(self) -> bool:
        """Whether this is a FIFO topic (its name ends in ``.fifo``)."""
        return is_fifo(self.name)

    def renamed(self, rename: Callable[[str], str]) -> TopicSpec:
        """Return this spec with ``rename`` applied to its name."""
        return TopicSpec(rename(self.name))


def topic_names(value: str | Iterable[str]) -> tuple[str, ...]:
    """Return topics given as one name or several as a tuple (a lone name, not its letters)."""
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def copied_policy(value: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """Return a filter policy as a deep copy of its own, so the caller's can change.

    The policy is validated once, when the spec is made: a copy sharing the caller's lists
    could be changed into one the validation never saw. Anything but a mapping is
    returned as it is, for the validation to refuse with its message. An empty policy
    filters nothing: it is ``None``, as the broker reports a subscription without one, so
    declaring it again finds it as stated.
    """
    if not isinstance(value, Mapping):
        return value
    return copy.deepcopy(dict(value)) or None


@attrs.frozen
class SubscriptionSpec:
    """A queue subscribed to topics, as it should be.

    Attributes:
        queue: the subscribed queue.
        topics: the topics (names, or ARNs for topics melange does not name), one
            subscription each.
        filter_policy: an SNS filter policy on message attributes, e.g.
            ``{"region": ["eu"]}``; ``None`` delivers everything.
        raw_message_delivery: deliver the message itself rather than SNS's JSON
            notification around it.

    Raises:
        DeclarationError: a name SQS/SNS refuse, a FIFO topic with a standard queue, or a
            filter policy melange does not support.
    """

    queue: str
    topics: tuple[str, ...] = attrs.field(converter=topic_names)
    filter_policy: Mapping[str, Any] | None = attrs.field(
        default=None, converter=copied_policy, hash=False
    )
    raw_message_delivery: bool = False

    def __attrs_post_init__(self) -> None:
        _check_name("queue", self.queue, MAX_QUEUE_NAME)
        for topic in self.topics:
            _check_topic_reference(topic)
            if is_fifo(topic) and not is_fifo(self.queue):
                raise DeclarationError(
                    f"FIFO topic {topic!r} can only deliver to FIFO queues, not "
                    f"{self.queue!r}; name the queue '...fifo'",
                    name=self.queue,
                    field="topics",
                    value=topic,
                    expected=f"standard topics for standard queue {self.queue!r}",
                )
        if self.filter_policy is not None:
            try:
                filters.validate(self.filter_policy)
            except ConfigurationError as exc:
                raise DeclarationError(
                    f"{exc} (subscription of queue {self.queue!r})",
                    name=self.queue,
                    field="filter_policy",
                    value=self.filter_policy,
                    expected=_expected(exc),
                ) from None

    def renamed(self, rename: Callable[[str], str]) -> SubscriptionSpec:
        """Return this spec with ``rename`` applied to the queue and every topic name."""
        return attrs.evolve(
            self, queue=rename(self.queue), topics=tuple(rename(t) for t in self.topics)
        )


def _expected(exc: ConfigurationError) -> str:
    """Return what the first problem of ``exc`` expected (a filter policy's rule)."""
    return exc.problems[0].expected if exc.problems else str(exc)


#: What a backend's ``declare`` takes.
Declaration = QueueSpec | TopicSpec | SubscriptionSpec
