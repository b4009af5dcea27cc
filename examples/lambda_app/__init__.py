"""An invoicing application run as an AWS Lambda function on an SQS queue.

``InvoiceConsumer`` reads ``InvoiceRequested`` from the ``invoices`` queue (dead-letter
queue ``invoices-dlq``), asks the stand-in tax service for the rate, and publishes
``InvoiceWritten`` to the ``invoice-events`` topic. A request with an amount that is not
positive can never be invoiced: the consumer rejects it, and it is dead-lettered at once
with the reason. The tax service does not answer the first attempt for an order whose id
ends in ``-slow``: that record is reported and comes back after the backoff.

``app`` holds the application (messages, consumer, binding spec, ``graph``), the same
one a worker would run; ``function`` is the Lambda function's module, whose
``handler = sqs_handler(graph)`` the function's handler setting names
(``examples.lambda_app.function.handler``). Run it against moto without deploying::

    moto_server -p 5000 &
    export MELANGE_BACKEND=local MELANGE_ENDPOINT_URL=http://127.0.0.1:5000
    python -m melange declare examples.lambda_app:graph
    python -m examples.lambda_app.request_invoices
    python -m melange lambda-local examples.lambda_app.function:handler --queue invoices
"""

from examples.lambda_app.app import graph

__all__ = ["graph"]
