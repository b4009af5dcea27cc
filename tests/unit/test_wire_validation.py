"""Validation in the wire format: what SQS and SNS would refuse is refused before sending."""

from __future__ import annotations

import json
from typing import Any

import pytest

from melange import limits, wire
from melange.exceptions import (
    ConfigurationError,
    MalformedMessageError,
    MessageAttributeError,
    MessageTooLargeError,
    Problem,
    SerializationError,
)
from melange.messages import AttributeValue, Envelope, ReceivedMessage, SendOptions


def _envelope(content: str, **attributes: AttributeValue) -> Envelope:
    return Envelope(content, "json", 1, attributes=attributes)


def _received(body: str, attributes: dict[str, AttributeValue]) -> ReceivedMessage:
    return ReceivedMessage("orders", "receipt-1", "broker-id-1", body, attributes)


@pytest.mark.parametrize("value", ["", b""])
def test_empty_attribute_values_are_refused(value: str | bytes) -> None:
    """An empty String or Binary attribute is refused, as SQS refuses it."""
    with pytest.raises(MessageAttributeError, match="'note' is empty"):
        wire.envelope_attributes(_envelope("x", note=value))


@pytest.mark.parametrize("text", ["\ud800", "a\x00b", "\uffff"])
def test_characters_sqs_refuses_are_named_before_sending(text: str) -> None:
    """Content or attributes with non-XML characters raise SerializationError naming them."""
    with pytest.raises(SerializationError, match="SQS and SNS refuse"):
        wire.queue_payload("q", _envelope(text))
    with pytest.raises(SerializationError, match="SQS and SNS refuse"):
        wire.topic_payload("t", _envelope(text))
    with pytest.raises(SerializationError, match="attribute 'note'"):
        wire.envelope_attributes(_envelope("x", note=text))


def test_deduplication_id_on_a_standard_destination_is_refused() -> None:
    """A deduplication id only applies to FIFO queues and topics."""
    with pytest.raises(ConfigurationError, match=r"deduplication_id='d'.*standard queue 'q'"):
        limits.check_queue_options("q", SendOptions(deduplication_id="d"))
    with pytest.raises(ConfigurationError, match="standard topic 't'"):
        limits.check_topic_options("t", SendOptions(deduplication_id="d"))


@pytest.mark.parametrize(
    ("check", "destination", "options", "problem"),
    [
        (
            limits.check_queue_options,
            "q.fifo",
            SendOptions(),
            Problem("message_group_id", None, "a group id for FIFO queue 'q.fifo'"),
        ),
        (
            limits.check_queue_options,
            "q",
            SendOptions(delay_seconds=901),
            Problem("delay_seconds", 901, "an integer 0-900"),
        ),
        (
            limits.check_topic_options,
            "t",
            SendOptions(delay_seconds=5),
            Problem("delay_seconds", 5, "None for a topic"),
        ),
    ],
    ids=["fifo-without-group", "delay-too-long", "delay-on-topic"],
)
def test_send_options_sqs_would_refuse_are_the_problem_of_the_error(
    check: Any, destination: str, options: SendOptions, problem: Problem
) -> None:
    """A send option SQS or SNS would refuse is the error's problem, with what is allowed."""
    with pytest.raises(ConfigurationError) as caught:
        check(destination, options)

    assert caught.value.problems == (problem,)


def test_sns_attribute_that_is_not_an_object_is_malformed() -> None:
    """An SNS envelope whose attribute entry is not an object raises MalformedMessageError."""
    body = json.dumps(
        {"Type": "Notification", "TopicArn": "a", "Message": "x", "MessageAttributes": {"a": "x"}}
    )
    with pytest.raises(MalformedMessageError, match="SNS attribute 'a'"):
        wire.unwrap(_received(body, {}))


def test_raw_bodies_are_checked_like_published_ones() -> None:
    """A raw body (dead-lettering) over SQS's limit or with refused characters is refused."""
    with pytest.raises(MessageTooLargeError, match="'dlq'"):
        wire.check_raw("dlq", "x" * limits.SQS_MAX_MESSAGE_BYTES, {"melange_error": "why"})
    with pytest.raises(SerializationError, match="body for queue 'dlq'"):
        wire.check_raw("dlq", "\x00", {})
    wire.check_raw("dlq", "fine", {"melange_error": "why"})
