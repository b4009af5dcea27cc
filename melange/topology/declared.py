"""What a declaration did: created, changed (and what), or found as declared.

A backend's ``declare(spec)`` returns a ``Declared``; ``python -m melange declare`` prints
one per resource. Whether anything changed is decided here, once, on melange's own
values: each backend reads what the broker has as a mapping of ``QueueSpec`` field names
(``current_queue_settings``) and compares it with what the spec states
(``stated_queue_settings``) through ``changes``. No I/O here.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from melange.topology.specs import Declaration, QueueSpec, SubscriptionSpec, TopicSpec

__all__ = [
    "Change",
    "Declared",
    "Effect",
    "changes",
    "combined",
    "declared",
    "describe",
    "stated_queue_settings",
    "stated_subscription_settings",
]


class Effect(enum.Enum):
    """What declaring a resource did to it."""

    CREATED = "created"
    CHANGED = "changed"
    AS_IS = "as is"


@attrs.frozen
class Change:
    """One setting a declaration changed, named as ``QueueSpec``/``SubscriptionSpec`` name it.

    Attributes:
        field: the setting, e.g. ``"visibility_timeout"``, or ``"topics"`` for a topic the
            queue was newly subscribed to.
        before: what the broker had (``None``: nothing).
        after: what it has now.
    """

    field: str
    before: Any
    after: Any

    def __str__(self) -> str:
        return f"{self.field} {self.before!r} -> {self.after!r}"


@attrs.frozen
class Declared:
    """What declaring one queue, topic or subscription did.

    Attributes:
        spec: the declaration, as the application wrote it.
        effect: created, changed or as is.
        changes: for ``CHANGED``, each setting that differed.
    """

    spec: Declaration
    effect: Effect
    changes: tuple[Change, ...] = ()

    def __str__(self) -> str:
        line = f"{self.effect.value:<8} {describe(self.spec)}"
        if self.changes:
            line += " (" + "; ".join(map(str, self.changes)) + ")"
        return line

    def renamed(self, spec: Declaration, rename: Callable[[str], str]) -> Declared:
        """Return this effect for ``spec``, with ``rename`` applied to names in the changes."""
        renamed = tuple(
            Change(c.field, _renamed(c.before, rename), _renamed(c.after, rename))
            if c.field in ("dead_letter_queue", "topics")
            else c
            for c in self.changes
        )
        return Declared(spec, self.effect, renamed)


def _renamed(value: Any, rename: Callable[[str], str]) -> Any:
    return rename(value) if isinstance(value, str) else value


def describe(spec: Declaration) -> str:
    """Name a declaration's resource, e.g. ``subscription 'billing' to 'events'``."""
    if isinstance(spec, QueueSpec):
        return f"queue {spec.name!r}"
    if isinstance(spec, TopicSpec):
        return f"topic {spec.name!r}"
    return f"subscription {spec.queue!r} to {', '.join(map(repr, spec.topics))}"


def stated_queue_settings(spec: QueueSpec) -> dict[str, Any]:
    """Return the settings a queue spec states; those left ``None`` stay as the broker has them.

    The receive limit is part of the redrive policy, so it is stated only with a
    dead-letter queue.
    """
    stated: dict[str, Any] = {
        "visibility_timeout": spec.visibility_timeout,
        "retention_seconds": spec.retention_seconds,
        "content_based_deduplication": spec.content_based_deduplication,
        "dead_letter_queue": spec.dead_letter_queue,
    }
    if spec.dead_letter_queue is not None:
        stated["max_receive_count"] = spec.max_receive_count
    return {name: value for name, value in stated.items() if value is not None}


def stated_subscription_settings(spec: SubscriptionSpec) -> dict[str, Any]:
    """Return the settings a subscription spec states for each of its topics.

    Both are always stated: a subscription without a filter policy delivers everything,
    so declaring it removes a filter policy set earlier.
    """
    policy = None if spec.filter_policy is None else dict(spec.filter_policy)
    return {"raw_message_delivery": spec.raw_message_delivery, "filter_policy": policy}


def changes(stated: Mapping[str, Any], current: Mapping[str, Any]) -> tuple[Change, ...]:
    """Return each stated setting whose current value differs, in the stated order."""
    return tuple(
        Change(name, current.get(name), value)
        for name, value in stated.items()
        if current.get(name) != value
    )


def declared(
    spec: Declaration, current: Mapping[str, Any] | None, stated: Mapping[str, Any]
) -> Declared:
    """Return what declaring ``spec`` does to a resource that has ``current`` (``None``: none)."""
    if current is None:
        return Declared(spec, Effect.CREATED)
    found = changes(stated, current)
    return Declared(spec, Effect.CHANGED if found else Effect.AS_IS, found)


def combined(spec: Declaration, parts: list[Declared]) -> Declared:
    """Return one effect for a declaration made of several resources (a subscription's topics).

    Created if any part was created (its topic appears among the changes), changed if any
    changed, as is otherwise.
    """
    all_changes: list[Change] = []
    effect = Effect.AS_IS
    for part in parts:
        all_changes.extend(part.changes)
        if part.effect is Effect.CREATED:
            all_changes.append(Change("topics", None, _topics_of(part.spec)))
        if part.effect is not Effect.AS_IS:
            effect = Effect.CHANGED
    if parts and all(p.effect is Effect.CREATED for p in parts):
        return Declared(spec, Effect.CREATED)
    return Declared(spec, effect, tuple(all_changes))


def _topics_of(spec: Declaration) -> str | None:
    if isinstance(spec, SubscriptionSpec) and len(spec.topics) == 1:
        return spec.topics[0]
    return None
