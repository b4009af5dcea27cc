"""Publishing on fauxqs: melange's ``QueuePublisher`` side by side with a hand-written producer.

Four ways send the same ~200-byte JSON messages through one boto3 SQS client (the
backend's own, so connection pool, retries and signing are identical):

* ``boto3``: ``send_message`` with a cached queue URL; the body and the three attributes
  (``message_id``, ``manifest``, ``serializer_id``) are built by hand with ``json`` and
  ``uuid``, byte for byte what melange sends (checked once, untimed, before timing);
* ``publish``: ``QueuePublisher.publish``, one message per call;
* ``boto3_batch``: ``send_message_batch`` of 10 entries with the same bodies and attributes;
* ``publish_many``: ``QueuePublisher.publish_many`` over a round's messages.

Only publishing is timed; botocore's ``before-send`` event counts the requests each way
sends while timed, and ``time.process_time`` this process's CPU (fauxqs runs in its own
Node.js process and is not counted). The ways run in interleaved rounds, each on a fresh
queue and in an order that rotates every round, so drift in the machine's load weighs on
all of them alike; ``--repeat`` runs give a median ratio. moto is used for request counts
only. The script prints PASS/FAIL lines and exits 0 unless something breaks.

Run from the repository root: ``.venv/bin/python benchmarks/publish.py`` (``make bench``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import boto3

from melange.backends.aws import LocalSQSBackend
from melange.publishing._sync.publishers import QueuePublisher
from melange.serializers.json import JsonSerializer
from melange.serializers.registry import SerializerRegistry
from tests.support.requests import RequestLog
from tests.support.servers import (
    NODE_SERVERS_DIR,
    fauxqs_unavailable,
    start_fauxqs_server,
    start_moto_server,
)

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import (
        MessageAttributeValueTypeDef,
        SendMessageBatchRequestEntryTypeDef,
    )

WAYS = ("boto3", "publish", "boto3_batch", "publish_many")
#: Each melange way and the hand-written way it is measured against, with the target ratio.
TARGETS = {"publish": ("boto3", 1.00), "publish_many": ("boto3_batch", 1.00)}
REGISTRY_CONFIG = {"serializers": {"json": JsonSerializer}}
#: Publishes one round's messages to a queue.
Sender = Callable[[str, list[dict[str, Any]]], None]


# -- shared with consume.py --------------------------------------------------------------


def make_messages(count: int) -> list[dict[str, Any]]:
    """Return ``count`` dicts that serialize to about 200 bytes each."""
    return [{"id": i, "kind": "order-placed", "note": "x" * 170} for i in range(count)]


def verdict(label: str, ok: bool) -> None:
    """Print a PASS or FAIL line for one target."""
    print(f"{'PASS' if ok else 'FAIL'}  {label}")


def machine_header(title: str) -> None:
    """Print what the figures were measured on, so they can be quoted with it."""
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    package = NODE_SERVERS_DIR / "node_modules" / "fauxqs" / "package.json"
    try:
        fauxqs = json.loads(package.read_text())["version"]
    except (OSError, ValueError, KeyError):
        fauxqs = "not installed"
    load = ", ".join(f"{n:.2f}" for n in os.getloadavg())
    print(f"# {title}")
    print(
        f"# machine: {os.cpu_count()} cores, {model}; load {load}\n"
        f"# Python {platform.python_version()}, boto3 {boto3.__version__}, fauxqs {fauxqs}"
    )


@contextlib.contextmanager
def running_backend(server_kind: str) -> Iterator[LocalSQSBackend]:
    """Start fauxqs or moto on a free port, give a backend on it, and stop both after.

    Raises:
        RuntimeError: fauxqs cannot run here (no Node.js, or ``make node-deps`` not run).
    """
    with tempfile.TemporaryDirectory(prefix="melange-bench-") as tmp:
        log = Path(tmp) / f"{server_kind}.log"
        if server_kind == "fauxqs":
            problem = fauxqs_unavailable()
            if problem is not None:
                raise RuntimeError(problem)
            server = start_fauxqs_server(log)
        else:
            server = start_moto_server(log)
        try:
            backend = LocalSQSBackend(server.host, server.port)
            try:
                yield backend
            finally:
                backend.close()
        finally:
            server.stop()


def fresh_queue(backend: LocalSQSBackend, label: str) -> tuple[str, str]:
    """Declare a queue of a name never used before; return its name and URL."""
    name = f"bench-{label.replace('_', '-')}-{uuid.uuid4().hex[:12]}"
    backend.declare_queue(name)
    return name, backend.sqs_client.get_queue_url(QueueName=name)["QueueUrl"]


# -- the hand-written producer ------------------------------------------------------------


def raw_body(item: Any) -> str:
    """Return the body melange sends for ``item``: ``{"Message": <compact JSON>}``."""
    content = json.dumps(item, separators=(",", ":"), ensure_ascii=False)
    return json.dumps({"Message": content})


def raw_attributes() -> dict[str, MessageAttributeValueTypeDef]:
    """Return melange's three attributes for a new message, as boto3 takes them."""
    return {
        "message_id": {"DataType": "String", "StringValue": str(uuid.uuid4())},
        "manifest": {"DataType": "String", "StringValue": "json"},
        "serializer_id": {"DataType": "Number", "StringValue": "1"},
    }


