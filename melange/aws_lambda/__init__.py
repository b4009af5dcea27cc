"""The application's consumers as an AWS Lambda function (``sqs_handler``).

``handler = sqs_handler(graph)`` in the function's module runs the consumers whose
subscriptions name the event source's queue, with the worker's routing, reading,
deduplication, tracing and settling; see ``melange.aws_lambda.handler``.
"""

from __future__ import annotations

from melange.aws_lambda.events import LambdaBatch, read_event
from melange.aws_lambda.handler import LambdaHandler, sqs_handler

__all__ = ["LambdaBatch", "LambdaHandler", "read_event", "sqs_handler"]
