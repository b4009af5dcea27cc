"""Unit tests for the JSON, pickle and typed JSON serializers."""

from __future__ import annotations

import base64
import dataclasses
import enum
import traceback
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from melange.exceptions import DeserializationError, PickleNotAllowedError, SerializationError
from melange.serializers import JsonSerializer, PickleSerializer, TypedJsonSerializer

# --- strategies --------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)

# Fixed UTC offsets: zoneinfo zones compare unequal across zones inside a DST fold (PEP 495),
# which is a property of datetime, not of the serializer.
fixed_offsets = st.builds(
    timezone,
    st.integers(min_value=-23 * 60 + 1, max_value=23 * 60 - 1).map(lambda m: timedelta(minutes=m)),
)
aware_datetimes = st.datetimes(timezones=fixed_offsets)
naive_datetimes = st.datetimes()


class Status(enum.Enum):
    PLACED = "placed"
    SHIPPED = "shipped"


class Priority(enum.IntEnum):
    LOW = 1
    HIGH = 2


@attrs.frozen
class LineItem:
    sku: str
    quantity: int
    price: float


@attrs.frozen
class Order:
    order_id: uuid.UUID
    total: Decimal
    status: Status
    placed_at: datetime
    recorded_at: datetime
    lines: list[LineItem]
    tags: dict[str, int]
    note: str | None = None


@dataclasses.dataclass
class Address:
    street: str
    zip_code: str | None


@dataclasses.dataclass
class Shipment:
    tracking_id: uuid.UUID
    priority: Priority
    shipped_at: datetime
    addresses: list[Address]
    weights: dict[str, float]
    order: Order | None = None


class NotARecord:
    pass


def _write_marker(path: str) -> None:
    Path(path).write_text("pwned")


@attrs.frozen
class Exploit:
    """Unpickling this object calls ``_write_marker(marker)``."""

    marker: str

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return _write_marker, (self.marker,)


finite_floats = st.floats(allow_nan=False, allow_infinity=False)
line_items = st.builds(LineItem, st.text(), st.integers(), finite_floats)
orders = st.builds(
    Order,
    order_id=st.uuids(),
    total=st.decimals(allow_nan=False, allow_infinity=False),
    status=st.sampled_from(Status),
    placed_at=aware_datetimes,
    recorded_at=naive_datetimes,
    lines=st.lists(line_items, max_size=3),
    tags=st.dictionaries(st.text(), st.integers(), max_size=3),
    note=st.none() | st.text(),
)
shipments = st.builds(
    Shipment,
    tracking_id=st.uuids(),
    priority=st.sampled_from(Priority),
    shipped_at=aware_datetimes | naive_datetimes,
    addresses=st.lists(st.builds(Address, st.text(), st.none() | st.text()), max_size=3),
    weights=st.dictionaries(st.text(), finite_floats, max_size=3),
    order=st.none() | orders,
)
picklables = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | finite_floats
    | st.text()
    | st.binary()
    | st.complex_numbers(allow_nan=False)
    | st.datetimes()
    | orders,
    lambda children: (
        st.lists(children)
        | st.tuples(children, children)
        | st.frozensets(st.integers())
        | st.dictionaries(st.text() | st.integers(), children)
    ),
    max_leaves=10,
)


@pytest.fixture(name="unpickling_serializer")
def fixture_unpickling_serializer() -> PickleSerializer:
    """A pickle serializer that the application allowed to unpickle."""
    return PickleSerializer(allow_unpickling=True)


# --- JsonSerializer ----------------------------------------------------------------------


@given(json_values)
def test_json_round_trips_json_values(value: Any) -> None:
    """JsonSerializer gives back every JSON value it serialized."""
    serializer = JsonSerializer()

    text = serializer.serialize(value)

    assert serializer.deserialize(text, serializer.manifest(value)) == value


def test_json_rejects_invalid_json() -> None:
    """JsonSerializer refuses content that is not JSON with a DeserializationError."""
    with pytest.raises(DeserializationError, match="not valid JSON") as info:
        JsonSerializer().deserialize("{'single': quotes}", "json")
    assert info.value.manifest == "json"


@pytest.mark.parametrize("value", [{1, 2}, object(), {"when": datetime(2024, 1, 1)}])
def test_json_refuses_unserializable_values_naming_the_type(value: Any) -> None:
    """JsonSerializer raises SerializationError naming the type for non-JSON values."""
    with pytest.raises(SerializationError, match=type(value).__qualname__):
        JsonSerializer().serialize(value)


def test_json_refuses_nan() -> None:
    """JsonSerializer refuses NaN, which is not valid JSON."""
    with pytest.raises(SerializationError, match="float"):
        JsonSerializer().serialize(float("nan"))


# --- PickleSerializer --------------------------------------------------------------------


@given(picklables)
def test_pickle_round_trips_picklable_objects(value: Any) -> None:
    """PickleSerializer allowed to unpickle gives back every picklable object."""
    serializer = PickleSerializer(allow_unpickling=True)

    text = serializer.serialize(value)

    assert serializer.deserialize(text, serializer.manifest(value)) == value


