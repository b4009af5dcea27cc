"""One in-memory store, two faces: threaded code publishes, an asyncio dispatcher consumes.

``AsyncInMemoryBackend(store)`` holds the ``InMemoryBackend`` it is given, so both see the
same queues; in a pinject graph, ``async_messaging_backend`` shares the graph's store so.
"""

import asyncio
import threading

from melange import Consumer, QueuePublisher, consumer
from melange.aio import AsyncInMemoryBackend, AsyncMessageDispatcher
from melange.backends import InMemoryBackend
from melange.serializers import JsonSerializer, SerializerRegistry

registry = SerializerRegistry({"serializers": {"json": JsonSerializer}})
store = InMemoryBackend()
store.declare_queue("signups")


class Welcome(Consumer):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[str] = []

    @consumer
    async def on_signup(self, signup: dict[str, str]) -> None:
        self.sent.append(signup["email"])


def publish_from_a_thread() -> None:
    publisher = QueuePublisher(registry, store)
    publisher.publish_many("signups", [{"email": f"user{n}@example.com"} for n in range(3)])


async def main() -> None:
    welcome = Welcome()
    dispatcher = AsyncMessageDispatcher(
        registry, AsyncInMemoryBackend(store), consumers=[welcome], wait_time_seconds=1
    )
    worker = asyncio.create_task(dispatcher.run("signups"))
    thread = threading.Thread(target=publish_from_a_thread)
    thread.start()
    while dispatcher.stats.acknowledged < 3:
        await asyncio.sleep(0.01)
    dispatcher.stop()
    await worker
    thread.join()
    print("welcomed", welcome.sent)


asyncio.run(main())
