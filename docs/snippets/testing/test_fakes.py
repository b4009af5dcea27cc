from decimal import Decimal

import pinject
import pytest

from examples.orders.app import OrdersBindingSpec
from examples.orders.consumers import PaymentConsumer
from examples.orders.messages import OrderPlaced
from examples.orders.partners import PaymentGateway
from examples.orders.service import OrderService
from melange_bindings import TestGraph


# --8<-- [start:fake]
class UnreachableGateway(PaymentGateway):
    """The card processor, down: every charge fails as a timeout would."""

    def charge(self, order: OrderPlaced) -> None:
        raise TimeoutError("the card processor did not answer")


class UnreachablePartnersSpec(pinject.BindingSpec):
    def provide_payment_gateway(self) -> PaymentGateway:
        # Replaces the class binding of PaymentGateway, by its name.
        return UnreachableGateway()
        # --8<-- [end:fake]


@pytest.fixture(name="melange_binding_specs")
def fixture_melange_binding_specs() -> list[pinject.BindingSpec]:
    # For this module's tests: the application's spec, and the fake's.
    return [OrdersBindingSpec(), UnreachablePartnersSpec()]


def test_a_payment_waits_while_the_card_processor_is_down(
    graph: TestGraph,
) -> None:
    graph.provide(OrderService).place("ada", Decimal("9.90"), "eu")
    payments = graph.provide(PaymentConsumer)
    assert isinstance(payments.payment_gateway, UnreachableGateway)

    assert graph.drain("payments", payments) == 1

    # Back on the queue after a backoff; nothing was announced.
    assert graph.backend.message_count("payments") == 1
    assert graph.published("payment-events") == []
