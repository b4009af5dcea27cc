"""Ask for three invoices through the application's graph: one ordinary, one slow, one bad."""

from decimal import Decimal

from examples.lambda_app.app import INVOICES, InvoiceRequested, graph
from melange import QueuePublisher

publisher = graph().provide(QueuePublisher)
for request in (
    InvoiceRequested("o-1", Decimal("100.00"), "eu"),
    InvoiceRequested("o-2-slow", Decimal("40.00"), "us"),  # the tax service times out once
    InvoiceRequested("o-3", Decimal("-5.00"), "eu"),  # rejected: dead-lettered with the reason
):
    publisher.publish(INVOICES, request)
    print(f"requested an invoice for {request.order_id}: {request.amount}")
