from melange import QueuePublisher
from melange.backends import MessagingBackend
from melange_bindings import new_object_graph


class ReceiptService:
    def __init__(self, queue_publisher: QueuePublisher) -> None:  # by its name
        self.queue_publisher = queue_publisher

    def send_receipt(self, order_id: int) -> str:
        return self.queue_publisher.publish("receipts", {"order_id": order_id})


graph = new_object_graph(classes=[ReceiptService])  # no spec of your own
service = graph.provide(ReceiptService)

# In memory, as MELANGE_BACKEND is not set: declare the queue in this process.
graph.provide(MessagingBackend).declare_queue("receipts")
message_id = service.send_receipt(42)
print(f"receipt for order 42 sent as {message_id}")
