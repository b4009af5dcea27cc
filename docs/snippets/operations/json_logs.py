"""melange's log lines as JSON objects, one a line, with the fields of the message they are about.

``use_json_logs()`` formats every handler of the root logger; call it from the graph
function the CLI loads (the CLI has set up logging by then), or once at start-up.
``python -m docs.snippets.operations.json_logs`` shows the lines of a failing handler.
"""

import json
import logging

from melange import Backoff, Consumer, MessageDispatcher, QueuePublisher
from melange.backends import InMemoryBackend
from melange.serializers import JsonSerializer, SerializerRegistry

#: The fields melange sets on a record about a message (``extra=``); ``reason`` only on the
#: ERROR line of a dead letter, ``dead_letter_queue`` when it was moved there.
FIELDS = (
    "queue",
    "message_id",
    "broker_message_id",
    "receive_count",
    "reason",
    "dead_letter_queue",
)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **{name: getattr(record, name) for name in FIELDS if hasattr(record, name)},
        }
        if record.exc_info and record.exc_info[1] is not None:
            line["error"] = repr(record.exc_info[1])  # self.formatException(...) for the traceback
        return json.dumps(line)


def use_json_logs(level: int = logging.INFO) -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=level)
    for handler in root.handlers:
        handler.setFormatter(JsonFormatter())


def fail(order: dict[str, int]) -> None:
    raise ValueError(f"order {order['id']} cannot be paid")


if __name__ == "__main__":
    use_json_logs(logging.WARNING)
    registry = SerializerRegistry({"serializers": {"json": JsonSerializer}})
    backend = InMemoryBackend()
    backend.declare_queue("payments", dead_letter_queue="payments-dlq", max_receive_count=2)
    QueuePublisher(registry, backend).publish("payments", {"id": 42})
    dispatcher = MessageDispatcher(
        registry, backend, consumers=[Consumer(fail)], backoff=Backoff(base=0)
    )
    while dispatcher.process_available("payments"):
        pass
