"""MelangeBindingSpec(serializers=...) adds serializers beside the built-ins, never over them."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from bindings import MelangeBindingSpec
from melange.exceptions import ConfigurationError
from melange.serializers import JsonSerializer, Serializer


class ShoutingSerializer(Serializer):
    """Writes text in upper case."""

    identifier: ClassVar[int] = 42

    def serialize(self, data: Any) -> str:
        """Return the text in upper case."""
        return str(data).upper()

    def deserialize(self, data: str, manifest: str | None = None) -> Any:
        """Return the text."""
        return data


class LoudJsonSerializer(JsonSerializer):
    """A JSON variant that keeps the built-in JSON's identifier."""


class QuietJsonSerializer(JsonSerializer):
    """A JSON variant with an identifier of its own."""

    identifier: ClassVar[int] = 43


@pytest.mark.parametrize(
    ("name", "extra"),
    [("json", QuietJsonSerializer), ("pickle", ShoutingSerializer()), ("typed_json", Serializer)],
    ids=["json", "pickle-instance", "typed_json"],
)
def test_an_extra_serializer_named_like_a_built_in_is_refused(name: str, extra: Any) -> None:
    """An extra serializer under a built-in's name raises ConfigurationError naming both."""
    with pytest.raises(ConfigurationError) as caught:
        MelangeBindingSpec(serializers={name: extra})

    message = str(caught.value)
    assert f"extra serializer {name!r}" in message
    assert f"built-in serializer {name!r}" in message


def test_an_extra_serializer_with_a_built_in_identifier_is_refused() -> None:
    """An extra serializer reusing identifier 1 raises ConfigurationError naming both."""
    with pytest.raises(ConfigurationError) as caught:
        MelangeBindingSpec(serializers={"loud_json": LoudJsonSerializer})

    message = str(caught.value)
    assert "extra serializer 'loud_json' (LoudJsonSerializer)" in message
    assert "identifier 1" in message
    assert "built-in serializer 'json' (JsonSerializer)" in message
