from melange import Consumer, Subscription, consumer
from melange.app.topology import derive_topology
from melange.exceptions import DeclarationError, SubscriptionConflictError

try:

    class ShippingConsumer(Consumer):
        subscription = Subscription("shipping", filter_policy={"region": ["eu"]})

except DeclarationError as exc:
    print(f"DeclarationError: {exc}")


class Payments(Consumer):
    subscription = Subscription("payments", dead_letter_queue="payments-dlq")

    @consumer
    def on_order(self, order: dict[str, int]) -> None: ...


class PaymentsAudit(Consumer):
    subscription = Subscription("payments", dead_letter_queue="audit-dlq")

    @consumer
    def on_order(self, order: dict[str, int]) -> None: ...


try:
    derive_topology([Payments(), PaymentsAudit()])
except SubscriptionConflictError as exc:
    print(f"SubscriptionConflictError: {exc}")
    print(f"  queue {exc.queue!r}, field {exc.field!r}, values {exc.values!r}")
