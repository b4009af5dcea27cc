"""The copy of a message sent to a dead-letter queue: its original bytes plus why it was moved.

Pure functions; the settler sends what ``dead_letter_copy`` returns. The rules, which
the docs' wire-format page states for redrive tools ("Unreadable messages on the dead-letter
queue"):

1. The copy has the original body and attributes plus a String attribute
   ``melange_error``: the reason, at most 1,024 characters, with characters SQS refuses
   replaced by ``?``. A ``melange_error`` the message already had is replaced.
2. Near SQS's size limit the reason is shortened to fit, never below its error class name
   (the text before the first colon).
3. When the original already has ten attributes (SQS allows no more), its smallest one
   moves into ``melange_error``, which then holds a JSON object
   ``{"reason": ..., "attribute": {"name": ..., "type": ..., "value": ...}}`` (a Binary
   value in base64); ``original_attributes`` puts it back, ``dead_letter_reason`` reads the
   reason out of either form.
4. When not even the class name fits beside the original, the body's end is cut to make
   room, and the reason says how many bytes were cut.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping

import attrs

from melange.limits import MAX_ATTRIBUTES, SQS_MAX_MESSAGE_BYTES
from melange.messages import AttributeValue
from melange.wire import message_size, printable

__all__ = [
    "ERROR_ATTRIBUTE",
    "MAX_REASON_CHARACTERS",
    "DeadLetterCopy",
    "dead_letter_copy",
    "dead_letter_reason",
    "original_attributes",
]

#: The attribute a dead-lettered message carries, saying why it was moved.
ERROR_ATTRIBUTE = "melange_error"
#: The longest reason a copy carries.
MAX_REASON_CHARACTERS = 1024
_ERROR_TYPE = "String"
_FOLDED_START = '{"reason": '
#: The shortest part of a reason that identifies it (a class name, not a whole sentence).
_MAX_CLASS_NAME = 100


@attrs.frozen
class DeadLetterCopy:
    """The body and attributes to send to the dead-letter queue."""

    body: str
    attributes: dict[str, AttributeValue]


def dead_letter_copy(
    body: str,
    attributes: Mapping[str, AttributeValue],
    reason: str,
    *,
    limit: int = SQS_MAX_MESSAGE_BYTES,
) -> DeadLetterCopy:
    """Return the copy of a message that carries ``reason`` and fits within ``limit`` bytes."""
    text = printable(reason)[:MAX_REASON_CHARACTERS] or "unreadable"
    kept = original_attributes(attributes)
    folded: dict[str, str] | None = None
    if len(kept) >= MAX_ATTRIBUTES:
        smallest = min(kept, key=lambda name: (message_size("", {name: kept[name]}), name))
        folded = _describe(smallest, kept.pop(smallest))

    def render(reason_text: str) -> str:
        if folded is None:
            return reason_text
        return json.dumps({"reason": reason_text, "attribute": folded}, ensure_ascii=False)

    room = limit - message_size("", kept) - len(ERROR_ATTRIBUTE) - len(_ERROR_TYPE)
    floor = len(_class_name(text))
    fitted = _shorten(text, floor, room - len(body.encode()), render)
    if fitted is not None:
        return DeadLetterCopy(body, {**kept, ERROR_ATTRIBUTE: render(fitted)})
    cut_body, value = _cut_body(body, text[:floor], room, render)
    return DeadLetterCopy(cut_body, {**kept, ERROR_ATTRIBUTE: value})


def original_attributes(attributes: Mapping[str, AttributeValue]) -> dict[str, AttributeValue]:
    """Return a dead-lettered copy's attributes as the original had them.

    Drops ``melange_error`` and puts back the attribute folded into it, if any. Attributes
    of a message that was never dead-lettered come back unchanged.
    """
    result = {name: value for name, value in attributes.items() if name != ERROR_ATTRIBUTE}
    error = attributes.get(ERROR_ATTRIBUTE)
    if isinstance(error, str) and error.startswith(_FOLDED_START):
        folded = json.loads(error)["attribute"]
        result[folded["name"]] = _restore(folded["type"], folded["value"])
    return result


def dead_letter_reason(attributes: Mapping[str, AttributeValue]) -> str | None:
    """Return the reason a dead-lettered copy's ``melange_error`` states, in either form.

    ``None`` when it has none: the broker's redrive policy moved it, not melange.
    """
    value = attributes.get(ERROR_ATTRIBUTE)
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    if text.startswith(_FOLDED_START):  # an attribute folded in (rule 3)
        try:
            return str(json.loads(text)["reason"])
        except (ValueError, KeyError, TypeError):
            return text
    return text


def _class_name(text: str) -> str:
    head, colon, _ = text.partition(":")
    return (head if colon else text)[:_MAX_CLASS_NAME]


def _shorten(text: str, floor: int, room: int, render: Callable[[str], str]) -> str | None:
    """Return the longest start of ``text`` (at least ``floor`` characters) that fits."""
    candidate = text
    while True:
        excess = len(render(candidate).encode()) - room
        if excess <= 0:
            return candidate
        if len(candidate) <= floor:
            return None
        # Each character is at least one byte, so dropping ``excess`` of them is never short.
        candidate = candidate[: max(floor, len(candidate) - excess)]


def _cut_body(
    body: str, class_name: str, room: int, render: Callable[[str], str]
) -> tuple[str, str]:
    """Cut the body's end until it fits beside the class name and a note of the cut."""
    encoded = body.encode()
    cut = 0
    while True:
        value = render(f"{class_name} [the body's last {cut} bytes were cut to make room]")
        missing = max(0, len(encoded) - cut + len(value.encode()) - room)
        # Decoding drops a character split by the cut, which can make the cut longer.
        kept = encoded[: max(0, len(encoded) - cut - missing)].decode("utf-8", errors="ignore")
        actual = len(encoded) - len(kept.encode())
        if actual == cut:
            return kept, value
        cut = actual


def _describe(name: str, value: AttributeValue) -> dict[str, str]:
    if isinstance(value, bytes):
        return {"name": name, "type": "Binary", "value": base64.b64encode(value).decode()}
    if isinstance(value, str):
        return {"name": name, "type": "String", "value": value}
    return {
        "name": name,
        "type": "Number",
        "value": repr(value) if isinstance(value, float) else str(value),
    }


def _restore(data_type: str, text: str) -> AttributeValue:
    if data_type == "Binary":
        return base64.b64decode(text)
    if data_type == "Number":
        try:
            return int(text)
        except ValueError:
            return float(text)
    return text
