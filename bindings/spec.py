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


class MelangeBindingSpec(pinject.BindingSpec):
    """Binds melange's backend, registry, publishers, cache and dispatcher from settings.

    Args:
        settings: use these settings instead of ``load_settings(env, environ=environ)``.
        env: the environment whose ``config/<env>.env`` to load (default ``MELANGE_ENV``).
        environ: the environment variables to read (default ``os.environ``).
        backend: use this backend instead of the one the settings choose (tests).
        serializers: extra serializers by name, beside json, typed_json and pickle.
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
                "json": JsonSerializer,
                "typed_json": TypedJsonSerializer,
                "pickle": PickleSerializer(allow_unpickling=melange_settings.allow_pickle),
                **self._serializers,
            }
            return SerializerRegistry(
                {
                    "serializers": serializers,
                    "serializer_bindings": dict(melange_serializer_bindings),
                    "default": melange_settings.default_serializer,
                }
            )

    def provide_queue_publisher(
        self, serializer_registry: SerializerRegistry, messaging_backend: MessagingBackend
    ) -> QueuePublisher:
        """Return the graph's queue publisher."""
        with surfaced("queue_publisher"):
            return QueuePublisher(serializer_registry, messaging_backend)

    def provide_topic_publisher(
        self, serializer_registry: SerializerRegistry, messaging_backend: MessagingBackend
    ) -> TopicPublisher:
        """Return the graph's topic publisher."""
        with surfaced("topic_publisher"):
            return TopicPublisher(serializer_registry, messaging_backend)

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
        )


def backend_from_settings(settings: MelangeSettings) -> MessagingBackend:
    """Build the backend ``MELANGE_BACKEND`` names (boto3 is imported only for SQS)."""
    if settings.backend == "memory":
        return InMemoryBackend()
    from melange.backends.aws import AWSBackend, LocalSQSBackend
    from melange.backends.sqs import SqsBackend

    if settings.backend == "local":
        if settings.endpoint_url is None:
            raise ConfigurationError(
                "MELANGE_BACKEND='local' needs MELANGE_ENDPOINT_URL (e.g. http://localhost:9324)"
            )
        return LocalSQSBackend(
            host=settings.endpoint_url,
            sns_host=settings.sns_endpoint_url,
            region_name=settings.region or "us-east-1",
        )
    if settings.endpoint_url:  # AWS through explicit endpoints, e.g. VPC interface endpoints
        return SqsBackend(
            region_name=settings.region,
            endpoint_url=settings.endpoint_url,
            sns_endpoint_url=settings.sns_endpoint_url,
        )
    return AWSBackend(region_name=settings.region)
