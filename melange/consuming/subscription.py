"""``Subscription``: where a consumer reads, stated on the consumer itself.

A consumer class carries one as a class attribute (its constructor stays free for the
dependencies pinject injects)::

    class BillingConsumer(Consumer):
        subscription = Subscription(
            "billing", topics=["order-events"], filter_policy={"region": ["eu"]},
            dead_letter_queue="billing-dlq",
        )

The application's topology (``melange.app.application``) is derived from these. A ``Subscription``
checks itself when it is made by building the ``QueueSpec`` and ``SubscriptionSpec`` it
stands for, so every SQS/SNS rule is written once, in ``melange.topology.specs``; settings left
``None`` come from the settings (``MELANGE_WORKERS``, ``MELANGE_VISIBILITY_TIMEOUT``,
``MELANGE_MAX_RECEIVE_COUNT``) when the topology is derived.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from types import FrameType
from typing import Any

import attrs

from melange.exceptions import ConfigurationError, DeclarationError
from melange.limits import is_fifo
from melange.options import DispatcherOptions
from melange.topology.specs import QueueSpec, SubscriptionSpec, copied_policy, topic_names

__all__ = ["Subscription"]


@attrs.frozen
class Subscription:
    """The queue a consumer reads, the topics feeding it and how the queue is run.

    Attributes:
        queue: the queue's name; ``.fifo`` at the end makes a FIFO queue.
        topics: topics (names, or ARNs of topics the application does not own) the queue
            is subscribed to; none: the consumer reads what is sent to the queue directly.
        filter_policy: an SNS filter policy on message attributes for those topics,
            e.g. ``{"region": ["eu"]}``; ``None`` delivers everything.
        raw_message_delivery: topics deliver the message itself, not SNS's notification.
        dead_letter_queue: where messages received ``max_receive_count`` times move.
        max_receive_count: receives before that move; ``None``: ``MELANGE_MAX_RECEIVE_COUNT``.
        visibility_timeout: seconds a received message stays hidden, declared on the queue
            and used by its workers; ``None``: ``MELANGE_VISIBILITY_TIMEOUT``.
        fifo: whether the queue is FIFO; SQS decides by the name, so this only checks that
            the name agrees (``None``: no check).
        workers: handlers running at once on this queue; ``None``: ``MELANGE_WORKERS``.
        foreign: how the queue reads messages no melange serializer wrote (another
            producer's JSON, S3 event notifications, EventBridge events): the attrs class,
            dataclass or pydantic model their JSON is structured into, or a function of
            their parsed JSON (``DispatcherOptions.foreign``); ``None``: as dicts.
        delete_payloads: delete a large message's S3 object once it is acknowledged
            (``DispatcherOptions.delete_payloads``); ``None``: when no topic feeds the
            queue (a topic's other subscribers need the object too).

    Raises:
        DeclarationError: a value SQS/SNS would refuse, or ``fifo`` contradicting the name;
            inside a consumer class body, the message names the class.
        ConfigurationError: ``workers`` below 1, or a filter policy or raw delivery
            without topics.
    """

    queue: str
    topics: tuple[str, ...] = attrs.field(default=(), converter=topic_names)
    filter_policy: Mapping[str, Any] | None = attrs.field(
        default=None, converter=copied_policy, hash=False
    )
    raw_message_delivery: bool = False
    dead_letter_queue: str | None = None
    max_receive_count: int | None = None
    visibility_timeout: int | None = None
    fifo: bool | None = None
    workers: int | None = None
    foreign: Callable[[Any], object] | None = None
    delete_payloads: bool | None = None

    def __attrs_post_init__(self) -> None:
        try:
            self._check()
        except ConfigurationError as exc:
            owner = _class_being_defined()
            if owner is not None:
                exc.args = (f"consumer class {owner!r}: {exc}",)
            raise

    def _check(self) -> None:
        self.queue_spec(max_receive_count=1)  # a stated count is checked, not this default
        self.subscription_specs()
        if self.fifo is not None and self.fifo != is_fifo(self.queue):
            raise DeclarationError(
                f"fifo={self.fifo!r} but queue {self.queue!r} is "
                f"{'FIFO' if is_fifo(self.queue) else 'standard'}: SQS decides by the name, "
                "so end a FIFO queue's name with '.fifo' (and only a FIFO queue's)",
                name=self.queue,
                field="fifo",
                value=self.fifo,
                expected=f"{is_fifo(self.queue)}, as the name {self.queue!r} says, or None",
            )
        # The queue's workers run with these: DispatcherOptions holds their rules.
        run_with: dict[str, Any] = {
            "workers": self.workers,
            "visibility_timeout": self.visibility_timeout,
            "foreign": self.foreign,
        }
        DispatcherOptions(**{name: value for name, value in run_with.items() if value is not None})
        if not self.topics and (self.filter_policy is not None or self.raw_message_delivery):
            field = "filter_policy" if self.filter_policy is not None else "raw_message_delivery"
            raise DeclarationError(
                f"{field} is set for queue {self.queue!r} but it subscribes to no topic; "
                "name the topics (topics=[...]) or drop it",
                name=self.queue,
                field=field,
                value=getattr(self, field),
                expected="topics to subscribe the queue to, or no " + field,
            )

    def queue_spec(
        self, *, max_receive_count: int, visibility_timeout: int | None = None
    ) -> QueueSpec:
        """Return the queue's spec, with the given defaults for what this leaves ``None``."""
        return QueueSpec(
            self.queue,
            dead_letter_queue=self.dead_letter_queue,
            max_receive_count=(
                max_receive_count if self.max_receive_count is None else self.max_receive_count
            ),
            visibility_timeout=(
                visibility_timeout if self.visibility_timeout is None else self.visibility_timeout
            ),
        )

    def subscription_specs(self) -> tuple[SubscriptionSpec, ...]:
        """Return one subscription spec per topic (each is one SNS subscription)."""
        return tuple(
            SubscriptionSpec(
                self.queue,
                (topic,),
                filter_policy=self.filter_policy,
                raw_message_delivery=self.raw_message_delivery,
            )
            for topic in self.topics
        )


def _class_being_defined() -> str | None:
    """Return the qualified name of the class whose body built the ``Subscription``, if any.

    A class attribute is built before its class exists, so the class body's frame is the
    only place that knows the name (``collections.namedtuple`` reads frames the same way).
    """
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and (
        frame.f_code.co_filename == __file__ or frame.f_code.co_filename.startswith("<attrs")
    ):
        frame = frame.f_back
    if frame is None:
        return None
    names = frame.f_locals
    if "__module__" in names and "__qualname__" in names and frame.f_code.co_name != "<module>":
        return str(names["__qualname__"])
    return None
