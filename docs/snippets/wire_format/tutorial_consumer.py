"""melange 7.2's tutorial consumer, ported to melange 8.

Each change is a row of the migration tables: the imports come from the packages, the
consumer is a ``Consumer``, the dispatcher takes its consumers, its backend is required,
pickle must be allowed explicitly, and ``run`` replaces ``consume_loop``.
"""

from melange import Consumer, MessageDispatcher, consumer
from melange.backends import LocalSQSBackend, MessagingBackend
from melange.serializers import PickleSerializer, SerializerRegistry


class MyTestMessage:
    def __init__(self, message: str) -> None:
        self.message = message


class MyConsumer(Consumer):
    @consumer
    def on_my_test_message_received(self, event: MyTestMessage) -> None:
        print(event.message)


def build_dispatcher(backend: MessagingBackend) -> MessageDispatcher:
    serializer_settings = {
        # melange 7 unpickled whatever a queue held; melange 8 only when told to.
        "serializers": {"pickle": PickleSerializer(allow_unpickling=True)},
        "serializer_bindings": {MyTestMessage: "pickle"},
    }
    serializer_registry = SerializerRegistry(serializer_settings)
    return MessageDispatcher(serializer_registry, backend, consumers=[MyConsumer()])


if __name__ == "__main__":
    message_dispatcher = build_dispatcher(LocalSQSBackend(host="localhost", port=9324))
    print("Consuming...")
    message_dispatcher.run("melangetutorial-queue")  # blocks until message_dispatcher.stop()
