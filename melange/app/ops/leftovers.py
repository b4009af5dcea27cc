"""What ``declare`` leaves behind: queues and subscriptions the application no longer states.

Renaming a consumer's queue makes ``python -m melange declare`` create the new queue, and
the old one stays, subscribed to its topics and collecting their messages. ``declare``
reports such leftovers after declaring; ``declare --prune --yes`` deletes them. Which
resources count as the application's, so that pruning never touches another's:

1. With ``MELANGE_PREFIX``, the names under the prefix are the application's. A queue
   under it that the application does not state is a leftover, and so is a subscription
   delivering to a queue under it that the application does not state for that topic.
2. Without a prefix, melange cannot tell the application's queues from the account's
   others: no queue is a leftover. A subscription delivering to a queue the application
   states, from a topic the application does not subscribe it to, still is: the queue is
   the application's, and so is what fills it.
3. A subscription of one of the application's own topics (those it declares) to a queue
   it does not state, outside rule 1, is reported as ``other`` and never pruned: fanning
   out to other applications' queues is what topics are for.
4. Topics are neither reported nor deleted: a topic holds no messages, and others may
   publish to it. Subscriptions not yet confirmed (``PendingConfirmation``) are skipped:
   SNS deletes them itself.

Only the application's account and region count as its own (queue ARNs compared).
``find_leftovers`` decides, on values; ``survey`` and ``prune`` do the I/O, on the backend
that the application's ``PrefixedBackend`` wraps, so every name is the broker's.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator, Sequence

import attrs

from melange.app.application import Application
from melange.app.topology import AppTopology
from melange.backends.inspection import (
    SubscriptionInspection,
    TopicSubscription,
    inspection_of,
    subscription_inspection_of,
)
from melange.backends.prefixed import Prefix, PrefixedBackend
from melange.backends.protocol import MessagingBackend
from melange.exceptions import MelangeError, QueueNotFoundError
from melange.messages import Destination
from melange.topology.declared import Declared
from melange.topology.specs import QueueSpec, SubscriptionSpec, TopicSpec

__all__ = [
    "Leftover",
    "Stated",
    "after_declare",
    "broker_naming",
    "find_leftovers",
    "prune",
    "stated_by",
    "survey",
    "unprefixed",
]

#: The exit code of ``declare --prune`` without ``--yes`` when there is something to delete.
UNCONFIRMED = 2


@attrs.frozen
class Stated:
    """What an application states, by the broker's names (prefix included).

    Attributes:
        queues: its queues and dead-letter queues.
        subscriptions: each queue with the topics (names, or ARNs) it is subscribed to.
        topics: the topics it declares (its own: not those it names by ARN).
    """

    queues: frozenset[str]
    subscriptions: frozenset[tuple[str, str]]
    topics: frozenset[str]


@attrs.frozen
class Leftover:
    """A queue or subscription on the broker that the application does not state.

    Attributes:
        queue: the queue: the leftover itself, or where the subscription delivers.
        subscription: the leftover subscription; ``None`` for a queue.
        prunable: whether ``--prune`` deletes it (rules 1 and 2); ``False`` for another
            application's subscription to one of this one's topics (rule 3).
        messages: for a queue, the messages it holds (visible, in flight and delayed).
    """

    queue: str
    subscription: TopicSubscription | None = None
    prunable: bool = True
    messages: int | None = None

    def describe(self) -> str:
        """Name the resource as ``declare`` does, e.g. ``subscription 'q' to 't'``."""
        if self.subscription is not None:
            return f"subscription {self.queue!r} to {self.subscription.topic!r}"
        held = "" if self.messages is None else f" ({_messages(self.messages)})"
        return f"queue {self.queue!r}{held}"

    def line(self, effect: str | None = None) -> str:
        """Return the line ``declare`` prints, in its ``effect  resource`` columns."""
        if self.prunable:
            return f"{effect or 'leftover':<8} {self.describe()}"
        return f"{'other':<8} {self.describe()} (not stated by this application; --prune leaves it)"


def _messages(count: int) -> str:
    return f"{count} message" if count == 1 else f"{count} messages"


def stated_by(topology: AppTopology, prefix: str) -> Stated:
    """Return what ``topology`` states, named as the broker knows it under ``prefix``."""
    rename = Prefix(prefix).broker
    queues: set[str] = set()
    subscriptions: set[tuple[str, str]] = set()
    topics: set[str] = set()
    for spec in topology.declarations():
        if isinstance(spec, QueueSpec):
            renamed = spec.renamed(rename)
            queues.add(renamed.name)
            if renamed.dead_letter_queue is not None:
                queues.add(renamed.dead_letter_queue)
        elif isinstance(spec, TopicSpec):
            topics.add(spec.renamed(rename).name)
        elif isinstance(spec, SubscriptionSpec):
            subscribed = spec.renamed(rename)
            subscriptions.update((topic, subscribed.queue) for topic in subscribed.topics)
    return Stated(frozenset(queues), frozenset(subscriptions), frozenset(topics))


def place_of(arn: str) -> str:
    """Return the partition, region and account an ARN names (``aws:eu-west-1:123``)."""
    parts = arn.split(":")
    return ":".join(parts[1:2] + parts[3:5]) if len(parts) >= 6 else ""


def find_leftovers(
    stated: Stated,
    prefix: str,
    queues: Sequence[str],
    subscriptions: Iterable[TopicSubscription],
    place: str | None,
) -> list[Leftover]:
    """Return what the broker has and ``stated`` does not, by the rules of this module.

    Args:
        stated: what the application states, by broker names.
        prefix: ``MELANGE_PREFIX`` (``""``: none).
        queues: the broker's queues under the prefix (ignored without one).
        subscriptions: the account's subscriptions.
        place: the application's partition, region and account (``place_of`` a queue
            ARN of its own); ``None`` when it has no queue to tell it by.

    Returns:
        Leftover subscriptions, then leftover queues, then others' subscriptions.
    """
    found: list[Leftover] = []
    others: list[Leftover] = []
    for subscription in subscriptions:
        queue = subscription.queue
        if queue is None or not subscription.handle.startswith("arn:"):
            continue  # not to a queue, or unconfirmed: nothing Unsubscribe could remove
        ours = place is not None and place_of(subscription.endpoint) == place
        if ours and _is_stated(stated, subscription, queue, place):
            continue
        if ours and (queue in stated.queues or (prefix and queue.startswith(prefix))):
            found.append(Leftover(queue, subscription))
        elif subscription.topic in stated.topics and (
            place is None or place_of(subscription.topic_arn) == place
        ):
            others.append(Leftover(queue, subscription, prunable=False))
    if prefix:
        found.extend(Leftover(queue) for queue in queues if queue not in stated.queues)
    return [*found, *others]


def _is_stated(
    stated: Stated, subscription: TopicSubscription, queue: str, place: str | None
) -> bool:
    for topic, subscribed in stated.subscriptions:
        if subscribed != queue:
            continue
        if topic == subscription.topic_arn:  # a topic named by ARN
            return True
        if topic == subscription.topic and place_of(subscription.topic_arn) == place:
            return True
    return False


def unprefixed(backend: MessagingBackend) -> tuple[MessagingBackend, str]:
    """Return the backend under any ``PrefixedBackend``s, and the prefix they add together."""
    prefix = ""
    while isinstance(backend, PrefixedBackend):
        prefix = backend.prefix + prefix  # the inner one's prefix comes first
        backend = backend.backend
    return backend, prefix


def survey(backend: MessagingBackend, topology: AppTopology) -> list[Leftover]:
    """Return the leftovers of ``topology`` on ``backend``, each queue with its messages.

    One ``ListSubscriptions`` (paged) and, with a prefix, one ``ListQueues``, a
    ``GetQueueAttributes`` per leftover queue and one for the account's ARN.

    Raises:
        BackendRefusedError: the backend cannot list subscriptions.
        BackendError: the broker refused a listing (missing permission, say).
    """
    inner, prefix = unprefixed(backend)
    stated = stated_by(topology, prefix)
    listing = subscription_inspection_of(inner)
    inspection = inspection_of(inner)
    queues = inspection.list_queues(prefix) if prefix else []
    place = _place(listing, [*sorted(stated.queues), *queues])
    found = find_leftovers(stated, prefix, queues, listing.list_subscriptions(), place)
    return [
        attrs.evolve(each, messages=inspection.queue_stats(each.queue).total)
        if each.subscription is None
        else each
        for each in found
    ]


def _place(listing: SubscriptionInspection, queues: Iterable[str]) -> str | None:
    """Return the place of the first of ``queues`` that exists; ``None`` if none does."""
    for queue in queues:
        try:
            return place_of(listing.queue_arn(queue))
        except QueueNotFoundError:
            continue
    return None


def prune(backend: MessagingBackend, leftovers: Iterable[Leftover]) -> Iterator[Leftover]:
    """Delete each prunable leftover, subscriptions before queues; yield each once deleted.

    Subscriptions go first, so no topic delivers to a queue being deleted. A queue is
    deleted with its messages; SQS then refuses its name for 60 seconds.
    """
    inner, _ = unprefixed(backend)
    chosen = [each for each in leftovers if each.prunable]
    for each in sorted(chosen, key=lambda leftover: leftover.subscription is None):
        if each.subscription is not None:
            subscription_inspection_of(inner).unsubscribe(each.subscription)
        else:
            inner.delete(Destination.queue(each.queue))
        yield each


def broker_naming(backend: MessagingBackend) -> Callable[[Declared], Declared]:
    """Return a function naming a declaration's effect as the broker does (prefix included)."""
    _, prefix = unprefixed(backend)
    rename = Prefix(prefix).broker
    if not prefix:
        return lambda done: done
    return lambda done: done.renamed(done.spec.renamed(rename), rename)


