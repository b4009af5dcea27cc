"""``MelangeBindingSpec``: provides melange's objects to an application's pinject graph.

Provided names (all singletons within a graph): ``melange_settings``,
``messaging_backend``, ``serializer_registry``, ``queue_publisher``, ``topic_publisher``,
``deduplication_cache``, ``payload_stores`` (where messages over the size limit go,
``MELANGE_LARGE_PAYLOAD_*``: the publishers, the dispatchers and ``declare`` use it),
``dispatcher_factory`` (a new dispatcher per queue a worker
consumes), ``message_dispatcher`` (one made by the factory) and ``melange_app`` (the
``Application``: ``melange_consumers`` and ``melange_topics``, which the application's
spec may provide, declared and run by ``python -m melange``). For asyncio applications,
from the same settings and registry: ``async_messaging_backend``,
``async_queue_publisher``, ``async_topic_publisher``, ``async_deduplication_cache``,
``async_dispatcher_factory``, ``async_message_dispatcher``. pinject builds a name only
when something asks for it, so a sync application never builds an asyncio object (nor an
asyncio one a sync backend, except on ``memory``, whose store both halves share).
The spec *requires* ``melange_serializer_bindings``. ``new_object_graph`` binds it to an
empty mapping (every type through the default serializer) unless the application's spec
provides it, mapping its message classes to serializer names (``"json"``,
``"typed_json"``, ``"pickle"``)::

    class AppBindingSpec(pinject.BindingSpec):
        def provide_melange_serializer_bindings(self):
            return {OrderPlaced: "typed_json"}

Overrides for tests are constructor arguments of this spec (``settings=``, ``backend=``).
Two ``MelangeBindingSpec``s with equal arguments are one spec to pinject (it drops the
copy, as its README asks of specs with constructor arguments); two with different
arguments both provide every name, which pinject refuses as conflicting bindings.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import pinject

from melange.app.application import Application, DispatcherFactory
from melange.backends import MessagingBackend
from melange.backends.factory import backend_from_settings
from melange.consuming.consumers import Consumer
from melange.consuming.dedup import (
    DeduplicationCache,
    InMemoryDeduplicationCache,
    NullDeduplicationCache,
    RedisDeduplicationCache,
)
from melange.consuming.dispatcher import MessageDispatcher
from melange.exceptions import ConfigurationError, Problem
from melange.payloads.factory import PayloadStores
from melange.publishing._sync.publishers import QueuePublisher, TopicPublisher
from melange.serializers import (
    JsonSerializer,
    PickleSerializer,
    Serializer,
    SerializerRegistry,
    TypedJsonSerializer,
)
from melange.settings import MelangeSettings, load_settings
from melange.topology.specs import TopicSpec
from melange_bindings.async_providers import AsyncProviders
from melange_bindings.surfacing import surfaced

__all__ = [
    "IMPLICIT_DEFAULTS",
    "DispatcherFactory",
    "MelangeBindingSpec",
    "MelangeConsumers",
    "MelangeSerializerBindings",
    "MelangeTopics",
]


#: The serializers every graph has, by the names bindings use.
BUILT_IN_SERIALIZERS: Mapping[str, type[Serializer]] = {
    "json": JsonSerializer,
    "typed_json": TypedJsonSerializer,
    "pickle": PickleSerializer,
}


def check_extra_serializers(extras: Mapping[str, Serializer | type[Serializer]]) -> None:
    """Refuse extra serializers that would replace a built-in, by name or by identifier.

    Raises:
        ConfigurationError: naming the extra serializer and the built-in it collides with.
    """
    built_in_ids = {cls.identifier: (name, cls) for name, cls in BUILT_IN_SERIALIZERS.items()}
    for name, extra in extras.items():
        extra_class = extra if isinstance(extra, type) else type(extra)
        described = f"extra serializer {name!r} ({extra_class.__qualname__})"
        if name in BUILT_IN_SERIALIZERS:
            built_in = BUILT_IN_SERIALIZERS[name]
            raise ConfigurationError(
                f"{described} has the name of built-in serializer {name!r} "
                f"({built_in.__qualname__}); extras are added beside the built-ins, so give "
                "it another name and bind your types to that name",
                problems=[
                    Problem("serializers", name, "a name none of the built-in serializers has")
                ],
            )
        identifier = getattr(extra, "identifier", None)
        if identifier in built_in_ids:
            built_in_name, built_in = built_in_ids[identifier]
            raise ConfigurationError(
                f"{described} has identifier {identifier}, which built-in serializer "
                f"{built_in_name!r} ({built_in.__qualname__}) uses; identifiers travel with "
                "every message, so give it an identifier of its own",
                problems=[
                    Problem(
                        f"{extra_class.__qualname__}.identifier",
                        identifier,
                        "an identifier no built-in serializer uses",
                    )
                ],
            )


class MelangeSerializerBindings(dict[type, str]):
    """The serializer bindings of an application that binds none: an empty mapping.

    ``new_object_graph`` passes this class to pinject, which binds it implicitly to the
    name ``melange_serializer_bindings``; an application's explicit binding of that name
    (``provide_melange_serializer_bindings``) overrides it.
    """

    def __init__(self) -> None:
        super().__init__()


class MelangeConsumers(list[Consumer]):
    """The consumers of an application that states none: an empty list.

    Bound implicitly to ``melange_consumers``, like ``MelangeSerializerBindings``; the
    application's ``provide_melange_consumers`` (taking its consumers as arguments, which
    pinject builds with their dependencies) overrides it.
    """

    def __init__(self) -> None:
        super().__init__()


class MelangeTopics(list[str | TopicSpec]):
    """The topics of an application that publishes to none it declares: an empty list.

    Bound implicitly to ``melange_topics``; the application's ``provide_melange_topics``
    overrides it.
    """

    def __init__(self) -> None:
        super().__init__()


#: The classes ``new_object_graph`` binds implicitly: defaults any application spec overrides.
IMPLICIT_DEFAULTS: tuple[type, ...] = (MelangeSerializerBindings, MelangeConsumers, MelangeTopics)


class MelangeBindingSpec(AsyncProviders, pinject.BindingSpec):
    """Binds melange's backend, registry, publishers, cache and dispatcher from settings.

    Args:
        settings: use these settings instead of ``load_settings(env, environ=environ)``.
        env: the environment whose ``config/<env>.env`` to load (default ``MELANGE_ENV``).
        environ: the environment variables to read (default ``os.environ``).
        backend: use this backend instead of the one the settings choose (tests).
        serializers: extra serializers by name, added beside json, typed_json and pickle.

    Raises:
        ConfigurationError: an extra serializer has a built-in's name or identifier.
    """

    def __init__(
        self,
        *,
        settings: MelangeSettings | None = None,
        env: str | None = None,
        environ: Mapping[str, str] | None = None,
        backend: MessagingBackend | None = None,
        serializers: Mapping[str, Serializer | type[Serializer]] | None = None,
    ) -> None:
        self._settings = settings
        self._env = env
        self._environ = environ
        self._backend = backend
        self._serializers = dict(serializers or {})
        check_extra_serializers(self._serializers)

    def _arguments(self) -> tuple[object, ...]:
        # Mappings compare by content; a backend or settings object by its own __eq__.
        return (
            self._settings,
            self._env,
            None if self._environ is None else dict(self._environ),
            self._backend,
            self._serializers,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MelangeBindingSpec):
            return NotImplemented
        return type(self) is type(other) and self._arguments() == other._arguments()

    def __hash__(self) -> int:
        # Equal specs must hash alike; the arguments may hold unhashable mappings, and
        # pinject's set of specs holds a few, so the type alone will do.
        return hash(type(self))

    def __repr__(self) -> str:
        # Argument names and types only: settings and environments may hold secrets.
        given = {
            "settings": self._settings,
            "env": self._env,
            "environ": self._environ,
            "backend": self._backend,
            "serializers": self._serializers or None,
        }
        shown = ", ".join(
            f"{name}={type(value).__name__}" for name, value in given.items() if value is not None
        )
        return f"{type(self).__name__}({shown})"

    def configure(self, require: Callable[[str], None]) -> None:
        """Require the application's ``melange_serializer_bindings``."""
        require("melange_serializer_bindings")

    def settings(self) -> MelangeSettings:
        """Return the given settings, or load them from the environment.

        Raises:
            ConfigurationError: the ``MELANGE_*`` settings are wrong (every one listed).
        """
        return self._settings or load_settings(self._env, environ=self._environ)

    def provide_melange_settings(self) -> MelangeSettings:
        """Return the given settings, or load them from the environment."""
        with surfaced("melange_settings"):
            return self.settings()

    def provide_messaging_backend(self, melange_settings: MelangeSettings) -> MessagingBackend:
        """Return the backend the settings choose, prefixed if ``MELANGE_PREFIX`` is set."""
        with surfaced("messaging_backend"):
            return backend_from_settings(melange_settings, backend=self._backend)

    def provide_serializer_registry(
        self,
        melange_settings: MelangeSettings,
        melange_serializer_bindings: Mapping[type, str],
    ) -> SerializerRegistry:
        """Return a registry of melange's serializers and the application's bindings."""
        with surfaced("serializer_registry"):
            serializers: dict[str, Serializer | type[Serializer]] = {
                **BUILT_IN_SERIALIZERS,
                "pickle": PickleSerializer(allow_unpickling=melange_settings.allow_pickle),
                **self._serializers,  # checked not to replace a built-in
            }
            return SerializerRegistry(
                {
                    "serializers": serializers,
                    "serializer_bindings": dict(melange_serializer_bindings),
                    "default": melange_settings.default_serializer,
                }
            )

    def provide_queue_publisher(
        self,
        melange_settings: MelangeSettings,
        serializer_registry: SerializerRegistry,
        messaging_backend: MessagingBackend,
        payload_stores: PayloadStores,
    ) -> QueuePublisher:
        """Return the graph's queue publisher (``MELANGE_READABLE_BY_MELANGE7`` applies).

        With ``MELANGE_LARGE_PAYLOAD_BUCKET``, what is too large goes through S3.
        """
        with surfaced("queue_publisher"):
            return QueuePublisher(
                serializer_registry,
                messaging_backend,
                readable_by_melange7=melange_settings.readable_by_melange7,
                payloads=payload_stores.store(),
            )

    def provide_topic_publisher(
        self,
        melange_settings: MelangeSettings,
        serializer_registry: SerializerRegistry,
        messaging_backend: MessagingBackend,
        payload_stores: PayloadStores,
    ) -> TopicPublisher:
        """Return the graph's topic publisher (``MELANGE_READABLE_BY_MELANGE7`` applies).

        With ``MELANGE_LARGE_PAYLOAD_BUCKET``, what is too large goes through S3.
        """
        with surfaced("topic_publisher"):
            return TopicPublisher(
                serializer_registry,
                messaging_backend,
                readable_by_melange7=melange_settings.readable_by_melange7,
                payloads=payload_stores.store(),
            )

    def provide_deduplication_cache(self, melange_settings: MelangeSettings) -> DeduplicationCache:
        """Return the cache ``MELANGE_DEDUP`` chooses (``none``: a ``NullDeduplicationCache``)."""
        with surfaced("deduplication_cache"):
            if melange_settings.dedup == "memory":
                return InMemoryDeduplicationCache()
            if melange_settings.dedup == "redis" and melange_settings.redis_url:
                return RedisDeduplicationCache(melange_settings.redis_url)
            return NullDeduplicationCache()

    def provide_payload_stores(self, melange_settings: MelangeSettings) -> PayloadStores:
        """Return the large-payload stores ``MELANGE_LARGE_PAYLOAD_*`` describe, one per half.

        Without a bucket both are ``None``; on ``memory`` they share their objects.
        """
        with surfaced("payload_stores"):
            return PayloadStores(melange_settings)

    def provide_dispatcher_factory(
        self,
        melange_settings: MelangeSettings,
        serializer_registry: SerializerRegistry,
        messaging_backend: MessagingBackend,
        deduplication_cache: DeduplicationCache,
        payload_stores: PayloadStores,
    ) -> DispatcherFactory:
        """Return a factory of dispatchers with the settings' options, one per queue."""
        with surfaced("dispatcher_factory"):
            return DispatcherFactory(
                melange_settings,
                serializer_registry,
                messaging_backend,
                deduplication_cache,
                payloads=payload_stores.store(),
            )

    def provide_message_dispatcher(
        self, dispatcher_factory: DispatcherFactory
    ) -> MessageDispatcher:
        """Return the graph's dispatcher (for one queue); attach consumers to it."""
        with surfaced("message_dispatcher"):
            return dispatcher_factory()

    def provide_melange_app(
        self,
        melange_consumers: Sequence[Consumer],
        melange_topics: Sequence[str | TopicSpec],
        messaging_backend: MessagingBackend,
        dispatcher_factory: DispatcherFactory,
    ) -> Application:
        """Return the application: its consumers and topics, declared and run as one."""
        with surfaced("melange_app"):
            return Application(
                melange_consumers, melange_topics, messaging_backend, dispatcher_factory
            )
