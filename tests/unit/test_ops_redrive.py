"""How ``dlq redrive`` moves dead letters back, as pure functions: copies, pace and end."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from melange import wire
from melange.app.ops.redrive import (
    REDRIVE_GROUP,
    RedriveProgress,
    pause_before,
    redrive_batch_size,
    redrive_copy,
    redrive_visibility,
    should_continue,
)
from melange.consuming.dead_letters import ERROR_ATTRIBUTE, dead_letter_copy
from melange.messages import Envelope, ReceivedMessage


def received(body: str, attributes: Mapping[str, object], **extra: object) -> ReceivedMessage:
    """Return a message as received from a dead-letter queue."""
    return ReceivedMessage(
        queue_name="work-dlq",
        receipt_handle="h1",
        broker_message_id="b1",
        body=body,
        attributes=attributes,  # type: ignore[arg-type]
        **extra,  # type: ignore[arg-type]
    )


def melange_payload() -> wire.Payload:
    """Return the body and attributes melange sends for a ``shop:Job`` on queue ``work``."""
    envelope = Envelope(content='{"n": 1}', manifest="shop:Job", serializer_id=1)
    return wire.queue_payload("work", envelope)


def test_a_redrive_copy_drops_melange_error_and_restores_the_original_attributes() -> None:
    """The copy sent back has the body and the attributes the message had before dead-lettering."""
    payload = melange_payload()
    copy = dead_letter_copy(payload.body, payload.attributes, "ValueError: boom")

    back = redrive_copy(received(copy.body, copy.attributes), "work")

    assert back.body == payload.body
    assert back.attributes == dict(payload.attributes)
    assert ERROR_ATTRIBUTE not in back.attributes
    assert (back.message_group_id, back.deduplication_id) == (None, None)


def test_a_fifo_copy_keeps_its_group_and_has_a_deduplication_id_stable_across_receives() -> None:
    """To a FIFO queue: the original group (or a default) and a dedup id from the broker id."""
    first = redrive_copy(received("b", {}, message_group_id="g1"), "work.fifo")
    again = redrive_copy(received("b", {}, message_group_id="g1"), "work.fifo")
    groupless = redrive_copy(received("b", {}), "work.fifo")

    assert first.message_group_id == "g1"
    assert first.deduplication_id == again.deduplication_id == "redrive-b1"
    assert groupless.message_group_id == REDRIVE_GROUP


@pytest.mark.parametrize(("rate", "size"), [(None, 10), (0.5, 1), (2, 2), (2.9, 2), (50, 10)])
def test_a_low_rate_receives_few_messages_at_once(rate: float | None, size: int) -> None:
    """The batch is at most the rate (at least 1, at most 10), so few are in flight."""
    assert redrive_batch_size(rate) == size


def test_a_batch_stays_hidden_while_the_rate_moves_it() -> None:
    """The visibility covers the batch at the rate, plus a margin, within SQS's 12 hours."""
    assert redrive_visibility(10, None) == 30
    assert redrive_visibility(2, 0.5) == 34
    assert redrive_visibility(10, 0.0001) == 43_200


def test_pacing_keeps_to_the_rate_from_the_start() -> None:
    """The n-th message waits until n/rate seconds after the start; no rate, no wait."""
    assert pause_before(4, started=100.0, now=101.0, rate=2) == pytest.approx(1.0)
    assert pause_before(4, started=100.0, now=103.0, rate=2) == 0.0
    assert pause_before(4, started=100.0, now=100.0, rate=None) == 0.0


@pytest.mark.parametrize(
    ("progress", "empty", "expected"),
    [
        (RedriveProgress("copy", 5, moved=2), False, True),
        (RedriveProgress("copy", 5, moved=2), True, False),
        (RedriveProgress("copy", 5, moved=4, not_deleted=1), False, False),
        (RedriveProgress("copy", 5, moved=1, interrupted=True), False, False),
    ],
    ids=["more", "empty-receive", "as-many-as-at-start", "interrupted"],
)
def test_a_redrive_stops_when_empty_interrupted_or_after_the_starting_depth(
    progress: RedriveProgress, empty: bool, expected: bool
) -> None:
    """It stops on an empty receive, an interruption, or after the depth it started with."""
    assert should_continue(progress, empty) is expected
