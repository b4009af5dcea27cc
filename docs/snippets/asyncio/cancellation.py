import asyncio

from melange import Consumer, consumer
from melange.aio import (
    AsyncInMemoryBackend,
    AsyncMessageDispatcher,
    AsyncQueuePublisher,
)
from melange.serializers import JsonSerializer, SerializerRegistry


class Reports(Consumer):
    def __init__(self) -> None:
        super().__init__()
        self.started = asyncio.Event()

    @consumer
    async def on_report(self, report: dict[str, int]) -> None:
        self.started.set()
        await asyncio.sleep(0.2)  # still running when the task is cancelled
        print(f"report {report['id']} written")


async def main() -> None:
    registry = SerializerRegistry({"serializers": {"json": JsonSerializer}})
    backend = AsyncInMemoryBackend()
    await backend.declare_queue("reports")
    await AsyncQueuePublisher(registry, backend).publish("reports", {"id": 7})
    reports = Reports()
    dispatcher = AsyncMessageDispatcher(registry, backend, consumers=[reports])
    worker = asyncio.create_task(dispatcher.run("reports"))
    await reports.started.wait()

    worker.cancel()  # e.g. the application shutting down
    try:
        await worker
    except asyncio.CancelledError:
        print("cancelled after the running handler finished")
    left = backend.message_count("reports")
    print(f"acknowledged: {dispatcher.stats.acknowledged}, left: {left}")


asyncio.run(main())
