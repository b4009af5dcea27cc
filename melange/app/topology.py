"""An application's topology, derived from its consumers' subscriptions and its topics.

``derive_topology(consumers, topics)`` is a pure function: from each consumer's
``Subscription`` and the topics the application publishes to, it returns every queue
(with the consumers that read it and the options its workers run with), dead-letter
queue, topic and subscription to declare. Consumers that share a queue are merged: a
setting stated by one applies to the queue, and two that state different values are a
``SubscriptionConflictError`` naming both. No I/O here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, cast

import attrs

from melange.consuming.consumers import Consumer, check_consumer
from melange.consuming.subscription import Subscription
from melange.exceptions import ConfigurationError, Problem, SubscriptionConflictError
from melange.options import DEFAULT_OPTIONS, DispatcherOptions
from melange.topology.specs import Declaration, QueueSpec, SubscriptionSpec, TopicSpec

__all__ = ["AppQueue", "AppTopology", "derive_topology"]

#: The ``Subscription`` fields that describe the queue itself; consumers sharing the
#: queue must agree on those they state.
QUEUE_FIELDS = (
    "dead_letter_queue",
    "max_receive_count",
    "visibility_timeout",
    "workers",
    "foreign",
    "delete_payloads",
)


@attrs.frozen
class AppQueue:
    """One queue of the application: how it is declared, who reads it, how it is run.

    Attributes:
        spec: the queue, with its dead-letter queue and settings.
        subscriptions: one per topic it is subscribed to.
        consumers: the consumers a worker attaches to its dispatcher.
        options: the options its dispatcher runs with (the subscription's workers,
            visibility timeout and foreign over the settings'; ``delete_payloads`` when
            no topic feeds it).
    """

    spec: QueueSpec
    subscriptions: tuple[SubscriptionSpec, ...]
    consumers: tuple[Consumer, ...]
    options: DispatcherOptions

    @property
    def name(self) -> str:
        """The queue's name."""
        return self.spec.name


@attrs.frozen
class AppTopology:
    """Everything an application declares, and the queues its worker runs.

    Attributes:
        topics: the topics it publishes to and those its queues subscribe to.
        queues: its queues, in the order their first consumer was given.
    """

    topics: tuple[TopicSpec, ...]
    queues: tuple[AppQueue, ...]

    @property
    def queue_names(self) -> tuple[str, ...]:
        """The names of the queues consumers read."""
        return tuple(queue.name for queue in self.queues)

    def declarations(self) -> list[Declaration]:
        """Return what to declare, in an order where each exists before it is needed.

        Topics, then dead-letter queues (with default settings, unless a consumer reads
        one), then the queues, then one subscription per queue and topic.
        """
        own = set(self.queue_names)
        dead_letters: dict[str, QueueSpec] = {}
        for queue in self.queues:
            dead = queue.spec.dead_letter_spec()
            if dead is not None and dead.name not in own:
                dead_letters.setdefault(dead.name, dead)
        return [
            *self.topics,
            *dead_letters.values(),
            *(queue.spec for queue in self.queues),
            *(subscription for queue in self.queues for subscription in queue.subscriptions),
        ]


def derive_topology(
    consumers: Iterable[Consumer],
    topics: Iterable[str | TopicSpec] = (),
    *,
    options: DispatcherOptions = DEFAULT_OPTIONS,
    max_receive_count: int = 5,
) -> AppTopology:
    """Return the topology stated by ``consumers`` and the ``topics`` the app publishes to.

    Args:
        consumers: the application's consumers, each with a ``subscription``.
        topics: topics the application publishes to (names or specs).
        options: the settings' options; a subscription's ``workers`` and
            ``visibility_timeout`` replace theirs for its queue.
        max_receive_count: for subscriptions with a dead-letter queue that do not state one.

    Raises:
        ConfigurationError: a consumer is not one, or has no subscription.
        SubscriptionConflictError: consumers sharing a queue disagree on a setting.
    """
    by_queue: dict[str, list[Consumer]] = {}
    for each in consumers:
        check_consumer(each)
        if each.subscription is None:
            raise ConfigurationError(
                f"consumer {each.name!r} has no subscription, so no worker knows which queue "
                f"it reads; give {type(each).__qualname__} a class attribute subscription = "
                "Subscription('queue-name'), or pass subscription=... when building it",
                problems=[Problem("subscription", None, "a melange.Subscription")],
            )
        by_queue.setdefault(each.subscription.queue, []).append(each)
    queues = tuple(_app_queue(readers, options, max_receive_count) for readers in by_queue.values())
    return AppTopology(_topic_specs(topics, queues), queues)


