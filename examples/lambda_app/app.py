"""The invoicing application: its messages, its consumer, its binding spec and graph."""

from collections.abc import Mapping, Sequence
from decimal import Decimal

import attrs
import pinject

from melange import Consumer, MessageContext, Reject, Subscription, TopicPublisher, consumer
from melange.settings import MelangeSettings
from melange_bindings import MelangeBindingSpec, ObjectGraph, new_object_graph

INVOICES = "invoices"
INVOICE_EVENTS = "invoice-events"
#: The stand-in tax service's rates, by region.
TAX_RATES = {"eu": Decimal("0.20"), "us": Decimal("0.07")}


@attrs.frozen
class InvoiceRequested:
    order_id: str
    amount: Decimal
    region: str


@attrs.frozen
class InvoiceWritten:
    order_id: str
    total: Decimal


class TaxServiceTimeoutError(Exception):
    """The stand-in tax service did not answer in time."""


class TaxService:
    """A stand-in for a remote tax service that is slow now and then.

    It does not answer the first attempt for an order whose id ends in ``-slow``.
    """

    def rate(self, request: InvoiceRequested, attempt: int) -> Decimal:
        if request.order_id.endswith("-slow") and attempt == 1:
            raise TaxServiceTimeoutError(f"no answer for {request.order_id} within 2 s")
        return TAX_RATES.get(request.region, Decimal("0"))


class InvoiceConsumer(Consumer):
    # Three receives at most; a rejected request goes to invoices-dlq at once. The queue
    # hides a batch for six times the function's 30 s timeout, as AWS advises.
    subscription = Subscription(
        INVOICES, dead_letter_queue="invoices-dlq", max_receive_count=3, visibility_timeout=180
    )

    def __init__(self, tax_service: TaxService, topic_publisher: TopicPublisher) -> None:
        super().__init__()
        self.tax_service = tax_service
        self.topic_publisher = topic_publisher

    @consumer
    def on_invoice_requested(self, request: InvoiceRequested, context: MessageContext) -> None:
        if request.amount <= 0:
            raise Reject(f"order {request.order_id} has amount {request.amount}")
        rate = self.tax_service.rate(request, context.receive_count)  # may time out: retried
        total = (request.amount * (1 + rate)).quantize(Decimal("0.01"))
        self.topic_publisher.publish(INVOICE_EVENTS, InvoiceWritten(request.order_id, total))


class InvoicingBindingSpec(pinject.BindingSpec):
    def provide_melange_consumers(self, invoice_consumer: InvoiceConsumer) -> Sequence[Consumer]:
        return [invoice_consumer]

    def provide_melange_topics(self) -> Sequence[str]:
        return [INVOICE_EVENTS]

    def provide_melange_serializer_bindings(self) -> Mapping[type, str]:
        return {InvoiceRequested: "typed_json", InvoiceWritten: "typed_json"}


CLASSES = [InvoiceConsumer, TaxService]


def graph(settings: MelangeSettings | None = None) -> ObjectGraph:
    """The app's graph: settings from MELANGE_* (and config/$MELANGE_ENV.env) unless given."""
    return new_object_graph(
        classes=CLASSES,
        binding_specs=[InvoicingBindingSpec()],
        melange=MelangeBindingSpec(settings=settings),
    )
