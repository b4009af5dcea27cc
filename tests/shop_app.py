"""A small shop application in melange's application model, for the command tests.

Two consumers state where they read: ``ShippingConsumer`` reads queue ``shipping``,
subscribed to topic ``order-events`` with a filter policy letting only EU orders through
(with a dead-letter queue and two workers); ``InvoiceConsumer`` reads queue ``invoices``,
which messages are sent to directly. ``OrderService`` is an injected service publishing
events. Each handled message is recorded in the ``Journal``: in memory, and appended to
the file ``SHOP_JOURNAL`` names, if set, so a test can read what a worker process did.

``python -m melange declare tests.shop_app:graph`` and ``... worker tests.shop_app:graph``
run it; the settings come from ``MELANGE_*`` variables (``MELANGE_PREFIX`` makes the
names unique per test).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

import attrs
import pinject

from melange import Consumer, MessageContext, QueuePublisher, Subscription, TopicPublisher, consumer
from melange.backends import MessagingBackend
from melange.settings import MelangeSettings
from melange_bindings import MelangeBindingSpec, ObjectGraph, new_object_graph

ORDER_EVENTS = "order-events"
SHIPPING = "shipping"
INVOICES = "invoices"


@attrs.frozen
class OrderPlaced:
    """An order was placed; its region travels as a message attribute for filter policies."""

    order_id: str
    region: str

    def melange_attributes(self) -> dict[str, str]:
        """Expose the region to SNS filter policies."""
        return {"region": self.region}


@attrs.frozen
class InvoiceRequested:
    """An invoice is to be written for an order."""

    order_id: str


class Journal:
    """What the consumers handled, one line each, kept in memory and in ``SHOP_JOURNAL``."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._lock = threading.Lock()
        path = os.environ.get("SHOP_JOURNAL")
        self.path = Path(path) if path else None

    def record(self, line: str) -> None:
        """Record one handled message."""
        with self._lock:
            self.lines.append(line)
            if self.path is not None:
                with self.path.open("a", encoding="utf-8") as journal:
                    journal.write(f"{line}\n")


class OrderService:
    """Places orders: publishes ``OrderPlaced`` to the topic and asks for an invoice."""

    def __init__(self, topic_publisher: TopicPublisher, queue_publisher: QueuePublisher) -> None:
        self.topic_publisher = topic_publisher
        self.queue_publisher = queue_publisher

    def place(self, order_id: str, region: str) -> None:
        """Announce the order, and request its invoice."""
        self.topic_publisher.publish(ORDER_EVENTS, OrderPlaced(order_id, region))
        self.queue_publisher.publish(INVOICES, InvoiceRequested(order_id))


class ShippingConsumer(Consumer):
    """Ships EU orders: reads them from the order topic through a filter policy."""

    subscription = Subscription(
        SHIPPING,
        topics=[ORDER_EVENTS],
        filter_policy={"region": ["eu"]},
        dead_letter_queue=f"{SHIPPING}-dlq",
        workers=2,
    )

    def __init__(self, journal: Journal) -> None:
        super().__init__()
        self.journal = journal

    @consumer
    def on_order(self, event: OrderPlaced, context: MessageContext) -> None:
        """Record the shipment, with the queue it came from."""
        self.journal.record(f"shipped {event.order_id} from {context.queue_name}")


class InvoiceConsumer(Consumer):
    """Writes invoices requested directly on its queue."""

    subscription = Subscription(INVOICES)

    def __init__(self, journal: Journal) -> None:
        super().__init__()
        self.journal = journal

    @consumer
    def on_request(self, request: InvoiceRequested) -> None:
        """Record the invoice."""
        self.journal.record(f"invoiced {request.order_id}")


class ShopBindingSpec(pinject.BindingSpec):
    """The shop's consumers, topics and serializer bindings."""

    def provide_melange_consumers(
        self, shipping_consumer: ShippingConsumer, invoice_consumer: InvoiceConsumer
    ) -> Sequence[Consumer]:
        """The consumers a worker runs; pinject builds them with their journal."""
        return [shipping_consumer, invoice_consumer]

    def provide_melange_topics(self) -> Sequence[str]:
        """The topics the shop publishes to."""
        return [ORDER_EVENTS]

    def provide_melange_serializer_bindings(self) -> Mapping[type, str]:
        """Both message types travel as typed JSON."""
        return {OrderPlaced: "typed_json", InvoiceRequested: "typed_json"}


CLASSES = (Journal, OrderService, ShippingConsumer, InvoiceConsumer)


def build_graph(
    *, settings: MelangeSettings | None = None, backend: MessagingBackend | None = None
) -> ObjectGraph:
    """Return the shop's graph; settings from the environment unless given."""
    return new_object_graph(
        classes=CLASSES,
        binding_specs=[ShopBindingSpec()],
        melange=MelangeBindingSpec(settings=settings, backend=backend),
    )


def graph() -> ObjectGraph:
    """The command's target: the shop's graph from ``MELANGE_*`` settings."""
    return build_graph()
