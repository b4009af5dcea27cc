"""The cost of tracing on the consume path, with and without an OpenTelemetry SDK.

Parts (``--only``, several allowed):

* ``sdk``: an SDK recording spans against no SDK. Each round fills an ``InMemoryBackend``
  queue with N messages (untimed, published the same way: with the SDK when the round has
  one, so its messages carry a trace context) and times ``MessageDispatcher.
  process_available``, which receives, reads, handles (a no-op handler) and acknowledges
  every message: the consume path without any network, so tracing's share is the largest
  it can be. The ways rotate, round after round; the median of each is compared (target:
  at most 1.15x the time). Optionally the same on fauxqs, where each receive and delete is
  a real HTTP request (``--fauxqs``). Its ways:

  * ``absent``: as if ``opentelemetry-api`` were not installed (melange's tracer is
    ``None``, so every tracing call returns at once);
  * ``off``: ``opentelemetry-api`` installed, no SDK configured (the API's no-op tracer);
  * ``on``: an SDK ``TracerProvider`` with a ``BatchSpanProcessor`` to an exporter that
    drops the spans (every span is built, recorded and queued; only the export is free).

* ``no-tracer``: no tracing cost without a tracer. Child processes (this script with
  ``--child``) each time N messages publish-to-handled in memory (``QueuePublisher.publish``
  one by one, then ``process_available``; best of ``--inner`` runs after a warm-up), either
  with the API importable and no SDK configured (``off``) or with ``opentelemetry`` made
  unimportable (``absent``: ``sys.modules["opentelemetry"] = None`` before melange first
  looks for it, which is what an environment without the package gives). The two alternate
  for ``--rounds`` pairs; the median of the pairs' time ratios is the figure (target: at
  most 1.02x). Each child then profiles 200 more messages (``sys.setprofile``) and counts,
  per message, the calls into ``melange/telemetry/``, the generator frames run there and
  the context managers it enters (target without a tracer: no generator, no context
  manager).

It prints PASS/FAIL lines and exits 0 unless something breaks.
Run from the repository root: ``.venv/bin/python benchmarks/tracing.py``.
"""

from __future__ import annotations

import argparse
import inspect
import json
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.publish import machine_header, verdict
from melange import Consumer, MessageDispatcher, QueuePublisher
from melange.backends.memory.backend import InMemoryBackend
from melange.backends.protocol import MessagingBackend
from melange.telemetry import tracing
from tests.support.messaging import json_registry

# opentelemetry's SDK is imported where part sdk needs it: the no-tracer children must start
# without any of opentelemetry loaded.

PARTS = ("sdk", "no-tracer")
TARGET_RATIO = 1.15
NO_TRACER_TARGET = 1.02
PROFILED_MESSAGES = 200
REPO = Path(__file__).resolve().parent.parent
TELEMETRY_DIR = str(Path(tracing.__file__).parent)  # the melange this process imported
GENERATOR_FLAGS = inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR


def dropping_exporter() -> Any:
    """Return an exporter that accepts every span and keeps none.

    The SDK's full cost without an exporter's I/O.
    """
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    class DroppingExporter(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    return DroppingExporter()


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
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(dropping_exporter(), max_queue_size=65_536))
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


# -- no-tracer: child processes with and without opentelemetry importable ----------------


def block_opentelemetry() -> None:
    """Make ``import opentelemetry`` fail from now on, as if it were not installed.

    Raises:
        RuntimeError: part of opentelemetry is loaded already, so blocking it would not
            give the process an environment without it.
    """
    loaded = sorted(name for name in sys.modules if name.split(".")[0] == "opentelemetry")
    if loaded:
        raise RuntimeError(f"opentelemetry is loaded before it could be blocked: {loaded}")
    sys.modules["opentelemetry"] = None  # type: ignore[assignment]  # import raises ImportError
    tracing.use_tracer_provider(None)  # melange looks for the API again on first use


