"""Unit tests for PydanticSerializer: round-trips, what it refuses, and errors without values."""

from __future__ import annotations

import enum
import subprocess
import sys
import textwrap
import traceback
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Generic, TypeVar

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from melange import Consumer, MessageDispatcher, QueuePublisher, consumer
from melange.backends import InMemoryBackend
from melange.exceptions import (
    DeserializationError,
    SerializationError,
    SerializerConfigurationError,
)
from melange.serializers import (
    JsonSerializer,
    PickleSerializer,
    PydanticSerializer,
    SerializerRegistry,
    TypedJsonSerializer,
)

SECRET = "4111-1111-1111-1111"

# --- models --------------------------------------------------------------------------------


class Status(enum.Enum):
    PLACED = "placed"
    SHIPPED = "shipped"


class Priority(enum.IntEnum):
    LOW = 1
    HIGH = 2


class LineItem(BaseModel):
    sku: str
    quantity: int
    unit_price: Decimal = Field(alias="unitPrice")
    weight: float = 0.0


class Address(BaseModel):
    street: str
    zip_code: str | None = Field(default=None, alias="zipCode")


class Order(BaseModel):
    order_id: uuid.UUID = Field(alias="orderId")
    total: Decimal
    status: Status
    priority: Priority
    placed_at: datetime
    recorded_at: datetime
    lines: list[LineItem]
    tags: dict[str, int]
    shipping: Address | None = None
    note: str | None = None


class Refund(BaseModel):
    amount: Decimal
    card: Any = None

    @field_validator("amount")
    @classmethod
    def positive(cls, amount: Decimal) -> Decimal:
        """Refuse a refund that is not positive, quoting it as validators often do."""
        if amount <= 0:
            raise ValueError(f"refund {amount} is not positive")
        return amount


class StrictOrder(BaseModel):
    model_config = ConfigDict(extra="forbid")

    order_id: int


class OpenOrder(BaseModel):
    model_config = ConfigDict(extra="allow")

    order_id: int


class Receipt(BaseModel):
    """paid_by is written as "paidBy" but read as "paid_by": it would be lost on the way."""

    total: Decimal = Decimal(0)
    paid_by: str = Field(serialization_alias="paidBy")


class Invoice(BaseModel):
    receipts: list[Receipt] | None = None


