"""The Dependency injection page: its programs run as shown, and its claims hold."""

from __future__ import annotations

import re
from typing import Any

import pinject
import pytest

from melange import QueuePublisher
from melange.app.aio_worker import AsyncDispatcherFactory
from melange.backends import MessagingBackend
from melange.consuming.aio_dedup import AsyncRedisDeduplicationCache
from melange.consuming.dedup import DeduplicationCache, InMemoryDeduplicationCache
from melange.exceptions import ConfigurationError
from melange.serializers import SerializerRegistry
from melange.wire.read import unwrap
from melange_bindings import MelangeBindingSpec, new_object_graph
from melange_bindings.graph import PROVIDED_NAMES, async_provided_names
from tests.docs.run_snippets import page, run_snippet, shown_output, unset_melange_variables

#: The names an application's own spec provides (melange binds defaults for them).
APPLICATION_NAMES = {"melange_consumers", "melange_topics", "melange_serializer_bindings"}


class ReceiptService:
    """The page's service, with an argument (``mailer``) that nothing binds."""

    def __init__(self, queue_publisher: QueuePublisher, mailer: Any) -> None:
        self.queue_publisher = queue_publisher
        self.mailer = mailer


@pytest.fixture(autouse=True)
def fixture_fresh_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run each test without MELANGE_* variables, as in a shell that sets none."""
    unset_melange_variables(monkeypatch)


def one_line(text: str) -> str:
    """Return ``text`` with every run of whitespace made one space (pages wrap lines)."""
    return re.sub(r"\s+", " ", text).strip()


def test_a_service_receives_a_ready_publisher_from_a_graph_without_a_spec(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """no_spec.py publishes through the injected QueuePublisher: the message is on the queue."""
    program = run_snippet("dependency-injection/no_spec.py")

    graph = program["graph"]
    [received] = graph.provide(MessagingBackend).receive("receipts")
    message = graph.provide(SerializerRegistry).deserialize_envelope(unwrap(received))
    assert message == {"order_id": 42}
    assert received.attributes["message_id"] == program["message_id"]
    assert program["service"].queue_publisher is graph.provide(QueuePublisher)
    assert capsys.readouterr().out == f"receipt for order 42 sent as {program['message_id']}\n"


def test_melange_objects_are_one_per_graph_and_provide_builds_new_instances(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """singletons.py's assertions hold: shared publisher and warehouse, a new provided one."""
    run_snippet("dependency-injection/singletons.py")

    assert capsys.readouterr().out == "one topic publisher, one warehouse\n"


def test_a_graph_of_modules_binds_the_classes_they_hold(capsys: pytest.CaptureFixture[str]) -> None:
    """modules.py builds the orders application from its modules and prints its queues."""
    run_snippet("dependency-injection/modules.py")

    assert capsys.readouterr().out == shown_output("dependency-injection/modules.py")


def test_a_subclass_of_the_melange_spec_replaces_both_deduplication_caches(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """melange_spec.py's subclass provides the Redis caches of both halves, with its keys."""
    program = run_snippet("dependency-injection/melange_spec.py")

    assert capsys.readouterr().out == shown_output("dependency-injection/melange_spec.py")
    objects = program["objects"]
    async_cache = objects.provide(AsyncDispatcherFactory).cache
    assert isinstance(async_cache, AsyncRedisDeduplicationCache)
    assert objects.provide(DeduplicationCache).url == async_cache.url


def test_the_asyncio_cache_ignores_an_override_of_the_sync_one_with_redis_dedup(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With MELANGE_DEDUP=redis, async_deduplication_cache is built from the settings alone."""

    class SyncOnlySpec(MelangeBindingSpec):
        def provide_deduplication_cache(self) -> DeduplicationCache:
            return InMemoryDeduplicationCache()

    monkeypatch.setenv("MELANGE_DEDUP", "redis")
    monkeypatch.setenv("MELANGE_REDIS_URL", "redis://127.0.0.1:6399/0")
    objects = new_object_graph(melange=SyncOnlySpec())

    assert isinstance(objects.provide(DeduplicationCache), InMemoryDeduplicationCache)
    assert isinstance(objects.provide(AsyncDispatcherFactory).cache, AsyncRedisDeduplicationCache)


def test_without_redis_dedup_the_asyncio_half_shares_the_overridden_cache() -> None:
    """Unless MELANGE_DEDUP=redis, async_deduplication_cache is deduplication_cache itself."""

    class SyncOnlySpec(MelangeBindingSpec):
        def provide_deduplication_cache(self) -> DeduplicationCache:
            return InMemoryDeduplicationCache()

    objects = new_object_graph(melange=SyncOnlySpec())

    assert objects.provide(AsyncDispatcherFactory).cache is objects.provide(DeduplicationCache)


def test_an_application_spec_providing_a_melange_name_is_refused() -> None:
    """A spec of the application's with provide_deduplication_cache fails as the page shows."""

    class CacheSpec(pinject.BindingSpec):
        def provide_deduplication_cache(self) -> DeduplicationCache:
            return InMemoryDeduplicationCache()

    with pytest.raises(ConfigurationError) as refused:
        new_object_graph(binding_specs=[CacheSpec()])

    message = str(refused.value)
    shown = one_line(page("dependency-injection.md"))
    assert message.startswith("the object graph cannot be built: multiple explicit bindings")
    assert "ConfigurationError: the object graph cannot be built: multiple explicit" in shown
    tail = message[message.index("; two specs provide the same name") :]
    assert one_line(tail) in shown


def test_a_missing_name_fails_when_provided_with_the_message_the_page_shows() -> None:
    """An argument nothing binds is a ConfigurationError, worded as on the page."""
    graph = new_object_graph(classes=[ReceiptService])

    with pytest.raises(ConfigurationError) as missing:
        graph.provide(ReceiptService)

    def without_location(text: str) -> str:
        return re.sub(r" at \S+:\d+,", ",", one_line(text))  # where the class is defined

    shown = without_location(page("dependency-injection.md"))
    assert without_location(f"ConfigurationError: {missing.value}") in shown


def test_the_graph_binds_no_class_it_was_not_given() -> None:
    """new_object_graph never scans imported modules: a class of one is not bound."""
    import examples.orders.partners  # imported, holds Warehouse, but not given

    class Shipping:
        def __init__(self, warehouse: examples.orders.partners.Warehouse) -> None:
            self.warehouse = warehouse

    with pytest.raises(ConfigurationError, match='binding name "warehouse"'):
        new_object_graph(classes=[Shipping]).provide(Shipping)


def bound_names_on_the_page() -> dict[str, str]:
    """Return the names the page's 'What melange binds' lists, each with its type (or '')."""
    text = page("dependency-injection.md")
    section = text[text.index("## What melange binds") : text.index("## Overriding a provider")]
    terms = re.findall(r"^`(\w+)`(?: · `(\w+)`| \(by name only\))\n:   ", section, re.MULTILINE)
    return {name: provided for name, provided in terms}


def test_the_page_lists_every_name_melange_binds_with_the_type_that_provides_it() -> None:
    """The page lists one name per MelangeBindingSpec provider, each with its provide() type."""
    providers = {
        name.removeprefix("provide_")
        for name in dir(MelangeBindingSpec)
        if name.startswith("provide_")
    }
    listed = bound_names_on_the_page()

    assert set(listed) == providers
    for cls, name in {**PROVIDED_NAMES, **async_provided_names()}.items():
        assert listed[name] == cls.__name__, name
    assert APPLICATION_NAMES.isdisjoint(providers)
    for name in APPLICATION_NAMES:
        assert f"\n`{name}`\n:   " in page("dependency-injection.md")
