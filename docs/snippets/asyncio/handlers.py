import asyncio
import threading
import time

from melange import Consumer, consumer
from melange.aio import (
    AsyncInMemoryBackend,
    AsyncMessageDispatcher,
    AsyncQueuePublisher,
)
from melange.serializers import JsonSerializer, SerializerRegistry


def here() -> str:
    return threading.current_thread().name


class Accounts(Consumer):
    @consumer
    async def on_signup(self, signup: dict[str, str]) -> None:  # on the loop
        await asyncio.sleep(0.01)
        print(f"signup of {signup['email']} handled in {here()}")

    @consumer
    def on_note(self, note: str) -> None:  # a plain function: in a thread
        time.sleep(0.01)  # blocking I/O here does not stop the loop
        print(f"note {note!r} handled in {here()}")


async def main() -> None:
    registry = SerializerRegistry({"serializers": {"json": JsonSerializer}})
    backend = AsyncInMemoryBackend()
    await backend.declare_queue("accounts")
    publisher = AsyncQueuePublisher(registry, backend)
    await publisher.publish("accounts", {"email": "ada@example.com"})
    await publisher.publish("accounts", "call back tomorrow")
    accounts = AsyncMessageDispatcher(registry, backend, consumers=[Accounts()])
    await accounts.process_available("accounts")


asyncio.run(main())
