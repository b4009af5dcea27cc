"""The documentation's "Publishing to a topic" snippet, as written there.

Two differences: the endpoint is read from MELANGE_ENDPOINT_URL (default: the
compose.yaml emulator on localhost:9324), and the registry comes from
``examples.shared`` rather than ``melange.examples.shared``. Declare the topic first
with ``python -m examples.declare_tutorial``.
"""

import os

from examples.shared import serializer_registry
from melange import TopicPublisher
from melange.backends import LocalSQSBackend
from melange.serializers import PickleSerializer


class MyTestMessage:
    def __init__(self, message: str) -> None:
        self.message = message


if __name__ == "__main__":
    backend = LocalSQSBackend(host=os.environ.get("MELANGE_ENDPOINT_URL", "localhost"), port=9324)
    serializer = PickleSerializer()
    publisher = TopicPublisher(serializer_registry, backend)
    message = MyTestMessage("Hello World!")
    publisher.publish("melangetutorial-topic", message)
    print("Message sent successfully!")
