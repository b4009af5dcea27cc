from decimal import Decimal

from examples.orders import graph
from examples.orders.service import OrderService

# A graph of its own, from the same settings as the worker's (MELANGE_ENV=local).
orders = graph().provide(OrderService)
for customer, total, region in [
    ("alice", Decimal("42.50"), "eu"),
    ("bob", Decimal("17.25"), "us"),
    ("carol", Decimal("2500.00"), "eu"),  # over the card limit: declined on every receive
]:
    order = orders.place(customer, total, region)
    print(f"placed order {order.order_id} for {customer} ({region})")
