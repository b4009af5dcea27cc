"""``MelangeBindingSpec``: provides melange's objects to an application's pinject graph.

Provided names (all singletons within a graph): ``melange_settings``,
``messaging_backend``, ``serializer_registry``, ``queue_publisher``, ``topic_publisher``,
``deduplication_cache``, ``dispatcher_factory`` (a new dispatcher per queue a worker
consumes) and ``message_dispatcher`` (one made by the factory). The spec *requires*
``melange_serializer_bindings``: the application's own spec provides it, mapping its
message classes to serializer names (``"json"``, ``"typed_json"``, ``"pickle"``)::

    class AppBindingSpec(pinject.BindingSpec):
        def provide_melange_serializer_bindings(self):
            return {OrderPlaced: "typed_json"}

Overrides for tests are constructor arguments of this spec (``settings=``, ``backend=``),
because pinject silently merges two specs of the same class rather than letting one
override the other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

import pinject

from melange.backends import InMemoryBackend, MessagingBackend
from melange.backends.prefixed import PrefixedBackend
from melange.consumers import Consumer
from melange.dedup import DeduplicationCache, InMemoryDeduplicationCache, RedisDeduplicationCache
from melange.dispatcher import MessageDispatcher
from melange.exceptions import ConfigurationError, MelangeError
from melange.publishers import QueuePublisher, TopicPublisher
from melange.retry import Backoff
from melange.serializers import (
    JsonSerializer,
    PickleSerializer,
    Serializer,
    SerializerRegistry,
    TypedJsonSerializer,
)
from melange.settings import MelangeSettings, load_settings

__all__ = ["DispatcherFactory", "MelangeBindingSpec"]


@contextmanager
def surfaced(name: str) -> Iterator[None]:
    """Make a provider's unexpected exception a ``ConfigurationError`` naming what it built.

    pinject reports a ``TypeError`` raised inside a provider as a wrong-arguments error
    about the provider itself, hiding the cause; melange's own errors already say what
    to fix and pass through unchanged. (A decorator would hide the provider's argument
    names, which pinject reads to inject them.)
    """
    try:
        yield
    except MelangeError:
        raise
    except Exception as exc:
        raise ConfigurationError(
            f"building {name!r} failed with {type(exc).__name__}: {exc}; check the melange "
            "settings (MELANGE_*) and the application's binding specs"
        ) from exc


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
                "it another name and bind your types to that name"
            )
        identifier = getattr(extra, "identifier", None)
        if identifier in built_in_ids:
            built_in_name, built_in = built_in_ids[identifier]
            raise ConfigurationError(
                f"{described} has identifier {identifier}, which built-in serializer "
                f"{built_in_name!r} ({built_in.__qualname__}) uses; identifiers travel with "
                "every message, so give it an identifier of its own"
            )


class MelangeBindingSpec(pinject.BindingSpec):
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

    def configure(self, require: Callable[[str], None]) -> None:
        """Require the application's ``melange_serializer_bindings``."""
        require("melange_serializer_bindings")

    def provide_melange_settings(self) -> MelangeSettings:
        """Return the given settings, or load them from the environment."""
        with surfaced("melange_settings"):
            return self._settings or load_settings(self._env, environ=self._environ)

    def provide_messaging_backend(self, melange_settings: MelangeSettings) -> MessagingBackend:
        """Return the backend the settings choose, prefixed if ``MELANGE_PREFIX`` is set."""
        with surfaced("messaging_backend"):
            backend = self._backend or backend_from_settings(melange_settings)
            if melange_settings.prefix:
                return PrefixedBackend(backend, melange_settings.prefix)
            return backend

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
    ) -> QueuePublisher:
        """Return the graph's queue publisher (``MELANGE_READABLE_BY_MELANGE7`` applies)."""
        with surfaced("queue_publisher"):
            return QueuePublisher(
                serializer_registry,
                messaging_backend,
                readable_by_melange7=melange_settings.readable_by_melange7,
            )

    def provide_topic_publisher(
        self,
        melange_settings: MelangeSettings,
        serializer_registry: SerializerRegistry,
        messaging_backend: MessagingBackend,
    ) -> TopicPublisher:
        """Return the graph's topic publisher (``MELANGE_READABLE_BY_MELANGE7`` applies)."""
        with surfaced("topic_publisher"):
            return TopicPublisher(
                serializer_registry,
                messaging_backend,
                readable_by_melange7=melange_settings.readable_by_melange7,
            )

    def provide_deduplication_cache(
        self, melange_settings: MelangeSettings
    ) -> DeduplicationCache | None:
        """Return the cache ``MELANGE_DEDUP`` chooses, or ``None`` for no deduplication."""
        with surfaced("deduplication_cache"):
            if melange_settings.dedup == "memory":
                return InMemoryDeduplicationCache()
            if melange_settings.dedup == "redis" and melange_settings.redis_url:
                return RedisDeduplicationCache(melange_settings.redis_url)
            return None

    def provide_dispatcher_factory(
        self,
        melange_settings: MelangeSettings,
        serializer_registry: SerializerRegistry,
        messaging_backend: MessagingBackend,
        deduplication_cache: DeduplicationCache | None,
    ) -> DispatcherFactory:
        """Return a factory of dispatchers with the settings' options, one per queue."""
        with surfaced("dispatcher_factory"):
            return DispatcherFactory(
                melange_settings, serializer_registry, messaging_backend, deduplication_cache
            )

    def provide_message_dispatcher(
        self, dispatcher_factory: DispatcherFactory
    ) -> MessageDispatcher:
        """Return the graph's dispatcher (for one queue); attach consumers to it."""
        with surfaced("message_dispatcher"):
            return dispatcher_factory()


