"""A real Redis that is down, then up: the probe, and a dispatcher that pauses meanwhile."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator

import pytest

from melange import MessageDispatcher, QueuePublisher, RedisDeduplicationCache
from tests.support.consumers import Recorder, running
from tests.support.faults import CountingBackend
from tests.support.messaging import json_registry
from tests.support.polling import poll_until
from tests.support.servers import PrivateRedis

pytestmark = pytest.mark.integration


@pytest.fixture(name="private_redis")
def fixture_private_redis() -> Iterator[PrivateRedis]:
    """Give a Redis of the test's own, not yet started; stopped at the end."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = PrivateRedis()
    yield server
    server.stop()


def test_a_dispatcher_pauses_while_redis_is_down(
    private_redis: PrivateRedis, caplog: pytest.LogCaptureFixture
) -> None:
    """With Redis down and 'redeliver', receiving pauses; once it is up all run once, none dead."""
    backend = CountingBackend()
    backend.declare_queue("q", dead_letter_queue="q-dlq", max_receive_count=3)
    QueuePublisher(json_registry(), backend).publish_many("q", [{"n": n} for n in range(30)])
    recorder = Recorder()
    dispatcher = MessageDispatcher(
        json_registry(),
        backend,
        consumers=[recorder],
        cache=RedisDeduplicationCache(private_redis.url, socket_timeout=0.5),
        on_cache_unavailable="redeliver",
        workers=4,
        wait_time_seconds=1,
    )
    caplog.set_level(logging.WARNING, logger="melange.consuming.dedup")

    def failed_probes() -> int:
        return sum("probing again" in r.getMessage() for r in caplog.records)

    with running(dispatcher, "q"):
        poll_until(failed_probes, lambda n: n >= 2, timeout=15, message="two failed probes")
        receives_while_down = backend.receives
        poll_until(failed_probes, lambda n: n >= 3, timeout=15, message="a third probe")
        assert backend.receives == receives_while_down <= 2
        assert backend.highest_receive_count == 1
        private_redis.start()
        poll_until(lambda: len(recorder.handled), lambda n: n >= 30, timeout=60, message="30")
    assert sorted(recorder.handled) == list(range(30))
    assert backend.highest_receive_count <= 2
    assert dispatcher.stats.dead_lettered == 0
    assert backend.message_count("q-dlq") == 0
