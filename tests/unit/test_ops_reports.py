"""What ``queues`` and ``dlq show`` report, as pure values: nothing here talks to a broker."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime

from melange import wire
from melange.app.ops.output import dead_letter_lines, letter_cells
from melange.app.ops.reports import QueueRow, dead_letter_of
from melange.backends.inspection import MoveTask, QueueStats
from melange.consuming.dead_letters import dead_letter_copy
from melange.messages import Destination, Envelope, OutgoingMessage, ReceivedMessage
from melange.wire.claim_check import SIZE_ATTRIBUTE, ClaimCheck, PayloadPointer
from melange.wire.write import claim_check_payload


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


def test_a_dead_letter_tells_its_reason_type_receives_and_send_time() -> None:
    """``dead_letter_of`` reads melange_error, the manifest, the receive count and SentTimestamp."""
    payload = melange_payload()
    copy = dead_letter_copy(payload.body, payload.attributes, "ValueError: boom")
    sent = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

    letter = dead_letter_of(received(copy.body, copy.attributes, receive_count=3, sent_at=sent))

    assert letter.reason == "ValueError: boom"
    assert letter.manifest == "shop:Job"
    assert letter.receive_count == 3
    assert letter.as_json()["sent_at"] == "2026-01-02T03:04:05+00:00"


def test_a_message_the_broker_moved_has_no_reason_and_an_unreadable_one_no_type() -> None:
    """No melange_error: reason None; a body melange cannot read: manifest None, no error."""
    letter = dead_letter_of(received("not json at all", {"manifest": 42}))

    assert letter.reason is None
    assert letter.manifest is None


def test_a_queue_row_and_stats_as_json() -> None:
    """A row lists the counts and the dead-letter queue's depth; total adds the three counts."""
    row = QueueRow("work", QueueStats(3, 1, 2), "work-dlq", QueueStats(4, 0, 0))

    assert row.as_json()["dead_letter_depth"] == 4
    assert row.stats.total == 6
    assert QueueRow("x", QueueStats(0, 0, 0)).as_json()["dead_letter_depth"] is None


def test_a_move_task_is_finished_once_completed_cancelled_or_failed() -> None:
    """Only a running or cancelling task may move more messages."""
    assert not MoveTask("h", "RUNNING").finished
    assert MoveTask("h", "COMPLETED").finished
    assert MoveTask("h", "FAILED", failure="x").finished


def test_a_dead_letter_carries_the_message_id_the_worker_logged_and_its_content() -> None:
    """The message_id the worker logged, and the content as published, unwrapped."""
    payload = melange_payload()
    copy = dead_letter_copy(payload.body, payload.attributes, "ValueError: boom")
    message_id = payload.attributes[wire.MESSAGE_ID]

    letter = dead_letter_of(received(copy.body, copy.attributes))

    assert letter.message_id == message_id
    assert letter.body == '{"n": 1}'
    assert letter.as_json()["message_id"] == message_id
    assert "body" not in letter.as_json()
    assert letter.as_json(body=True)["body"] == '{"n": 1}'


def test_a_notification_names_its_id_and_a_message_without_one_has_none() -> None:
    """Through SNS (raw delivery off) the id is inside the body; a bare message has none.

    Without an id of its own, ``wire.unwrap`` gives a message the broker's id: on the
    dead-letter queue that is the copy's, which no log line names.
    """
    envelope = Envelope(content='{"n": 2}', manifest="shop:Job", serializer_id=1)
    topic = wire.topic_payload("events", envelope)
    notification = wire.sns_notification_body(
        topic_arn="arn:aws:sns:eu-west-1:1:events",
        sns_message_id="sns-1",
        message=topic.body,
        attributes=topic.attributes,
        subject=None,
    )

    through_sns = dead_letter_of(received(notification, {}))
    bare = dead_letter_of(received('{"n": 3}', {}))

    assert through_sns.message_id == envelope.message_id
    assert through_sns.body == '{"n": 2}'
    assert bare.message_id is None
    assert bare.body == '{"n": 3}'
    assert dead_letter_of(received("{oops", {"message_id": "m-9", "manifest": 42})).message_id == (
        "m-9"
    )


def large_dead_letter(*, extra: Mapping[str, str] | None = None) -> ReceivedMessage:
    """Return a dead-lettered ``shop:Job`` whose 2 MiB body went to S3, as published."""
    envelope = Envelope(
        content='{"n": 2}', manifest="shop:Job", serializer_id=1, attributes=dict(extra or {})
    )
    check = ClaimCheck(
        PayloadPointer("payloads", "melange-payloads/work/m1"), 2_097_152, SIZE_ATTRIBUTE
    )
    sent = claim_check_payload(Destination.queue("work"), OutgoingMessage(envelope), check)
    copy = dead_letter_copy(sent.body, sent.attributes, "ValueError: boom")
    return received(copy.body, copy.attributes)


def test_a_large_dead_letter_tells_where_its_payload_is_and_its_size() -> None:
    """``dlq show`` names the S3 object and the size the message states; the body is its pointer."""
    letter = dead_letter_of(large_dead_letter())

    assert letter.payload == PayloadPointer("payloads", "melange-payloads/work/m1")
    assert letter.payload_size == 2_097_152
    assert letter.as_json()["payload"] == {
        "location": "s3://payloads/melange-payloads/work/m1",
        "size": 2_097_152,
    }
    assert letter.manifest == "shop:Job"  # read without S3: melange's attributes travel
    assert "PayloadS3Pointer" in letter.body
    assert "   payload: 2,097,152 bytes in S3 at s3://payloads/melange-payloads/work/m1" in (
        dead_letter_lines(letter, 1)
    )
    assert "payload: 2,097,152 bytes in S3" in letter_cells(letter, 1)[3]


def test_a_large_dead_letter_read_from_s3_shows_its_content() -> None:
    """With the payload fetched (``--body``), the body is what was published."""
    letter = dead_letter_of(large_dead_letter(), payload=json.dumps({"Message": '{"n": 2}'}))

    assert letter.body == '{"n": 2}'
    assert letter.payload is not None


def test_a_size_attribute_folded_into_the_reason_still_marks_the_dead_letter() -> None:
    """Another producer's ten attributes: the size, the smallest, is folded; still read."""
    pointer = PayloadPointer("payloads", "theirs/1")
    attributes: dict[str, object] = {f"attribute{n}": "x" * 40 for n in range(9)}
    attributes[SIZE_ATTRIBUTE] = 2_097_152
    copy = dead_letter_copy(pointer.body(), attributes, "ValueError: boom")  # type: ignore[arg-type]
    assert SIZE_ATTRIBUTE not in copy.attributes  # folded into melange_error

    letter = dead_letter_of(received(copy.body, copy.attributes))

    assert (letter.payload, letter.payload_size) == (pointer, 2_097_152)


def test_an_inline_dead_letter_has_no_payload() -> None:
    """A message that travelled inline shows no S3 location."""
    payload = melange_payload()
    copy = dead_letter_copy(payload.body, payload.attributes, "ValueError: boom")

    letter = dead_letter_of(received(copy.body, copy.attributes))

    assert (letter.payload, letter.as_json()["payload"]) == (None, None)
    assert not any("payload" in line for line in dead_letter_lines(letter, 1))
