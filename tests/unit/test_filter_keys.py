"""Filter policy keys no message type supplies: found before declare, logged as a WARNING.

The message types and consumers are module-level, as an application's are, so that the
source of each ``melange_attributes`` can be read.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

import attrs
import pinject
import pytest

from melange import Consumer, Subscription, consumer
from melange.app.cli import main
from melange.app.filter_keys import (
    UnsuppliedFilterKey,
    supplied_attribute_names,
    unsupplied_filter_keys,
)
from melange.app.topology import derive_topology
from melange.backends import InMemoryBackend
from melange.settings import MelangeSettings
from melange_bindings import MelangeBindingSpec, ObjectGraph, new_object_graph

TARGET = "tests.unit.test_filter_keys:typo_graph"


@attrs.frozen
class MembershipRenewed:
    """A membership was renewed; its tier and region travel as attributes."""

    member_id: str
    tier: str
    region: str | None = None

    def melange_attributes(self) -> dict[str, str | None]:
        """Expose the tier and region to filter policies (no region: no attribute)."""
        return {"tier": self.tier, "region": self.region}


@attrs.frozen
class GoldMembershipRenewed(MembershipRenewed):
    """A subclass that adds an attribute of its own."""

    def melange_attributes(self) -> dict[str, str | None]:
        """Add the perks attribute to the base's."""
        if self.region is None:
            return dict(tier=self.tier, perks="all")  # the dict() form is read too
        return {"tier": self.tier, "region": self.region, "perks": "all"}


class MemberAttributes(TypedDict, total=False):
    """The attributes a member event may carry."""

    member_id: str
    channel: str


@attrs.frozen
class MemberJoined:
    """A member joined; its attributes are declared by a TypedDict."""

    member_id: str
    channel: str

    def melange_attributes(self) -> MemberAttributes:
        """The member id and the channel they joined through."""
        attributes = MemberAttributes(member_id=self.member_id)
        attributes["channel"] = self.channel
        return attributes


@attrs.frozen
class Computed:
    """Attributes computed from its fields: their names cannot be read without an instance."""

    values: Mapping[str, str]

    def melange_attributes(self) -> dict[str, str]:
        """Every field as an attribute."""
        return {**self.values}


@attrs.frozen
class Plain:
    """A message type without attributes of its own."""

    n: int


def _consumer(queue: str, policy: Mapping[str, Any], *types: type) -> Consumer:
    """Return a consumer of ``types`` on ``queue``, subscribed to 'members' with ``policy``."""
    handlers = {f"on_{t.__name__.lower()}": consumer(_handler(t)) for t in types}
    desk: type[Consumer] = type(f"{queue.title()}Desk", (Consumer,), handlers)
    return desk(subscription=Subscription(queue, topics=["members"], filter_policy=policy))


def _handler(message_type: type) -> Any:
    """Return a handler method whose message parameter is annotated ``message_type``."""

    def handle(self: Consumer, event: Any) -> None:
        """Handle nothing."""

    handle.__annotations__ = {"event": message_type, "return": None}
    return handle


def test_a_key_no_type_supplies_is_reported_with_the_queue_the_keys_and_a_suggestion() -> None:
    """{"teir": [...]} on a queue whose type supplies "tier" is reported, suggesting "tier"."""
    topology = derive_topology([_consumer("renewals", {"teir": ["gold"]}, MembershipRenewed)])

    (found,) = unsupplied_filter_keys(topology)

    assert found == UnsuppliedFilterKey(
        queue="renewals",
        topics=("members",),
        key="teir",
        supplied=("perks", "region", "tier"),
        types=("GoldMembershipRenewed", "MembershipRenewed"),
        suggestion="tier",
    )
    assert "queue 'renewals'" in str(found)
    assert "did you mean 'tier'?" in str(found)
    assert "'perks', 'region', 'tier'" in str(found)


