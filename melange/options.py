"""How a dispatcher consumes: every option in one validated value, with its default once.

``DispatcherOptions`` is what ``MessageDispatcher`` and each ``QueueRunner`` read;
``options_from_settings`` builds it from ``MELANGE_*`` settings, and
``MessageDispatcher(..., workers=8)`` builds it from keywords. ``AckPolicy`` says when a
message is acknowledged (melange 7's ``early_ack`` and ``always_ack`` booleans are mapped
onto it by ``melange.compat``).
"""

from __future__ import annotations

import enum
import math
import random
from collections.abc import Callable
from typing import Any, Literal

import attrs

from melange import limits
from melange.exceptions import ConfigurationError, Problem

__all__ = [
    "DEFAULT_OPTIONS",
    "AckPolicy",
    "Backoff",
    "CacheUnavailablePolicy",
    "DispatcherOptions",
]

#: What to do when the deduplication cache cannot be reached.
CacheUnavailablePolicy = Literal["process", "redeliver"]


def _non_negative(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if value < 0:
        raise ConfigurationError(
            f"backoff {attribute.name}={value!r} is negative; use a number of seconds >= 0",
            problems=[Problem(attribute.name, value, "a number of seconds >= 0")],
        )


def _fraction(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0 <= value <= 1:
        raise ConfigurationError(
            f"backoff jitter={value!r} is outside 0-1; it is the fraction of the delay that "
            "is randomised (0.5 spreads retries over 50-100% of the delay)",
            problems=[Problem("jitter", value, "a fraction 0-1")],
        )


@attrs.frozen
class Backoff:
    """Exponential backoff with jitter, capped.

    The n-th failed receive (``receive_count`` = n) waits ``base * 2 ** (n - 1)`` seconds,
    at most ``cap``; ``jitter`` randomises that fraction of it, so failing messages do not
    come back in lockstep.

    Attributes:
        base: the delay after the first failure, in seconds.
        cap: the longest delay, in seconds (SQS allows up to 43,200).
        jitter: the randomised fraction of each delay, 0 to 1.
    """

    base: float = attrs.field(default=1.0, validator=_non_negative)
    cap: float = attrs.field(default=300.0, validator=_non_negative)
    jitter: float = attrs.field(default=0.5, validator=_fraction)

    def delay(self, receive_count: int, rand: Callable[[], float] = random.random) -> int:
        """Return whole seconds to hide a message after its ``receive_count``-th failure."""
        ceiling = min(self.cap, float(limits.MAX_VISIBILITY_TIMEOUT))
        if self.base <= 0 or ceiling <= 0:
            return 0
        doublings = max(receive_count, 1) - 1
        # Compare exponents rather than compute 2**doublings, which overflows for huge counts.
        if doublings >= math.log2(ceiling / self.base):
            full = ceiling
        else:
            full = min(ceiling, self.base * 2.0**doublings)
        spread = full * self.jitter
        # Whole seconds, at least 1, so a retry never comes back at once.
        return max(1, math.ceil(full - spread + spread * rand()))


class AckPolicy(enum.Enum):
    """When a received message is acknowledged (deleted from its queue).

    Attributes:
        AFTER_SUCCESS: once every consumer that accepts it succeeded (at least once; the
            default). A failure makes it visible again after the backoff.
        ON_RECEIPT: as soon as it is received, before any handler runs (at most once: a
            failure or a crash loses it). melange 7's ``early_ack``.
        ALWAYS: after handling, even when a consumer raised (nothing is retried).
            melange 7's ``always_ack``.
    """

    AFTER_SUCCESS = "after_success"
    ON_RECEIPT = "on_receipt"
    ALWAYS = "always"


def _at_least_one(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise ConfigurationError(
            f"{attribute.name}={value!r} must be at least 1",
            problems=[Problem(attribute.name, value, "an integer >= 1")],
        )


def _check_pollers(instance: DispatcherOptions, attribute: object, value: int | None) -> None:
    if value is not None and not 1 <= value <= instance.workers:
        raise ConfigurationError(
            f"pollers={value!r} must be between 1 and workers={instance.workers!r}; each "
            "poller keeps one receive in flight",
            problems=[Problem("pollers", value, f"an integer 1-{instance.workers} (workers)")],
        )


def _check_max_messages(instance: object, attribute: object, value: int) -> None:
    if not 1 <= value <= limits.MAX_BATCH_ENTRIES:
        raise ConfigurationError(
            f"max_messages={value!r} is outside 1-{limits.MAX_BATCH_ENTRIES}, the most SQS "
            "returns per receive",
            problems=[Problem("max_messages", value, f"an integer 1-{limits.MAX_BATCH_ENTRIES}")],
        )


def _check_wait(instance: object, attribute: object, value: int) -> None:
    if not 0 <= value <= limits.MAX_WAIT_TIME_SECONDS:
        raise ConfigurationError(
            f"wait_time_seconds={value!r} is outside 0-{limits.MAX_WAIT_TIME_SECONDS}, the "
            "long-poll range SQS accepts",
            problems=[
                Problem("wait_time_seconds", value, f"an integer 0-{limits.MAX_WAIT_TIME_SECONDS}")
            ],
        )


def _check_visibility(instance: object, attribute: object, value: int) -> None:
    if not 1 <= value <= limits.MAX_VISIBILITY_TIMEOUT:
        raise ConfigurationError(
            f"visibility_timeout={value!r} is outside 1-{limits.MAX_VISIBILITY_TIMEOUT} "
            "seconds; at least 1, so a message is not redelivered while its handler runs",
            problems=[
                Problem(
                    "visibility_timeout", value, f"an integer 1-{limits.MAX_VISIBILITY_TIMEOUT}"
                )
            ],
        )


def _check_cache_policy(instance: object, attribute: object, value: str) -> None:
    if value not in ("process", "redeliver"):
        raise ConfigurationError(
            f"on_cache_unavailable={value!r} is not one of 'process', 'redeliver'",
            problems=[Problem("on_cache_unavailable", value, "'process' or 'redeliver'")],
        )


def _check_flush_interval(instance: object, attribute: object, value: float) -> None:
    if not value > 0:
        raise ConfigurationError(
            f"ack_flush_interval={value!r} must be a positive number of seconds",
            problems=[Problem("ack_flush_interval", value, "a number of seconds > 0")],
        )


def _check_foreign(
    instance: object, attribute: object, value: Callable[[Any], object] | None
) -> None:
    if value is not None and not callable(value):
        raise ConfigurationError(
            f"foreign={value!r} is not a class or a function; name the class foreign "
            "messages are read as (foreign=S3EventNotification) or a function of their JSON",
            problems=[Problem("foreign", value, "a class, or a function of the parsed JSON")],
        )


@attrs.frozen(kw_only=True)
class DispatcherOptions:
    """How a dispatcher consumes each queue; validated when built.

    Attributes:
        workers: handlers running at once per queue: threads in ``MessageDispatcher``,
            tasks in ``melange.aio.AsyncMessageDispatcher``.
        pollers: threads that receive, each with one request in flight; ``None``: one per
            ``max_messages`` workers (see ``poller_count``).
        max_messages: messages per receive, 1-10.
        wait_time_seconds: long-poll wait, 0-20; ``stop`` can take this long.
        visibility_timeout: seconds a received message stays invisible; the heartbeat
            extends it for handlers that run longer than half of it.
        backoff: delay before a failed message is retried, by its receive count.
        ack_policy: when a message is acknowledged (``AckPolicy``).
        ack_unhandled: acknowledge a message no consumer accepts, for queues that knowingly
            receive more than they handle; by default it goes to the dead-letter queue.
        heartbeat: extend the visibility of messages whose handler is still running.
        on_cache_unavailable: when the deduplication cache cannot be reached,
            ``"process"`` (log a warning and handle anyway: handlers should be idempotent)
            or ``"redeliver"`` (release the message and pause receiving until the cache
            answers a probe).
        ack_flush_interval: longest wait, in seconds, before a partial batch of
            acknowledgements is sent.
        foreign: how messages that no melange serializer wrote (no ``serializer_id``, no
            ``manifest``: another producer's JSON, an AWS service's event) are read: an
            attrs class, dataclass or pydantic model their JSON is structured into, or a
            function of their parsed JSON; ``None``: the registry's default serializer
            reads them (``json``: dicts). See ``melange.serializers.foreign``.
        delete_payloads: delete a large message's S3 object once the message is
            acknowledged (``melange.payloads``). Right for a queue consumed once; a queue
            a topic feeds must leave it (the topic's other subscribers read it too) to the
            bucket's lifecycle rule. A worker sets it from the queue's ``Subscription``.
    """

    workers: int = attrs.field(default=1, validator=_at_least_one)
    pollers: int | None = attrs.field(default=None, validator=_check_pollers)
    max_messages: int = attrs.field(default=10, validator=_check_max_messages)
    wait_time_seconds: int = attrs.field(default=20, validator=_check_wait)
    visibility_timeout: int = attrs.field(default=30, validator=_check_visibility)
    backoff: Backoff = attrs.field(factory=Backoff)
    ack_policy: AckPolicy = AckPolicy.AFTER_SUCCESS
    ack_unhandled: bool = False
    heartbeat: bool = True
    on_cache_unavailable: CacheUnavailablePolicy = attrs.field(
        default="process", validator=_check_cache_policy
    )
    ack_flush_interval: float = attrs.field(default=0.2, validator=_check_flush_interval)
    foreign: Callable[[Any], object] | None = attrs.field(default=None, validator=_check_foreign)
    delete_payloads: bool = False

    @property
    def poller_count(self) -> int:
        """The pollers to run: as given, or enough that receiving keeps up with the workers."""
        return self.pollers or -(-self.workers // self.max_messages)  # ceil(workers / batch)


#: Every option at its default: the one place defaults are written (settings read them).
DEFAULT_OPTIONS = DispatcherOptions()
