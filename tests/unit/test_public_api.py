"""The public names users import stay where the documentation says they are."""

from __future__ import annotations

import melange
import melange.backends
import melange.serializers


def test_melange_exports_exactly_its_public_api() -> None:
    """melange.__all__ is pinned, so a removal or an accidental export is noticed."""
    assert sorted(melange.__all__) == [
        "AckPolicy",
        "Application",
        "Backoff",
        "Consumer",
        "DeduplicationCache",
        "Destination",
        "DispatcherOptions",
        "Envelope",
        "InMemoryDeduplicationCache",
        "MelangeError",
        "MessageContext",
        "MessageDispatcher",
        "NullDeduplicationCache",
        "OutgoingMessage",
        "QueuePublisher",
        "QueueSpec",
        "ReceivedMessage",
        "RedisDeduplicationCache",
        "Reject",
        "SendOptions",
        "Subscription",
        "SubscriptionSpec",
        "TopicPublisher",
        "TopicSpec",
        "consumer",
    ]
    for name in melange.__all__:
        assert getattr(melange, name) is not None


def test_melange7_import_paths_keep_working_with_a_warning() -> None:
    """The names melange 7 exported stay importable from its modules, through melange.compat."""
    import pytest

    from melange import compat

    with pytest.warns(DeprecationWarning, match="melange 7's name"):
        from melange import SimpleMessageDispatcher, SingleDispatchConsumer
        from melange.backends import InMemoryMessagingBackend

    assert SingleDispatchConsumer is melange.Consumer
    assert issubclass(SimpleMessageDispatcher, melange.MessageDispatcher)
    assert InMemoryMessagingBackend is melange.backends.InMemoryBackend
    assert sorted(compat.RENAMED) == [
        "InMemoryMessagingBackend",
        "SimpleMessageDispatcher",
        "SingleDispatchConsumer",
    ]
    assert sorted(compat.MELANGE7_ACK_FLAGS) == ["always_ack", "early_ack"]


def test_backends_and_serializers_export_the_documented_names() -> None:
    """The backends and serializers the docs name import from their packages."""
    from melange.backends import (
        AWSBackend,
        InMemoryBackend,
        LocalSQSBackend,
        MessagingAdmin,
        MessagingBackend,
        MessagingTransport,
        PrefixedBackend,
        backend_from_settings,
    )
    from melange.serializers import (
        JsonSerializer,
        PickleSerializer,
        Serializer,
        SerializerRegistry,
        TypedJsonSerializer,
    )

    assert issubclass(AWSBackend, melange.backends.SqsBackend)
    assert issubclass(LocalSQSBackend, melange.backends.SqsBackend)
    assert isinstance(InMemoryBackend(), MessagingBackend)
    for protocol in (MessagingTransport, MessagingAdmin):
        assert isinstance(PrefixedBackend(InMemoryBackend(), "p-"), protocol)
    assert callable(backend_from_settings)
    for serializer in (JsonSerializer, PickleSerializer, TypedJsonSerializer):
        assert issubclass(serializer, Serializer)
    assert sorted(melange.serializers.__all__) == [
        "JsonSerializer",
        "PickleSerializer",
        "PydanticSerializer",  # loaded on first use: pydantic is an optional extra
        "Serialized",
        "Serializer",
        "SerializerRegistry",
        "TypedJsonSerializer",
    ]
    assert SerializerRegistry is melange.serializers.SerializerRegistry


def test_bindings_export_the_wiring_api() -> None:
    """The pinject layer's names import from bindings."""
    import bindings

    assert sorted(bindings.__all__) == [
        "DispatcherFactory",
        "MelangeBindingSpec",
        "ObjectGraph",
        "TestGraph",
        "new_object_graph",
        "new_test_graph",
    ]


def test_the_sqs_option_values_import_from_both_halves() -> None:
    """Timeouts, RetryBudget, Endpoints and ConnectionLimits import from backends and aio."""
    import melange.aio

    for name in ("ConnectionLimits", "Endpoints", "RetryBudget", "Timeouts"):
        assert name in melange.backends.__all__
        assert getattr(melange.aio, name) is getattr(melange.backends, name)


def test_unknown_backend_name_raises_attribute_error() -> None:
    """melange.backends' lazy loader refuses names it does not have."""
    import pytest

    with pytest.raises(AttributeError, match="NoSuchBackend"):
        melange.backends.NoSuchBackend  # noqa: B018
