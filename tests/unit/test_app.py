"""Unit tests for the Application an object graph provides, and what its declarations report."""

from __future__ import annotations

import pytest

from melange.app.application import Application
from melange.backends import InMemoryBackend
from melange.backends.prefixed import PrefixedBackend
from melange.exceptions import ConfigurationError
from melange.settings import DispatcherSettings, MelangeSettings
from melange.topology.declared import Change, Declared, Effect
from melange.topology.specs import QueueSpec, SubscriptionSpec
from melange_bindings import MelangeBindingSpec, new_object_graph
from tests.shop_app import InvoiceConsumer, ShippingConsumer, build_graph


def test_an_app_without_consumers_is_provided_with_nothing_to_declare_or_run() -> None:
    """Zero configuration: provide(Application) works; a worker is refused with what to provide."""
    graph = new_object_graph(melange=MelangeBindingSpec(settings=MelangeSettings()))

    app = graph.provide(Application)

    assert app.declare() == []
    with pytest.raises(ConfigurationError, match="provide melange_consumers"):
        app.worker()


def test_the_apps_consumers_are_built_by_pinject_with_their_dependencies() -> None:
    """melange_consumers are the graph's consumers, sharing the singletons they were given."""
    app = build_graph(settings=MelangeSettings(), backend=InMemoryBackend()).provide(Application)

    shipping, invoices = app.consumers
    assert isinstance(shipping, ShippingConsumer)
    assert isinstance(invoices, InvoiceConsumer)
    assert shipping.journal is invoices.journal
    assert app.queue_names == ("shipping", "invoices")


def test_the_settings_give_each_queue_what_its_subscription_leaves_open() -> None:
    """MELANGE_WORKERS, visibility timeout and receive count fill what a subscription omits."""
    settings = MelangeSettings(
        dispatcher=DispatcherSettings(workers=3, visibility_timeout=50, max_receive_count=7)
    )

    shipping, invoices = build_graph(settings=settings).provide(Application).topology.queues

    assert shipping.options.workers == 2  # stated by ShippingConsumer's subscription
    assert invoices.options.workers == 3
    assert shipping.spec == QueueSpec(
        "shipping", dead_letter_queue="shipping-dlq", max_receive_count=7, visibility_timeout=50
    )


def test_a_prefixed_backend_reports_declarations_with_the_apps_names() -> None:
    """What a PrefixedBackend's declare reports names the queue and DLQ without the prefix."""
    backend = PrefixedBackend(InMemoryBackend(), "staging-")
    backend.declare(QueueSpec("billing"))

    done = backend.declare(QueueSpec("billing", dead_letter_queue="billing-dlq"))

    assert done.spec == QueueSpec("billing", dead_letter_queue="billing-dlq")
    assert Change("dead_letter_queue", None, "billing-dlq") in done.changes


def test_a_declaration_prints_as_one_line_with_its_changes() -> None:
    """A Declared reads as effect, resource and each change with old and new values."""
    done = Declared(
        SubscriptionSpec("billing", ("events",)),
        Effect.CHANGED,
        (Change("raw_message_delivery", False, True),),
    )

    assert str(done) == (
        "changed  subscription 'billing' to 'events' (raw_message_delivery False -> True)"
    )