class DispatcherFactory:
    """Builds dispatchers with the settings' options, the graph's registry, backend and cache.

    A dispatcher consumes one queue at a time with the consumers attached to it; a worker
    that consumes several queues asks the factory for one dispatcher per queue.
    """

    def __init__(
        self,
        settings: MelangeSettings,
        registry: SerializerRegistry,
        backend: MessagingBackend,
        cache: DeduplicationCache | None,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.backend = backend
        self.cache = cache

    def __call__(self, *consumers: Consumer) -> MessageDispatcher:
        """Return a new dispatcher with ``consumers`` attached."""
        options = self.settings.dispatcher
        return MessageDispatcher(
            self.registry,
            self.backend,
            consumers=consumers,
            cache=self.cache,
            workers=options.workers,
            wait_time_seconds=options.wait_time_seconds,
            visibility_timeout=options.visibility_timeout,
            backoff=Backoff(
                base=options.backoff_base, cap=options.backoff_cap, jitter=options.backoff_jitter
            ),
            ack_unhandled=options.ack_unhandled,
        )


def backend_from_settings(settings: MelangeSettings) -> MessagingBackend:
    """Build the backend ``MELANGE_BACKEND`` names (boto3 is imported only for SQS)."""
    if settings.backend == "memory":
        return InMemoryBackend()
    from melange.backends.aws import AWSBackend, LocalSQSBackend
    from melange.backends.sqs import SqsBackend

    connect_timeout, read_timeout = settings.publish_connect_timeout, settings.publish_read_timeout
    if settings.backend == "local":
        if settings.endpoint_url is None:
            raise ConfigurationError(
                "MELANGE_BACKEND='local' needs MELANGE_ENDPOINT_URL (e.g. http://localhost:9324)"
            )
        return LocalSQSBackend(
            host=settings.endpoint_url,
            sns_host=settings.sns_endpoint_url,
            region_name=settings.region or "us-east-1",
            publish_connect_timeout=connect_timeout,
            publish_read_timeout=read_timeout,
        )
    if settings.endpoint_url:  # AWS through explicit endpoints, e.g. VPC interface endpoints
        return SqsBackend(
            region_name=settings.region,
            endpoint_url=settings.endpoint_url,
            sns_endpoint_url=settings.sns_endpoint_url,
            publish_connect_timeout=connect_timeout,
            publish_read_timeout=read_timeout,
        )
    return AWSBackend(
        region_name=settings.region,
        publish_connect_timeout=connect_timeout,
        publish_read_timeout=read_timeout,
    )
