import pinject

from melange import Application, Backoff, Consumer, QueuePublisher, Reject, Subscription, consumer
from melange_bindings import new_test_graph

REFUND_LIMIT = 500


class RefundRejected(Exception):
    """A refund that can never be made: retrying it changes nothing."""


class PaymentProviderDown(Exception):
    """The provider did not answer: worth another try later."""


class RefundConsumer(Consumer):
    subscription = Subscription("refunds", dead_letter_queue="refunds-dlq")
    throws = (RefundRejected,)  # these never succeed: dead-letter them at once
    backoff = Backoff(base=2, cap=60)  # this consumer's retries: 2 s, 4 s, 8 s ... 60 s
    max_receive_count = 4  # the 4th failed receive is the last

    def __init__(self) -> None:
        super().__init__()
        self.refunded: list[int] = []

    @consumer
    def on_refund(self, refund: dict[str, int]) -> None:
        if refund["amount"] <= 0:
            raise Reject(f"refund of {refund['amount']} for order {refund['order_id']}")
        if refund["amount"] > REFUND_LIMIT:
            raise RefundRejected(f"{refund['amount']} is over the refund limit {REFUND_LIMIT}")
        self.refunded.append(refund["order_id"])


class RefundsBindingSpec(pinject.BindingSpec):
    def provide_melange_consumers(self, refund_consumer: RefundConsumer) -> list[Consumer]:
        return [refund_consumer]


graph = new_test_graph(RefundsBindingSpec(), classes=[RefundConsumer])
graph.provide(Application).declare()
publisher = graph.provide(QueuePublisher)
for order_id, amount in [(1, 40), (2, -5), (3, 9000)]:
    publisher.publish("refunds", {"order_id": order_id, "amount": amount})

refunds = graph.provide(RefundConsumer)
print(f"received {graph.drain('refunds', refunds)}, refunded {refunds.refunded}")
for dead in graph.dead_letters("refunds"):
    print(f"refunds-dlq: order {dead.message['order_id']}: {dead.reason}")
