"""The smallest Dramatiq worker on SQS: one actor on one queue, through ``dramatiq-sqs``.

``benchmarks/worker_start.py`` runs it as Dramatiq's documentation runs a worker, with
``BENCH_ENDPOINT_URL`` (the server) and ``BENCH_QUEUE`` (the queue) set::

    python -m dramatiq benchmarks.apps.dramatiq_worker --processes 1 --threads 1

and times it from process start to its first ReceiveMessage, against
``benchmarks/apps/melange_worker.py`` on the same queue. Installed by the ``bench``
dependency group (``make bench``); the actor does nothing.
"""

from __future__ import annotations

import os

import dramatiq
from dramatiq_sqs import SQSBroker

#: The queue to consume; the benchmark declares it before starting the worker.
QUEUE = os.environ.get("BENCH_QUEUE", "bench-worker-start")

# The emulator's credentials and region, given as melange's LocalSQSBackend gives its own.
broker = SQSBroker(
    endpoint_url=os.environ.get("BENCH_ENDPOINT_URL", "http://127.0.0.1:9324"),
    region_name="us-east-1",
    aws_access_key_id="bench",
    aws_secret_access_key="bench",  # noqa: S106  # an emulator's placeholder
)
dramatiq.set_broker(broker)


@dramatiq.actor(queue_name=QUEUE)
def on_message(*args: object, **kwargs: object) -> None:
    """Do nothing."""
