"""The Lambda function's module: its handler setting is ``examples.lambda_app.function.handler``.

The graph is built once per execution environment, when Lambda imports this module;
every invocation then reuses its clients, serializers and deduplication cache.
"""

from examples.lambda_app.app import graph
from melange.aws_lambda import sqs_handler

handler = sqs_handler(graph)
