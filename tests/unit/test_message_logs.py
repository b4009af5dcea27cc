"""Every log line about a message names it in structured fields; dead-lettering is one ERROR.

The fields are ``queue``, ``message_id`` (melange's), ``broker_message_id`` and
``receive_count``, set as attributes of the log record (``extra=``), for JSON formatters.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from melange import Consumer, MessageDispatcher, QueuePublisher
from melange.backends import InMemoryBackend
from tests.support.messaging import json_registry

FIELDS = ("queue", "message_id", "broker_message_id", "receive_count")


class Failing(Consumer):
    """Fails every message it handles."""

    def __init__(self) -> None:
        super().__init__(on_message=self.handle, name="failing")

    def handle(self, message: Any) -> None:
        raise RuntimeError(f"cannot handle {message!r}")


def _fields(record: logging.LogRecord) -> dict[str, object]:
    return {name: getattr(record, name, "<missing>") for name in FIELDS}


def test_a_failure_is_logged_with_the_messages_fields(caplog: pytest.LogCaptureFixture) -> None:
    """The WARNING about a failed handler carries queue, both ids and the receive count."""
    backend = InMemoryBackend()
    backend.declare_queue("orders", dead_letter_queue="orders-dlq", max_receive_count=3)
    message_id = QueuePublisher(json_registry(), backend).publish("orders", {"n": 1})
    dispatcher = MessageDispatcher(json_registry(), backend, consumers=[Failing()])

    with caplog.at_level(logging.DEBUG, logger="melange"):
        dispatcher.process_available("orders")

    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    fields = _fields(warning)
    assert fields["queue"] == "orders"
    assert fields["message_id"] == message_id
    assert isinstance(fields["broker_message_id"], str)
    assert fields["broker_message_id"] != message_id
    assert fields["receive_count"] == 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_dead_lettering_on_the_last_receive_is_one_error_naming_the_reason(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A message failing its last allowed receive gives exactly one ERROR, with its reason."""
    backend = InMemoryBackend()
    backend.declare_queue("orders", dead_letter_queue="orders-dlq", max_receive_count=2)
    message_id = QueuePublisher(json_registry(), backend).publish("orders", {"n": 1})
    dispatcher = MessageDispatcher(json_registry(), backend, consumers=[Failing()])

    (received,) = backend.receive("orders", max_messages=1)  # the first receive is spent
    backend.change_visibility("orders", [received.receipt_handle], 0)

    with caplog.at_level(logging.DEBUG, logger="melange"):
        dispatcher.process_available("orders")

    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    (error,) = errors
    assert _fields(error) == {
        "queue": "orders",
        "message_id": message_id,
        "broker_message_id": getattr(error, "broker_message_id", None),
        "receive_count": 2,
    }
    assert getattr(error, "reason", None) == "RuntimeError: cannot handle {'n': 1}"
    assert getattr(error, "dead_letter_queue", None) == "orders-dlq"
    assert "RuntimeError: cannot handle" in error.getMessage()
    assert len(backend.receive("orders-dlq", max_messages=10)) == 1


def test_an_unreadable_message_is_dead_lettered_with_one_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A message melange cannot read is one ERROR naming why, with no melange id."""
    backend = InMemoryBackend()
    backend.declare_queue("orders", dead_letter_queue="orders-dlq")
    backend.send_raw("orders", "not json", {"serializer_id": 99})
    dispatcher = MessageDispatcher(json_registry(), backend, consumers=[Failing()])

    with caplog.at_level(logging.DEBUG, logger="melange"):
        dispatcher.process_available("orders")

    (error,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert _fields(error)["queue"] == "orders"
    assert _fields(error)["receive_count"] == 1
    assert str(getattr(error, "reason", "")).split(":")[0].endswith("Error")


def test_the_log_text_names_melanges_id_as_dlq_show_does(caplog: pytest.LogCaptureFixture) -> None:
    """Plain-text logs name the id dlq show gives; an unreadable message, the SQS id."""
    backend = InMemoryBackend()
    backend.declare_queue("orders", dead_letter_queue="orders-dlq", max_receive_count=1)
    message_id = QueuePublisher(json_registry(), backend).publish("orders", {"n": 1})
    broker_id = backend.send_raw("orders", "x", {"manifest": 5})  # unreadable: no id
    dispatcher = MessageDispatcher(json_registry(), backend, consumers=[Failing()])

    with caplog.at_level(logging.DEBUG, logger="melange"):
        dispatcher.process_available("orders")

    texts = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any(t.startswith(f"handling message {message_id} (receive 1) failed") for t in texts)
    assert any(t.startswith(f"message {message_id} on 'orders'") for t in texts)
    assert any(t.startswith(f"message (SQS id {broker_id}) on 'orders'") for t in texts)