def raw_send(client: SQSClient, url: str, items: list[dict[str, Any]]) -> None:
    """Send each item with ``send_message``."""
    for item in items:
        client.send_message(
            QueueUrl=url, MessageBody=raw_body(item), MessageAttributes=raw_attributes()
        )


def raw_send_batch(client: SQSClient, url: str, items: list[dict[str, Any]]) -> None:
    """Send the items with ``send_message_batch``, 10 per request; raise if any is refused."""
    for start in range(0, len(items), 10):
        entries: list[SendMessageBatchRequestEntryTypeDef] = [
            {"Id": str(i), "MessageBody": raw_body(item), "MessageAttributes": raw_attributes()}
            for i, item in enumerate(items[start : start + 10])
        ]
        response = client.send_message_batch(QueueUrl=url, Entries=entries)
        if response.get("Failed"):
            raise RuntimeError(f"send_message_batch refused {response['Failed']!r}")


def make_senders(
    backend: LocalSQSBackend, publisher: QueuePublisher, urls: dict[str, str]
) -> dict[str, Sender]:
    """Return the four ways of publishing a round, by name; raw boto3 reads URLs from ``urls``."""
    client = backend.sqs_client

    def one_by_one(queue: str, items: list[dict[str, Any]]) -> None:
        for item in items:
            publisher.publish(queue, item)

    def batched(queue: str, items: list[dict[str, Any]]) -> None:
        publisher.publish_many(queue, items)

    return {
        "boto3": lambda queue, items: raw_send(client, urls[queue], items),
        "publish": one_by_one,
        "boto3_batch": lambda queue, items: raw_send_batch(client, urls[queue], items),
        "publish_many": batched,
    }


def check_same_wire(backend: LocalSQSBackend, publisher: QueuePublisher) -> None:
    """Send one message each way (single and batch), untimed; raise unless they read alike.

    Raises:
        RuntimeError: a body differs, or the attributes' names, types or values (but the
            fresh ``message_id``) differ.
    """
    item = make_messages(1)[0]
    urls: dict[str, str] = {}
    senders = make_senders(backend, publisher, urls)
    seen: dict[str, tuple[str, dict[str, tuple[str, str]]]] = {}
    for way, send in senders.items():
        queue, url = fresh_queue(backend, f"wire-{way}")
        urls[queue] = url
        send(queue, [item])
        response = backend.sqs_client.receive_message(
            QueueUrl=url, MessageAttributeNames=["All"], WaitTimeSeconds=1
        )
        (message,) = response["Messages"]
        attributes = message.get("MessageAttributes", {})
        uuid.UUID(attributes["message_id"]["StringValue"])  # raises unless a UUID
        shape = {
            name: (value["DataType"], "<uuid>" if name == "message_id" else value["StringValue"])
            for name, value in attributes.items()
        }
        seen[way] = (message["Body"], shape)
        backend.delete_queue(queue)
    if len(set(json.dumps(found, sort_keys=True) for found in seen.values())) != 1:
        raise RuntimeError(f"the ways do not send the same message: {seen!r}")
    body, shape = seen["publish"]
    print(f"same wire each way: body {body[:40]}... attributes {shape!r}")


# -- fauxqs: timed rounds -----------------------------------------------------------------


def run_once(
    backend: LocalSQSBackend, publisher: QueuePublisher, total: int, round_size: int
) -> dict[str, dict[str, float]]:
    """Publish ``total`` messages each way in rotating rounds; return figures by way.

    Each way's figures: ``seconds`` (wall), ``cpu`` (this process) and ``requests``.

    Raises:
        RuntimeError: a queue did not hold every message of its round.
    """
    urls: dict[str, str] = {}
    senders = make_senders(backend, publisher, urls)
    counter = RequestLog().watch(backend.sqs_client)
    figures = {way: {"seconds": 0.0, "cpu": 0.0, "requests": 0.0} for way in WAYS}
    messages = make_messages(total)
    try:
        for number, start in enumerate(range(0, total, round_size)):
            items = messages[start : start + round_size]
            shift = number % len(WAYS)
            for way in WAYS[shift:] + WAYS[:shift]:
                queue, url = fresh_queue(backend, way)
                urls[queue] = url
                counter.clear()
                cpu, began = time.process_time(), time.perf_counter()
                senders[way](queue, items)
                figures[way]["seconds"] += time.perf_counter() - began
                figures[way]["cpu"] += time.process_time() - cpu
                figures[way]["requests"] += counter.count()
                check_depth(backend, queue, url, len(items))
                backend.delete_queue(queue)
    finally:
        counter.unwatch(backend.sqs_client)
    return figures


