"""The Publishers page's code runs as shown: melange 7's snippets on a server, the rest in memory.

melange 7's snippets name their server themselves (``LocalSQSBackend(host="localhost",
port=9324)``, compose.yaml's emulator), so the test forwards 127.0.0.1:9324 to the
session's moto server and runs the files unchanged.
"""

from __future__ import annotations

import base64
import subprocess
import sys
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from melange import wire
from melange.backends import LocalSQSBackend
from melange.messages import Envelope, SnsOrigin
from tests.support.doc_snippets import ROOT, clean_environment, run_snippet, shown_output
from tests.support.forwarding import TcpForwarder
from tests.support.polling import poll_until
from tests.support.servers import MotoServer

#: Where melange 7's snippets send: compose.yaml's emulator, ElasticMQ's usual port.
SEED_PORT = 9324
SEED_QUEUE = "melangetutorial-queue"
SEED_TOPIC = "melangetutorial-topic"


@pytest.fixture(name="tutorial_backend")
def fixture_tutorial_backend(moto_server: MotoServer) -> Iterator[LocalSQSBackend]:
    """Give a backend on moto with the tutorial's queue subscribed to its topic, deleted after.

    Other tests use these names on the session's server too, so they start empty and go.
    """
    endpoint = urlsplit(moto_server.endpoint_url)
    backend = LocalSQSBackend(host=f"http://{endpoint.hostname}", port=endpoint.port or 80)
    backend.delete_topic(SEED_TOPIC)
    backend.delete_queue(SEED_QUEUE)
    backend.declare_queue(SEED_QUEUE, topics=[SEED_TOPIC])
    yield backend
    backend.delete_topic(SEED_TOPIC)
    backend.delete_queue(SEED_QUEUE)
    backend.close()


@pytest.mark.integration
def test_melange7_snippets_run_as_written_against_a_server_on_localhost_9324(
    moto_server: MotoServer, tutorial_backend: LocalSQSBackend
) -> None:
    """Both seed snippets, run unchanged, print success and their pickles reach the queue."""
    with TcpForwarder(SEED_PORT, ("127.0.0.1", moto_server.port)) as forwarder:
        for snippet in ("publishers/publish_to_queue.py", "publishers/publish_to_topic.py"):
            assert run_snippet(snippet).strip() == "Message sent successfully!"
    assert forwarder.connections >= 2  # the snippets did talk to localhost:9324

    arrived: list[tuple[Envelope, SnsOrigin | None]] = []

    def receive_more() -> int:
        for received in tutorial_backend.receive(SEED_QUEUE, wait_time_seconds=1):
            arrived.append(wire.unwrap_with_origin(received))
        return len(arrived)

    assert poll_until(receive_more, lambda n: n >= 2, timeout=30, message="both messages") == 2
    origins = sorted(origin is not None for _, origin in arrived)
    assert origins == [False, True]  # one sent to the queue, one through the topic
    for envelope, _ in arrived:
        assert (envelope.manifest, envelope.serializer_id) == ("MyTestMessage", 2)  # pickle
        # A pickle of the snippet's __main__.MyTestMessage: read its bytes, never unpickle.
        assert b"Hello World!" in base64.b64decode(envelope.content)


def test_melange_examples_shared_binds_domain_event_to_pickle_as_melange7_did() -> None:
    """The topic snippet's registry pickles every type and binds simple_cqrs' DomainEvent."""
    from simple_cqrs.domain_event import DomainEvent

    from melange.examples.shared import serializer_registry, serializer_settings
    from melange.serializers import PickleSerializer

    assert serializer_settings["serializer_bindings"] == {DomainEvent: "pickle"}
    assert isinstance(serializer_registry.serializer_for(DomainEvent), PickleSerializer)
    assert isinstance(serializer_registry.serializer_for(dict), PickleSerializer)


def test_melange_examples_shared_imports_without_simple_cqrs() -> None:
    """Without simple_cqrs (not installed: the examples extra) the registry still pickles."""
    probe = (
        "import sys\n"
        "sys.modules['simple_cqrs'] = None  # as if it were not installed\n"
        "from melange.examples.shared import serializer_registry, serializer_settings\n"
        "print(serializer_settings['serializer_bindings'],"
        " type(serializer_registry.serializer_for(dict)).__name__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == "{} PickleSerializer"


def test_attributes_travel_and_the_filter_policy_matches_on_them() -> None:
    """melange_attributes sets 'region'; attributes= wins by name; the US order is filtered out."""
    output = run_snippet("publishers/attributes.py")

    assert output == shown_output("publishers/attributes.out")
    assert "order 1, attributes {'region': 'eu'}" in output
    assert "order 2" not in output
    assert "order 3, attributes {'region': 'eu', 'priority': 1}" in output


def test_publish_many_returns_one_id_per_item() -> None:
    """publish_many of 25 items returns 25 distinct ids."""
    output = run_snippet("publishers/publish_many.py")

    assert output == shown_output("publishers/publish_many.out")
    assert "25 ids" in output
    assert "all distinct: True" in output


def test_resending_with_the_same_ids_lets_deduplication_drop_the_copies() -> None:
    """A lost answer and a half-failed batch are resent with their ids: 17 copies, 11 handled."""
    output = run_snippet("publishers/retries.py")

    assert output == shown_output("publishers/retries.out")
    assert output.endswith("17 messages received, 11 handled\n")


def test_fifo_groups_keep_order_and_duplicates_are_dropped() -> None:
    """Groups keep their order; repeated deduplication or message ids are dropped."""
    output = run_snippet("publishers/fifo.py")

    assert output == shown_output("publishers/fifo.out")
    assert output.splitlines()[1:] == [
        "{'order': 7, 'step': 'authorise'}",
        "{'order': 7, 'step': 'capture'}",
        "{'order': 7, 'step': 'refund'}",
        "{'order': 8, 'step': 'authorise'}",
        "{'order': 9}",
        "{'order': 10}",
    ]


def test_size_limits_are_checked_before_sending() -> None:
    """300 KB goes to a queue but not to a topic (256 KiB); over 1 MiB not to a queue either."""
    output = run_snippet("publishers/size_limits.py")

    assert output == shown_output("publishers/size_limits.out")
    assert "over its limit of 262,144" in output
    assert "over its limit of 1,048,576" in output


def test_readable_by_melange7_refuses_what_melange7_cannot_read() -> None:
    """Typed JSON to a queue and a 'Message'-keyed object to a topic are refused; json passes."""
    output = run_snippet("publishers/melange7.py")

    assert output == shown_output("publishers/melange7.out")
    assert output.count("refused") == 2
