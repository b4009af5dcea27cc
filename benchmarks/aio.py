"""melange for asyncio, measured against the sync half on the same servers, in one run.

Parts (``--only``, several allowed):

* ``publish``: 1,000 publishes of ~200-byte JSON through a latency proxy of this script's
  own (a child process on 127.0.0.1 that holds each HTTP request 20 ms before forwarding
  it to fauxqs, as an in-region AWS round trip would take): ``AsyncQueuePublisher`` awaited
  one by one (``sequential``), the same issued with ``asyncio.gather`` under a semaphore of
  50 (``gather``), and the sync ``QueuePublisher`` on 50 threads (``threads``; the sync
  backend's pool is 50 connections, and the async backend is given 50 too). ``gather``
  and ``threads`` run ``--repeat`` times in alternating order (medians count);
  ``sequential`` once (it takes 20 s and more).
* ``handlers``: ``AsyncMessageDispatcher`` on ``AsyncInMemoryBackend`` with handlers that
  each ``await asyncio.sleep(0.05)``: 2,000 messages at concurrency 200 against concurrency
  1 (which handles 20 a second at best, so it is timed on ``--serial-messages`` and the
  two are compared as messages per second).
* ``noop``: a no-op handler on fauxqs itself (no proxy), ``MessageDispatcher(workers=1)``
  against ``AsyncMessageDispatcher(workers=1)``, ``wait_time_seconds=1`` both, fresh
  queues filled untimed, in interleaved rounds.
* ``sleep``: handlers that wait 10 ms on fauxqs: ``AsyncMessageDispatcher(workers=16)``
  whose handler awaits ``asyncio.sleep(0.01)`` against ``MessageDispatcher(workers=16)``
  whose handler calls ``time.sleep(0.01)``, ``wait_time_seconds=1`` both, the same count
  of messages in fresh queues filled untimed, in interleaved rounds (target: asyncio at
  least 1.0x the threads' throughput). Beside it, how many of the 16 slots were busy on
  average: the handlers' summed time (start to end of each call) over the wall time from
  the dispatcher's start to the last message handled (Little's law; the first receive's
  round trip, when no slot can be busy yet, is in the wall time of both).
* ``rss``: peak RSS (``VmHWM``) of a child process consuming a queue of 2,000 messages on
  fauxqs, with 200 handlers in flight (blocked until released, then draining the rest):
  the asyncio worker at concurrency 200 against the threaded dispatcher with workers=200.
  Each also runs with one handler, which gives the memory of each further handler apart
  from the imports (aiobotocore and aiohttp weigh more than boto3 alone).

It prints PASS/FAIL lines and exits 0 unless something breaks (then it raises).
Run from the repository root: ``.venv/bin/python benchmarks/aio.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.consume import MelangeConsumer, Tally, own_peak, peak_rss_mb
from benchmarks.publish import (
    REGISTRY_CONFIG,
    check_depth,
    fresh_queue,
    machine_header,
    make_messages,
    running_backend,
    verdict,
)
from melange.aio import AsyncInMemoryBackend, AsyncQueuePublisher
from melange.backends.aws import LocalSQSBackend
from melange.consuming.consumers import Consumer
from melange.publishing._sync.publishers import QueuePublisher
from melange.serializers.registry import SerializerRegistry

PARTS = ("publish", "handlers", "noop", "sleep", "rss")
PROXY_DELAY = 0.020  # seconds each request is held: an in-region AWS round trip
CONCURRENCY = 50  # publishes in flight, and threads of the threaded publisher
SLEEP_SECONDS, HANDLERS = 0.05, 200
SLOTS, SLOT_SLEEP = 16, 0.010  # part sleep: handlers and each one's wait
RSS_MESSAGES = 2000
DEADLINE_SECONDS = 180.0  # give up on a way that stalls
WAYS_RSS = ("asyncio", "threads")


# -- the latency proxy: a child process --------------------------------------------------


async def relay(
    client: tuple[asyncio.StreamReader, asyncio.StreamWriter], upstream: tuple[str, int]
) -> None:
    """Forward one client connection to ``upstream``, holding each request ``PROXY_DELAY``.

    Clients (botocore, aiohttp) never pipeline: a connection's next request is sent only
    after the answer to the last one. So the first bytes from the client after an answer
    (or at the start) begin a request, and holding them holds it; the connection's
    requests go out in order, one reader forwarding them.
    """
    client_reader, client_writer = client
    upstream_reader, upstream_writer = await asyncio.open_connection(*upstream)
    between_requests = [True]

    async def requests() -> None:
        while data := await client_reader.read(65536):
            if between_requests[0]:
                between_requests[0] = False
                await asyncio.sleep(PROXY_DELAY)
            upstream_writer.write(data)
            await upstream_writer.drain()

    async def answers() -> None:
        while data := await upstream_reader.read(65536):
            between_requests[0] = True
            client_writer.write(data)
            await client_writer.drain()

    pumps = [asyncio.ensure_future(requests()), asyncio.ensure_future(answers())]
    try:
        await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)  # either side closed
    finally:
        for pump in pumps:
            pump.cancel()
        for writer in (client_writer, upstream_writer):
            writer.close()


async def serve_proxy(upstream: tuple[str, int]) -> None:
    """Listen on a free loopback port, print it, and relay connections until killed."""

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await relay((reader, writer), upstream)
        except OSError:
            writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


class LatencyProxy:
    """The proxy as a child process (so it takes no CPU from the benchmark's own process)."""

    def __init__(self, endpoint: str) -> None:
        command = [sys.executable, __file__, "--proxy-child", endpoint.split("://")[-1]]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline())

    def stop(self) -> None:
        """Stop the child and wait for it."""
        self.process.terminate()
        self.process.wait(10)


