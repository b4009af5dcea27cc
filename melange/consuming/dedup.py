"""Deduplication caches: at most one successful run of a consumer per message id.

A consumer claims ``consumer name + message id`` atomically, with a lease, before it runs;
it marks the key done after success and releases it after failure. So two workers that
receive the same message at once do not both run the handler, a message handled before
is skipped when it comes again, and a crash mid-handler (the lease runs out) lets the
redelivery run it.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

import attrs

from melange.consuming.decisions import PROBE_BACKOFF
from melange.exceptions import ConfigurationError, DeduplicationUnavailableError, Problem
from melange.options import Backoff
from melange.settings import redacted_url

if TYPE_CHECKING:
    import redis

__all__ = [
    "CacheProbe",
    "Claim",
    "ClaimStatus",
    "DeduplicationCache",
    "InMemoryDeduplicationCache",
    "NullDeduplicationCache",
    "RedisDeduplicationCache",
    "deduplicating",
]

logger = logging.getLogger(__name__)

CacheT = TypeVar("CacheT")

#: How long a key stays "done": SQS keeps a message at most 14 days.
DEFAULT_DONE_TTL_SECONDS = 14 * 24 * 3600


class ClaimStatus(enum.Enum):
    """What happened when a worker tried to claim a key."""

    CLAIMED = "claimed"  # run the handler, then mark_done or release
    DONE = "done"  # handled successfully before: skip and acknowledge
    BUSY = "busy"  # another worker holds the lease: leave the message for redelivery


@attrs.frozen
class Claim:
    """The outcome of ``claim``; ``token`` identifies the lease for release and extend."""

    status: ClaimStatus
    token: str = ""


@runtime_checkable
class DeduplicationCache(Protocol):
    """Where consumers record which messages they have handled."""

    def claim(self, key: str, *, lease_seconds: float) -> Claim:
        """Atomically take the key for ``lease_seconds`` unless it is done or held."""

    def extend(self, key: str, token: str, *, lease_seconds: float) -> None:
        """Renew a lease still held with ``token`` (the heartbeat calls this).

        A lease that ran out is lost, even if nobody claimed the key since: extending it
        does nothing, as another worker may already be running the redelivered message.
        """

    def mark_done(self, key: str, token: str) -> None:
        """Record that the handler succeeded for good."""

    def release(self, key: str, token: str) -> None:
        """Give a lease back after failure, if ``token`` still holds it."""

    def ping(self) -> None:
        """Return if the cache answers; raise ``DeduplicationUnavailableError`` if not.

        The dispatcher probes with it while the cache is down, instead of receiving
        messages it could only release again.
        """


def new_token() -> str:
    return uuid.uuid4().hex


class InMemoryDeduplicationCache:
    """A deduplication cache in this process's memory (one process, many threads).

    Args:
        done_ttl_seconds: how long a handled key is remembered.
        clock: monotonic time source, controllable in tests.
    """

    def __init__(
        self,
        *,
        done_ttl_seconds: float = DEFAULT_DONE_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._done_ttl = check_done_ttl(done_ttl_seconds)
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[str, float]] = {}  # key -> (token or "done", expiry)

    def claim(self, key: str, *, lease_seconds: float) -> Claim:
        """Take the key unless it is done or leased to someone else."""
        with self._lock:
            now = self._clock()
            held = self._entries.get(key)
            if held is not None and held[1] > now:
                return Claim(ClaimStatus.DONE if held[0] == "done" else ClaimStatus.BUSY)
            token = new_token()
            self._entries[key] = (token, now + lease_seconds)
            return Claim(ClaimStatus.CLAIMED, token)

    def extend(self, key: str, token: str, *, lease_seconds: float) -> None:
        """Renew the lease if ``token`` still holds it; a lease that ran out stays lost."""
        with self._lock:
            now = self._clock()
            held_by, expiry = self._entries.get(key, ("", 0.0))
            # An expired lease is a lost claim, even if nobody claimed the key since:
            # as in Redis, where the key is gone and there is nothing left to extend.
            if held_by == token and expiry > now:
                self._entries[key] = (token, now + lease_seconds)

    def mark_done(self, key: str, token: str) -> None:
        """Remember the key as handled for ``done_ttl_seconds``."""
        with self._lock:
            self._entries[key] = ("done", self._clock() + self._done_ttl)

    def release(self, key: str, token: str) -> None:
        """Drop the lease if ``token`` still holds it."""
        with self._lock:
            if self._entries.get(key, ("", 0.0))[0] == token:
                del self._entries[key]

    def ping(self) -> None:
        """Return at once: memory is always reachable."""


#: The token of every null claim: there is no lease it could identify.
_NULL_LEASE = "null"


class NullDeduplicationCache:
    """The cache of "no deduplication": every claim succeeds, nothing is remembered.

    A consumer then runs on every delivery of a message, duplicates included, so its
    handler must be idempotent. This is what ``MELANGE_DEDUP=none`` (the default) gives:
    "no deduplication" is an object like the other caches rather than ``None``.
    """

    def claim(self, key: str, *, lease_seconds: float) -> Claim:
        """Grant every claim: no key is ever done or busy."""
        return Claim(ClaimStatus.CLAIMED, _NULL_LEASE)

    def extend(self, key: str, token: str, *, lease_seconds: float) -> None:
        """Do nothing: there is no lease to renew."""

    def mark_done(self, key: str, token: str) -> None:
        """Do nothing: nothing is remembered."""

    def release(self, key: str, token: str) -> None:
        """Do nothing: there is no lease to give back."""

    def ping(self) -> None:
        """Return at once: there is nothing to reach."""


def deduplicating(cache: CacheT) -> CacheT | None:
    """Return ``cache``, or ``None`` for a ``NullDeduplicationCache``, as the consume core uses it.

    A cache that remembers nothing then costs nothing per message: no claim, token and
    release in the threaded half, and no hop to a thread for each in the asyncio half,
    which runs a sync cache off the event loop.
    """
    return None if isinstance(cache, NullDeduplicationCache) else cache


# Compare-and-act in one round trip, so a lease that expired and was taken by another
# worker is never renewed or deleted by the first one.
#: What a handled key holds in Redis (a lease holds its claim's token).
DONE_VALUE = b"done"
EXTEND_IF_HELD = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
DELETE_IF_HELD = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisDeduplicationCache:
    """A deduplication cache in Redis, shared by every process that consumes a queue.

    Args:
        url: the Redis URL, e.g. ``redis://127.0.0.1:6379/0``.
        prefix: prepended to every key.
        done_ttl_seconds: how long a handled key is remembered.
        socket_timeout: seconds before an unreachable Redis counts as unavailable.
        client: an existing ``redis.Redis`` to use instead of connecting to ``url``.
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        prefix: str = "melange:dedup:",
        done_ttl_seconds: float = DEFAULT_DONE_TTL_SECONDS,
        socket_timeout: float = 2.0,
        client: redis.Redis[bytes] | None = None,
    ) -> None:
        self._client = client or _connect(url, socket_timeout)
        self._prefix = prefix
        self._done_ttl_ms = milliseconds(check_done_ttl(done_ttl_seconds))
        self._extend = self._client.register_script(EXTEND_IF_HELD)
        self._delete = self._client.register_script(DELETE_IF_HELD)
        self.url = url

    def claim(self, key: str, *, lease_seconds: float) -> Claim:
        """Take the key with ``SET NX PX`` unless it is done or leased."""
        token = new_token()
        full_key = self._prefix + key
        with redis_errors_as_unavailable(self.url):
            if self._client.set(full_key, token, nx=True, px=milliseconds(lease_seconds)):
                return Claim(ClaimStatus.CLAIMED, token)
            current = self._client.get(full_key)
        held = claim_held(current)
        if held is None:  # the other lease expired between SET and GET: try once more
            return self.claim(key, lease_seconds=lease_seconds)
        return held

    def extend(self, key: str, token: str, *, lease_seconds: float) -> None:
        """Renew the lease if ``token`` still holds it."""
        with redis_errors_as_unavailable(self.url):
            self._extend(keys=[self._prefix + key], args=[token, milliseconds(lease_seconds)])

    def mark_done(self, key: str, token: str) -> None:
        """Remember the key as handled."""
        with redis_errors_as_unavailable(self.url):
            self._client.set(self._prefix + key, DONE_VALUE, px=self._done_ttl_ms)

    def release(self, key: str, token: str) -> None:
        """Delete the lease if ``token`` still holds it."""
        with redis_errors_as_unavailable(self.url):
            self._delete(keys=[self._prefix + key], args=[token])

    def ping(self) -> None:
        """Send Redis a ``PING``; raise ``DeduplicationUnavailableError`` if it does not answer."""
        with redis_errors_as_unavailable(self.url):
            self._client.ping()


