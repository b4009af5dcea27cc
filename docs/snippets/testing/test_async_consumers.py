import asyncio

import pinject

from melange import Application, Consumer, Subscription, consumer
from melange.aio import (
    AsyncInMemoryBackend,
    AsyncMessageDispatcher,
    AsyncQueuePublisher,
)
from melange.serializers import JsonSerializer, SerializerRegistry
from melange_bindings import new_test_graph

SIGNUP = {"email": "ada@example.com"}


class WelcomeConsumer(Consumer):
    subscription = Subscription("signups", dead_letter_queue="signups-dlq")

    def __init__(self) -> None:
        super().__init__()
        self.welcomed: list[str] = []

    @consumer
    async def on_signup(self, signup: dict[str, str]) -> None:
        await asyncio.sleep(0)  # an HTTP call to the mail service, say
        self.welcomed.append(signup["email"])


class SignupsBindingSpec(pinject.BindingSpec):
    def provide_melange_consumers(
        self,
        welcome_consumer: WelcomeConsumer,
    ) -> list[Consumer]:
        return [welcome_consumer]


def test_an_async_consumer_without_pinject() -> None:
    async def scenario() -> tuple[int, list[str]]:
        registry = SerializerRegistry({"serializers": {"json": JsonSerializer}})
        backend = AsyncInMemoryBackend()
        await backend.declare_queue("signups")
        await AsyncQueuePublisher(registry, backend).publish("signups", SIGNUP)
        welcome = WelcomeConsumer()
        dispatcher = AsyncMessageDispatcher(
            registry,
            backend,
            consumers=[welcome],
        )
        handled = await dispatcher.process_available("signups")  # queued now
        return handled, welcome.welcomed

    assert asyncio.run(scenario()) == (1, ["ada@example.com"])


def test_an_async_consumer_on_the_test_graph() -> None:
    graph = new_test_graph(SignupsBindingSpec(), classes=[WelcomeConsumer])
    graph.provide(Application).declare()
    welcome = graph.provide(WelcomeConsumer)
    asyncio.run(graph.provide(AsyncQueuePublisher).publish("signups", SIGNUP))

    # Runs on the asyncio dispatcher the worker would build, in a loop of its own:
    assert graph.drain("signups", welcome) == 1
    assert graph.published("signups") == [SIGNUP]  # recorded, as sync ones
    assert welcome.welcomed == ["ada@example.com"]


def test_an_async_consumer_in_an_async_test() -> None:
    graph = new_test_graph(SignupsBindingSpec(), classes=[WelcomeConsumer])
    graph.provide(Application).declare()
    welcome = graph.provide(WelcomeConsumer)

    async def scenario() -> int:  # the body of an `async def` test, with a plugin
        await graph.provide(AsyncQueuePublisher).publish("signups", SIGNUP)
        return await graph.adrain("signups", welcome)  # on the running loop

    assert asyncio.run(scenario()) == 1
    assert welcome.welcomed == ["ada@example.com"]