# -- publish: sequential awaits, gather, threads, through the proxy ----------------------


async def publish_sequential(publisher: AsyncQueuePublisher, queue: str, items: list[Any]) -> None:
    """Await each publish before the next."""
    for item in items:
        await publisher.publish(queue, item)


async def publish_gathered(publisher: AsyncQueuePublisher, queue: str, items: list[Any]) -> None:
    """Issue every publish at once with ``asyncio.gather``, ``CONCURRENCY`` in flight."""
    slots = asyncio.Semaphore(CONCURRENCY)

    async def one(item: Any) -> str:
        async with slots:
            return await publisher.publish(queue, item)

    await asyncio.gather(*(one(item) for item in items))


def publish_threaded(
    publisher: QueuePublisher, pool: ThreadPoolExecutor, queue: str, items: list[Any]
) -> None:
    """Publish every item from ``CONCURRENCY`` threads."""
    list(pool.map(lambda item: publisher.publish(queue, item), items))


class PublishWays:
    """The three ways, each publishing a list of items to a fresh queue, timed."""

    def __init__(self, direct: LocalSQSBackend, proxy_port: int) -> None:
        from melange.backends.sqs.aio import AsyncLocalSQSBackend
        from melange.backends.sqs.options import ConnectionLimits

        registry = SerializerRegistry(REGISTRY_CONFIG)
        self.direct = direct  # declares and checks, without the proxy's delay
        self.sync_backend = LocalSQSBackend("127.0.0.1", proxy_port)
        self.threaded = QueuePublisher(registry, self.sync_backend)
        self.pool = ThreadPoolExecutor(CONCURRENCY, thread_name_prefix="bench-publish")
        self.loop = asyncio.new_event_loop()
        self.async_backend = AsyncLocalSQSBackend(
            "127.0.0.1", proxy_port, limits=ConnectionLimits(max_connections=CONCURRENCY)
        )
        self.awaited = AsyncQueuePublisher(registry, self.async_backend)
        self.cpu: dict[str, float] = {}

    def run(self, way: str, items: list[Any]) -> float:
        """Publish ``items`` ``way`` to a fresh queue; return the seconds it took.

        This process's CPU seconds (every thread's) add up in ``cpu[way]``.
        """
        queue, url = fresh_queue(self.direct, f"aio-{way}")
        cpu, began = time.process_time(), time.perf_counter()
        if way == "threads":
            publish_threaded(self.threaded, self.pool, queue, items)
        else:
            send = publish_gathered if way == "gather" else publish_sequential
            self.loop.run_until_complete(send(self.awaited, queue, items))
        seconds = time.perf_counter() - began
        self.cpu[way] = self.cpu.get(way, 0.0) + time.process_time() - cpu
        check_depth(self.direct, queue, url, len(items))
        self.direct.delete_queue(queue)
        return seconds

    def close(self) -> None:
        """Close both backends, the pool and the loop."""
        self.loop.run_until_complete(self.async_backend.close())
        self.loop.close()
        self.pool.shutdown()
        self.sync_backend.close()


