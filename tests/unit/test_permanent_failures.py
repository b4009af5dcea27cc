"""Failures that must not be retried, and each consumer's own retry budget and backoff.

A handler raising ``melange.Reject(reason)``, or an exception whose type is in the
consumer's ``throws``, sends the message to the dead-letter queue on its first receive,
with the reason, logged once at ERROR. ``backoff`` and ``max_receive_count`` on a consumer
replace the dispatcher's for that consumer's failures. Every test runs on both halves of
the consume core.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from melange import Backoff, Consumer, QueuePublisher, Reject
from melange.backends import InMemoryBackend
from melange.consuming.dead_letters import dead_letter_reason
from melange.consuming.dedup import CacheProbe
from melange.consuming.outcomes import Action, DispatcherStats, HandlingSetup, InFlight
from melange.exceptions import ConfigurationError
from melange.options import AckPolicy, DispatcherOptions
from melange.serializers import JsonSerializer, SerializerRegistry
from melange.telemetry.metrics import reason_class
from tests.support import halves
from tests.support.clock import FakeClock

HALF: list[halves.Half] = ["threads"]

#: The dispatcher's backoff: 30 s, so a consumer's own backoff shows.
OPTIONS = DispatcherOptions(backoff=Backoff(base=30, cap=30, jitter=0))


@pytest.fixture(autouse=True, params=halves.HALVES, name="half")
def fixture_half(request: pytest.FixtureRequest) -> Iterator[halves.Half]:
    """Run every test of this module on the threaded half, then on the asyncio half."""
    HALF[0] = request.param
    yield request.param
    HALF[0] = "threads"


class RefundRejected(Exception):
    """The application's own exception for a refund that can never be made."""


class TooLate(RefundRejected):
    """A subclass of a listed type is permanent too."""


class Refunds(Consumer):
    """Raises whatever the message says to raise."""

    throws = (RefundRejected,)

    def __init__(self, **retry: Any) -> None:
        super().__init__(on_message=self.handle, name="refunds", **retry)

    def handle(self, message: Any) -> None:
        kind = message["raise"]
        if kind == "reject":
            raise Reject(f"refund {message['n']} exceeds the order total")
        if kind == "rejected":
            raise RefundRejected(f"refund {message['n']} was already made")
        if kind == "too-late":
            raise TooLate(f"refund {message['n']} is past 90 days")
        raise TimeoutError("the payment provider did not answer")


@pytest.fixture(name="registry")
def fixture_registry() -> SerializerRegistry:
    """Give a JSON-only registry."""
    return SerializerRegistry({"serializers": {"json": JsonSerializer}})


@pytest.fixture(name="backend")
def fixture_backend(clock: FakeClock) -> InMemoryBackend:
    """Give 'refunds' (DLQ after 5 receives) and 'no-dlq'."""
    backend = InMemoryBackend(clock=clock)
    backend.declare_queue("refunds", dead_letter_queue="refunds-dlq", max_receive_count=5)
    backend.declare_queue("no-dlq")
    return backend


def handle_and_settle(
    registry: SerializerRegistry,
    backend: InMemoryBackend,
    consumer: Consumer,
    message: dict[str, Any],
    *,
    queue: str = "refunds",
    options: DispatcherOptions = OPTIONS,
    receives: int = 1,
) -> tuple[Any, DispatcherStats]:
    """Publish ``message`` to ``queue``, fail it ``receives - 1`` times, then handle and settle."""
    QueuePublisher(registry, backend).publish(queue, message)
    for _ in range(receives - 1):  # earlier receives whose visibility ran out
        [earlier] = backend.receive(queue)
        backend.change_visibility(queue, [earlier.receipt_handle], 0)
    [received] = backend.receive(queue)
    stats = DispatcherStats()
    setup = HandlingSetup(registry, [consumer], options)
    handling = halves.message_handling(
        HALF[0], backend, queue, setup, stats, probe=CacheProbe(None)
    )
    outcome = handling.handle(InFlight(received, 0.0, 0.0))
    handling.settle(received, outcome)
    return outcome, stats


def dead_letters(backend: InMemoryBackend, queue: str = "refunds-dlq") -> list[str | None]:
    """Return the reasons of the messages on ``queue``."""
    return [dead_letter_reason(m.attributes) for m in backend.receive(queue)]


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("reject", "rejected by refunds: refund 1 exceeds the order total"),
        ("rejected", "rejected by refunds: RefundRejected: refund 1 was already made"),
        ("too-late", "rejected by refunds: TooLate: refund 1 is past 90 days"),
    ],
)
def test_a_permanent_failure_is_dead_lettered_on_its_first_receive_with_its_reason(
    registry: SerializerRegistry,
    backend: InMemoryBackend,
    caplog: pytest.LogCaptureFixture,
    kind: str,
    reason: str,
) -> None:
    """Reject, a type in throws or a subclass of one: on the DLQ at once, one ERROR line."""
    caplog.set_level(logging.DEBUG, logger="melange")
    outcome, stats = handle_and_settle(registry, backend, Refunds(), {"n": 1, "raise": kind})
    assert (outcome.action, outcome.reason) == (Action.DEAD_LETTER, reason)
    assert dead_letters(backend) == [reason]
    assert backend.message_count("refunds") == 0
    assert (stats.dead_lettered, stats.retried) == (1, 0)
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [(r.levelname, r.exc_info) for r in problems] == [("ERROR", None)]
    assert reason in problems[0].getMessage()
    assert reason_class(reason) == "rejected"