def test_pickle_refuses_to_unpickle_by_default() -> None:
    """PickleSerializer() raises PickleNotAllowedError instead of unpickling."""
    text = PickleSerializer().serialize({"a": 1})

    with pytest.raises(PickleNotAllowedError, match="allow_unpickling=True") as info:
        PickleSerializer().deserialize(text, "dict")
    assert info.value.manifest == "dict"
    assert isinstance(info.value, DeserializationError)


def test_malicious_pickle_is_not_executed_by_default(
    tmp_path: Path, unpickling_serializer: PickleSerializer
) -> None:
    """A payload whose unpickling writes a file does not run unless unpickling is allowed."""
    marker = tmp_path / "marker"
    payload = PickleSerializer().serialize(Exploit(str(marker)))

    with pytest.raises(PickleNotAllowedError):
        PickleSerializer().deserialize(payload, "Exploit")
    assert not marker.exists()

    # The payload is armed: an application that opted in does run it.
    unpickling_serializer.deserialize(payload, "Exploit")
    assert marker.read_text() == "pwned"


@pytest.mark.parametrize(
    "content",
    [
        PickleSerializer().serialize({"a": [1, 2, 3]})[:-8],
        base64.b64encode(base64.b64decode(PickleSerializer().serialize("hello"))[:-3]).decode(),
        "",
        "not a pickle at all",
    ],
    ids=["truncated-base64", "truncated-pickle", "empty", "garbage"],
)
def test_pickle_rejects_corrupt_content(
    content: str, unpickling_serializer: PickleSerializer
) -> None:
    """Corrupt or truncated pickle content raises DeserializationError naming the manifest."""
    with pytest.raises(DeserializationError, match="'dict'") as info:
        unpickling_serializer.deserialize(content, "dict")
    assert not isinstance(info.value, PickleNotAllowedError)


def test_pickle_refuses_unpicklable_values() -> None:
    """PickleSerializer raises SerializationError for an object pickle cannot write."""
    with pytest.raises(SerializationError, match="function"):
        PickleSerializer().serialize(lambda: None)


# --- TypedJsonSerializer -----------------------------------------------------------------


@given(orders)
def test_typed_json_round_trips_attrs_classes(order: Order) -> None:
    """TypedJsonSerializer rebuilds nested attrs classes with UUIDs, Decimals, datetimes, enums."""
    serializer = TypedJsonSerializer()

    text = serializer.serialize(order)
    rebuilt = serializer.deserialize(text, serializer.manifest(order))

    assert type(rebuilt) is Order
    assert rebuilt == order
    assert rebuilt.placed_at.utcoffset() == order.placed_at.utcoffset()
    assert rebuilt.recorded_at.tzinfo is None


@given(shipments)
def test_typed_json_round_trips_dataclasses(shipment: Shipment) -> None:
    """TypedJsonSerializer rebuilds nested dataclasses with UUIDs, IntEnums and an attrs field."""
    serializer = TypedJsonSerializer()

    text = serializer.serialize(shipment)
    rebuilt = serializer.deserialize(text, serializer.manifest(shipment))

    assert type(rebuilt) is Shipment
    assert rebuilt == shipment
    assert rebuilt.shipped_at.utcoffset() == shipment.shipped_at.utcoffset()


def test_typed_json_manifest_is_module_and_qualified_name() -> None:
    """The manifest names the module and qualified name of the class."""
    manifest = TypedJsonSerializer().manifest(LineItem("a", 1, 1.0))

    assert manifest == f"{__name__}:LineItem"


def test_typed_json_rebuilds_classes_passed_at_construction() -> None:
    """A fresh TypedJsonSerializer given the class rebuilds content another instance wrote."""
    line = LineItem("sku-1", 2, 9.5)
    text = TypedJsonSerializer().serialize(line)

    rebuilt = TypedJsonSerializer(types=[LineItem]).deserialize(text, f"{__name__}:LineItem")

    assert rebuilt == line


@pytest.mark.parametrize("manifest", ["os:system", None, "tests.unit.test_serializers:Order"])
def test_typed_json_unknown_manifest_is_named_in_the_error(manifest: str | None) -> None:
    """A manifest the serializer does not know raises DeserializationError naming it."""
    serializer = TypedJsonSerializer(types=[LineItem])

    with pytest.raises(DeserializationError, match=repr(manifest)) as info:
        serializer.deserialize("{}", manifest)
    assert info.value.manifest == manifest


@pytest.mark.parametrize("content", ["not json", '{"sku": "a"}', '{"sku": 1, "quantity": "x"}'])
def test_typed_json_rejects_content_that_does_not_fit_the_class(content: str) -> None:
    """Content that is not JSON or lacks the class's fields raises DeserializationError."""
    serializer = TypedJsonSerializer(types=[LineItem])
    manifest = f"{__name__}:LineItem"

    with pytest.raises(DeserializationError, match="LineItem") as info:
        serializer.deserialize(content, manifest)
    assert info.value.manifest == manifest


