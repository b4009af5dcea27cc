import asyncio

from melange import Consumer
from melange.aio import (
    AsyncLocalSQSBackend,
    AsyncMessageDispatcher,
    AsyncTopicPublisher,
)
from melange.serializers import JsonSerializer, SerializerRegistry


async def invoice(order: dict[str, int]) -> None:
    print(f"invoicing order {order['order']}")


async def main(host: str = "localhost", port: int = 9324) -> None:
    registry = SerializerRegistry({"serializers": {"json": JsonSerializer}})
    async with AsyncLocalSQSBackend(host=host, port=port) as backend:  # closes
        await backend.declare_queue(
            "invoicing",
            dead_letter_queue="invoicing-dlq",
            topics=["sales"],
        )
        publisher = AsyncTopicPublisher(registry, backend)
        await publisher.publish("sales", {"order": 42})
        dispatcher = AsyncMessageDispatcher(
            registry,
            backend,
            consumers=[Consumer(invoice)],
        )
        await dispatcher.process_available("invoicing")


if __name__ == "__main__":
    asyncio.run(main())  # against compose.yaml's moto: docker compose up -d