class CamelOrder(BaseModel):
    """FastAPI's usual shape: camelCase on the wire, snake_case in Python."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    order_id: int
    shipping_address: Address
    coupon_code: str | None = Field(
        default=None,
        serialization_alias="coupon",
        validation_alias=AliasChoices("coupon", "couponCode"),
    )


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    cursor: str | None = None


class NotAModel:
    pass


class Card:
    """A type pydantic cannot write, whose repr shows its data."""

    def __init__(self, number: str) -> None:
        self.number = number

    def __repr__(self) -> str:
        return f"Card(number={self.number!r})"


# --- strategies ----------------------------------------------------------------------------

# Fixed UTC offsets: pydantic reads an offset back as a fixed offset, not a zoneinfo zone.
fixed_offsets = st.builds(
    timezone,
    st.integers(min_value=-23 * 60 + 1, max_value=23 * 60 - 1).map(lambda m: timedelta(minutes=m)),
)
finite_decimals = st.decimals(allow_nan=False, allow_infinity=False)
finite_floats = st.floats(allow_nan=False, allow_infinity=False)

line_items = st.builds(
    lambda sku, quantity, price, weight: LineItem(
        sku=sku, quantity=quantity, unitPrice=price, weight=weight
    ),
    st.text(),
    st.integers(),
    finite_decimals,
    finite_floats,
)
addresses = st.builds(
    lambda street, zip_code: Address(street=street, zipCode=zip_code),
    st.text(),
    st.none() | st.text(),
)
orders = st.builds(
    lambda order_id, total, status, priority, placed_at, recorded_at, lines, tags, ship, note: (
        Order(
            orderId=order_id,
            total=total,
            status=status,
            priority=priority,
            placed_at=placed_at,
            recorded_at=recorded_at,
            lines=lines,
            tags=tags,
            shipping=ship,
            note=note,
        )
    ),
    st.uuids(),
    finite_decimals,
    st.sampled_from(Status),
    st.sampled_from(Priority),
    st.datetimes(timezones=fixed_offsets),
    st.datetimes(),
    st.lists(line_items, max_size=3),
    st.dictionaries(st.text(), st.integers(), max_size=3),
    st.none() | addresses,
    st.none() | st.text(),
)


def logged(error: BaseException) -> str:
    """Return everything a log line could show of ``error``: str, repr and the traceback."""
    return "\n".join([str(error), repr(error), *traceback.format_exception(error)])


def manifest_of(cls: type) -> str:
    """Return the manifest the serializer writes for ``cls``."""
    return f"{cls.__module__}:{cls.__qualname__}"


# --- round-trips ---------------------------------------------------------------------------


@given(orders)
def test_round_trips_nested_models_with_uuids_decimals_datetimes_and_enums(order: Order) -> None:
    """Nested models, model lists, UUIDs, Decimals, datetimes, enums and optionals round-trip."""
    serializer = PydanticSerializer()

    text = serializer.serialize(order)
    rebuilt = serializer.deserialize(text, serializer.manifest(order))

    assert type(rebuilt) is Order
    assert rebuilt == order
    assert rebuilt.placed_at.utcoffset() == order.placed_at.utcoffset()
    assert rebuilt.recorded_at.tzinfo is None
    assert str(rebuilt.total) == str(order.total)  # exact: the same digits and exponent
    assert [str(line.unit_price) for line in rebuilt.lines] == [
        str(line.unit_price) for line in order.lines
    ]


def test_content_is_written_by_alias_and_read_back() -> None:
    """Fields with aliases are written under the alias, so other services read the same JSON."""
    order = Order(
        orderId=uuid.UUID(int=7),
        total=Decimal("10.50"),
        status=Status.SHIPPED,
        priority=Priority.HIGH,
        placed_at=datetime(2024, 5, 1, 12, 30, tzinfo=timezone(timedelta(hours=-3))),
        recorded_at=datetime(2024, 5, 1, 15, 30),
        lines=[LineItem(sku="a", quantity=2, unitPrice=Decimal("5.25"))],
        tags={},
        shipping=Address(street="Main St", zipCode=None),
    )
    serializer = PydanticSerializer()

    text = serializer.serialize(order)

    assert '"orderId":"00000000-0000-0000-0000-000000000007"' in text
    assert '"unitPrice":"5.25"' in text
    assert '"total":"10.50"' in text
    assert '"placed_at":"2024-05-01T12:30:00-03:00"' in text
    assert '"zipCode":null' in text
    assert serializer.deserialize(text, manifest_of(Order)) == order


def test_parametrized_generic_models_round_trip() -> None:
    """A parametrized generic model, Page[LineItem], is its own manifest and round-trips."""
    page = Page[LineItem](items=[LineItem(sku="a", quantity=1, unitPrice=Decimal(1))])
    serializer = PydanticSerializer()

    rebuilt = serializer.deserialize(serializer.serialize(page), serializer.manifest(page))

    assert serializer.manifest(page) == f"{__name__}:Page[LineItem]"
    assert type(rebuilt) is Page[LineItem]
    assert rebuilt == page


def test_manifest_is_module_and_qualified_name() -> None:
    """The manifest names the module and qualified name of the model class."""
    manifest = PydanticSerializer().manifest(Address(street="x"))

    assert manifest == f"{__name__}:Address"


def test_rebuilds_models_passed_at_construction() -> None:
    """A fresh PydanticSerializer given the model rebuilds content another instance wrote."""
    address = Address(street="Main St", zipCode="08001")
    text = PydanticSerializer().serialize(address)

    rebuilt = PydanticSerializer(types=[Address]).deserialize(text, manifest_of(Address))

    assert rebuilt == address
    assert PydanticSerializer(types=[Address]).known_types == (Address,)


def test_fields_a_newer_producer_added_are_ignored_by_default() -> None:
    """With pydantic's default extra='ignore', an older model reads a message with new fields."""
    content = '{"street": "Main St", "zipCode": "08001", "floor": 3}'

    rebuilt = PydanticSerializer([Address]).deserialize(content, manifest_of(Address))

    assert rebuilt == Address(street="Main St", zipCode="08001")


