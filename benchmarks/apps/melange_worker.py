"""The smallest melange worker: one consumer on one queue, wired with melange_bindings.

``benchmarks/worker_start.py`` runs it as an application is run, with
``MELANGE_BACKEND=local``, ``MELANGE_ENDPOINT_URL`` (the server) and ``BENCH_QUEUE`` (the
queue) set::

    python -m melange worker benchmarks.apps.melange_worker:graph

and times it from process start to its first ReceiveMessage, against
``benchmarks/apps/dramatiq_worker.py`` on the same queue. The handler does nothing: the
queue stays empty, only start-up is measured.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import pinject

from melange import Consumer, Subscription, consumer
from melange_bindings import ObjectGraph, new_object_graph

#: The queue to consume; the benchmark declares it before starting the worker.
QUEUE = os.environ.get("BENCH_QUEUE", "bench-worker-start")


class NoopConsumer(Consumer):
    """Reads the benchmark's queue with one worker thread and does nothing with a message."""

    subscription = Subscription(QUEUE, workers=1)

    @consumer
    def on_message(self, message: object) -> None:
        """Do nothing."""


class WorkerBindingSpec(pinject.BindingSpec):
    """The application's one consumer."""

    def provide_melange_consumers(self, noop_consumer: NoopConsumer) -> Sequence[Consumer]:
        """The consumers the worker runs."""
        return [noop_consumer]


def graph() -> ObjectGraph:
    """The worker's target: the graph, with settings from the ``MELANGE_*`` variables."""
    return new_object_graph(classes=[NoopConsumer], binding_specs=[WorkerBindingSpec()])
