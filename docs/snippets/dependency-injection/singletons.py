from examples.orders.app import graph
from examples.orders.consumers import EuShippingConsumer, PaymentConsumer
from examples.orders.partners import Warehouse
from examples.orders.service import OrderService
from melange import TopicPublisher

objects = graph()
service = objects.provide(OrderService)
payments = objects.provide(PaymentConsumer)
shipping = objects.provide(EuShippingConsumer)

# melange's objects: one per graph, whoever asks, by argument name or by type.
assert service.topic_publisher is payments.topic_publisher
assert service.topic_publisher is objects.provide(TopicPublisher)

# Your classes: one per graph when injected by name...
assert shipping.warehouse is objects.provide(EuShippingConsumer).warehouse
# ...but provide(YourClass) builds a new one each time.
assert objects.provide(Warehouse) is not shipping.warehouse
print("one topic publisher, one warehouse")
