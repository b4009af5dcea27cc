"""An order service and a payment worker, wired by pinject from melange's settings.

``OrderService`` publishes ``OrderPlaced`` to the ``order-events`` topic; the payment
worker consumes them from the ``payments`` queue (subscribed to that topic) and publishes
``PaymentCompleted`` to ``payment-events``, which fans out to the ``order-status`` queue.
The messages are attrs classes sent with the typed JSON serializer.

Run the whole flow in one process with ``make run`` (``python -m examples.orders``): on
the embedded in-memory backend by default, on the emulator of compose.yaml with
``MELANGE_ENV=local``, and on AWS with ``MELANGE_BACKEND=aws`` (see ``__main__``).

Modules: ``messages`` (the two events), ``service`` (the order side), ``payments`` (the
consumer and its worker), ``status`` (the order side reading payment results) and
``wiring`` (the binding spec, the topology and the object graph).
"""
