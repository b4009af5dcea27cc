"""The cost of tracing on the consume path: no SDK configured against an SDK recording spans.

Each round fills an ``InMemoryBackend`` queue with N messages (untimed, published the same
way: with the SDK when the round has one, so its messages carry a trace context) and times
``MessageDispatcher.process_available``, which receives, reads, handles (a no-op handler)
and acknowledges every message: the consume path without any network, so tracing's share
is the largest it can be. The ways rotate, round after round; the median of each
is compared (target: at most 1.15x the time). Optionally the same on fauxqs, where each
receive and delete is a real HTTP request (``--fauxqs``).

* ``absent``: as if ``opentelemetry-api`` were not installed (melange's tracer is
  ``None``, so every tracing call returns at once);
* ``off``: ``opentelemetry-api`` installed, no SDK configured (the API's no-op tracer);
* ``on``: an SDK ``TracerProvider`` with a ``BatchSpanProcessor`` to an exporter that
  drops the spans (every span is built, recorded and queued; only the export is free).

Run from the repository root: ``.venv/bin/python benchmarks/tracing.py``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.publish import verdict
from melange import Consumer, MessageDispatcher, QueuePublisher
from melange.backends.memory.backend import InMemoryBackend
from melange.backends.protocol import MessagingBackend
from melange.telemetry import tracing
from tests.support.messaging import json_registry

TARGET_RATIO = 1.15


class DroppingExporter(SpanExporter):
    """Accepts every span and keeps none: the SDK's full cost without an exporter's I/O."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Drop ``spans``."""
        return SpanExportResult.SUCCESS


WAYS = ("absent", "off", "on")


@contextmanager
def sdk(way: str) -> Iterator[None]:
    """Within the block, melange traces as ``way`` says (see the module's docstring)."""
    if way == "absent":
        tracing._tracer_cache[:] = [None]  # what _tracer() caches when the import fails
        try:
            yield
        finally:
            tracing.use_tracer_provider(None)
        return
    if way == "off":
        yield
        return
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(DroppingExporter(), max_queue_size=65_536))
    tracing.use_tracer_provider(provider)
    try:
        yield
    finally:
        tracing.use_tracer_provider(None)
        provider.shutdown()


def one_round(backend: MessagingBackend, queue: str, count: int, way: str) -> float:
    """Fill ``queue`` with ``count`` messages, then return the seconds to consume them."""
    registry = json_registry()
    handled: list[object] = []
    dispatcher = MessageDispatcher(
        registry, backend, consumers=[Consumer(on_message=handled.append, name="noop")]
    )
    with sdk(way):
        QueuePublisher(registry, backend).publish_many(queue, [{"n": n} for n in range(count)])
        began = time.perf_counter()
        while len(handled) < count:
            dispatcher.process_available(queue)
        return time.perf_counter() - began


def compare(
    name: str, make: Callable[[], tuple[MessagingBackend, str]], count: int, rounds: int
) -> bool:
    """Rotate rounds of the three ways; print medians and the ratio of ``on`` to ``off``."""
    times: dict[str, list[float]] = {way: [] for way in WAYS}
    backend, queue = make()
    one_round(backend, queue, min(count, 200), "on")  # warm-up: imports, caches
    for index in range(rounds * len(WAYS)):
        way = WAYS[(index + index // len(WAYS)) % len(WAYS)]  # no way always goes first
        backend, queue = make()
        times[way].append(one_round(backend, queue, count, way))
    medians = {way: statistics.median(times[way]) for way in WAYS}
    off, on = medians["off"], medians["on"]
    ratio = on / off
    print(f"\n== {name}: {count} messages consumed, median of {rounds} rounds each ==")
    labels = {"absent": "API not installed", "off": "no SDK configured", "on": "SDK, batch"}
    for way, median in medians.items():
        print(
            f"  {labels[way]:18} {median:7.3f} s  {count / median:9,.0f} msg/s  "
            f"{median / count * 1e6:7.1f} us/msg  {median / medians['absent']:.3f}x absent"
        )
    print(f"  SDK against no SDK: {ratio:.3f}x ({(on - off) / count * 1e6:+.1f} us per message)")
    verdict(
        f"{name}: tracing costs at most {TARGET_RATIO}x the time ({ratio:.3f}x)",
        ratio <= TARGET_RATIO,
    )
    return ratio <= TARGET_RATIO


def memory_queue() -> tuple[MessagingBackend, str]:
    """Return a fresh in-memory backend and its queue."""
    backend = InMemoryBackend()
    backend.declare_queue("bench")
    return backend, "bench"


def main() -> int:
    """Run the comparison; exit 0 (the verdicts are printed, not enforced)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--fauxqs", action="store_true", help="also consume from fauxqs")
    args = parser.parse_args()
    compare("memory", memory_queue, args.messages, args.rounds)
    if args.fauxqs:
        from benchmarks.publish import fresh_queue, running_backend

        with running_backend("fauxqs") as backend:
            compare(
                "fauxqs",
                lambda: (backend, fresh_queue(backend, "tracing")[0]),
                args.messages // 5,
                args.rounds,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
