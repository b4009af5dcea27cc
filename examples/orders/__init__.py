"""The reference application: an order service, payments and EU shipping, on SQS and SNS.

``OrderService`` publishes ``OrderPlaced`` (carrying its ``region`` as a message attribute)
to the ``order-events`` topic. ``PaymentConsumer`` reads every order from the ``payments``
queue, subscribed to that topic with a dead-letter queue, charges it and publishes
``PaymentCompleted`` to ``payment-events``; ``EuShippingConsumer`` reads ``shipping-eu``,
which the topic feeds only EU orders through a filter policy. The consumers state their
subscriptions; ``OrdersBindingSpec`` lists them and the topics, and melange derives the
topology from that.

Run it as separate processes against the emulator of compose.yaml::

    MELANGE_ENV=local python -m melange declare examples.orders:graph
    MELANGE_ENV=local python -m melange worker examples.orders:graph

or in one process, declaring, placing orders and running the worker until every order is
paid and shipped: ``make run`` (``python -m examples.orders``).

Modules: ``messages`` (the events), ``service`` (the order side), ``consumers`` (payments
and shipping), ``partners`` (stand-ins for the card processor and the warehouse) and
``app`` (the binding spec and ``graph``).
"""

from examples.orders.app import graph

__all__ = ["graph"]