def check_no_tracer(way: str) -> None:
    """Raise unless melange sees the tracing ``way`` asks for: no API, or the API and no SDK."""
    tracer = tracing._tracer()
    if way == "absent" and tracer is not None:
        raise RuntimeError("opentelemetry was blocked, yet melange has a tracer")
    if way == "off" and (tracer is None or tracing._recording()):
        raise RuntimeError(f"expected the API without an SDK, melange has {tracer!r}")


def publish_to_handled(count: int) -> tuple[float, float]:
    """Publish ``count`` messages one by one in memory, then consume them; return the seconds.

    The seconds publishing, then the seconds consuming (``process_available``: receive,
    read, a no-op handler, acknowledge, in this thread).
    """
    registry = json_registry()
    backend = InMemoryBackend()
    backend.declare_queue("bench")
    publisher = QueuePublisher(registry, backend)
    handled: list[object] = []
    dispatcher = MessageDispatcher(
        registry, backend, consumers=[Consumer(on_message=handled.append, name="noop")]
    )
    items = [{"n": n} for n in range(count)]
    began = time.perf_counter()
    for item in items:
        publisher.publish("bench", item)
    published = time.perf_counter()
    while len(handled) < count:
        dispatcher.process_available("bench")
    return published - began, time.perf_counter() - published


def telemetry_profile(count: int) -> dict[str, dict[str, float]]:
    """Count, per message published and handled, what runs in ``melange/telemetry/``.

    By module (``tracing``, ``metrics``, ...): ``calls``, Python function calls into it;
    ``generators``, frames of its generators or coroutines (each resumption counts: a
    ``@contextmanager`` runs its generator twice); ``context managers``, ``__enter__`` calls
    of its classes or of ``@contextmanager`` functions defined there; and, under
    ``"<module> generators"``, which functions those were.
    """
    counts: dict[str, Counter[str]] = {}

    def tally(module: str, what: str) -> None:
        counts.setdefault(module, Counter())[what] += 1

    def profile(frame: FrameType, event: str, arg: object) -> None:
        if event != "call":
            return
        code = frame.f_code
        if code.co_name == "__enter__":  # contextlib's, for a @contextmanager of ours
            generator = getattr(frame.f_locals.get("self"), "gen", None)
            where = getattr(getattr(generator, "gi_code", None), "co_filename", "")
            if where.startswith(TELEMETRY_DIR):
                tally(Path(where).stem, "context managers")
        if not code.co_filename.startswith(TELEMETRY_DIR):
            return
        module = Path(code.co_filename).stem
        tally(module, "calls")
        if code.co_flags & GENERATOR_FLAGS:
            tally(module, "generators")
            tally(f"{module} generators", code.co_name)
        elif code.co_name == "__enter__":
            tally(module, "context managers")

    sys.setprofile(profile)
    try:
        publish_to_handled(count)
    finally:
        sys.setprofile(None)
    found = {"tracing": {"calls": 0.0, "generators": 0.0, "context managers": 0.0}}
    for module, counted in counts.items():
        found.setdefault(module, {}).update({what: n / count for what, n in counted.items()})
    return found


def no_tracer_child(way: str, count: int, inner: int) -> None:
    """Time ``count`` messages ``way`` (best of ``inner``), profile; print one JSON line."""
    if way == "absent":
        block_opentelemetry()
    publish_to_handled(min(count, 500))  # warm-up: first-use imports, the tracer's lookup
    check_no_tracer(way)
    runs = [publish_to_handled(count) for _ in range(inner)]
    publish, consume = min(runs, key=sum)
    figures = {
        "publish": publish,
        "consume": consume,
        "per_message": telemetry_profile(PROFILED_MESSAGES),
    }
    print(json.dumps(figures))