def bench_publish(direct: LocalSQSBackend, count: int, repeat: int) -> None:
    """Sequential awaits, gather and threads through the 20 ms proxy; print the verdicts."""
    print(f"\n== publish: {count} messages through a {PROXY_DELAY * 1000:.0f} ms proxy ==")
    proxy = LatencyProxy(direct.sqs_client.meta.endpoint_url)
    ways = PublishWays(direct, proxy.port)
    try:
        for way in ("gather", "threads"):  # connections, first-use imports: untimed
            ways.run(way, make_messages(2 * CONCURRENCY))
        items = make_messages(count)
        ways.cpu.clear()
        seconds: dict[str, list[float]] = {"gather": [], "threads": []}
        for run in range(repeat):
            for way in ("gather", "threads") if run % 2 == 0 else ("threads", "gather"):
                seconds[way].append(ways.run(way, items))
        sequential = ways.run("sequential", items)
    finally:
        ways.close()
        proxy.stop()
    gather, threads = (statistics.median(seconds[way]) for way in ("gather", "threads"))
    for way, taken in (("sequential", sequential), ("gather", gather), ("threads", threads)):
        runs = 1 if way == "sequential" else len(seconds[way])
        print(
            f"{way:<11}{taken:>8.3f} s{count / taken:>8.0f} msg/s"
            f"{1000 * ways.cpu[way] / (runs * count):>8.2f} CPU ms/msg (median of {runs})"
        )
    verdict(
        f"gather at least 10x faster than sequential awaits: {sequential / gather:.1f}x",
        sequential / gather >= 10,
    )
    verdict(
        f"gather at least as fast as {CONCURRENCY} threads: {threads / gather:.2f}x",
        gather <= threads,
    )


# -- handlers: 200 concurrent sleeping handlers on the in-memory backend ------------------


async def until_handled(
    dispatcher: Any, queue: str, done: asyncio.Event, counted: Callable[[], int]
) -> float:
    """Run ``dispatcher`` on ``queue`` until ``done``; return the seconds; stop it cleanly."""
    began = time.perf_counter()
    running = asyncio.ensure_future(dispatcher.run(queue))
    try:
        await asyncio.wait_for(done.wait(), DEADLINE_SECONDS)
    except TimeoutError:
        raise RuntimeError(f"{queue!r}: {counted()} handled, {dispatcher.stats}") from None
    finally:
        seconds = time.perf_counter() - began
        dispatcher.stop()
        await running
    return seconds


def async_tally(expected: int, pause: float) -> tuple[Consumer, asyncio.Event, Callable[[], int]]:
    """Return a consumer whose async handler sleeps ``pause``, its done event and its count."""
    done, handled = asyncio.Event(), [0]

    async def handle(message: object) -> None:
        if pause:
            await asyncio.sleep(pause)
        handled[0] += 1
        if handled[0] == expected:
            done.set()

    return Consumer(handle, name="benchmark"), done, lambda: handled[0]


async def sleeping_rate(concurrency: int, count: int) -> float:
    """Handle ``count`` sleeping messages at ``concurrency`` in memory; return messages/s."""
    from melange.consuming.aio_dispatcher import AsyncMessageDispatcher

    registry = SerializerRegistry(REGISTRY_CONFIG)
    backend = AsyncInMemoryBackend()
    await backend.declare_queue("sleepy")
    await AsyncQueuePublisher(registry, backend).publish_many("sleepy", make_messages(count))
    handler, done, counted = async_tally(count, SLEEP_SECONDS)
    dispatcher = AsyncMessageDispatcher(
        registry, backend, consumers=[handler], workers=concurrency, wait_time_seconds=1
    )
    return count / await until_handled(dispatcher, "sleepy", done, counted)


