"""The application's consumers as an AWS Lambda function (``sqs_handler``, ``sns_handler``).

``handler = sqs_handler(graph)`` in the function's module runs the consumers whose
subscriptions name the event source's queue, with the worker's routing, reading,
deduplication, tracing and settling; ``sns_handler(graph)`` runs those whose queues
subscribe to the topic delivering to the function (see ``melange.aws_lambda.handler``).
``sqs_event`` builds the event an event source mapping would from received SQS messages;
``python -m melange lambda-local`` runs a handler against a real queue with it
(``melange.aws_lambda.local``).
"""

from __future__ import annotations

from melange.aws_lambda.events import LambdaBatch, read_event, sqs_event
from melange.aws_lambda.handler import Invocation, LambdaHandler, sns_handler, sqs_handler

__all__ = [
    "Invocation",
    "LambdaBatch",
    "LambdaHandler",
    "read_event",
    "sns_handler",
    "sqs_event",
    "sqs_handler",
]
