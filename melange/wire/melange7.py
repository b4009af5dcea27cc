"""What melange 7.x consumers can read, checked before publishing when a fleet still runs them.

melange 7.2 knows serializer identifiers 1 (json) and 2 (pickle) only, and subscribes its
queues to topics with raw delivery off, reading a notification's ``Message`` as the
content. Topic content that melange 8 escapes (``wire.needs_escape``) would reach it
still wrapped, as a different object. the docs' wire-format page has the whole table.
"""

from __future__ import annotations

from melange import wire
from melange.exceptions import NotReadableByMelange7Error
from melange.messages import Envelope

__all__ = ["MELANGE7_SERIALIZER_IDS", "check_readable_by_melange7"]

#: The serializer identifiers melange 7.x registries know: 1 json, 2 pickle.
MELANGE7_SERIALIZER_IDS = frozenset({1, 2})

_TURN_OFF = (
    "or, once no melange 7.x consumer is left, turn off readable_by_melange7 "
    "(MELANGE_READABLE_BY_MELANGE7)"
)


def check_readable_by_melange7(destination: str, envelope: Envelope, *, topic: bool) -> None:
    """Raise ``NotReadableByMelange7Error`` for a message a melange 7.x consumer cannot read.

    Args:
        destination: the queue or topic the message is for (named in the error).
        envelope: the serialized message.
        topic: whether it goes to a topic, whose content 7.x reads from notifications.
    """
    if envelope.serializer_id not in MELANGE7_SERIALIZER_IDS:
        raise NotReadableByMelange7Error(
            f"message of type {envelope.manifest!r} for {destination!r} is written by "
            f"serializer_id {envelope.serializer_id!r}, which melange 7.x consumers do not "
            "know (they have 1, json, and 2, pickle; 3 fails with 'Serializer with ID 3 not "
            "found' and the message is retried until the dead-letter queue); bind the type "
            f"to 'json' or 'pickle', {_TURN_OFF}",
            destination=destination,
            serializer_id=envelope.serializer_id,
            manifest=envelope.manifest,
        )
    if topic and wire.needs_escape(envelope.content):
        raise NotReadableByMelange7Error(
            f"message of type {envelope.manifest!r} for topic {destination!r} is a JSON "
            "object with a 'Message' key, which melange 8 sends wrapped as "
            '{"Message": <content>} so that raw deliveries read it back; melange 7.x '
            "consumers would read the wrapper instead of the object; rename the key, "
            f"publish to the consumers' queue instead of the topic, {_TURN_OFF}",
            destination=destination,
            serializer_id=envelope.serializer_id,
            manifest=envelope.manifest,
        )