def bench_handlers(count: int, serial_count: int) -> None:
    """Concurrency 200 against 1, handlers awaiting 50 ms each, in memory."""
    print(f"\n== handlers: await asyncio.sleep({SLEEP_SECONDS}) each, AsyncInMemoryBackend ==")
    wide = asyncio.run(sleeping_rate(HANDLERS, count))
    serial = asyncio.run(sleeping_rate(1, serial_count))
    print(f"concurrency {HANDLERS}: {count} messages, {wide:.0f} msg/s ({count / wide:.2f} s)")
    print(f"concurrency 1: {serial_count} messages, {serial:.1f} msg/s")
    verdict(
        f"concurrency {HANDLERS} at least 50x the throughput of concurrency 1: "
        f"{wide / serial:.1f}x",
        wide / serial >= 50,
    )


# -- noop: the asyncio dispatcher against the sync one on fauxqs --------------------------


async def async_noop_round(endpoint: str, queue: str, count: int) -> float:
    """Consume ``queue`` with a no-op async handler at concurrency 1; return the seconds."""
    from melange.backends.sqs.aio import AsyncLocalSQSBackend
    from melange.consuming.aio_dispatcher import AsyncMessageDispatcher

    host, port = endpoint.rsplit(":", 1)
    backend = AsyncLocalSQSBackend(host, int(port))
    try:
        await backend.redrive_policy(queue)  # a connection and the queue's URL: untimed
        handler, done, counted = async_tally(count, 0.0)
        dispatcher = AsyncMessageDispatcher(
            SerializerRegistry(REGISTRY_CONFIG), backend, consumers=[handler], wait_time_seconds=1
        )
        seconds = await until_handled(dispatcher, queue, done, counted)
        if dispatcher.stats.acknowledged != count:
            raise RuntimeError(f"asyncio on {queue!r}: {dispatcher.stats}")
        return seconds
    finally:
        await backend.close()


def sync_noop_round(backend: LocalSQSBackend, queue: str, count: int) -> float:
    """Consume ``queue`` with a no-op handler on one worker thread; return the seconds."""
    tally = Tally(count)
    registry = SerializerRegistry(REGISTRY_CONFIG)
    began = time.perf_counter()
    consumer = MelangeConsumer(registry, backend, queue, tally, 1)
    tally.wait(consumer.start().alive, f"sync on {queue!r}")
    consumer.join()
    return tally.finished_at - began


def bench_noop(direct: LocalSQSBackend, total: int, queue_size: int) -> None:
    """A no-op handler on fauxqs: throughput of the asyncio dispatcher over the sync one's."""
    endpoint = direct.sqs_client.meta.endpoint_url
    publisher = QueuePublisher(SerializerRegistry(REGISTRY_CONFIG), direct)
    seconds = {"sync": 0.0, "asyncio": 0.0}
    rounds = [min(queue_size, total - start) for start in range(0, total, queue_size)]
    for number, count in enumerate([20, *rounds]):  # the first round warms up, untimed
        for way in ("sync", "asyncio") if number % 2 else ("asyncio", "sync"):
            queue, _ = fresh_queue(direct, f"noop-{way}")
            publisher.publish_many(queue, make_messages(count))
            if way == "sync":
                taken = sync_noop_round(direct, queue, count)
            else:
                taken = asyncio.run(async_noop_round(endpoint, queue, count))
            direct.delete_queue(queue)
            if number:
                seconds[way] += taken
    print(f"\n== noop: {total} messages per way on fauxqs, queues of {queue_size}, 1 worker ==")
    for way, taken in seconds.items():
        print(f"{way:<9}{taken:>8.3f} s{total / taken:>8.0f} msg/s")
    ratio = seconds["sync"] / seconds["asyncio"]
    verdict(f"asyncio throughput at least 0.9x the sync dispatcher's: {ratio:.3f}x", ratio >= 0.9)


# -- sleep: 16 handlers waiting 10 ms each, asyncio against threads, on fauxqs ------------


class BusyTally(Tally):
    """A ``Tally`` that also sums the time its calls took (``busy``, seconds)."""

    def __init__(self, expected: int, pause: float) -> None:
        super().__init__(expected, pause)
        self.busy = 0.0

    def __call__(self, message: object) -> None:
        """Handle one message and add the call's time to ``busy``."""
        began = time.perf_counter()
        super().__call__(message)
        with self._lock:
            self.busy += time.perf_counter() - began


