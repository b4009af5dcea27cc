"""The same function on AWS Lambda Powertools' ``BatchProcessor``, routing JSON by hand.

What a team writes without melange: each record's body is read as melange writes a
queue message (``json.loads`` of the body, its ``Message`` read with ``json.loads``
again), the message's type is the ``manifest`` message attribute, and a table routes it
to a function taking the message class, built from the fields. ``benchmarks/lambda.py``
times its cold start and warm invocations against ``benchmarks/apps/lambda_function.py``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

#: The manifest melange's typed JSON writes for ``lambda_function.OrderPlaced``.
MANIFEST = "benchmarks.apps.lambda_function:OrderPlaced"


@dataclass(frozen=True)
class OrderPlaced:
    """The message the function handles."""

    order_id: str
    sku: str
    quantity: int


#: Messages handled, as melange's consumer counts them (the benchmark checks the count).
handled = 0


def on_order_placed(message: OrderPlaced) -> None:
    """Count the message."""
    global handled
    handled += 1


#: Each message type: the class its fields build, and the function that handles it.
ROUTES: dict[str, tuple[type[Any], Callable[[Any], None]]] = {
    MANIFEST: (OrderPlaced, on_order_placed),
}

processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> None:
    """Read the record's message, route it by type, and handle it."""
    manifest = record.message_attributes["manifest"].string_value
    cls, function = ROUTES[manifest or ""]
    fields = json.loads(json.loads(record.body)["Message"])
    function(cls(**fields))


def handler(event: dict[str, Any], context: object) -> Any:
    """The function's handler: report the records that failed."""
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
