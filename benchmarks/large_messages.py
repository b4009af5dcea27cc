"""Large messages through S3: melange against AWS's Python extended client, and small ones' cost.

Two parts (``--only``, several allowed), on one emulator serving SQS and S3 (fauxqs by
default, ``--server moto``):

* ``large``: 200 messages of 500 KiB and 200 of 5 MiB each way, published one by one and
  consumed (received, the payload fetched from S3, parsed, deleted with its object).
  ``melange`` is ``QueuePublisher.publish`` with an ``S3PayloadStore`` and a
  ``MessageDispatcher(workers=1, delete_payloads=True)`` run on a thread; ``aws`` is AWS's
  ``amazon-sqs-extended-client`` (the PyPI package, unchanged, deleting its objects):
  ``json.dumps`` and ``send_message`` per message, then one thread looping on
  ``receive_message`` (10 messages, 1 s long poll, all attributes), ``json.loads`` of each
  body, ``delete_message_batch``. Each way stores in S3 what it must: AWS's client every
  body over its 256 KiB threshold, melange every body over SQS's 1 MiB (so 500 KiB travels
  inline); ``melange-always`` (``LargePayloads(always=True)``) stores every body, as a
  reference. Rounds of ``--round`` messages, each on a fresh queue, the ways' order
  rotating. As in ``consume.py``, a round's consume is timed from its start (the
  dispatcher's thread started, the loop's first receive) to the last message handled: the
  deletes of every batch but the last fall within it either way (AWS's loop deletes each
  batch before receiving the next; melange's acknowledgements go out from another thread,
  in batches of 10 or every 0.2 s); then, untimed, the script waits for the last ones and
  checks that the queue and the bucket are empty. Target: melange's publish-plus-consume
  time at most 1.0x AWS's client's, per size.
* ``small``: 5,000 messages of 200 B published with ``QueuePublisher.publish`` without a
  payload store and with one (the bucket configured, not ``always``), on fresh queues,
  the two publishers taking turns message by message (which goes first alternating), so
  the machine's drifting load weighs on both alike; ``--repeat`` runs, the median of their
  ratios is the figure (this process's CPU time beside it). Target: at most 1.02x; and no
  S3 request at all (botocore's ``before-send`` on the store's client).

The bodies are JSON documents of records with quotes and newlines, so JSON escapes them.
AWS's client cannot delete a message on fauxqs (it recovers the receipt handle it rewrote
by splitting on ``-``, and fauxqs's handles are UUIDs): its ``delete_message_batch`` sends
truncated handles, which fauxqs accepts without deleting. The request is sent all the
same, so the timing holds; after each of its rounds the script checks that its objects
are gone, and on moto that its queue is empty too. It prints PASS/FAIL lines and exits 0
unless something breaks.

Run from the repository root: ``.venv/bin/python benchmarks/large_messages.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import boto3

from benchmarks.publish import REGISTRY_CONFIG, machine_header, make_messages, verdict
from melange import Consumer, MessageDispatcher, QueuePublisher
from melange.backends.aws import LOCAL_CREDENTIALS, LocalSQSBackend
from melange.backends.sqs.options import Endpoints
from melange.payloads import LargePayloads
from melange.payloads.s3 import S3PayloadStore
from melange.serializers.registry import SerializerRegistry
from tests.support.extended_clients import CREDENTIALS, extended_sqs_client
from tests.support.requests import RequestLog
from tests.support.servers import (
    ServerProcess,
    fauxqs_unavailable,
    start_fauxqs_server,
    start_moto_server,
)

PARTS = ("large", "small")
LARGE_WAYS = ("melange", "melange-always", "aws")
SIZES = {"500 KiB": 500 * 1024, "5 MiB": 5 * 1024 * 1024}
DEADLINE_SECONDS = 300.0  # give up on a way that stalls


# -- the emulator, S3 and the stores ----------------------------------------------------------


@contextlib.contextmanager
def running_server(kind: str) -> Iterator[ServerProcess]:
    """Start fauxqs or moto on a free loopback port; stop it after.

    Raises:
        RuntimeError: fauxqs cannot run here (no Node.js, or ``make node-deps`` not run).
    """
    with tempfile.TemporaryDirectory(prefix="melange-bench-") as tmp:
        log = Path(tmp) / f"{kind}.log"
        if kind == "fauxqs":
            problem = fauxqs_unavailable()
            if problem is not None:
                raise RuntimeError(problem)
            server = start_fauxqs_server(log)
        else:
            server = start_moto_server(log)
        try:
            yield server
        finally:
            server.stop()


def make_store(server: ServerProcess, settings: LargePayloads) -> S3PayloadStore:
    """Return melange's S3 payload store on the emulator, as a ``local`` application's."""
    key, secret = LOCAL_CREDENTIALS
    session = boto3.Session(aws_access_key_id=key, aws_secret_access_key=secret)
    return S3PayloadStore(
        settings, session=session, endpoints=Endpoints.local(server.host, server.port)
    )


class CountingStore:
    """Wraps a payload store: counts the objects it deleted, so a consume is timed to the last.

    Args:
        store: melange's store, which does the work.
    """

    def __init__(self, store: Any) -> None:
        self.store = store
        self.settings = store.settings
        self.deleted = 0
        self._lock = threading.Lock()

    def put(self, pointer: Any, payload: str) -> None:
        """Store through the wrapped store."""
        self.store.put(pointer, payload)

    def get(self, pointer: Any) -> str:
        """Fetch through the wrapped store."""
        return str(self.store.get(pointer))

    def delete(self, pointer: Any) -> None:
        """Delete through the wrapped store, and count it."""
        self.store.delete(pointer)
        with self._lock:
            self.deleted += 1


@attrs.frozen
class Bucket:
    """The benchmark's bucket, looked at with a plain boto3 client."""

    name: str
    s3: Any

    def count(self) -> int:
        """Return how many objects the bucket holds."""
        return int(self.s3.list_objects_v2(Bucket=self.name).get("KeyCount", 0))


