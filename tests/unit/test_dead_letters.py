"""The dead-letter copy: the reason always travels, and the original can be restored."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from melange import limits, wire
from melange.consuming.dead_letters import (
    ERROR_ATTRIBUTE,
    dead_letter_copy,
    dead_letter_reason,
    original_attributes,
)
from melange.messages import AttributeValue

REASON = "SerializerNotFoundError: no serializer has identifier 99; " + "details " * 200
TEN: dict[str, AttributeValue] = {f"a{n}": f"value {n}" for n in range(7)}
TEN |= {"message_id": "5f0c", "manifest": "json", "serializer_id": 99}


def test_the_reason_is_added_as_text_cut_to_1024_characters() -> None:
    """A small message gets melange_error with the reason's first 1,024 characters."""
    copy = dead_letter_copy("body", {"manifest": "json"}, REASON)
    assert copy.body == "body"
    assert copy.attributes == {"manifest": "json", ERROR_ATTRIBUTE: REASON[:1024]}


def test_characters_sqs_refuses_are_replaced_in_the_reason() -> None:
    """A reason quoting a control character still travels, with the character replaced."""
    copy = dead_letter_copy("body", {}, "DeserializationError: bad \x00 byte")
    assert copy.attributes[ERROR_ATTRIBUTE] == "DeserializationError: bad ? byte"


def test_near_the_size_limit_the_reason_is_shortened_to_fit() -> None:
    """Within 1 KiB of 1 MiB the reason is shortened so the copy fits, body untouched."""
    body = "x" * (limits.SQS_MAX_MESSAGE_BYTES - 300)
    copy = dead_letter_copy(body, {"serializer_id": 99}, REASON)
    reason = str(copy.attributes[ERROR_ATTRIBUTE])
    assert copy.body == body
    assert REASON.startswith(reason)
    assert len(reason) > len("SerializerNotFoundError")
    assert wire.message_size(copy.body, copy.attributes) == limits.SQS_MAX_MESSAGE_BYTES


def test_at_the_size_limit_the_body_is_cut_to_keep_the_error_class() -> None:
    """A message already at 1 MiB keeps the error class name; the body's end makes room."""
    body = "é" * (limits.SQS_MAX_MESSAGE_BYTES // 2)
    copy = dead_letter_copy(body, {}, REASON)
    reason = str(copy.attributes[ERROR_ATTRIBUTE])
    assert reason.startswith("SerializerNotFoundError [the body's last ")
    assert body.startswith(copy.body)
    cut = len(body.encode()) - len(copy.body.encode())
    assert f"last {cut} bytes were cut" in reason
    assert wire.message_size(copy.body, copy.attributes) <= limits.SQS_MAX_MESSAGE_BYTES


def test_ten_attributes_fold_the_smallest_into_the_reason() -> None:
    """With ten attributes, the smallest moves into melange_error, which restores it."""
    copy = dead_letter_copy("body", TEN, REASON)
    assert len(copy.attributes) == limits.MAX_ATTRIBUTES
    assert "a0" not in copy.attributes  # 15 bytes counted: name, type and value
    folded = json.loads(str(copy.attributes[ERROR_ATTRIBUTE]))
    assert folded["reason"] == REASON[:1024]
    assert folded["attribute"] == {"name": "a0", "type": "String", "value": "value 0"}
    assert original_attributes(copy.attributes) == TEN


def test_a_second_dead_lettering_replaces_the_earlier_reason() -> None:
    """A message that carries melange_error already gets the new reason in its place."""
    first = dead_letter_copy("body", TEN, "DeserializationError: first")
    second = dead_letter_copy(first.body, original_attributes(first.attributes), REASON)
    assert original_attributes(second.attributes) == TEN
    assert json.loads(str(second.attributes[ERROR_ATTRIBUTE]))["reason"] == REASON[:1024]


attribute_values = st.one_of(
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1).map(
        wire.printable
    ),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.binary(min_size=1),
)


@given(
    attributes=st.dictionaries(
        st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True).filter(
            lambda name: name != ERROR_ATTRIBUTE
        ),
        attribute_values,
        max_size=limits.MAX_ATTRIBUTES,
    ),
    slack=st.integers(min_value=0, max_value=3000),
    reason=st.text(min_size=1, max_size=2000),
)
def test_every_copy_fits_carries_a_reason_and_restores_the_attributes(
    attributes: dict[str, AttributeValue], slack: int, reason: str
) -> None:
    """Whatever the attributes and size, the copy fits, has a reason, restores the attributes."""
    size = wire.message_size("", attributes)
    body = "b" * max(0, limits.SQS_MAX_MESSAGE_BYTES - size - slack)
    copy = dead_letter_copy(body, attributes, f"ValueError: {reason}")
    assert wire.message_size(copy.body, copy.attributes) <= limits.SQS_MAX_MESSAGE_BYTES
    assert len(copy.attributes) <= limits.MAX_ATTRIBUTES
    assert str(copy.attributes[ERROR_ATTRIBUTE])
    assert original_attributes(copy.attributes) == attributes
    assert body.startswith(copy.body)


@pytest.mark.parametrize("reason", ["", "no colon at all in this reason"])
def test_a_reason_without_class_name_is_kept_as_given(reason: str) -> None:
    """A reason without 'Class:' travels whole when it fits (or 'unreadable' when empty)."""
    copy = dead_letter_copy("body", {}, reason)
    assert copy.attributes[ERROR_ATTRIBUTE] == (reason or "unreadable")


@pytest.mark.parametrize("number", [1.5, 2.0, 1e20, -0.25])
def test_a_folded_float_attribute_is_restored_as_the_same_float(number: float) -> None:
    """A Number attribute that is a float, folded into the reason, comes back as that float."""
    attributes: dict[str, AttributeValue] = {
        "a": number,
        **{k: v for k, v in TEN.items() if k != "a0"},
    }
    copy = dead_letter_copy("body", attributes, REASON)
    assert "a" not in copy.attributes  # the smallest attribute went into the reason
    restored = original_attributes(copy.attributes)["a"]
    assert restored == number
    assert type(restored) is float


def test_the_reason_is_read_back_from_either_form() -> None:
    """dead_letter_reason reads plain melange_error and its JSON form (ten attributes) alike."""
    folded = json.dumps(
        {"reason": "KeyError: x", "attribute": {"name": "a", "type": "String", "value": "v"}}
    )

    assert dead_letter_reason({ERROR_ATTRIBUTE: folded}) == "KeyError: x"
    assert dead_letter_reason({ERROR_ATTRIBUTE: "plain reason"}) == "plain reason"
    assert dead_letter_reason({}) is None