def threads_sleep_round(backend: LocalSQSBackend, queue: str, count: int) -> tuple[float, float]:
    """Consume ``queue`` on 16 workers sleeping 10 ms a message; return seconds and busy time."""
    tally = BusyTally(count, SLOT_SLEEP)
    registry = SerializerRegistry(REGISTRY_CONFIG)
    began = time.perf_counter()
    consumer = MelangeConsumer(registry, backend, queue, tally, SLOTS)
    tally.wait(consumer.start().alive, f"threads on {queue!r}")
    consumer.join()
    return tally.finished_at - began, tally.busy


async def asyncio_sleep_round(endpoint: str, queue: str, count: int) -> tuple[float, float]:
    """Consume ``queue`` at concurrency 16 awaiting 10 ms a message; return seconds, busy time."""
    from melange.backends.sqs.aio import AsyncLocalSQSBackend
    from melange.consuming.aio_dispatcher import AsyncMessageDispatcher

    host, port = endpoint.rsplit(":", 1)
    backend = AsyncLocalSQSBackend(host, int(port))
    done, figures = asyncio.Event(), {"handled": 0, "busy": 0.0, "finished_at": 0.0}

    async def handle(message: object) -> None:
        began = time.perf_counter()
        await asyncio.sleep(SLOT_SLEEP)
        figures["busy"] += time.perf_counter() - began
        figures["handled"] += 1
        if figures["handled"] == count:
            figures["finished_at"] = time.perf_counter()
            done.set()

    try:
        await backend.redrive_policy(queue)  # a connection and the queue's URL: untimed
        dispatcher = AsyncMessageDispatcher(
            SerializerRegistry(REGISTRY_CONFIG),
            backend,
            consumers=[Consumer(handle, name="benchmark")],
            workers=SLOTS,
            wait_time_seconds=1,
        )
        began = time.perf_counter()
        await until_handled(dispatcher, queue, done, lambda: int(figures["handled"]))
        if dispatcher.stats.acknowledged != count:
            raise RuntimeError(f"asyncio on {queue!r}: {dispatcher.stats}")
        return figures["finished_at"] - began, figures["busy"]
    finally:
        await backend.close()


def bench_sleep(direct: LocalSQSBackend, count: int, rounds: int) -> None:
    """16 handlers waiting 10 ms each on fauxqs: asyncio's throughput over the threads'."""
    endpoint = direct.sqs_client.meta.endpoint_url
    publisher = QueuePublisher(SerializerRegistry(REGISTRY_CONFIG), direct)
    ways = ("threads", "asyncio")
    seconds, busy = dict.fromkeys(ways, 0.0), dict.fromkeys(ways, 0.0)
    for number in range(rounds + 1):  # the first round warms up, untimed
        size = count if number else 2 * SLOTS
        for way in ways if number % 2 else ways[::-1]:
            queue, _ = fresh_queue(direct, f"sleep-{way}")
            publisher.publish_many(queue, make_messages(size))
            if way == "threads":
                taken, spent = threads_sleep_round(direct, queue, size)
            else:
                taken, spent = asyncio.run(asyncio_sleep_round(endpoint, queue, size))
            direct.delete_queue(queue)
            if number:
                seconds[way] += taken
                busy[way] += spent
    total = count * rounds
    print(
        f"\n== sleep: {SLOTS} handlers each waiting {SLOT_SLEEP * 1000:.0f} ms on fauxqs, "
        f"{total} messages per way in {rounds} interleaved rounds =="
    )
    ideal = SLOTS / SLOT_SLEEP
    for way in ways:
        print(
            f"{way:<9}{seconds[way]:>8.3f} s{total / seconds[way]:>8.0f} msg/s  "
            f"{busy[way] / seconds[way]:>5.1f} of {SLOTS} slots busy on average "
            f"(at most {ideal:.0f} msg/s)"
        )
    ratio = seconds["threads"] / seconds["asyncio"]
    verdict(
        f"asyncio with {SLOTS} handlers awaiting 10 ms at least 1.0x the throughput of "
        f"{SLOTS} threads sleeping 10 ms: {ratio:.3f}x",
        ratio >= 1.0,
    )


