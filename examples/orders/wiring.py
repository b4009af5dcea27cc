"""The composition root of the orders example: its binding spec, topology and object graph."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pinject

from examples.orders.messages import OrderPlaced, PaymentCompleted
from examples.orders.payments import PAYMENT_EVENTS, PAYMENTS, PaymentConsumer, PaymentWorker
from examples.orders.service import ORDER_EVENTS, OrderService
from examples.orders.status import ORDER_STATUS, OrderStatusReader
from melange.backends import MessagingBackend
from melange.settings import DispatcherSettings, MelangeSettings
from melange_bindings import MelangeBindingSpec, ObjectGraph, new_object_graph

__all__ = [
    "APPLICATION_CLASSES",
    "OrdersBindingSpec",
    "Topology",
    "build_graph",
    "declare_topology",
]

#: The classes pinject may bind implicitly (``order_service`` -> ``OrderService``); listed,
#: never scanned. ``payment_consumer`` is bound by ``OrdersBindingSpec`` instead.
APPLICATION_CLASSES: tuple[type, ...] = (OrderService, PaymentWorker, OrderStatusReader)


class OrdersBindingSpec(pinject.BindingSpec):
    """Provides what melange's spec requires, and the payment consumer the worker injects."""

    def configure(self, bind: Callable[..., None]) -> None:
        """Bind ``payment_consumer`` (a singleton), so test graphs need no class list."""
        bind("payment_consumer", to_class=PaymentConsumer, in_scope=pinject.SINGLETON)

    def provide_melange_serializer_bindings(self) -> Mapping[type, str]:
        """Send both events as typed JSON."""
        return {OrderPlaced: "typed_json", PaymentCompleted: "typed_json"}


def declare_topology(messaging_backend: MessagingBackend, settings: DispatcherSettings) -> None:
    """Declare the topics, queues, subscriptions and dead-letter queue; idempotent.

    The queues get the settings' visibility timeout and ``MELANGE_MAX_RECEIVE_COUNT``.
    """
    messaging_backend.declare_queue(
        PAYMENTS,
        dead_letter_queue=f"{PAYMENTS}-dlq",
        max_receive_count=settings.max_receive_count,
        visibility_timeout=settings.visibility_timeout,
        topics=[ORDER_EVENTS],
    )
    messaging_backend.declare_queue(
        ORDER_STATUS, visibility_timeout=settings.visibility_timeout, topics=[PAYMENT_EVENTS]
    )


class Topology:
    """``declare_topology`` on the graph's backend, with the graph's settings.

    Args:
        messaging_backend: the graph's backend (prefixed by ``MELANGE_PREFIX``, if set).
        melange_settings: the graph's settings.
    """

    def __init__(
        self, messaging_backend: MessagingBackend, melange_settings: MelangeSettings
    ) -> None:
        self.messaging_backend = messaging_backend
        self.settings = melange_settings.dispatcher

    def declare(self) -> None:
        """Declare the example's topics and queues."""
        declare_topology(self.messaging_backend, self.settings)


def build_graph(settings: MelangeSettings | None = None) -> ObjectGraph:
    """Return the example's object graph.

    Args:
        settings: melange's settings; by default they are loaded from the environment
            (``MELANGE_ENV``, ``config/<env>.env`` and ``MELANGE_*`` variables).
    """
    return new_object_graph(
        classes=APPLICATION_CLASSES,
        binding_specs=[OrdersBindingSpec()],
        melange=MelangeBindingSpec(settings=settings),
    )
