"""Consuming: reading messages off queues and handing them to consumers, with guarantees.

Holds the consumers (``consumers``), what they subscribe to (``subscription``), the pure
decisions of the consume path (``decisions``, ``outcomes``, ``dead_letters``), the
deduplication caches (``dedup``, ``aio_dedup``), and the dispatchers, which run one queue
each through a runner: ``dispatcher`` (threads) and ``aio_dispatcher`` (asyncio). The
consume core itself is ``_async/runner.py`` and ``_async/handling.py``, written once for
asyncio; ``_sync/`` is generated from it, with ``concurrency`` where ``_async`` has
``aio_concurrency``.

May import: ``melange.exceptions``, ``messages``, ``limits``, ``options``, ``settings``,
``serializers``, ``wire``, ``topology``, ``telemetry`` and the backend protocols of
``melange.backends``. Never ``melange.app`` nor a concrete backend.
"""