def run_no_tracer_child(way: str, count: int, inner: int) -> dict[str, Any]:
    """Run a child measuring ``way``; return what it printed."""
    command = [sys.executable, __file__, "--child", way, "--messages", str(count)]
    done = subprocess.run(
        [*command, "--inner", str(inner)], cwd=REPO, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"the {way} child failed:\n{done.stderr[-2000:]}")
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def bench_no_tracer(count: int, rounds: int, inner: int) -> None:
    """The API without an SDK against no API at all, in alternating child processes."""
    ways = ("absent", "off")
    found: dict[str, list[dict[str, Any]]] = {way: [] for way in ways}
    for number in range(rounds):
        for way in ways if number % 2 == 0 else ways[::-1]:
            found[way].append(run_no_tracer_child(way, count, inner))
    ratios = [
        (off["publish"] + off["consume"]) / (absent["publish"] + absent["consume"])
        for absent, off in zip(found["absent"], found["off"], strict=True)
    ]
    print(
        f"\n== no-tracer: {count} messages publish-to-handled in memory, {rounds} pairs of "
        f"child processes, best of {inner} runs each =="
    )
    labels = {"absent": "API not importable", "off": "API, no SDK"}
    medians: dict[str, dict[str, float]] = {}
    for way in ways:
        medians[way] = {
            phase: statistics.median(run[phase] for run in found[way])
            for phase in ("publish", "consume")
        }
        total = sum(medians[way].values())
        print(
            f"  {labels[way]:19}{count / total:>9,.0f} msg/s  {total / count * 1e6:6.1f} us/msg "
            f"(publish {medians[way]['publish'] / count * 1e6:5.1f}, consume "
            f"{medians[way]['consume'] / count * 1e6:5.1f}; medians)"
        )
    for phase in ("publish", "consume"):
        print(f"  {phase}: no SDK / no API {medians['off'][phase] / medians['absent'][phase]:.3f}x")
    ratio = statistics.median(ratios)
    print(f"  per pair: {', '.join(f'{r:.3f}' for r in ratios)}")
    for way in ways:
        print(f"  {labels[way]}, per message in melange/telemetry/ (profiled, untimed):")
        for module, figures in sorted(found[way][-1]["per_message"].items()):
            detail = ", ".join(f"{what} {n:.2f}" for what, n in sorted(figures.items()))
            print(f"    {module}: {detail}")
    verdict(
        f"no tracer: the API without an SDK at most {NO_TRACER_TARGET}x the time of no API: "
        f"{ratio:.3f}x (median of {rounds} pairs)",
        ratio <= NO_TRACER_TARGET,
    )
    profiled = found["off"][-1]["per_message"]["tracing"]
    verdict(
        "no tracer: no generator and no context manager of melange.telemetry.tracing per "
        f"message: {profiled['generators']:.2f} generator frames, "
        f"{profiled['context managers']:.2f} context managers",
        profiled["generators"] + profiled["context managers"] == 0,
    )
    others = {
        module: figures
        for module, figures in found["off"][-1]["per_message"].items()
        if module != "tracing" and figures.get("generators", 0) + figures.get("context managers", 0)
    }
    if others:
        print(
            "  (not a target) the rest of melange/telemetry enters per message: "
            + "; ".join(
                f"{module} {figures.get('context managers', 0):.2f} context managers"
                for module, figures in others.items()
            )
        )


def main() -> int:
    """Run the parts asked for (all by default); exit 0 (the verdicts are printed)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--only", action="append", choices=PARTS, help="run this part (repeatable)")
    parser.add_argument("--messages", type=int, default=5_000, help="per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of each way (pairs)")
    parser.add_argument("--inner", type=int, default=3, help="runs per no-tracer child; best")
    parser.add_argument("--fauxqs", action="store_true", help="part sdk: also on fauxqs")
    parser.add_argument("--child", choices=("absent", "off"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        no_tracer_child(args.child, args.messages, args.inner)
        return 0
    parts = args.only or PARTS
    machine_header("benchmarks/tracing.py")
    if "sdk" in parts:
        compare("memory", memory_queue, args.messages, args.rounds)
    if "sdk" in parts and args.fauxqs:
        from benchmarks.publish import fresh_queue, running_backend

        with running_backend("fauxqs") as backend:
            compare(
                "fauxqs",
                lambda: (backend, fresh_queue(backend, "tracing")[0]),
                args.messages // 5,
                args.rounds,
            )
    if "no-tracer" in parts:
        bench_no_tracer(args.messages, args.rounds, args.inner)
    return 0


if __name__ == "__main__":
    sys.exit(main())