@pytest.mark.parametrize(
    "policy",
    [
        {"tier": ["gold"]},
        {"perks": [{"exists": True}]},  # supplied by the subclass only
        {"manifest": [{"suffix": "MembershipRenewed"}]},  # melange's own attribute
        {"traceparent": [{"exists": True}]},
        {"$or": [{"tier": ["gold"]}, {"region": [{"prefix": "eu-"}]}]},
    ],
    ids=["supplied", "subclass", "melange-manifest", "trace-context", "or-branches"],
)
def test_keys_a_type_or_melange_supplies_are_not_reported(policy: dict[str, Any]) -> None:
    """Keys supplied by a handled type, a subclass of one, or melange itself pass silently."""
    topology = derive_topology([_consumer("renewals", policy, MembershipRenewed)])

    assert unsupplied_filter_keys(topology) == []


def test_keys_inside_or_branches_are_checked() -> None:
    """A typo inside a $or branch is reported too."""
    policy = {"$or": [{"tier": ["gold"]}, {"regoin": ["eu"]}]}
    topology = derive_topology([_consumer("renewals", policy, MembershipRenewed)])

    assert [(f.key, f.suggestion) for f in unsupplied_filter_keys(topology)] == [
        ("regoin", "region")
    ]


def test_types_handled_anywhere_in_the_app_count() -> None:
    """A key supplied by a type another queue's consumer handles is not reported."""
    topology = derive_topology(
        [
            _consumer("joins", {"tier": ["gold"]}, MemberJoined),
            _consumer("renewals", {"channel": ["web"]}, MembershipRenewed),
        ]
    )

    assert unsupplied_filter_keys(topology) == []


@pytest.mark.parametrize(
    "types",
    [(Computed, MembershipRenewed), (Plain,), (object,)],
    ids=["unreadable-names", "no-type-supplies-attributes", "catch-all-handler"],
)
def test_nothing_is_reported_when_the_supplied_names_cannot_be_known(
    types: Sequence[type],
) -> None:
    """Unreadable names, no type with attributes, or a handler of object: no guess is made."""
    topology = derive_topology([_consumer("renewals", {"teir": ["gold"]}, *types)])

    assert unsupplied_filter_keys(topology) == []


@pytest.mark.parametrize(
    ("message_type", "names"),
    [
        (MembershipRenewed, {"tier", "region"}),
        (GoldMembershipRenewed, {"tier", "region", "perks"}),
        (MemberJoined, {"member_id", "channel"}),
        (Plain, set()),
        (Computed, None),
        (int, set()),
    ],
    ids=["dict-literal", "every-return-and-dict-call", "typed-dict", "none", "computed", "builtin"],
)
def test_supplied_attribute_names_are_read_without_an_instance(
    message_type: type, names: set[str] | None
) -> None:
    """Names come from a TypedDict return type or literal returns; else they are unknown."""
    assert supplied_attribute_names(message_type) == (None if names is None else frozenset(names))


# -- python -m melange declare logs the warning ------------------------------------------


class TypoDesk(Consumer):
    """Serves gold members; its filter policy misspells the tier attribute."""

    subscription = Subscription("gold-desk", topics=["members"], filter_policy={"teir": ["gold"]})

    @consumer
    def on_renewal(self, event: MembershipRenewed) -> None:
        """Serve the renewal."""


class _TypoSpec(pinject.BindingSpec):
    def provide_melange_consumers(self) -> list[Consumer]:
        return [TypoDesk()]


def typo_graph() -> ObjectGraph:
    """The declare command's target: the typo desk on an in-memory backend."""
    return new_object_graph(
        binding_specs=[_TypoSpec()],
        melange=MelangeBindingSpec(settings=MelangeSettings(), backend=InMemoryBackend()),
    )


def test_declare_warns_of_a_filter_key_no_type_supplies_and_declares_anyway(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    """The declare command logs one WARNING naming the queue, the keys and a fix, then declares."""
    with caplog.at_level(logging.WARNING, logger="melange.app.cli"):
        assert main(["declare", TARGET]) == 0

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "queue 'gold-desk'" in warnings[0]
    assert "'teir'" in warnings[0]
    assert "supply 'perks', 'region', 'tier'" in warnings[0]
    assert "did you mean 'tier'?" in warnings[0]
    assert "created  subscription 'gold-desk' to 'members'" in capsys.readouterr().out
