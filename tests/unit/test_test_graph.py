"""TestGraph.drain consumes as the application's worker would: with the graph's settings."""

from __future__ import annotations

import attrs
import pinject

from bindings import new_test_graph
from bindings.testing import TEST_SETTINGS
from melange import Consumer, consumer
from melange.messages import Destination, SendOptions
from melange.publishing.core import build_message
from melange.settings import DispatcherSettings, MelangeSettings


@attrs.frozen
class RefundRequested:
    order_id: int


class RefundsBindingSpec(pinject.BindingSpec):
    """The application's spec: its one event, as typed JSON."""

    def provide_melange_serializer_bindings(self) -> dict[type, str]:
        """Bind RefundRequested to typed JSON."""
        return {RefundRequested: "typed_json"}


class Refunds(Consumer):
    """Counts the refunds it handles; fails every one when told to."""

    def __init__(self, *, failing: bool = False) -> None:
        super().__init__(name="refunds")
        self.failing = failing
        self.handled: list[RefundRequested] = []

    @consumer
    def on_refund(self, event: RefundRequested) -> None:
        """Record the event, then fail if this consumer fails."""
        self.handled.append(event)
        if self.failing:
            raise RuntimeError("refund service down")


def test_drain_deduplicates_with_the_graphs_cache() -> None:
    """With MELANGE_DEDUP=memory, a message id delivered twice is handled once by drain."""
    settings = attrs.evolve(TEST_SETTINGS, dedup="memory")
    graph = new_test_graph(RefundsBindingSpec(), settings=settings)
    graph.backend.declare_queue("refunds")
    message = build_message(graph.kit.registry, RefundRequested(7), SendOptions())
    graph.backend.publish(Destination.queue("refunds"), [message])
    graph.backend.publish(Destination.queue("refunds"), [message])  # the same message id, twice
    refunds = Refunds()

    assert graph.drain("refunds", refunds) == 2

    assert refunds.handled == [RefundRequested(7)]


def test_drain_retries_after_the_graphs_backoff() -> None:
    """With a zero backoff, drain retries a failing message at once, until the DLQ takes it."""
    settings = MelangeSettings(
        env="test",
        backend="memory",
        dispatcher=DispatcherSettings(wait_time_seconds=1, backoff_base=0.0, backoff_jitter=0.0),
    )
    graph = new_test_graph(RefundsBindingSpec(), settings=settings)
    graph.backend.declare_queue("refunds", dead_letter_queue="refunds-dlq", max_receive_count=3)
    graph.backend.publish(
        Destination.queue("refunds"),
        [build_message(graph.kit.registry, RefundRequested(7), SendOptions())],
    )
    refunds = Refunds(failing=True)

    # The default backoff (1 s) would hide the message after its first failure.
    assert graph.drain("refunds", refunds) == 3

    assert len(refunds.handled) == 3
    assert graph.backend.message_count("refunds") == 0
    assert graph.backend.message_count("refunds-dlq") == 1
