"""The Consumers page's code runs as shown, and its options table names every option there is."""

from __future__ import annotations

import re

import attrs

from melange import DispatcherOptions
from tests.support.doc_snippets import ROOT, run_snippet, shown_output

PAGE = ROOT / "docs" / "consumers.md"


def test_handlers_are_chosen_by_type_and_the_unhandled_type_is_dead_lettered() -> None:
    """Subclasses and unions reach their handler; a type nobody takes goes to the DLQ, with why."""
    output = run_snippet("consumers/handlers.py")

    assert output == shown_output("consumers/handlers.out")
    assert "charge order 2 (ExpressOrderPlaced)" in output
    assert "RefundApproved for order 1 from 'billing', receive 1" in output
    assert "billing-dlq: NewsletterSent(issue=12), because no consumer accepts" in output


def test_a_failing_handler_is_retried_then_dead_lettered_while_the_rest_are_acknowledged() -> None:
    """Ten orders are charged; the declined one fails 3 receives, then moves to the DLQ."""
    output = run_snippet("consumers/dispatcher.py")

    assert output == shown_output("consumers/dispatcher.out")
    assert "on_exception saw the declined order's receives [1, 2, 3]" in output
    assert "acknowledged=11, retried=2, dead_lettered=1" in output


def test_a_worker_reads_the_classes_its_handlers_name_and_refuses_those_it_cannot() -> None:
    """An unbound attrs class is handled; a pydantic model without its serializer is refused."""
    output = run_snippet("consumers/handled_types.py")

    assert output == shown_output("consumers/handled_types.out")
    assert "tickets: TicketReserved(ticket=7)" in output
    assert "refused: consumer '__main__.Seats' handles SeatChanged" in output


def test_s3_notifications_reach_typed_handlers_and_the_test_event_is_told_apart() -> None:
    """A Subscription's foreign class reads S3's notifications; a function its test event too."""
    output = run_snippet("consumers/foreign_s3.py")

    assert output == shown_output("consumers/foreign_s3.out")
    assert "thumbnail photos/2026/red+flower.jpg (ObjectCreated:Put)" in output
    assert "gallery: S3 can notify about bucket photos" in output
    assert "required field missing @ $.Records" in output


def test_an_eventbridge_event_is_validated_as_a_pydantic_model_by_the_dispatcher() -> None:
    """A dispatcher's foreign model reads EventBridge's envelope; a misfit names its field."""
    output = run_snippet("consumers/foreign_eventbridge.py")

    assert output == shown_output("consumers/foreign_eventbridge.out")
    assert "i-1234567890abcdef0 is terminated (EC2 Instance State-change Notification)" in output
    assert "Field required (missing) @ $.detail['instance-id']" in output


def test_rejected_refunds_go_to_the_dead_letter_queue_on_their_first_receive() -> None:
    """Reject and a type in throws: three receives for three refunds, both reasons shown."""
    output = run_snippet("consumers/rejections.py")

    assert output == shown_output("consumers/rejections.out")
    assert output.startswith("received 3, refunded [1]\n")
    assert "order 2: rejected by __main__.RefundConsumer: refund of -5 for order 2" in output
    assert "order 3: rejected by __main__.RefundConsumer: RefundRejected: 9000 is over" in output


def test_the_options_table_lists_every_dispatcher_option() -> None:
    """Each DispatcherOptions field has a row in the page's options table, and nothing else."""
    text = PAGE.read_text(encoding="utf-8")
    table = text.split("<!-- options -->", 2)[1]
    rows = re.findall(r"^\| `(\w+)` \|", table, flags=re.MULTILINE)

    assert rows == [field.name for field in attrs.fields(DispatcherOptions)]
