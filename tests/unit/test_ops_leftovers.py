"""What ``declare`` reports and ``--prune --yes`` deletes, on the in-memory backend.

The command runs in this process (``main``) on graphs the tests build: the target
``tests.unit.test_ops_leftovers:current_graph`` returns the latest, so one test can
declare an application, change it (rename a queue, drop a topic) and declare it again.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pinject
import pytest

from melange import Consumer, Subscription
from melange.app.cli import main
from melange.app.ops.leftovers import Stated, find_leftovers
from melange.backends import InMemoryBackend, MessagingBackend
from melange.backends.inspection import TopicSubscription
from melange.backends.prefixed import PrefixedBackend
from melange.exceptions import BackendRefusedError
from melange.messages import Destination, Envelope, OutgoingMessage
from melange.settings import MelangeSettings
from melange.topology.specs import SubscriptionSpec
from melange_bindings import MelangeBindingSpec, ObjectGraph, new_object_graph

TARGET = "tests.unit.test_ops_leftovers:current_graph"

_CURRENT: list[ObjectGraph] = []


def current_graph() -> ObjectGraph:
    """The command's target: the graph the running test built last."""
    return _CURRENT[-1]


@pytest.fixture(autouse=True)
def fixture_forget_graphs() -> Iterator[None]:
    """Forget the test's graphs after it."""
    yield
    _CURRENT.clear()


def use(backend: MessagingBackend, *subscriptions: Subscription) -> None:
    """Make an application whose consumers read as ``subscriptions`` say the command's target."""

    class Spec(pinject.BindingSpec):
        def provide_melange_consumers(self) -> list[Consumer]:
            return [
                Consumer(print, name=f"reader{n}", subscription=subscription)
                for n, subscription in enumerate(subscriptions)
            ]

    _CURRENT.append(
        new_object_graph(
            binding_specs=[Spec()],
            melange=MelangeBindingSpec(settings=MelangeSettings(), backend=backend),
        )
    )


def declare(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str], str]:
    """Run ``declare TARGET args``; return the exit code, stdout's lines and stderr."""
    code = main(["declare", TARGET, *args])
    printed = capsys.readouterr()
    return code, printed.out.splitlines(), printed.err


def publish(backend: MessagingBackend, topic: str) -> None:
    """Publish one message to ``topic``."""
    envelope = Envelope(content="{}", manifest=None, serializer_id=None)
    backend.publish(Destination.topic(topic), [OutgoingMessage(envelope)])


class UnlistableBackend(InMemoryBackend):
    """An in-memory backend whose subscriptions may not be listed, as without the permission."""

    def list_subscriptions(self) -> list[TopicSubscription]:
        """Refuse, as SNS does a role without ``sns:ListSubscriptions``."""
        raise BackendRefusedError(
            "ListSubscriptions was refused (AuthorizationError)",
            operation="ListSubscriptions",
            code="AuthorizationError",
        )


OTHER = "other    subscription 'audit' to 'shop-order-events' (not stated by this application; "


def test_a_renamed_queue_under_the_prefix_is_reported_then_pruned_with_yes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The old queue and its subscription are leftovers; another app's subscription is not."""
    inner = InMemoryBackend()
    backend = PrefixedBackend(inner, "shop-")
    use(backend, Subscription("payments", topics=["order-events"], dead_letter_queue="pay-dlq"))
    assert declare(capsys)[0] == 0
    inner.declare_queue("audit")  # another application, outside the prefix, reads the topic
    inner.declare(SubscriptionSpec("audit", topics=("shop-order-events",)))
    publish(backend, "order-events")
    use(backend, Subscription("payments-v2", topics=["order-events"], dead_letter_queue="pay-dlq"))

    reported = declare(capsys)
    unconfirmed = declare(capsys, "--prune")
    still_there = inner.list_queues()
    pruned = declare(capsys, "--prune", "--yes")
    publish(backend, "order-events")

    assert reported[0] == 0
    assert reported[1] == [
        "as is    topic 'shop-order-events'",
        "as is    queue 'shop-pay-dlq'",
        "created  queue 'shop-payments-v2'",
        "created  subscription 'shop-payments-v2' to 'shop-order-events'",
        "leftover subscription 'shop-payments' to 'shop-order-events'",
        "leftover queue 'shop-payments' (1 message)",
        OTHER + "--prune leaves it)",
    ]
    assert "2 leftovers above" in reported[2]
    assert "declare tests.unit.test_ops_leftovers:current_graph --prune --yes" in reported[2]
    assert unconfirmed[0] == 2
    assert "add --yes to do it" in unconfirmed[2]
    assert "shop-payments" in still_there
    assert pruned[0] == 0
    assert pruned[1][-3:] == [
        "deleted  subscription 'shop-payments' to 'shop-order-events'",
        "deleted  queue 'shop-payments' (1 message)",
        OTHER + "--prune leaves it)",
    ]
    assert inner.list_queues() == ["audit", "shop-pay-dlq", "shop-payments-v2"]
    assert (inner.message_count("audit"), inner.message_count("shop-payments-v2")) == (2, 1)
    assert declare(capsys)[1][-1].startswith(OTHER)