def test_extra_fields_round_trip_when_the_model_allows_them() -> None:
    """A model with extra='allow' gets its extra fields back."""
    order = OpenOrder(order_id=1, channel="web", lines=[1, 2])  # type: ignore[call-arg]
    serializer = PydanticSerializer()

    rebuilt = serializer.deserialize(serializer.serialize(order), manifest_of(OpenOrder))

    assert rebuilt == order
    assert rebuilt.model_extra == {"channel": "web", "lines": [1, 2]}


def test_extra_fields_are_refused_when_the_model_forbids_them() -> None:
    """A model with extra='forbid' keeps refusing unknown fields, naming the field."""
    with pytest.raises(DeserializationError, match=r"extra_forbidden\) @ \$\.coupon"):
        PydanticSerializer([StrictOrder]).deserialize(
            '{"order_id": 1, "coupon": "x"}', manifest_of(StrictOrder)
        )


def test_camel_case_aliases_from_a_generator_and_alias_choices_round_trip() -> None:
    """A model with an alias generator, populate_by_name and AliasChoices round-trips."""
    order = CamelOrder(
        order_id=1, shipping_address=Address(street="Main St", zipCode="1"), coupon_code="X1"
    )
    serializer = PydanticSerializer()

    text = serializer.serialize(order)

    assert text == (
        '{"orderId":1,"shippingAddress":{"street":"Main St","zipCode":"1"},"coupon":"X1"}'
    )
    assert serializer.deserialize(text, manifest_of(CamelOrder)) == order


@pytest.mark.parametrize("model", [Receipt, Invoice])
def test_a_field_written_under_a_name_validation_does_not_read_is_refused(
    model: type[BaseModel],
) -> None:
    """A model (or one it nests) whose field would not read back is refused, naming the field."""
    with pytest.raises(SerializationError) as info:
        PydanticSerializer([model])

    assert "Receipt.paid_by is written as 'paidBy' but read as 'paid_by'" in str(info.value)
    assert model.__qualname__ in str(info.value)


def test_identifier_is_distinct_from_the_other_serializers() -> None:
    """PydanticSerializer travels with identifier 4, unused by json, pickle and typed JSON."""
    others = {
        JsonSerializer.identifier,
        PickleSerializer.identifier,
        TypedJsonSerializer.identifier,
    }

    assert PydanticSerializer.identifier == 4
    assert PydanticSerializer.identifier not in others


# --- what it refuses -------------------------------------------------------------------------


@pytest.mark.parametrize("manifest", ["os:system", None, f"{__name__}:Order", "no-colon"])
def test_unknown_manifest_is_named_in_the_error_with_what_to_do(manifest: str | None) -> None:
    """A manifest naming no known model raises DeserializationError saying how to allow it."""
    serializer = PydanticSerializer(types=[Address])

    with pytest.raises(DeserializationError, match=repr(manifest)) as info:
        serializer.deserialize("{}", manifest)
    assert info.value.manifest == manifest
    assert "PydanticSerializer(types=[...])" in str(info.value)
    assert f"{__name__}:Address" in str(info.value)


