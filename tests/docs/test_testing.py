"""The Testing page: its test files pass as written, and what it says of the test graph holds."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys

import attrs
import pytest

from melange import Consumer, QueuePublisher, Reject, TopicPublisher, consumer
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
    """The page's conftest.py and test files, run by pytest as written: all ten pass."""
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
    assert re.search(r"\b10 passed\b", result.stdout), result.stdout


def test_drain_inside_a_running_loop_says_to_await_adrain() -> None:
    """An async consumer given to drain under a running loop: the error names adrain."""
    graph = new_test_graph()
    graph.provide(MessagingBackend).declare_queue("signups")
    graph.provide(QueuePublisher).publish("signups", {"email": "ada@x.test"})
    welcome = Welcome()

    async def scenario() -> int:
        with pytest.raises(ConfigurationError, match=r"await graph\.adrain\('signups', \.\.\.\)"):
            graph.drain("signups", welcome)
        return await graph.adrain("signups", welcome)

    assert asyncio.run(scenario()) == 1
    assert welcome.welcomed == ["ada@x.test"]


def test_publishing_to_an_undeclared_topic_fails_in_a_test_graph() -> None:
    """A topic nobody declared raises TopicNotFoundError, as on AWS."""
    graph = new_test_graph()

    with pytest.raises(TopicNotFoundError):
        graph.provide(TopicPublisher).publish("order-events", {"order": 1})


def test_with_a_prefix_published_drain_and_dead_letters_take_the_applications_names() -> None:
    """Under MELANGE_PREFIX, every test graph method takes 'x', the application's name."""
    graph = new_test_graph(settings=attrs.evolve(TEST_SETTINGS, prefix="test-"))
    backend = graph.provide(MessagingBackend)
    backend.declare_queue("receipts", dead_letter_queue="receipts-dlq")
    graph.provide(QueuePublisher).publish("receipts", {"order_id": 42})

    assert graph.published("receipts") == [{"order_id": 42}]
    assert graph.backend.published("test-receipts") != []  # the broker's name, below

    def refuse(message: object) -> None:
        raise Reject("receipts are never handled here")

    assert graph.drain("receipts", Consumer(on_message=refuse, name="refuser")) == 1
    [dead] = graph.dead_letters("receipts")
    assert (dead.message, dead.reason) == (
        {"order_id": 42},
        "rejected by refuser: receipts are never handled here",
    )


def test_dead_letters_of_a_queue_without_a_dead_letter_queue_is_a_clear_error() -> None:
    """Asking for the DLQ of a queue that has none names the queue and the setting."""
    graph = new_test_graph()
    graph.provide(MessagingBackend).declare_queue("receipts")

    with pytest.raises(ConfigurationError, match="queue 'receipts' has no dead-letter queue"):
        graph.dead_letters("receipts")


def test_the_test_graph_reads_no_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """MELANGE_BACKEND=local without an endpoint, wrong for load_settings, does not matter."""
    monkeypatch.setenv("MELANGE_BACKEND", "local")
    monkeypatch.setenv("MELANGE_ENV", "no-such-environment")

    graph = new_test_graph()
    graph.provide(MessagingBackend).declare_queue("receipts")

    assert graph.provide(QueuePublisher).publish("receipts", {"order_id": 42})
