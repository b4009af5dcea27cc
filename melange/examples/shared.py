"""The serializer registry melange 7's documentation imports, as melange 7 defined it.

``serializer_registry`` has one serializer, pickle, which is therefore the default for
every type; melange 7 bound simple_cqrs' ``DomainEvent`` to it, and so does this module
when simple_cqrs is installed (the ``examples`` extra: ``pip install 'melange[examples]'``).
Without simple_cqrs the registry is the same but for that binding, which changes nothing
it writes::

    from melange.examples.shared import serializer_registry

    TopicPublisher(serializer_registry, backend).publish("melangetutorial-topic", message)

Pickle is for Python-only fleets: a consumer reads it only with
``PickleSerializer(allow_unpickling=True)``, since unpickling runs code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from melange.serializers import PickleSerializer, SerializerRegistry

__all__ = ["serializer_registry", "serializer_settings"]


def _domain_event_bindings() -> dict[type, str]:
    """Bind simple_cqrs' ``DomainEvent`` to pickle, as melange 7 did, if it is installed."""
    try:
        from simple_cqrs.domain_event import DomainEvent
    except ImportError:
        return {}
    return {DomainEvent: "pickle"}


#: The registry's configuration, under melange 7's name for it.
serializer_settings: Mapping[str, Any] = {
    "serializers": {"pickle": PickleSerializer},
    "serializer_bindings": _domain_event_bindings(),
}

#: The registry the documentation's topic snippet publishes with.
serializer_registry = SerializerRegistry(serializer_settings)