def check_depth(backend: LocalSQSBackend, queue: str, url: str, expected: int) -> None:
    """Raise unless the queue at ``url`` holds ``expected`` messages."""
    response = backend.sqs_client.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )
    depth = int(response["Attributes"]["ApproximateNumberOfMessages"])
    if depth != expected:
        raise RuntimeError(f"queue {queue!r} holds {depth} messages, {expected} were sent")


def report_run(total: int, figures: dict[str, dict[str, float]]) -> dict[str, float]:
    """Print one run's table; return each melange way's time over its raw counterpart's."""
    print(f"{'way':<14}{'seconds':>9}{'msg/s':>9}{'req/msg':>9}{'CPU s/1k':>10}")
    for way in WAYS:
        found = figures[way]
        print(
            f"{way:<14}{found['seconds']:>9.3f}{total / found['seconds']:>9.0f}"
            f"{found['requests'] / total:>9.2f}{1000 * found['cpu'] / total:>10.3f}"
        )
    ratios = {
        ours: figures[ours]["seconds"] / figures[raw]["seconds"]
        for ours, (raw, _) in TARGETS.items()
    }
    print("   ".join(f"{ours} / {TARGETS[ours][0]} time: {r:.3f}" for ours, r in ratios.items()))
    return ratios


def bench_fauxqs(messages: int, round_size: int, repeat: int) -> None:
    """Time the four ways on fauxqs ``repeat`` times and print the verdicts on the medians."""
    print(f"\n== fauxqs: {messages} messages per way per run, queues of {round_size} ==")
    with running_backend("fauxqs") as backend:
        publisher = QueuePublisher(SerializerRegistry(REGISTRY_CONFIG), backend)
        check_same_wire(backend, publisher)
        run_once(backend, publisher, 40, 10)  # connections, first-use imports: untimed
        ratios: dict[str, list[float]] = {way: [] for way in TARGETS}
        for run in range(repeat):
            print(f"-- run {run + 1}/{repeat}")
            for way, ratio in report_run(
                messages, run_once(backend, publisher, messages, round_size)
            ).items():
                ratios[way].append(ratio)
    for ours, (raw, target) in TARGETS.items():
        median = statistics.median(ratios[ours])
        runs = ", ".join(f"{r:.3f}" for r in ratios[ours])
        verdict(
            f"{ours} time at most {target:.2f}x {raw}'s: {median:.3f}x (median of {runs})",
            median <= target,
        )


# -- moto: request counts only ------------------------------------------------------------


def bench_moto_requests(messages: int) -> None:
    """Count the requests per message each way sends on moto (no timing: moto is slow)."""
    print(f"\n== moto: requests per message, {messages} messages per way (not timed) ==")
    with running_backend("moto") as backend:
        publisher = QueuePublisher(SerializerRegistry(REGISTRY_CONFIG), backend)
        figures = run_once(backend, publisher, messages, messages)
    per_message = {way: figures[way]["requests"] / messages for way in WAYS}
    print("   ".join(f"{way} {value:.2f}" for way, value in per_message.items()))
    for ours, (raw, _) in TARGETS.items():
        verdict(
            f"{ours} sends no more requests per message than {raw} "
            f"({per_message[ours]:.2f} vs {per_message[raw]:.2f})",
            per_message[ours] <= per_message[raw],
        )


def main() -> int:
    """Parse the options, run the parts asked for and print the figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000, help="per way per run on fauxqs")
    parser.add_argument("--round-size", type=int, default=100, help="messages per fresh queue")
    parser.add_argument("--repeat", type=int, default=5, help="runs on fauxqs; medians count")
    parser.add_argument("--moto-messages", type=int, default=100, help="per way on moto")
    parser.add_argument(
        "--only", choices=("fauxqs", "moto"), help="run one part: fauxqs timing or moto counts"
    )
    args = parser.parse_args()
    machine_header("benchmarks/publish.py")
    if args.only in (None, "fauxqs"):
        bench_fauxqs(args.messages, args.round_size, args.repeat)
    if args.only in (None, "moto"):
        bench_moto_requests(args.moto_messages)
    return 0


if __name__ == "__main__":
    sys.exit(main())
