"""An application whose handler always fails, so its messages end up dead-lettered.

Queue ``work`` (and ``work.fifo``) has dead-letter queue ``work-dlq`` (``work-dlq.fifo``)
and a receive limit of 1: the first failure sends the message there with its
``melange_error``. The ``queues`` and ``dlq`` command tests (``tests/integration/
test_ops_cli.py``) seed dead letters with it; settings from ``MELANGE_*``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs
import pinject

from melange import Consumer, Subscription, consumer
from melange.backends import MessagingBackend
from melange.settings import MelangeSettings
from melange_bindings import MelangeBindingSpec, ObjectGraph, new_object_graph

WORK = "work"
WORK_DLQ = "work-dlq"
WORK_FIFO = "work.fifo"
WORK_FIFO_DLQ = "work-dlq.fifo"


@attrs.frozen
class Job:
    """A job whose handling fails until the bug is fixed; ``blob`` makes it large."""

    number: int
    blob: str = ""


class BrokenConsumer(Consumer):
    """Fails every job: the bug the dead letters wait out."""

    subscription = Subscription(WORK, dead_letter_queue=WORK_DLQ, max_receive_count=1)

    @consumer
    def on_job(self, job: Job) -> None:
        """Fail, as the bug makes it."""
        raise ValueError(f"job {job.number} hit the bug")


class BrokenFifoConsumer(Consumer):
    """The same, on a FIFO queue."""

    subscription = Subscription(WORK_FIFO, dead_letter_queue=WORK_FIFO_DLQ, max_receive_count=1)

    @consumer
    def on_job(self, job: Job) -> None:
        """Fail, as the bug makes it."""
        raise ValueError(f"job {job.number} hit the bug")


class OpsBindingSpec(pinject.BindingSpec):
    """The consumers and the serializer binding."""

    def provide_melange_consumers(
        self, broken_consumer: BrokenConsumer, broken_fifo_consumer: BrokenFifoConsumer
    ) -> Sequence[Consumer]:
        """Both broken consumers."""
        return [broken_consumer, broken_fifo_consumer]

    def provide_melange_serializer_bindings(self) -> Mapping[type, str]:
        """Jobs travel as typed JSON."""
        return {Job: "typed_json"}


def build_graph(
    *, settings: MelangeSettings | None = None, backend: MessagingBackend | None = None
) -> ObjectGraph:
    """Return the application's graph; settings from the environment unless given."""
    return new_object_graph(
        classes=(BrokenConsumer, BrokenFifoConsumer),
        binding_specs=[OpsBindingSpec()],
        melange=MelangeBindingSpec(settings=settings, backend=backend),
    )


def graph() -> ObjectGraph:
    """The commands' target: the graph from ``MELANGE_*`` settings."""
    return build_graph()
