"""Declare the queue and topic the documentation's publishing snippets send to.

``melangetutorial-queue`` receives direct publishes and, being subscribed to
``melangetutorial-topic``, every message published to the topic too. Run it once against
the emulator (``docker compose up -d``) before the snippets; it is idempotent.
"""

import os

from melange.backends import LocalSQSBackend

QUEUE = "melangetutorial-queue"
TOPIC = "melangetutorial-topic"


def main() -> None:
    backend = LocalSQSBackend(host=os.environ.get("MELANGE_ENDPOINT_URL", "localhost"), port=9324)
    backend.declare_queue(QUEUE, dead_letter_queue=f"{QUEUE}-dlq", topics=[TOPIC])
    print(f"Declared queue {QUEUE!r} subscribed to topic {TOPIC!r}")
    backend.close()


if __name__ == "__main__":
    main()
