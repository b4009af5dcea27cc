"""A Lambda function module for the ``lambda-local`` subprocess tests, as an application writes it.

``handler = sqs_handler(graph)`` at module level, the graph built from the ``MELANGE_*``
environment when the module is imported. ``Orders`` reads ``orders`` (dead-letter queue
``orders-dlq``): order 2 fails its first receive, order 3 is rejected, the others are
handled. ``Slow`` reads ``slow``, whose visibility timeout is one second, and takes longer
than that. ``notifications`` is an ``sns_handler`` of the same graph.
"""

from __future__ import annotations

import time
from typing import Any

import pinject

from melange import Consumer, MessageContext, Reject, Subscription, consumer
from melange.aws_lambda import sns_handler, sqs_handler
from melange_bindings import ObjectGraph, new_object_graph

__all__ = ["graph", "handler", "notifications"]


class Orders(Consumer):
    subscription = Subscription("orders", dead_letter_queue="orders-dlq")

    @consumer
    def on_order(self, order: dict[str, Any], context: MessageContext) -> None:
        if order["n"] == 2 and context.receive_count == 1:
            raise TimeoutError("the warehouse did not answer")
        if order["n"] == 3:
            raise Reject("order 3 is for a closed store")


class Slow(Consumer):
    subscription = Subscription("slow", visibility_timeout=1)

    @consumer
    def on_job(self, job: dict[str, Any]) -> None:
        time.sleep(1.5)  # longer than the queue's visibility timeout


class Spec(pinject.BindingSpec):  # type: ignore[misc]
    def provide_melange_consumers(self, orders: Orders, slow: Slow) -> list[Consumer]:
        return [orders, slow]


def graph() -> ObjectGraph:
    """The application's graph, from the MELANGE_* environment."""
    return new_object_graph(classes=[Orders, Slow], binding_specs=[Spec()])


handler = sqs_handler(graph)
notifications = sns_handler(graph)