def test_without_a_prefix_only_subscriptions_into_the_apps_own_queues_are_pruned(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A topic the app's queue no longer takes is pruned; a renamed queue is only reported."""
    backend = InMemoryBackend()
    use(
        backend,
        Subscription("payments", topics=["order-events", "legacy-events"]),
        Subscription("refunds", topics=["order-events"]),
    )
    assert declare(capsys)[0] == 0
    use(
        backend,
        Subscription("payments", topics=["order-events"]),
        Subscription("refunds-v2", topics=["order-events"]),
    )

    reported = declare(capsys)
    pruned = declare(capsys, "--prune", "--yes")

    assert reported[1][-2:] == [
        "leftover subscription 'payments' to 'legacy-events'",
        "other    subscription 'refunds' to 'order-events' (not stated by this application; "
        "--prune leaves it)",
    ]
    assert pruned[1][-2:] == [
        "deleted  subscription 'payments' to 'legacy-events'",
        reported[1][-1],
    ]
    assert backend.list_queues() == ["payments", "refunds", "refunds-v2"]
    publish(backend, "legacy-events")
    publish(backend, "order-events")
    assert [backend.message_count(q) for q in ("payments", "refunds", "refunds-v2")] == [1, 1, 1]


def test_declare_names_resources_as_the_broker_does_under_a_prefix(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """With a prefix each line shows the prefixed name, changes included."""
    backend = PrefixedBackend(InMemoryBackend(), "shop-")
    use(backend, Subscription("jobs", visibility_timeout=30))
    declare(capsys)
    use(backend, Subscription("jobs", dead_letter_queue="jobs-dlq", visibility_timeout=60))

    code, lines, _ = declare(capsys)

    assert code == 0
    assert lines == [
        "created  queue 'shop-jobs-dlq'",
        "changed  queue 'shop-jobs' (visibility_timeout 30 -> 60; dead_letter_queue None -> "
        "'shop-jobs-dlq'; max_receive_count None -> 5)",
    ]


def test_a_refused_listing_warns_after_declaring_and_fails_a_prune(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Without the permission to list, declare still succeeds; --prune exits 1."""
    use(UnlistableBackend(), Subscription("jobs"))

    code, lines, err = declare(capsys)
    refused = declare(capsys, "--prune", "--yes")

    assert (code, lines) == (0, ["created  queue 'jobs'"])
    assert err.startswith("melange: declared; could not look for leftovers: ListSubscriptions")
    assert refused[0] == 1


def subscription(
    topic: str, queue: str, *, account: str = "1", handle: str = ""
) -> TopicSubscription:
    """Return a subscription of ``topic`` to ``queue``, both in ``account``, as SNS lists it."""
    return TopicSubscription(
        topic_arn=f"arn:aws:sns:eu-west-1:{account}:{topic}",
        protocol="sqs",
        endpoint=f"arn:aws:sqs:eu-west-1:{account}:{queue}",
        handle=handle or f"arn:aws:sns:eu-west-1:{account}:{topic}:s-{queue}",
    )


def test_only_the_apps_account_counts_and_unconfirmed_subscriptions_are_skipped() -> None:
    """A same-named queue in another account is not a leftover; neither is a pending one."""
    stated = Stated(
        queues=frozenset({"p-payments"}),
        subscriptions=frozenset(
            {("p-events", "p-payments"), ("arn:aws:sns:x:9:ext", "p-payments")}
        ),
        topics=frozenset({"p-events"}),
    )
    listed: Sequence[TopicSubscription] = [
        subscription("p-events", "p-payments"),
        TopicSubscription(
            "arn:aws:sns:x:9:ext", "sqs", "arn:aws:sqs:eu-west-1:1:p-payments", "arn:s"
        ),
        subscription("p-events", "p-old", account="2"),  # another account's p-old
        subscription("p-events", "p-old", handle="PendingConfirmation"),
        subscription("p-events", "p-old"),
    ]

    found = find_leftovers(stated, "p-", ["p-payments", "p-old"], listed, "aws:eu-west-1:1")

    assert [(f.queue, f.subscription is not None, f.prunable) for f in found] == [
        ("p-old", True, True),
        ("p-old", False, True),
    ]
