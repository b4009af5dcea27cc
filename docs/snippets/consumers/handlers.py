import attrs

from melange import Consumer, MessageContext, MessageDispatcher, QueuePublisher, consumer
from melange.backends import InMemoryBackend
from melange.serializers import SerializerRegistry, TypedJsonSerializer


@attrs.frozen
class OrderPlaced:
    order_id: int


@attrs.frozen
class ExpressOrderPlaced(OrderPlaced):  # a subclass: the OrderPlaced handler takes it
    courier: str


@attrs.frozen
class RefundRequested:
    order_id: int


@attrs.frozen
class RefundApproved:
    order_id: int


@attrs.frozen
class NewsletterSent:  # no handler takes it
    issue: int


class BillingConsumer(Consumer):
    @consumer
    def on_order_placed(self, event: OrderPlaced) -> None:
        print(f"billing: charge order {event.order_id} ({type(event).__name__})")

    @consumer
    def on_refund(self, command: RefundRequested | RefundApproved, context: MessageContext) -> None:
        print(
            f"billing: {type(command).__name__} for order {command.order_id} from "
            f"{context.queue_name!r}, receive {context.receive_count}, "
            f"attributes {dict(context.attributes)}"
        )


types = [OrderPlaced, ExpressOrderPlaced, RefundRequested, RefundApproved, NewsletterSent]
registry = SerializerRegistry(
    {
        "serializers": {"typed_json": TypedJsonSerializer},
        "serializer_bindings": {t: "typed_json" for t in types},
    }
)
backend = InMemoryBackend()
backend.declare_queue("billing", dead_letter_queue="billing-dlq")
publisher = QueuePublisher(registry, backend)
publisher.publish("billing", OrderPlaced(1))
publisher.publish("billing", ExpressOrderPlaced(2, courier="bike"))
publisher.publish("billing", RefundRequested(1), attributes={"channel": "support"})
publisher.publish("billing", RefundApproved(1))
publisher.publish("billing", NewsletterSent(12))

billing = MessageDispatcher(registry, backend, consumers=[BillingConsumer()])
print(billing.process_available("billing"), "received;", billing.stats)


class DeadLetters(Consumer):
    @consumer
    def on_any(self, message: object, context: MessageContext) -> None:  # every type
        print(f"billing-dlq: {message}, because {context.attributes['melange_error']}")


MessageDispatcher(registry, backend, consumers=[DeadLetters()]).process_available("billing-dlq")
