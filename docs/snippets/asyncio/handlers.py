import asyncio
import threading
import time

from melange import Consumer, consumer
from melange.aio import AsyncInMemoryBackend, AsyncMessageDispatcher, AsyncQueuePublisher
from melange.serializers import JsonSerializer, SerializerRegistry


class Accounts(Consumer):
    @consumer
    async def on_signup(self, signup: dict[str, str]) -> None:  # awaited on the loop
        await asyncio.sleep(0.01)
        print(f"signup of {signup['email']} handled in {threading.current_thread().name}")

    @consumer
    def on_note(self, note: str) -> None:  # a plain function: run in a thread
        time.sleep(0.01)  # blocking I/O here does not stop the loop
        print(f"note {note!r} handled in {threading.current_thread().name}")


async def main() -> None:
    registry = SerializerRegistry({"serializers": {"json": JsonSerializer}})
    backend = AsyncInMemoryBackend()
    await backend.declare_queue("accounts")
    publisher = AsyncQueuePublisher(registry, backend)
    await publisher.publish("accounts", {"email": "ada@example.com"})
    await publisher.publish("accounts", "call back tomorrow")
    dispatcher = AsyncMessageDispatcher(registry, backend, consumers=[Accounts()])
    await dispatcher.process_available("accounts")


asyncio.run(main())
