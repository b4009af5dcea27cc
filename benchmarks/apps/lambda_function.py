"""The smallest melange Lambda function: one typed consumer, wired with melange_bindings.

``benchmarks/lambda.py`` imports it in fresh interpreters to time a cold start (the
import builds the object graph and the handler, as Lambda's init phase does), and calls
``handler`` with 10-record SQS events to time a warm invocation, against
``benchmarks/apps/powertools_function.py`` doing the same routing on AWS Lambda
Powertools' ``BatchProcessor``. The graph's settings come from the ``MELANGE_*``
variables: the in-memory backend by default, ``MELANGE_BACKEND=aws`` (with
``AWS_REGION``) as a deployed function runs. The handler only counts its messages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs
import pinject

from melange import Consumer, Subscription, consumer
from melange.aws_lambda import sqs_handler
from melange_bindings import new_object_graph

#: The queue the function is mapped to.
QUEUE = "bench-lambda"


@attrs.frozen
class OrderPlaced:
    """The message the function handles."""

    order_id: str
    sku: str
    quantity: int


class Orders(Consumer):
    """Reads the function's queue; its one handler only counts the messages it is given."""

    subscription = Subscription(QUEUE)

    def __init__(self) -> None:
        super().__init__()
        self.handled = 0

    @consumer
    def on_order_placed(self, message: OrderPlaced) -> None:
        """Count the message (the benchmark checks every record reached the handler)."""
        self.handled += 1


class FunctionBindingSpec(pinject.BindingSpec):
    """The function's consumer and its message class's serializer."""

    def provide_melange_consumers(self, orders: Orders) -> Sequence[Consumer]:
        """The consumers the function runs."""
        return [orders]

    def provide_melange_serializer_bindings(self) -> Mapping[type, str]:
        """Typed JSON for the message class."""
        return {OrderPlaced: "typed_json"}


graph = new_object_graph(classes=[Orders], binding_specs=[FunctionBindingSpec()])
handler = sqs_handler(graph)
