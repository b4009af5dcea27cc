import threading
import time

from melange import (
    Backoff,
    Consumer,
    DispatcherOptions,
    MessageContext,
    MessageDispatcher,
    QueuePublisher,
    ReceivedMessage,
    consumer,
)
from melange.backends import InMemoryBackend
from melange.serializers import JsonSerializer, SerializerRegistry

CARD_LIMIT = 1000


class PaymentDeclinedError(Exception):
    pass


class PaymentConsumer(Consumer):
    def __init__(self) -> None:
        super().__init__()  # required: it collects the @consumer handlers
        self.charged: list[int] = []
        self._lock = threading.Lock()  # handlers run in several threads

    @consumer
    def on_order(self, order: dict[str, int], context: MessageContext) -> None:
        if order["total"] > CARD_LIMIT:
            raise PaymentDeclinedError(f"{order['total']} is over the card limit {CARD_LIMIT}")
        with self._lock:
            self.charged.append(order["order_id"])


failures: list[int] = []
succeeded: list[object] = []


def on_exception(exc: BaseException, message: object, received: ReceivedMessage) -> None:
    failures.append(received.receive_count)  # e.g. report to an error tracker


def after_consume(message: object, received: ReceivedMessage) -> None:
    succeeded.append(message)  # e.g. count a business metric


registry = SerializerRegistry({"serializers": {"json": JsonSerializer}})
backend = InMemoryBackend()
backend.declare_queue("payments", dead_letter_queue="payments-dlq", max_receive_count=3)
publisher = QueuePublisher(registry, backend)
publisher.publish_many("payments", [{"order_id": n, "total": n * 100} for n in range(1, 11)])
publisher.publish("payments", {"order_id": 11, "total": 5000})  # declined on every receive

options = DispatcherOptions(
    workers=4,  # handlers running at once, each in a thread of its own
    wait_time_seconds=1,  # long poll; stop() may wait this long for a receive to return
    visibility_timeout=60,  # extended by the heartbeat while a handler runs longer than 30 s
    backoff=Backoff(base=0.0),  # retry at once, for the example (default: 1 s doubling to 300)
)
payments = PaymentConsumer()
dispatcher = MessageDispatcher(
    registry,
    backend,
    consumers=[payments],
    options=options,
    on_exception=on_exception,
    after_consume=after_consume,
)
running = dispatcher.start("payments")  # consumes in a thread; dispatcher.run() blocks instead
deadline = time.monotonic() + 30
while (len(succeeded) < 10 or dispatcher.stats.dead_lettered < 1) and time.monotonic() < deadline:
    time.sleep(0.05)
dispatcher.stop()  # no more receives; running handlers finish and are acknowledged
running.wait()

print(f"charged {len(payments.charged)}, after_consume saw {len(succeeded)}")
print(f"on_exception saw the declined order's receives {sorted(failures)}")
print(dispatcher.stats)
