"""``python -m melange declare`` after a queue was renamed, on moto and fauxqs, as subprocesses.

The target, ``renamed_shop`` below, reads its queue's name from ``SHOP_PAYMENTS_QUEUE``:
one test declares it as ``payments``, then as ``payments-v2``, as a deployment renaming
the consumer's queue does. Each test has a prefix of its own, so the emulator's other
resources (other tests') stay outside it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pinject
import pytest

from melange import Consumer, Subscription
from melange.backends import MessagingBackend, backend_from_settings
from melange.backends.inspection import inspection_of, subscription_inspection_of
from melange.messages import Destination, Envelope, OutgoingMessage
from melange.settings import load_settings
from melange.topology.specs import SubscriptionSpec
from melange_bindings import MelangeBindingSpec, ObjectGraph, new_object_graph
from tests.integration.test_cli import command_environment
from tests.support.polling import poll_until
from tests.support.servers import FauxqsServer, MotoServer

pytestmark = pytest.mark.integration

REPOSITORY = Path(__file__).resolve().parents[2]
TARGET = "tests.integration.test_declare_prune:renamed_shop"


class _Shop(pinject.BindingSpec):
    def provide_melange_consumers(self) -> list[Consumer]:
        queue = os.environ["SHOP_PAYMENTS_QUEUE"]
        subscription = Subscription(queue, topics=["order-events"], dead_letter_queue="pay-dlq")
        return [Consumer(print, name="payments", subscription=subscription)]


def renamed_shop() -> ObjectGraph:
    """The command's target: a consumer of ``order-events`` on ``$SHOP_PAYMENTS_QUEUE``."""
    return new_object_graph(binding_specs=[_Shop()], melange=MelangeBindingSpec())


@pytest.fixture(name="environment", params=["moto", "fauxqs"])
def fixture_environment(request: pytest.FixtureRequest, unique: str) -> dict[str, str]:
    """Give the MELANGE_* variables reaching moto or fauxqs under a prefix unique to the test."""
    server: MotoServer | FauxqsServer = request.getfixturevalue(f"{request.param}_server")
    return {
        "MELANGE_BACKEND": "local",
        "MELANGE_ENDPOINT_URL": server.endpoint_url,
        "MELANGE_PREFIX": f"{unique}-",
    }


@pytest.fixture(name="broker")
def fixture_broker(environment: dict[str, str]) -> Iterator[MessagingBackend]:
    """Give the emulator as a backend without the prefix: names as the broker has them."""
    settings = load_settings(
        environ={k: v for k, v in environment.items() if k != "MELANGE_PREFIX"}
    )
    backend = backend_from_settings(settings)
    yield backend
    backend.close()


def declare(
    environment: dict[str, str], queue: str, *args: str
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m melange declare TARGET args`` with the consumer's queue named ``queue``."""
    return subprocess.run(
        [sys.executable, "-m", "melange", "declare", TARGET, *args],
        cwd=REPOSITORY,
        env=command_environment(**environment, SHOP_PAYMENTS_QUEUE=queue),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def publish(broker: MessagingBackend, topic: str) -> None:
    """Publish one message to ``topic`` (its broker name)."""
    envelope = Envelope(content="{}", manifest=None, serializer_id=None)
    broker.publish(Destination.topic(topic), [OutgoingMessage(envelope)])


def held(broker: MessagingBackend, queue: str) -> int:
    """Return how many messages ``queue`` holds."""
    return inspection_of(broker).queue_stats(queue).total


def test_the_queue_a_rename_left_subscribed_is_reported_then_pruned_with_yes(
    environment: dict[str, str], broker: MessagingBackend, unique: str
) -> None:
    """``declare`` names the old queue and its subscription; --prune asks; with --yes, deletes."""
    prefix, audit = f"{unique}-", f"audit-{unique}"
    assert declare(environment, "payments").returncode == 0
    broker.declare_queue(audit)  # another application, outside the prefix, reads the topic
    broker.declare(SubscriptionSpec(audit, topics=(f"{prefix}order-events",)))
    publish(broker, f"{prefix}order-events")
    poll_until(lambda: held(broker, f"{prefix}payments"), lambda n: n == 1, message="delivered")

    renamed = declare(environment, "payments-v2")
    unconfirmed = declare(environment, "payments-v2", "--prune")
    still_there = inspection_of(broker).list_queues(prefix)
    pruned = declare(environment, "payments-v2", "--prune", "--yes")
    publish(broker, f"{prefix}order-events")

    other = (
        f"other    subscription {audit!r} to '{prefix}order-events' (not stated by this "
        "application; --prune leaves it)"
    )
    assert renamed.returncode == 0, renamed.stderr
    assert renamed.stdout.splitlines() == [
        f"as is    topic '{prefix}order-events'",
        f"as is    queue '{prefix}pay-dlq'",
        f"created  queue '{prefix}payments-v2'",
        f"created  subscription '{prefix}payments-v2' to '{prefix}order-events'",
        f"leftover subscription '{prefix}payments' to '{prefix}order-events'",
        f"leftover queue '{prefix}payments' (1 message)",
        other,
    ]
    assert unconfirmed.returncode == 2
    assert "add --yes to do it" in unconfirmed.stderr
    assert f"{prefix}payments" in still_there
    assert pruned.returncode == 0, pruned.stderr
    assert pruned.stdout.splitlines()[-3:] == [
        f"deleted  subscription '{prefix}payments' to '{prefix}order-events'",
        f"deleted  queue '{prefix}payments' (1 message)",
        other,
    ]
    assert inspection_of(broker).list_queues(prefix) == [f"{prefix}pay-dlq", f"{prefix}payments-v2"]
    endpoints = {
        s.queue
        for s in subscription_inspection_of(broker).list_subscriptions()
        if s.topic.startswith(prefix)
    }
    assert endpoints == {f"{prefix}payments-v2", audit}
    poll_until(lambda: held(broker, f"{prefix}payments-v2"), lambda n: n == 1, message="new queue")
    poll_until(lambda: held(broker, audit), lambda n: n == 2, message="audit kept")