@pytest.mark.parametrize("cls", [NotARecord, dict, int])
def test_typed_json_register_refuses_non_record_classes(cls: type) -> None:
    """Registering a class that is neither attrs nor a dataclass raises SerializationError."""
    with pytest.raises(SerializationError, match=cls.__qualname__):
        TypedJsonSerializer().register(cls)


def test_typed_json_refuses_to_serialize_non_record_objects() -> None:
    """Serializing an object that is not attrs or a dataclass raises SerializationError."""
    with pytest.raises(SerializationError, match="NotARecord"):
        TypedJsonSerializer().serialize(NotARecord())


def test_serializer_identifiers_are_distinct() -> None:
    """The three serializers travel with distinct identifiers 1, 2 and 3."""
    identifiers = [JsonSerializer.identifier, PickleSerializer.identifier]
    assert [*identifiers, TypedJsonSerializer.identifier] == [1, 2, 3]


# --- errors name types and fields, never the values (they end up in logs) -----------------

SECRET = "4111-1111-1111-1111"


class Card:
    """A type no serializer handles, whose repr shows its data as attrs and dataclasses do."""

    def __init__(self, number: str) -> None:
        self.number = number

    def __repr__(self) -> str:
        return f"Card(number={self.number!r})"


@attrs.frozen
class Payment:
    customer: str
    card: Any


def cyclic() -> dict[str, Any]:
    """Return a dict holding the secret and itself."""
    value: dict[str, Any] = {"customer": SECRET}
    value["self"] = value
    return value


def logged(error: BaseException) -> str:
    """Return everything a log line could show of ``error``: str, repr and the traceback."""
    return "\n".join([str(error), repr(error), *traceback.format_exception(error)])


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ({"customer": SECRET, "payment": {"card": Card(SECRET)}}, ["Card", "$.payment.card"]),
        (
            {"customer": SECRET, "lines": [1, {"when": datetime(2024, 1, 1)}]},
            ["datetime", "$.lines[1].when"],
        ),
        ({"customer": SECRET, "by card": {(SECRET,): 1}}, ["tuple", "$['by card']"]),
        ({"customer": SECRET, "ratio": float("nan")}, ["float", "$.ratio"]),
        (cyclic(), ["circular reference"]),
    ],
    ids=["unknown-type", "in-a-list", "non-string-key", "nan", "cycle"],
)
def test_json_serialization_errors_name_type_and_field_but_not_values(
    value: Any, named: list[str]
) -> None:
    """A JSON serialization error names the offending type and field, never a value."""
    with pytest.raises(SerializationError) as info:
        JsonSerializer().serialize(value)
    assert SECRET not in logged(info.value)
    for name in named:
        assert name in str(info.value)


def test_typed_json_serialization_errors_name_type_and_field_but_not_values() -> None:
    """A typed JSON serialization error names the class, the field and its type, not values."""
    with pytest.raises(SerializationError) as info:
        TypedJsonSerializer().serialize(Payment(customer=SECRET, card=Card(SECRET)))
    assert SECRET not in logged(info.value)
    assert "Payment" in str(info.value)
    assert "Card at $.card" in str(info.value)


def test_pickle_serialization_errors_do_not_show_values() -> None:
    """A pickle serialization error names the type and what pickle refused, not the values."""
    with pytest.raises(SerializationError) as info:
        PickleSerializer().serialize({"customer": SECRET, "callback": lambda: None})
    assert SECRET not in logged(info.value)
    assert "dict" in str(info.value)
    assert "lambda" in str(info.value)


@pytest.mark.parametrize(
    ("serializer", "content", "named"),
    [
        (JsonSerializer(), f'{{"card": "{SECRET}", ', ["not valid JSON", "line 1"]),
        (TypedJsonSerializer([LineItem]), f'{{"sku": "{SECRET}"', ["LineItem", "not valid JSON"]),
        (
            TypedJsonSerializer([LineItem]),
            f'{{"sku": "{SECRET}", "quantity": "{SECRET}", "price": 1.0}}',
            ["LineItem", "expected int @ $.quantity"],
        ),
        (
            TypedJsonSerializer([LineItem]),
            f'{{"sku": "{SECRET}", "price": "{SECRET}"}}',
            ["LineItem", "$.quantity", "$.price"],
        ),
        (
            PickleSerializer(allow_unpickling=True),
            base64.b64encode(b"\x80\x04(" + SECRET.encode()).decode(),
            ["not a valid base64 pickle"],
        ),
    ],
    ids=["json", "typed-json-not-json", "typed-json-wrong-type", "typed-json-missing", "pickle"],
)
def test_deserialization_errors_name_type_and_field_but_not_content(
    serializer: JsonSerializer | TypedJsonSerializer | PickleSerializer,
    content: str,
    named: list[str],
) -> None:
    """Content that cannot be read raises an error naming the type and field, not the content."""
    manifest = f"{__name__}:LineItem"
    with pytest.raises(DeserializationError) as info:
        serializer.deserialize(content, manifest)
    assert SECRET not in logged(info.value)
    for name in named:
        assert name in str(info.value)
