import asyncio

from melange import Consumer, MessageContext, consumer
from melange.aio import (
    AsyncInMemoryBackend,
    AsyncMessageDispatcher,
    AsyncQueuePublisher,
)
from melange.serializers import JsonSerializer, SerializerRegistry


class Emails(Consumer):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[str] = []

    @consumer
    async def on_signup(
        self,
        signup: dict[str, str],
        context: MessageContext,
    ) -> None:
        await asyncio.sleep(0.01)  # an HTTP call to the mail service, say
        self.sent.append(signup["email"])


async def main() -> None:
    registry = SerializerRegistry({"serializers": {"json": JsonSerializer}})
    backend = AsyncInMemoryBackend()
    await backend.declare_queue("signups", dead_letter_queue="signups-dlq")
    signups = [{"email": f"user{n}@example.com"} for n in range(100)]
    publisher = AsyncQueuePublisher(registry, backend)
    await publisher.publish_many("signups", signups)

    emails = Emails()
    dispatcher = AsyncMessageDispatcher(
        registry,
        backend,
        consumers=[emails],
        workers=50,  # handlers running at once, as tasks
    )
    worker = asyncio.create_task(dispatcher.run("signups"))
    while dispatcher.stats.acknowledged < 100:
        await asyncio.sleep(0.01)
    dispatcher.stop()  # no more receives; running handlers finish, acknowledged
    await worker
    print(len(emails.sent), "emails sent")


asyncio.run(main())