def after_declare(app: Application, target: str, *, prune_them: bool, yes: bool) -> int:
    """Print the application's leftovers after ``declare``; delete them if told; exit code.

    Without ``--prune`` a failed look is a warning (``declare`` itself succeeded; the
    listing may need permissions the deployment lacks); with it, an error (exit 1).
    """
    try:
        found = survey(app.backend, app.topology)
    except MelangeError as exc:
        if prune_them:
            raise
        print(f"melange: declared; could not look for leftovers: {exc}", file=sys.stderr)
        return 0
    prunable = [each for each in found if each.prunable]
    if prune_them and yes:
        for each in prune(app.backend, found):
            print(each.line("deleted"), flush=True)
        for each in found:
            if not each.prunable:
                print(each.line(), flush=True)
        return 0
    for each in found:
        print(each.line(), flush=True)
    if not prunable:
        return 0
    count = "1 leftover" if len(prunable) == 1 else f"{len(prunable)} leftovers"
    if prune_them:
        print(
            f"melange: pruning deletes the {count} above for good, queues with their "
            "messages; add --yes to do it",
            file=sys.stderr,
        )
        return UNCONFIRMED
    print(
        f"melange: {count} above: the application no longer states them; "
        f"`python -m melange declare {target} --prune --yes` deletes them",
        file=sys.stderr,
    )
    return 0
