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
