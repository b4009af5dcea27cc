"""Place three orders of the orders example; the last is over the card limit.

Run from the repository root with the worker's settings (``MELANGE_*``):
``python -m docs.snippets.operations.place_orders``. The third order's payment fails on
every receive, so it ends on ``payments-dlq``.
"""

from decimal import Decimal

from examples.orders.app import graph
from examples.orders.service import OrderService

ORDERS = [("ada", "42.50", "eu"), ("bob", "17.25", "us"), ("eve", "2500", "eu")]

orders = graph().provide(OrderService)
for customer, total, region in ORDERS:
    order = orders.place(customer, Decimal(total), region)
    print(f"placed {order.order_id} for {customer}: {total} ({region})")