def _app_queue(
    readers: Sequence[Consumer], options: DispatcherOptions, max_receive_count: int
) -> AppQueue:
    """Merge the subscriptions of the consumers reading one queue into one ``AppQueue``."""
    merged = _merged(readers)
    visibility = _or(merged.visibility_timeout, options.visibility_timeout)
    subscriptions = _subscriptions(readers)
    # A large payload's object is the topic's other subscribers' too: only a queue no topic
    # feeds deletes it once acknowledged, unless its subscription says otherwise.
    delete_payloads = (
        not subscriptions if merged.delete_payloads is None else merged.delete_payloads
    )
    return AppQueue(
        spec=merged.queue_spec(max_receive_count=max_receive_count, visibility_timeout=visibility),
        subscriptions=subscriptions,
        consumers=tuple(readers),
        options=attrs.evolve(
            options,
            workers=_or(merged.workers, options.workers),
            visibility_timeout=visibility,
            foreign=options.foreign if merged.foreign is None else merged.foreign,
            delete_payloads=delete_payloads,
        ),
    )


def _or(stated: int | None, default: int) -> int:
    return default if stated is None else stated


def _merged(readers: Sequence[Consumer]) -> Subscription:
    """Return one subscription with every queue setting any reader states."""
    first = _subscription(readers[0])
    stated: dict[str, tuple[Consumer, Any]] = {}
    for reader in readers:
        for field in QUEUE_FIELDS:
            value = getattr(_subscription(reader), field)
            if value is None:
                continue
            earlier = stated.setdefault(field, (reader, value))
            _check_agree(first.queue, field, earlier, (reader, value))
    return Subscription(first.queue, **{field: value for field, (_, value) in stated.items()})


def _subscriptions(readers: Sequence[Consumer]) -> tuple[SubscriptionSpec, ...]:
    """Return one subscription per topic; readers subscribing to one topic must agree."""
    by_topic: dict[str, tuple[Consumer, SubscriptionSpec]] = {}
    for reader in readers:
        for spec in _subscription(reader).subscription_specs():
            earlier = by_topic.setdefault(spec.topics[0], (reader, spec))
            for field in ("filter_policy", "raw_message_delivery"):
                _check_agree(
                    spec.queue,
                    field,
                    (earlier[0], getattr(earlier[1], field)),
                    (reader, getattr(spec, field)),
                )
    return tuple(spec for _, spec in by_topic.values())


def _check_agree(
    queue: str, field: str, first: tuple[Consumer, Any], second: tuple[Consumer, Any]
) -> None:
    if first[1] != second[1]:
        raise SubscriptionConflictError(
            queue=queue,
            field=field,
            consumers=(first[0].name, second[0].name),
            values=(first[1], second[1]),
        )


def _subscription(reader: Consumer) -> Subscription:
    return cast("Subscription", reader.subscription)  # checked by derive_topology


def _topic_specs(
    topics: Iterable[str | TopicSpec], queues: Sequence[AppQueue]
) -> tuple[TopicSpec, ...]:
    """Return the app's topics, then those its queues subscribe to, once each.

    A topic given by ARN belongs to someone else: it is subscribed to, never declared.
    """
    specs: dict[str, TopicSpec] = {}
    for topic in topics:
        spec = topic if isinstance(topic, TopicSpec) else TopicSpec(topic)
        specs.setdefault(spec.name, spec)
    for queue in queues:
        for subscription in queue.subscriptions:
            for name in subscription.topics:
                if not name.startswith("arn:"):
                    specs.setdefault(name, TopicSpec(name))
    return tuple(specs.values())