def test_a_manifest_never_imports_the_module_it_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A manifest naming an importable module's model does not import that module."""
    module = f"melange_manifest_probe_{uuid.uuid4().hex}"
    marker = tmp_path / "imported"
    (tmp_path / f"{module}.py").write_text(
        textwrap.dedent(
            f"""
            import pathlib
            from pydantic import BaseModel

            pathlib.Path({str(marker)!r}).write_text("imported")

            class Payload(BaseModel):
                value: int
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))

    with pytest.raises(DeserializationError, match="unknown manifest"):
        PydanticSerializer().deserialize('{"value": 1}', f"{module}:Payload")

    assert module not in sys.modules
    assert not marker.exists()


@pytest.mark.parametrize("cls", [NotAModel, dict, int, BaseModel.__class__])
def test_register_refuses_classes_that_are_not_models(cls: type) -> None:
    """Registering a class that is not a pydantic model raises SerializationError naming it."""
    with pytest.raises(SerializationError, match=cls.__qualname__):
        PydanticSerializer().register(cls)


@pytest.mark.parametrize("value", [NotAModel(), {"a": 1}, [Address(street="x")]])
def test_refuses_to_serialize_objects_that_are_not_models(value: object) -> None:
    """Serializing a non-model (even a list of models) raises SerializationError naming its type."""
    with pytest.raises(SerializationError, match=type(value).__qualname__):
        PydanticSerializer().serialize(value)


def test_without_pydantic_it_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """With pydantic not importable, making the serializer names the extra to install."""
    monkeypatch.setitem(sys.modules, "pydantic", None)

    with pytest.raises(SerializerConfigurationError, match=r"melange\[pydantic\]"):
        PydanticSerializer()


def test_importing_melange_and_its_serializers_does_not_import_pydantic() -> None:
    """Importing melange, its serializers and PydanticSerializer leaves pydantic unloaded."""
    code = (
        "import sys\n"
        "import melange, melange.serializers\n"
        "from melange.serializers import PydanticSerializer\n"
        "print('pydantic' in sys.modules)\n"
        "PydanticSerializer()\n"
        "print('pydantic' in sys.modules)\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )

    assert completed.stdout.split() == ["False", "True"]


# --- errors name the model and field, never the values (they end up in logs) -------------------


@pytest.mark.parametrize(
    ("model", "content", "named"),
    [
        (LineItem, f'{{"sku": "{SECRET}"', ["LineItem", "Invalid JSON", "(json_invalid) @ $"]),
        (
            LineItem,
            f'{{"sku": "a", "quantity": "{SECRET}", "unitPrice": "1"}}',
            ["LineItem", "valid integer", "(int_parsing) @ $.quantity"],
        ),
        (LineItem, f'{{"sku": "{SECRET}"}}', ["(missing) @ $.quantity", "(missing) @ $.unitPrice"]),
        (
            Order,
            f'{{"orderId": "{SECRET}", "status": "{SECRET}", "lines": [{{"sku": 1}}]}}',
            [
                "Order",
                "(uuid_parsing) @ $.orderId",
                "(enum) @ $.status",
                "(string_type) @ $.lines[0].sku",
            ],
        ),
        (Refund, '{"amount": "-4111.1111"}', ["Refund", "(value_error) @ $.amount"]),
        (
            Page[LineItem],
            '{"items": [' + ",".join([f'{{"sku": "{SECRET}"}}'] * 6) + "]}",
            ["(missing) @ $.items[0].quantity", "and 2 more"],
        ),
    ],
    ids=["not-json", "wrong-type", "missing", "nested", "validator-text", "many"],
)
def test_deserialization_errors_name_model_and_field_but_not_content(
    model: type[BaseModel], content: str, named: list[str]
) -> None:
    """Content that does not validate raises DeserializationError naming model and field only."""
    manifest = manifest_of(model)
    with pytest.raises(DeserializationError) as info:
        PydanticSerializer([model]).deserialize(content, manifest)

    assert info.value.manifest == manifest
    assert SECRET not in logged(info.value)
    assert "4111.1111" not in logged(info.value)
    for name in named:
        assert name in str(info.value)


def test_a_value_that_does_not_fit_its_field_is_refused_naming_the_field_not_the_value() -> None:
    """A value assigned after validation that its field cannot write raises SerializationError."""
    line = LineItem(sku="a", quantity=1, unitPrice=Decimal(1))
    line.quantity = SECRET  # type: ignore[assignment]

    with pytest.raises(SerializationError) as info:
        PydanticSerializer().serialize(line)

    assert SECRET not in logged(info.value)
    assert "LineItem" in str(info.value)
    assert "field quantity" in str(info.value)
    assert "expected int" in str(info.value)


def test_a_type_pydantic_cannot_write_is_named_without_its_value() -> None:
    """A field holding an object pydantic cannot write raises SerializationError naming its type."""
    with pytest.raises(SerializationError) as info:
        PydanticSerializer().serialize(Refund(amount=Decimal(1), card=Card(SECRET)))

    assert SECRET not in logged(info.value)
    assert "Refund" in str(info.value)
    assert "Card" in str(info.value)


# --- through a registry, a publisher and a dispatcher ------------------------------------------


class OrderRecorder(Consumer):
    """Records the orders it handles."""

    def __init__(self) -> None:
        super().__init__()
        self.handled: list[Order] = []

    @consumer
    def on_order(self, event: Order) -> None:
        """Record the order."""
        self.handled.append(event)


def test_registry_binding_base_model_routes_every_model_to_the_serializer() -> None:
    """Binding BaseModel picks PydanticSerializer for every model (by MRO) and no other type."""
    registry = SerializerRegistry(
        {
            "serializers": {"json": JsonSerializer, "pydantic": PydanticSerializer([Address])},
            "serializer_bindings": {BaseModel: "pydantic"},
            "default": "json",
        }
    )
    address = Address(street="Main St")

    serialized = registry.serialize(address)

    assert serialized.serializer_id == PydanticSerializer.identifier
    assert serialized.manifest == manifest_of(Address)
    assert registry.serializer_for(dict) is registry.serializers["json"]
    rebuilt = registry.deserialize(
        serialized.content, serializer_id=serialized.serializer_id, manifest=serialized.manifest
    )
    assert rebuilt == address


def test_a_published_model_reaches_a_dispatcher_consumer_as_an_equal_model() -> None:
    """A QueuePublisher's model is handled by a MessageDispatcher's consumer as an equal model."""
    backend = InMemoryBackend()
    queue = f"orders-{uuid.uuid4().hex[:8]}"
    backend.declare_queue(queue)
    # Two registries, as in two processes: the consumer's serializer knows Order by its types.
    publishing = SerializerRegistry({"serializers": {"pydantic": PydanticSerializer()}})
    consuming = SerializerRegistry({"serializers": {"pydantic": PydanticSerializer([Order])}})
    order = Order(
        orderId=uuid.uuid4(),
        total=Decimal("19.990"),
        status=Status.PLACED,
        priority=Priority.LOW,
        placed_at=datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2))),
        recorded_at=datetime(2024, 5, 1, 10, 30),
        lines=[
            LineItem(sku="a", quantity=1, unitPrice=Decimal("9.995")),
            LineItem(sku="b", quantity=1, unitPrice=Decimal("9.995"), weight=0.25),
        ],
        tags={"campaign": 3},
        shipping=Address(street="Main St", zipCode="08001"),
    )
    recorder = OrderRecorder()

    QueuePublisher(publishing, backend).publish(queue, order)
    handled = MessageDispatcher(consuming, backend, consumers=[recorder]).process_available(queue)

    assert handled == 1
    assert recorder.handled == [order]
    assert recorder.handled[0].placed_at.utcoffset() == timedelta(hours=2)
    assert str(recorder.handled[0].total) == "19.990"
    assert backend.message_count(queue) == 0


def test_a_model_bound_in_the_registry_is_rebuilt_without_being_listed() -> None:
    """``serializer_bindings={Refund: "pydantic"}`` teaches a bare serializer the model."""
    producer = SerializerRegistry(
        {
            "serializers": {"pydantic": PydanticSerializer()},
            "serializer_bindings": {Refund: "pydantic"},
        }
    )
    consumer_side = SerializerRegistry(
        {
            "serializers": {"pydantic": PydanticSerializer()},
            "serializer_bindings": {Refund: "pydantic"},
        }
    )
    refund = Refund(amount=Decimal("9.99"))
    serialized = producer.serialize(refund)
    assert (
        consumer_side.deserialize(
            serialized.content, serializer_id=serialized.serializer_id, manifest=serialized.manifest
        )
        == refund
    )
