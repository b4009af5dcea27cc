"""The composition root of the orders example: its binding spec and object graph."""

from collections.abc import Mapping, Sequence

import pinject

from examples.orders.consumers import EuShippingConsumer, PaymentConsumer
from examples.orders.messages import ORDER_EVENTS, PAYMENT_EVENTS, OrderPlaced, PaymentCompleted
from examples.orders.partners import PaymentGateway, Warehouse
from examples.orders.service import OrderService
from melange import Consumer
from melange.settings import MelangeSettings
from melange_bindings import MelangeBindingSpec, ObjectGraph, new_object_graph


class OrdersBindingSpec(pinject.BindingSpec):
    def provide_melange_consumers(
        self, payment_consumer: PaymentConsumer, eu_shipping_consumer: EuShippingConsumer
    ) -> Sequence[Consumer]:
        return [payment_consumer, eu_shipping_consumer]  # what `worker` runs

    def provide_melange_topics(self) -> Sequence[str]:
        return [ORDER_EVENTS, PAYMENT_EVENTS]

    def provide_melange_serializer_bindings(self) -> Mapping[type, str]:
        return {OrderPlaced: "typed_json", PaymentCompleted: "typed_json"}


CLASSES = [OrderService, PaymentConsumer, EuShippingConsumer, PaymentGateway, Warehouse]


def graph(settings: MelangeSettings | None = None) -> ObjectGraph:
    """The app's graph: settings from MELANGE_* (and config/$MELANGE_ENV.env) unless given."""
    return new_object_graph(
        classes=CLASSES,
        binding_specs=[OrdersBindingSpec()],
        melange=MelangeBindingSpec(settings=settings),
    )