def claim_held(current: bytes | None) -> Claim | None:
    """Return what a refused ``SET NX`` met: a done key or another's lease; ``None``: gone."""
    if current is None:
        return None
    return Claim(ClaimStatus.DONE if current == DONE_VALUE else ClaimStatus.BUSY)


def check_done_ttl(seconds: float) -> float:
    if seconds < 0.001:
        raise ConfigurationError(
            f"done_ttl_seconds={seconds!r} is under 1 ms; a handled message must be "
            "remembered at least as long as it can be redelivered (SQS keeps up to 14 days)",
            problems=[Problem("done_ttl_seconds", seconds, "a number of seconds >= 0.001")],
        )
    return seconds


def milliseconds(seconds: float) -> int:
    """Return seconds as whole milliseconds, at least 1 (Redis's ``PX`` refuses 0)."""
    return max(1, int(seconds * 1000))


def _connect(url: str, socket_timeout: float) -> redis.Redis[bytes]:
    client: redis.Redis[bytes] = connect_redis(url, socket_timeout, client_class=None)
    return client


def connect_redis(url: str, socket_timeout: float, *, client_class: Any) -> Any:
    """Return a client of ``client_class`` (default ``redis.Redis``) for ``url``, checked.

    The asyncio cache passes ``redis.asyncio.Redis``; both get the same timeouts and errors.
    """
    try:
        import redis
    except ImportError:
        raise ConfigurationError(
            "RedisDeduplicationCache needs the redis package; install melange[redis]",
            problems=[Problem("melange[redis]", None, "installed: pip install 'melange[redis]'")],
        ) from None
    try:
        return (client_class or redis.Redis).from_url(
            url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout
        )
    except ValueError as exc:
        raise ConfigurationError(
            f"Redis URL {redacted_url(url)!r} is not valid ({exc}); use e.g. "
            "redis://127.0.0.1:6379/0",
            problems=[Problem("url", redacted_url(url), "a redis:// URL")],
        ) from None