# -- rss: child processes with 200 handlers in flight -------------------------------------


def bench_rss(direct: LocalSQSBackend) -> None:
    """Peak RSS of a worker child with 200 handlers in flight, asyncio against threads.

    Each way also runs with one handler in flight, so the cost of each further handler
    (a thread and its stack, or a task) shows apart from what both import.
    """
    print(f"\n== rss: a child process, {HANDLERS} handlers in flight, {RSS_MESSAGES} messages ==")
    peaks: dict[str, float] = {}
    for way in WAYS_RSS:
        held = {}
        for handlers in (1, HANDLERS):
            found = run_rss_child(direct, way, handlers)
            start, held[handlers], peak = (own_peak(found[k]) for k in ("start", "held", "peak"))
            print(
                f"{way:<9}{handlers:>4} handlers:{start:>6.1f} MB started,{held[handlers]:>6.1f}"
                f" MB holding {found['in_flight']:>4} messages (handlers blocked),{peak:>6.1f} MB"
                " peak"
            )
        peaks[way] = peak
        per_handler = 1024 * (held[HANDLERS] - held[1]) / (HANDLERS - 1)
        print(f"{way:<9}each further handler in flight: {per_handler:.1f} KB")
    ratio = peaks["asyncio"] / peaks["threads"]
    verdict(
        f"asyncio worker's peak RSS at most half the threaded one's: {ratio:.2f}x "
        f"({peaks['asyncio']:.1f} vs {peaks['threads']:.1f} MB)",
        ratio <= 0.5,
    )


def run_rss_child(direct: LocalSQSBackend, way: str, handlers: int) -> dict[str, Any]:
    """Run an RSS child on a fresh queue of ``RSS_MESSAGES``; return the figures it printed."""
    queue, _ = fresh_queue(direct, f"rss-{way}")
    QueuePublisher(SerializerRegistry(REGISTRY_CONFIG), direct).publish_many(
        queue, make_messages(RSS_MESSAGES)
    )
    endpoint = direct.sqs_client.meta.endpoint_url
    command = [sys.executable, __file__, "--rss-child", way, "--endpoint", endpoint]
    done = subprocess.run(
        [*command, "--queue", queue, "--handlers", str(handlers)],
        capture_output=True,
        text=True,
        check=False,
    )
    direct.delete_queue(queue)
    if done.returncode != 0:
        raise RuntimeError(f"the {way} RSS child failed:\n{done.stderr[-2000:]}")
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def rss_child(way: str, endpoint: str, queue: str, handlers: int) -> None:
    """Consume ``queue`` with ``handlers`` blocked handlers, then release them; print JSON."""
    start = peak_rss_mb()
    if way == "threads":
        figures = threaded_rss(endpoint, queue, handlers)
    else:
        figures = asyncio.run(asyncio_rss(endpoint, queue, handlers))
    print(json.dumps({"start": start, **figures, "peak": peak_rss_mb()}))


def threaded_rss(endpoint: str, queue: str, handlers: int) -> dict[str, Any]:
    """The threaded dispatcher with ``workers=handlers``: hold, measure, release, drain."""
    host, port = endpoint.rsplit(":", 1)
    backend = LocalSQSBackend(host, int(port))
    gate = threading.Event()
    tally = Tally(RSS_MESSAGES, gate=gate)
    consumer = MelangeConsumer(SerializerRegistry(REGISTRY_CONFIG), backend, queue, tally, handlers)
    consumer.start()
    in_flight = held_steady(
        handlers, lambda: tally.entered, lambda: consumer.dispatcher.stats.received
    )
    held = peak_rss_mb()
    gate.set()
    tally.wait(consumer.alive, f"threads child on {queue!r}")
    consumer.join()
    backend.close()
    return {"in_flight": in_flight, "held": held}