def new_bucket(server: ServerProcess) -> Bucket:
    """Create a bucket of a new name on the emulator."""
    s3 = boto3.client("s3", endpoint_url=server.endpoint_url, **CREDENTIALS)
    name = f"bench-payloads-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return Bucket(name, s3)


def fresh_queue(backend: LocalSQSBackend, label: str) -> tuple[str, str]:
    """Declare a queue of a name never used before; return its name and URL."""
    name = f"bench-{label}-{uuid.uuid4().hex[:12]}"
    backend.declare_queue(name)
    return name, backend.sqs_client.get_queue_url(QueueName=name)["QueueUrl"]


def depth(backend: LocalSQSBackend, url: str) -> tuple[int, int]:
    """Return the messages a queue holds: visible, and in flight."""
    attributes = backend.sqs_client.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return (
        int(attributes["ApproximateNumberOfMessages"]),
        int(attributes["ApproximateNumberOfMessagesNotVisible"]),
    )


# -- part large ---------------------------------------------------------------------------------


@functools.cache
def records(size: int) -> list[dict[str, Any]]:
    """Return records that serialize to about ``size`` bytes of JSON, quotes and escapes."""
    return [{"n": i, "sku": f"SKU-{i:08d}", "note": 'a "quoted" line\n'} for i in range(size // 61)]


def document(size: int, number: int) -> dict[str, Any]:
    """Return message ``number`` of about ``size`` bytes once serialized.

    Messages of a size share their records: serializing each is the full work, but the
    process does not hold a round's worth of them (gigabytes of objects for the cyclic
    garbage collector to walk while the consumers parse).
    """
    return {"number": number, "rows": records(size)}


def compact_json(item: Any) -> str:
    """Return ``item`` as JSON text, as melange's ``JsonSerializer`` writes it."""
    return json.dumps(item, separators=(",", ":"), ensure_ascii=False)


def wait_for(done: Callable[[], bool], what: str, alive: Callable[[], bool] = lambda: True) -> None:
    """Poll ``done`` every 5 ms; raise if ``alive()`` fails or at the deadline.

    A round takes seconds; polling more often would only take the GIL from the dispatcher.
    """
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not done():
        if not alive() or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not finish")
        time.sleep(0.005)


@attrs.define
class Figures:
    """One way's time for one size: publishing and consuming, wall seconds."""

    publish: float = 0.0
    consume: float = 0.0

    @property
    def total(self) -> float:
        """Publishing and consuming."""
        return self.publish + self.consume


class LargeRounds:
    """Publishes and consumes rounds of large messages each way on fresh queues."""

    def __init__(self, server: ServerProcess, kind: str) -> None:
        self.server, self.kind = server, kind
        self.backend = LocalSQSBackend(server.host, server.port)
        self.bucket = new_bucket(server)
        self.registry = SerializerRegistry(REGISTRY_CONFIG)
        self.stores = {
            "melange": CountingStore(make_store(server, LargePayloads(bucket=self.bucket.name))),
            "melange-always": CountingStore(
                make_store(server, LargePayloads(bucket=self.bucket.name, always=True))
            ),
        }
        self.publishers = {
            way: QueuePublisher(self.registry, self.backend, payloads=store)
            for way, store in self.stores.items()
        }
        self.aws = extended_sqs_client(server.endpoint_url, self.bucket.name)

    def close(self) -> None:
        """Close the clients."""
        for store in self.stores.values():
            store.store.close()
        self.backend.close()

    def run(self, way: str, items: list[dict[str, Any]]) -> Figures:
        """Publish and consume ``items`` one way on a fresh queue; return the times."""
        queue, url = fresh_queue(self.backend, way)
        figures = self._aws(url, items) if way == "aws" else self._melange(way, queue, items)
        visible, in_flight = depth(self.backend, url)
        leftover = self.bucket.count()
        if leftover or visible or (in_flight and not (way == "aws" and self.kind == "fauxqs")):
            raise RuntimeError(
                f"{way} on {queue!r} left {leftover} objects, {visible} messages visible and "
                f"{in_flight} in flight"
            )
        self.backend.delete_queue(queue)
        return figures

    def _melange(self, way: str, queue: str, items: list[dict[str, Any]]) -> Figures:
        store, publisher = self.stores[way], self.publishers[way]
        began = time.perf_counter()
        for item in items:
            publisher.publish(queue, item)
        published = time.perf_counter()
        stored = self.bucket.count()  # untimed: how many objects the consume must delete
        handled: list[int] = []
        last = [0.0]

        def handle(message: dict[str, Any]) -> None:
            handled.append(message["number"])
            if len(handled) == len(items):
                last[0] = time.perf_counter()

        dispatcher = MessageDispatcher(
            self.registry,
            self.backend,
            consumers=[Consumer(handle, name="benchmark")],
            payloads=store,
            workers=1,
            wait_time_seconds=1,
            delete_payloads=True,
        )
        thread = threading.Thread(target=dispatcher.run, args=(queue,), daemon=True)
        deleted_before = store.deleted
        started = time.perf_counter()
        thread.start()
        # Untimed from the last message handled: the last acknowledgements and deletes.
        wait_for(
            lambda: (
                dispatcher.stats.acknowledged == len(items)
                and store.deleted - deleted_before == stored
            ),
            f"{way} consuming {queue!r}",
            thread.is_alive,
        )
        dispatcher.stop()
        thread.join()
        if sorted(handled) != sorted(item["number"] for item in items):
            raise RuntimeError(f"{way} on {queue!r} handled {len(handled)} of {len(items)}")
        return Figures(published - began, last[0] - started)

    def _aws(self, url: str, items: list[dict[str, Any]]) -> Figures:
        began = time.perf_counter()
        for item in items:
            self.aws.send_message(QueueUrl=url, MessageBody=compact_json(item))
        published = time.perf_counter()
        handled: list[int] = []
        last = 0.0
        deadline = time.monotonic() + DEADLINE_SECONDS
        while len(handled) < len(items):
            if time.monotonic() > deadline:
                raise RuntimeError(f"aws on {url!r}: {len(handled)} of {len(items)} handled")
            response = self.aws.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=1,
                MessageAttributeNames=["All"],
            )
            messages = response.get("Messages", [])
            for message in messages:
                handled.append(json.loads(message["Body"])["number"])
            if len(handled) == len(items):
                last = time.perf_counter()  # the last batch's deletes follow, untimed
            if messages:
                entries = [
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(messages)
                ]
                self.aws.delete_message_batch(QueueUrl=url, Entries=entries)
        return Figures(published - began, last - published)


def bench_large(server: ServerProcess, kind: str, count: int, round_size: int) -> None:
    """Time ``count`` messages of each size each way; print the figures and the verdicts."""
    rounds = LargeRounds(server, kind)
    try:
        warm = [document(1024, n) for n in range(3)]
        for way in LARGE_WAYS:  # connections, first-use imports: untimed
            rounds.run(way, warm)
        for label, size in SIZES.items():
            print(
                f"\n== large: {count} messages of {label} per way, rounds of {round_size} "
                f"on fresh queues ({kind}) =="
            )
            figures = {way: Figures() for way in LARGE_WAYS}
            for number, start in enumerate(range(0, count, round_size)):
                items = [document(size, n) for n in range(start, min(count, start + round_size))]
                shift = number % len(LARGE_WAYS)
                for way in LARGE_WAYS[shift:] + LARGE_WAYS[:shift]:
                    found = rounds.run(way, items)
                    figures[way].publish += found.publish
                    figures[way].consume += found.consume
            report_large(label, count, figures)
    finally:
        rounds.close()


def report_large(label: str, count: int, figures: dict[str, Figures]) -> None:
    """Print one size's table and its verdict."""
    print(f"{'way':<16}{'publish s':>10}{'consume s':>11}{'total s':>9}{'msg/s':>8}{'/ aws':>8}")
    aws = figures["aws"].total
    for way in LARGE_WAYS:
        found = figures[way]
        print(
            f"{way:<16}{found.publish:>10.3f}{found.consume:>11.3f}{found.total:>9.3f}"
            f"{count / found.total:>8.1f}{found.total / aws:>8.3f}"
        )
    ratio = figures["melange"].total / aws
    verdict(
        f"{label}: melange's publish + consume time at most 1.0x AWS's extended client's: "
        f"{ratio:.3f}x (publish {figures['melange'].publish / figures['aws'].publish:.3f}x, "
        f"consume {figures['melange'].consume / figures['aws'].consume:.3f}x)",
        ratio <= 1.0,
    )


# -- part small ---------------------------------------------------------------------------------


def bench_small(server: ServerProcess, kind: str, count: int, round_size: int, repeat: int) -> None:
    """Time publishing small messages without and with a payload store; print the verdicts."""
    backend = LocalSQSBackend(server.host, server.port)
    bucket = new_bucket(server)
    store = make_store(server, LargePayloads(bucket=bucket.name))
    registry = SerializerRegistry(REGISTRY_CONFIG)
    publishers = {
        "no store": QueuePublisher(registry, backend),
        "store": QueuePublisher(registry, backend, payloads=store),
    }
    s3_requests = RequestLog().watch(store.client)
    ways = tuple(publishers)
    messages = make_messages(count)
    print(
        f"\n== small: {count} messages of ~200 B per way per run, rounds of {round_size}, "
        f"{repeat} runs ({kind}) =="
    )
    try:
        for way in ways:  # connections, first-use imports: untimed
            queue, _ = fresh_queue(backend, "warm")
            for item in messages[:20]:
                publishers[way].publish(queue, item)
            backend.delete_queue(queue)
        ratios, cpu_ratios = [], []
        for run in range(repeat):
            seconds, cpu = dict.fromkeys(ways, 0.0), dict.fromkeys(ways, 0.0)
            for start in range(0, count, round_size):
                items = messages[start : start + round_size]
                queues = {way: fresh_queue(backend, "small") for way in ways}
                for index, item in enumerate(items):
                    # Message by message, the ways alternating which goes first: drift in
                    # the machine's load weighs on both alike.
                    for way in ways if (run + index) % 2 == 0 else ways[::-1]:
                        began, used = time.perf_counter(), time.process_time()
                        publishers[way].publish(queues[way][0], item)
                        seconds[way] += time.perf_counter() - began
                        cpu[way] += time.process_time() - used
                for queue, url in queues.values():
                    if depth(backend, url) != (len(items), 0):
                        raise RuntimeError(f"{queue!r} does not hold the {len(items)} sent")
                    backend.delete_queue(queue)
            ratio, cpu_ratio = (
                seconds["store"] / seconds["no store"],
                cpu["store"] / cpu["no store"],
            )
            ratios.append(ratio)
            cpu_ratios.append(cpu_ratio)
            print(
                f"run {run + 1}: no store {seconds['no store']:.3f} s "
                f"({count / seconds['no store']:.0f} msg/s, CPU {cpu['no store']:.3f} s), "
                f"store {seconds['store']:.3f} s ({count / seconds['store']:.0f} msg/s, "
                f"CPU {cpu['store']:.3f} s): {ratio:.3f}x, CPU {cpu_ratio:.3f}x"
            )
    finally:
        s3_requests.unwatch(store.client)
        store.close()
        backend.close()
    median = statistics.median(ratios)
    runs = ", ".join(f"{r:.3f}" for r in ratios)
    verdict(
        f"publish with a bucket configured at most 1.02x the time without: {median:.3f}x "
        f"(median of {runs}; CPU {statistics.median(cpu_ratios):.3f}x)",
        median <= 1.02,
    )
    verdict(
        f"no S3 request for small messages: {s3_requests.count()} sent, "
        f"{bucket.count()} objects in the bucket",
        s3_requests.count() == 0 and bucket.count() == 0,
    )


def main() -> int:
    """Parse the options, run the parts asked for and print the figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--only", action="append", choices=PARTS, help="run this part")
    parser.add_argument("--server", choices=("fauxqs", "moto"), default="fauxqs")
    parser.add_argument("--messages", type=int, default=200, help="per size per way (large)")
    parser.add_argument("--round", type=int, default=50, help="messages per fresh queue (large)")
    parser.add_argument("--small-messages", type=int, default=5000, help="per way per run")
    parser.add_argument("--small-round", type=int, default=500, help="messages per fresh queue")
    parser.add_argument("--repeat", type=int, default=5, help="runs of part small; median")
    args = parser.parse_args()
    parts = args.only or PARTS
    machine_header("benchmarks/large_messages.py")
    with running_server(args.server) as server:
        if "large" in parts:
            bench_large(server, args.server, args.messages, args.round)
        if "small" in parts:
            bench_small(server, args.server, args.small_messages, args.small_round, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
