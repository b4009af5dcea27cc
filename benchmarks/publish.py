"""Publishing throughput: melange's ``QueuePublisher`` against hand-written boto3, on moto.

Three ways send the same ~200-byte JSON messages through one boto3 SQS client (the
backend's own, so connection pool, retries and signing are identical):

* ``boto3``: ``send_message`` with a cached queue URL, building the same body
  (``{"Message": <json>}``) and attributes (``message_id``, ``manifest``,
  ``serializer_id``) per message, as a hand-written producer would;
* ``publish``: ``QueuePublisher.publish`` one message at a time;
* ``publish_many``: ``QueuePublisher.publish_many`` over a round's messages.

Only publishing is timed, and botocore's ``before-send`` event counts the HTTP requests
each way makes while timed. moto slows down as a queue grows and the machine's load
drifts, so the ways run in interleaved rounds, each on a fresh queue and in an order that
rotates every round: drift and queue length weigh on all three alike. It reports figures
and always exits 0 unless something raises.

Run from the repository root: ``.venv/bin/python benchmarks/publish.py --repeat 3``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from melange.backends.aws import LocalSQSBackend
from melange.publishers import QueuePublisher
from melange.serializers.json import JsonSerializer
from melange.serializers.registry import SerializerRegistry
from tests.support.requests import RequestLog
from tests.support.servers import start_moto_server

WAYS = ("boto3", "publish", "publish_many")
#: Publishes one round's messages to a queue.
Sender = Callable[[str, list[dict[str, Any]]], None]


def make_messages(count: int) -> list[dict[str, Any]]:
    """Return ``count`` dicts that serialize to about 200 bytes each."""
    return [{"id": i, "kind": "order-placed", "note": "x" * 170} for i in range(count)]


def make_senders(
    backend: LocalSQSBackend, publisher: QueuePublisher, urls: dict[str, str]
) -> dict[str, Sender]:
    """Return the three ways of publishing a round, by name; raw boto3 reads URLs from ``urls``."""
    client = backend.sqs_client

    def raw(queue: str, items: list[dict[str, Any]]) -> None:
        url = urls[queue]
        for item in items:
            content = json.dumps(item, separators=(",", ":"), ensure_ascii=False)
            client.send_message(
                QueueUrl=url,
                MessageBody=json.dumps({"Message": content}),
                MessageAttributes={
                    "message_id": {"DataType": "String", "StringValue": str(uuid.uuid4())},
                    "manifest": {"DataType": "String", "StringValue": "json"},
                    "serializer_id": {"DataType": "Number", "StringValue": "1"},
                },
            )

    def one_by_one(queue: str, items: list[dict[str, Any]]) -> None:
        for item in items:
            publisher.publish(queue, item)

    def batched(queue: str, items: list[dict[str, Any]]) -> None:
        publisher.publish_many(queue, items)

    return {"boto3": raw, "publish": one_by_one, "publish_many": batched}


def queue_depth(backend: LocalSQSBackend, url: str) -> int:
    """Return how many messages moto holds in the queue at ``url``."""
    response = backend.sqs_client.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )
    return int(response["Attributes"]["ApproximateNumberOfMessages"])


def run_once(
    backend: LocalSQSBackend, run: int, total: int, round_size: int
) -> tuple[dict[str, float], dict[str, int], list[str]]:
    """Publish ``total`` messages each way in rotating rounds; return seconds, requests, errors."""
    publisher = QueuePublisher(
        SerializerRegistry({"serializers": {"json": JsonSerializer}}), backend
    )
    urls: dict[str, str] = {}
    senders = make_senders(backend, publisher, urls)
    counter = RequestLog().watch(backend.sqs_client)
    seconds = dict.fromkeys(WAYS, 0.0)
    requests = dict.fromkeys(WAYS, 0)
    errors: list[str] = []
    messages = make_messages(total)
    try:
        for number, start in enumerate(range(0, total, round_size)):
            items = messages[start : start + round_size]
            order = WAYS[number % 3 :] + WAYS[: number % 3]
            for way in order:
                queue = f"bench-{run}-{number}-{way.replace('_', '-')}-{uuid.uuid4().hex[:8]}"
                backend.declare_queue(queue)
                urls[queue] = backend.sqs_client.get_queue_url(QueueName=queue)["QueueUrl"]
                before = counter.count()
                began = time.perf_counter()
                senders[way](queue, items)
                seconds[way] += time.perf_counter() - began
                requests[way] += counter.count() - before
                depth = queue_depth(backend, urls[queue])
                if depth != len(items):
                    errors.append(f"FAIL {way} round {number}: {depth} of {len(items)} queued")
                backend.delete_queue(queue)
    finally:
        counter.unwatch(backend.sqs_client)
    return seconds, requests, errors


def report(total: int, seconds: dict[str, float], requests: dict[str, int]) -> float:
    """Print one run's table and return publish's time over raw boto3's."""
    print(f"{'way':<14}{'messages':>10}{'seconds':>10}{'msg/s':>10}{'req/msg':>10}")
    for way in WAYS:
        rate = total / seconds[way]
        print(
            f"{way:<14}{total:>10}{seconds[way]:>10.3f}{rate:>10.0f}{requests[way] / total:>10.2f}"
        )
    ratio = seconds["publish"] / seconds["boto3"]
    print(
        f"publish / boto3 time: {ratio:.3f}   publish_many / boto3 time: "
        f"{seconds['publish_many'] / seconds['boto3']:.3f}"
    )
    return ratio


def verdict(label: str, ok: bool) -> None:
    """Print a PASS or FAIL line for one target."""
    print(f"{'PASS' if ok else 'FAIL'}  {label}")


def main() -> int:
    """Parse arguments, run the benchmark ``--repeat`` times and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000, help="messages per way per run")
    parser.add_argument("--round-size", type=int, default=100, help="messages per queue")
    parser.add_argument("--repeat", type=int, default=1, help="runs; the median ratio counts")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="melange-bench-") as tmp:
        server = start_moto_server(Path(tmp) / "moto_server.log")
        try:
            backend = LocalSQSBackend(server.host, server.port)
            warm = max(10, args.round_size // 10)
            run_once(backend, -1, warm, warm)  # connections, moto's lazy imports: untimed
            ratios: list[float] = []
            per_message: dict[str, list[float]] = {way: [] for way in WAYS}
            errors: list[str] = []
            for run in range(args.repeat):
                print(f"\n== run {run + 1}/{args.repeat} ==")
                seconds, requests, run_errors = run_once(
                    backend, run, args.messages, args.round_size
                )
                ratios.append(report(args.messages, seconds, requests))
                for way in WAYS:
                    per_message[way].append(requests[way] / args.messages)
                errors.extend(run_errors)
            backend.close()
        finally:
            server.stop()
    median = statistics.median(ratios)
    print(f"\nratios: {', '.join(f'{r:.3f}' for r in ratios)}   median: {median:.3f}")
    for line in errors:
        print(line)
    verdict("every queue held its round's messages", not errors)
    verdict(f"publish within 1.05x of raw boto3 (median {median:.3f})", median <= 1.05)
    verdict(
        f"publish makes 1.00 request per message ({max(per_message['publish']):.2f})",
        all(r == 1.0 for r in per_message["publish"]),
    )
    verdict(
        f"publish_many at most 0.10 requests per message ({max(per_message['publish_many']):.2f})",
        all(r <= 0.1 for r in per_message["publish_many"]),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