def held_steady(handlers: int, entered: Callable[[], int], received: Callable[[], int]) -> int:
    """Wait until ``handlers`` are blocked and receiving has stopped; return the received."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    last, since = -1, time.monotonic()
    while entered() < handlers or time.monotonic() - since < 1.5:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{entered()} handlers entered, {received()} received")
        time.sleep(0.05)  # poll interval
        if (now := received()) != last:
            last, since = now, time.monotonic()
    return last


async def asyncio_rss(endpoint: str, queue: str, handlers: int) -> dict[str, Any]:
    """The asyncio dispatcher at ``workers=handlers``: hold, measure, release, drain."""
    from melange.backends.sqs.aio import AsyncLocalSQSBackend
    from melange.consuming.aio_dispatcher import AsyncMessageDispatcher

    host, port = endpoint.rsplit(":", 1)
    backend = AsyncLocalSQSBackend(host, int(port))
    gate, done, counts = asyncio.Event(), asyncio.Event(), {"entered": 0, "handled": 0}

    async def handle(message: object) -> None:
        counts["entered"] += 1
        await gate.wait()
        counts["handled"] += 1
        if counts["handled"] == RSS_MESSAGES:
            done.set()

    dispatcher = AsyncMessageDispatcher(
        SerializerRegistry(REGISTRY_CONFIG),
        backend,
        consumers=[Consumer(handle, name="benchmark")],
        workers=handlers,
        wait_time_seconds=1,
    )
    running = asyncio.ensure_future(
        until_handled(dispatcher, queue, done, lambda: counts["handled"])
    )
    in_flight = await asyncio.to_thread(
        held_steady, handlers, lambda: counts["entered"], lambda: dispatcher.stats.received
    )
    held = peak_rss_mb()
    gate.set()
    await running
    await backend.close()
    return {"in_flight": in_flight, "held": held}


# -- the command line ---------------------------------------------------------------------


def parse_arguments() -> argparse.Namespace:
    """Return the command line's options."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--only", action="append", choices=PARTS, help="run this part (repeatable)")
    parser.add_argument("--messages", type=int, default=1000, help="publishes per way")
    parser.add_argument("--repeat", type=int, default=3, help="runs of gather and threads")
    parser.add_argument("--handler-messages", type=int, default=2000, help="at concurrency 200")
    parser.add_argument("--serial-messages", type=int, default=200, help="at concurrency 1")
    parser.add_argument("--noop-messages", type=int, default=4000, help="per way in part noop")
    parser.add_argument("--queue-size", type=int, default=1000, help="messages per fresh queue")
    parser.add_argument("--sleep-messages", type=int, default=1600, help="per round of sleep")
    parser.add_argument("--sleep-rounds", type=int, default=3, help="rounds of part sleep")
    parser.add_argument("--proxy-child", metavar="HOST:PORT", help=argparse.SUPPRESS)
    parser.add_argument("--rss-child", choices=WAYS_RSS, help=argparse.SUPPRESS)
    parser.add_argument("--endpoint", help=argparse.SUPPRESS)
    parser.add_argument("--queue", help=argparse.SUPPRESS)
    parser.add_argument("--handlers", type=int, default=HANDLERS, help=argparse.SUPPRESS)
    return parser.parse_args()


def run_child(args: argparse.Namespace) -> bool:
    """Run this script as the proxy or an RSS child if asked; return whether it was."""
    if args.proxy_child:
        host, port = args.proxy_child.rsplit(":", 1)
        asyncio.run(serve_proxy((host, int(port))))
        return True
    if args.rss_child:
        rss_child(args.rss_child, args.endpoint, args.queue, args.handlers)
        return True
    return False


def main() -> int:
    """Run the parts asked for (all by default) and print the figures."""
    args = parse_arguments()
    if run_child(args):
        return 0
    parts = args.only or PARTS
    machine_header("benchmarks/aio.py")
    if "handlers" in parts:
        bench_handlers(args.handler_messages, args.serial_messages)
    if {"publish", "noop", "sleep", "rss"} & set(parts):
        with running_backend("fauxqs") as direct:
            if "publish" in parts:
                bench_publish(direct, args.messages, args.repeat)
            if "noop" in parts:
                bench_noop(direct, args.noop_messages, args.queue_size)
            if "sleep" in parts:
                bench_sleep(direct, args.sleep_messages, args.sleep_rounds)
            if "rss" in parts:
                bench_rss(direct)
    return 0


if __name__ == "__main__":
    sys.exit(main())
