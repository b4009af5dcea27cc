from examples.orders.app import CLASSES, OrdersBindingSpec
from melange import DeduplicationCache, RedisDeduplicationCache
from melange.consuming.aio_dedup import (
    AsyncDeduplicationCache,
    AsyncRedisDeduplicationCache,
)
from melange.settings import MelangeSettings
from melange_bindings import MelangeBindingSpec, new_object_graph

KEYS = "billing:dedup:"  # apart from other applications' keys on that Redis
REMEMBERED = 7 * 24 * 3600  # a handled message is recognised for a week


def redis_url(settings: MelangeSettings) -> str:
    return settings.redis_url or "redis://127.0.0.1:6379/0"


class BillingMelangeSpec(MelangeBindingSpec):
    """melange's bindings, with a cache the settings cannot describe."""

    def provide_deduplication_cache(
        self,
        melange_settings: MelangeSettings,
    ) -> DeduplicationCache:
        return RedisDeduplicationCache(
            redis_url(melange_settings),
            prefix=KEYS,
            done_ttl_seconds=REMEMBERED,
        )

    def provide_async_deduplication_cache(  # the asyncio twin: its own provider
        self,
        melange_settings: MelangeSettings,
    ) -> AsyncDeduplicationCache:
        return AsyncRedisDeduplicationCache(
            redis_url(melange_settings),
            prefix=KEYS,
            done_ttl_seconds=REMEMBERED,
        )


objects = new_object_graph(
    classes=CLASSES,
    binding_specs=[OrdersBindingSpec()],
    melange=BillingMelangeSpec(),  # instead of the default MelangeBindingSpec()
)
cache = objects.provide(DeduplicationCache)  # Redis is not asked yet
print(f"deduplicating in {type(cache).__name__} at {cache.url}")
