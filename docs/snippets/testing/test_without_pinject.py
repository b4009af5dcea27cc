from melange import Consumer, QueuePublisher
from melange.serializers import JsonSerializer, SerializerRegistry
from melange.testing import MessagingTestKit


def test_a_receipt_is_published_and_handled() -> None:
    registry = SerializerRegistry({"serializers": {"json": JsonSerializer}})
    kit = MessagingTestKit(registry)  # with a RecordingBackend: kit.backend
    kit.backend.declare_queue("receipts")

    QueuePublisher(registry, kit.backend).publish("receipts", {"order_id": 42})

    assert kit.published("receipts") == [{"order_id": 42}]
    handled: list[object] = []
    assert kit.drain("receipts", Consumer(on_message=handled.append)) == 1
    assert handled == [{"order_id": 42}]