def test_a_failure_not_listed_in_throws_is_retried_after_the_dispatchers_backoff(
    registry: SerializerRegistry, backend: InMemoryBackend, caplog: pytest.LogCaptureFixture
) -> None:
    """Any other exception keeps its retries, with the WARNING and traceback it had."""
    caplog.set_level(logging.WARNING, logger="melange")
    outcome, stats = handle_and_settle(registry, backend, Refunds(), {"n": 1, "raise": "other"})
    assert (outcome.action, outcome.delay) == (Action.RETRY, 30)
    assert stats.retried == 1
    assert backend.message_count("refunds-dlq") == 0
    [warning] = caplog.records
    assert warning.levelname == "WARNING"
    assert warning.exc_info is not None


def test_a_consumers_backoff_replaces_the_dispatchers(
    registry: SerializerRegistry, backend: InMemoryBackend
) -> None:
    """backoff= on the consumer: its delay, not the dispatcher's 30 s."""
    consumer = Refunds(backoff=Backoff(base=2, cap=60, jitter=0))
    outcome, _ = handle_and_settle(
        registry, backend, consumer, {"n": 1, "raise": "other"}, receives=3
    )
    assert (outcome.action, outcome.delay) == (Action.RETRY, 8)


def test_a_consumers_retry_budget_dead_letters_before_the_queues(
    registry: SerializerRegistry, backend: InMemoryBackend
) -> None:
    """max_receive_count=2 on the consumer: the 2nd failure is dead-lettered, queue allows 5."""
    consumer = Refunds(max_receive_count=2)
    first, _ = handle_and_settle(registry, backend, consumer, {"n": 1, "raise": "other"})
    assert first.action is Action.RETRY
    backend.purge("refunds")
    second, stats = handle_and_settle(
        registry, backend, consumer, {"n": 2, "raise": "other"}, receives=2
    )
    reason = "TimeoutError: the payment provider did not answer (receive 2; refunds allows 2)"
    assert (second.action, second.reason) == (Action.DEAD_LETTER, reason)
    assert dead_letters(backend) == [reason]
    assert stats.dead_lettered == 1
    assert reason_class(reason) == "handler_failed"


def test_a_permanent_failure_without_a_dead_letter_queue_is_kept_and_said_at_error(
    registry: SerializerRegistry, backend: InMemoryBackend, caplog: pytest.LogCaptureFixture
) -> None:
    """No DLQ: the message stays on the queue (nothing dropped), hidden for the backoff."""
    caplog.set_level(logging.WARNING, logger="melange")
    outcome, stats = handle_and_settle(
        registry, backend, Refunds(), {"n": 1, "raise": "reject"}, queue="no-dlq"
    )
    assert outcome.action is Action.DEAD_LETTER
    assert backend.message_count("no-dlq") == 1
    assert backend.receive("no-dlq") == []  # hidden for the backoff, not deleted
    assert stats.dead_lettered == 0
    [error] = caplog.records
    assert error.levelname == "ERROR"
    assert "has no dead-letter queue" in error.getMessage()


def test_ack_policy_always_acknowledges_a_permanent_failure_too(
    registry: SerializerRegistry, backend: InMemoryBackend
) -> None:
    """AckPolicy.ALWAYS means nothing is retried or dead-lettered: it wins."""
    options = DispatcherOptions(ack_policy=AckPolicy.ALWAYS)
    outcome, _ = handle_and_settle(
        registry, backend, Refunds(), {"n": 1, "raise": "reject"}, options=options
    )
    assert outcome.action is Action.ACK
    assert backend.message_count("refunds") == backend.message_count("refunds-dlq") == 0


@pytest.mark.parametrize(
    ("retry", "setting"),
    [
        ({"throws": ("RefundRejected",)}, "throws"),
        ({"throws": (RefundRejected, 3)}, "throws"),
        ({"backoff": 5}, "backoff"),
        ({"max_receive_count": 0}, "max_receive_count"),
        ({"max_receive_count": 1001}, "max_receive_count"),
        ({"max_receive_count": True}, "max_receive_count"),
    ],
)
def test_a_wrong_retry_setting_on_a_consumer_is_refused_when_it_is_made(
    retry: dict[str, Any], setting: str
) -> None:
    """Given to the constructor: a ConfigurationError naming the setting and the consumer."""
    with pytest.raises(ConfigurationError, match="Refunds") as raised:
        Refunds(**retry)
    assert [p.setting for p in raised.value.problems] == [setting]


def test_a_wrong_throws_on_a_consumer_class_is_refused_when_the_class_is_defined() -> None:
    """A class attribute is checked by __init_subclass__, before any instance exists."""
    with pytest.raises(ConfigurationError, match=r"throws of consumer '.*Broken' is"):

        class Broken(Consumer):
            throws = RefundRejected  # type: ignore[assignment]  # not a tuple: the mistake
