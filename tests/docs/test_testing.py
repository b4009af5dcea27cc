"""The Testing page: its test files pass as written, and what it says of the test graph holds."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys

import attrs
import pytest

from melange import Consumer, QueuePublisher, TopicPublisher, consumer
from melange.backends import MessagingBackend
from melange.exceptions import ConfigurationError, TopicNotFoundError
from melange_bindings import new_test_graph
from melange_bindings.testing import TEST_SETTINGS
from tests.docs.run_snippets import ROOT, SNIPPETS

#: pytest in a process of its own, as a user's project runs it (no cache, no xdist).
PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist"]


class Welcome(Consumer):
    """An async consumer, as the page's."""

    def __init__(self) -> None:
        super().__init__()
        self.welcomed: list[str] = []

    @consumer
    async def on_signup(self, signup: dict[str, str]) -> None:
        await asyncio.sleep(0)
        self.welcomed.append(signup["email"])


def test_the_pages_test_files_pass_as_written() -> None:
    """The page's conftest.py and test files, run by pytest as written: all nine pass."""
    result = subprocess.run(
        [*PYTEST, str(SNIPPETS / "testing")],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if not k.startswith("MELANGE_")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b9 passed\b", result.stdout), result.stdout


def test_drain_refuses_an_async_consumer_today() -> None:
    """TestGraph.drain names AsyncMessageDispatcher for async def handlers (issue 17's gap)."""
    graph = new_test_graph()
    graph.provide(MessagingBackend).declare_queue("signups")
    graph.provide(QueuePublisher).publish("signups", {"email": "ada@x.test"})

    with pytest.raises(ConfigurationError, match=r"attach it to melange\.aio\.AsyncMessageDisp"):
        graph.drain("signups", Welcome())


def test_publishing_to_an_undeclared_topic_fails_in_a_test_graph() -> None:
    """A topic nobody declared raises TopicNotFoundError, as on AWS."""
    graph = new_test_graph()

    with pytest.raises(TopicNotFoundError):
        graph.provide(TopicPublisher).publish("order-events", {"order": 1})


def test_with_a_prefix_published_takes_the_broker_name_and_drain_does_not() -> None:
    """Under MELANGE_PREFIX, published() wants 'test-x' while drain() takes 'x'."""
    graph = new_test_graph(settings=attrs.evolve(TEST_SETTINGS, prefix="test-"))
    graph.provide(MessagingBackend).declare_queue("receipts")
    graph.provide(QueuePublisher).publish("receipts", {"order_id": 42})

    assert graph.published("receipts") == []
    assert graph.published("test-receipts") == [{"order_id": 42}]
    handled: list[object] = []
    assert graph.drain("receipts", Consumer(on_message=handled.append)) == 1
    assert handled == [{"order_id": 42}]


def test_the_test_graph_reads_no_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """MELANGE_BACKEND=local without an endpoint, wrong for load_settings, does not matter."""
    monkeypatch.setenv("MELANGE_BACKEND", "local")
    monkeypatch.setenv("MELANGE_ENV", "no-such-environment")

    graph = new_test_graph()
    graph.provide(MessagingBackend).declare_queue("receipts")

    assert graph.provide(QueuePublisher).publish("receipts", {"order_id": 42})