@contextmanager
def redis_errors_as_unavailable(url: str) -> Iterator[None]:
    """Turn redis-py's errors into DeduplicationUnavailableError, naming the URL."""
    import redis

    try:
        yield
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        raise DeduplicationUnavailableError(
            f"Redis at {redacted_url(url)!r} did not answer ({exc}); check "
            "MELANGE_REDIS_URL and that Redis is running",
            operation="deduplication",
            code=type(exc).__name__,
        ) from exc
    except redis.exceptions.RedisError as exc:
        # Any other refusal leaves the cache as unusable as an outage: same policy applies.
        raise DeduplicationUnavailableError(
            f"Redis at {redacted_url(url)!r} refused a deduplication command ({exc})",
            operation="deduplication",
            code=type(exc).__name__,
        ) from exc


class CacheProbe:
    """Whether the deduplication cache answers; while it does not, receiving pauses.

    Receiving a message only to release it again would spend one of its receives each
    time, and enough of them send a healthy message to the dead-letter queue. So the
    first unanswered claim marks the cache unavailable, and pollers wait in
    the runner while it pings the cache with backoff (``due``, ``answered``, ``unanswered``).

    Args:
        cache: the deduplication cache (``None``: always available).
        backoff: the pause before the n-th probe in a row.
        clock: monotonic time source.
    """

    def __init__(
        self,
        cache: DeduplicationCache | None,
        *,
        backoff: Backoff = PROBE_BACKOFF,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cache = cache
        self._backoff = backoff
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0  # unanswered probes in a row, the first claim counted
        self._next_probe = 0.0

    @property
    def available(self) -> bool:
        """Whether the cache answered last time it was asked."""
        return self._failures == 0

    def mark_unavailable(self, exc: DeduplicationUnavailableError) -> None:
        """Record that the cache did not answer; receiving pauses until a probe succeeds."""
        with self._lock:
            if self._failures == 0:
                self._failures = 1
                self._next_probe = self._clock() + self._backoff.delay(1)
                logger.warning("%s; receiving pauses until the deduplication cache answers", exc)

    def due(self, *, now: bool = False) -> bool:
        """Whether the cache is down and a probe (``ping``) is due now, or ``now`` forces one."""
        if self._failures == 0 or self._cache is None:
            return False
        return now or self._clock() >= self._next_probe

    def answered(self) -> None:
        """Record a probe the cache answered: receiving resumes."""
        self._failures = 0
        logger.info("the deduplication cache answers again; receiving resumes")

    def unanswered(self, exc: DeduplicationUnavailableError) -> None:
        """Record a probe the cache did not answer; the next one waits longer."""
        self._failures += 1
        pause = self._backoff.delay(self._failures)
        self._next_probe = self._clock() + pause
        logger.warning("%s; probing again in %d s", exc, pause)

    def pause(self) -> float:
        """Seconds to wait before looking again whether a probe is due (0.05 to 1)."""
        return min(1.0, max(0.05, self._next_probe - self._clock()))
