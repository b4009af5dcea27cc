"""Unit tests for SNS subscription filter policies on message attributes."""

from __future__ import annotations

from typing import Any

import pytest

from melange.exceptions import ConfigurationError
from melange.messages import AttributeValue
from melange.topology.filter_policy import matches, validate

Attributes = dict[str, AttributeValue]


def _cases(*rows: tuple[Any, ...]) -> Any:
    """Return parametrize rows (attributes, expected) with readable ids."""
    return pytest.mark.parametrize(
        ("attributes", "expected"),
        [pytest.param(attributes, expected, id=label) for label, attributes, expected in rows],
    )


@_cases(
    ("equal", {"event": "order_placed"}, True),
    ("different", {"event": "order_cancelled"}, False),
    ("case-differs", {"event": "Order_Placed"}, False),
    ("absent", {"other": "order_placed"}, False),
    ("number-type", {"event": 1}, False),
)
def test_exact_string(attributes: Attributes, expected: bool) -> None:
    """An exact string condition passes only the same String value."""
    assert matches({"event": ["order_placed"]}, attributes) is expected


@_cases(
    ("int", {"price": 100}, True),
    ("equal-float", {"price": 100.0}, True),
    ("different", {"price": 101}, False),
    ("string-type", {"price": "100"}, False),
)
def test_numeric_exact(attributes: Attributes, expected: bool) -> None:
    """An exact number condition passes equal Number values, not the same text as a String."""
    assert matches({"price": [100]}, attributes) is expected


@_cases(
    ("prefix", {"region": "eu-west-1"}, True),
    ("whole", {"region": "eu-"}, True),
    ("elsewhere", {"region": "us-eu-1"}, False),
    ("number", {"region": 1}, False),
)
def test_prefix(attributes: Attributes, expected: bool) -> None:
    """A prefix condition passes String values that start with it."""
    assert matches({"region": [{"prefix": "eu-"}]}, attributes) is expected


@_cases(
    ("suffix", {"file": "photo.png"}, True),
    ("other", {"file": "photo.jpg"}, False),
    ("number", {"file": 3}, False),
)
def test_suffix(attributes: Attributes, expected: bool) -> None:
    """A suffix condition passes String values that end with it."""
    assert matches({"file": [{"suffix": ".png"}]}, attributes) is expected


@_cases(
    ("upper", {"color": "RED"}, True),
    ("mixed", {"color": "rEd"}, True),
    ("other", {"color": "reds"}, False),
)
def test_equals_ignore_case(attributes: Attributes, expected: bool) -> None:
    """An equals-ignore-case condition passes the same String in any case."""
    assert matches({"color": [{"equals-ignore-case": "Red"}]}, attributes) is expected


@pytest.mark.parametrize(
    ("condition", "value", "expected"),
    [
        (["red", "blue"], "green", True),
        (["red", "blue"], "blue", False),
        ("red", "green", True),
        ("red", "red", False),
        ([100, 200], 150, True),
        ([100, 200], 200, False),
        ({"prefix": "test-"}, "prod-order", True),
        ({"prefix": "test-"}, "test-order", False),
    ],
    ids=[
        "list-other",
        "list-listed",
        "single-other",
        "single-same",
        "numbers-other",
        "numbers-listed",
        "prefix-other",
        "prefix-same",
    ],
)
def test_anything_but(condition: Any, value: AttributeValue, expected: bool) -> None:
    """An anything-but condition passes values other than those listed or prefixed."""
    assert matches({"key": [{"anything-but": condition}]}, {"key": value}) is expected


def test_anything_but_needs_the_attribute() -> None:
    """An anything-but condition does not pass a message that lacks the attribute."""
    assert not matches({"key": [{"anything-but": ["red"]}]}, {})


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, False), (0.5, True), (100, True), (150, True), (150.01, False), ("100", False)],
)
def test_numeric_range(value: AttributeValue, expected: bool) -> None:
    """A numeric range passes Number values inside the bounds, and no Strings."""
    policy = {"price": [{"numeric": [">", 0, "<=", 150]}]}

    assert matches(policy, {"price": value}) is expected


@pytest.mark.parametrize(
    ("operator", "passing", "failing"),
    [("=", 5, 6), ("<", 4, 5), ("<=", 5, 6), (">", 6, 5), (">=", 5, 4)],
)
def test_numeric_operators(operator: str, passing: int, failing: int) -> None:
    """Each numeric operator compares the value to its bound."""
    policy = {"n": [{"numeric": [operator, 5]}]}

    assert matches(policy, {"n": passing})
    assert not matches(policy, {"n": failing})


def test_unknown_numeric_operator_is_refused() -> None:
    """A numeric condition with an unknown operator raises ConfigurationError naming it."""
    with pytest.raises(ConfigurationError, match="'=>'"):
        matches({"n": [{"numeric": ["=>", 5]}]}, {"n": 6})


@_cases(
    ("present", {"trace": "abc"}, True),
    ("absent", {"other": "abc"}, False),
)
def test_exists_true(attributes: Attributes, expected: bool) -> None:
    """An exists: true condition passes messages that carry the attribute, whatever its value."""
    assert matches({"trace": [{"exists": True}]}, attributes) is expected


@_cases(
    ("present", {"trace": "abc"}, False),
    ("absent", {"other": "abc"}, True),
)
def test_exists_false(attributes: Attributes, expected: bool) -> None:
    """An exists: false condition passes messages that lack the attribute."""
    assert matches({"trace": [{"exists": False}]}, attributes) is expected


@_cases(
    ("first-branch", {"source": "web"}, True),
    ("second-branch", {"priority": 9}, True),
    ("neither", {"source": "app", "priority": 1}, False),
    ("empty", {}, False),
)
def test_or_of_policies(attributes: Attributes, expected: bool) -> None:
    """A $or passes messages that pass any of its branches."""
    policy = {"$or": [{"source": ["web"]}, {"priority": [{"numeric": [">", 5]}]}]}

    assert matches(policy, attributes) is expected


@_cases(
    ("both", {"event": "placed", "region": "eu-west-1"}, True),
    ("first-only", {"event": "placed", "region": "us-east-1"}, False),
    ("second-only", {"event": "cancelled", "region": "eu-west-1"}, False),
    ("one-absent", {"event": "placed"}, False),
)
def test_keys_are_anded(attributes: Attributes, expected: bool) -> None:
    """A message must pass the conditions of every key in the policy."""
    policy = {"event": ["placed"], "region": [{"prefix": "eu-"}]}

    assert matches(policy, attributes) is expected


@_cases(
    ("first", {"event": "placed"}, True),
    ("second", {"event": "shipped"}, True),
    ("operator", {"event": "refund-issued"}, True),
    ("none", {"event": "cancelled"}, False),
)
def test_conditions_within_a_key_are_ored(attributes: Attributes, expected: bool) -> None:
    """A message passes a key when it passes any condition listed under it."""
    policy = {"event": ["placed", "shipped", {"prefix": "refund-"}]}

    assert matches(policy, attributes) is expected


@pytest.mark.parametrize(
    "condition",
    [
        "abc",
        {"prefix": "a"},
        {"suffix": "c"},
        {"equals-ignore-case": "ABC"},
        {"anything-but": "xyz"},
        {"anything-but": {"prefix": "x"}},
    ],
)
def test_binary_attributes_never_match_values(condition: Any) -> None:
    """A Binary attribute passes no value condition, as SNS does not filter on Binary."""
    assert not matches({"blob": [condition]}, {"blob": b"abc"})


@pytest.mark.parametrize("policy", [None, {}])
def test_no_policy_passes_everything(policy: dict[str, Any] | None) -> None:
    """A missing or empty policy passes every message."""
    assert matches(policy, {})
    assert matches(policy, {"anything": "at all", "n": 1, "b": b"x"})


def test_validate_accepts_supported_policies() -> None:
    """A policy using every supported operator and $or passes validation."""
    validate(
        {
            "event": ["placed", 5, {"prefix": "a"}, {"suffix": "b"}, {"equals-ignore-case": "C"}],
            "price": [{"numeric": [">=", 0]}, {"anything-but": [1, 2]}, {"exists": True}],
            "$or": [{"a": ["x"]}, {"b": [{"exists": False}]}],
        }
    )


@pytest.mark.parametrize("conditions", ["placed", {"prefix": "a"}, 5])
def test_validate_refuses_a_non_list_value(conditions: Any) -> None:
    """Validation raises ConfigurationError naming a key whose conditions are not a list."""
    with pytest.raises(ConfigurationError, match="'event'"):
        validate({"event": conditions})


def test_validate_refuses_an_unknown_operator() -> None:
    """Validation raises ConfigurationError naming an operator SNS filter policies lack."""
    with pytest.raises(ConfigurationError, match="'wildcard'"):
        validate({"event": [{"wildcard": "order*"}]})


def test_validate_checks_or_branches() -> None:
    """Validation raises ConfigurationError for an unknown operator inside a $or branch."""
    with pytest.raises(ConfigurationError, match="'cidr'"):
        validate({"$or": [{"a": ["x"]}, {"ip": [{"cidr": "10.0.0.0/8"}]}]})


@pytest.mark.parametrize("branches", [[], {"a": ["x"]}])
def test_validate_refuses_a_malformed_or(branches: Any) -> None:
    """Validation raises ConfigurationError when $or is not a non-empty list."""
    with pytest.raises(ConfigurationError, match=r"'\$or'"):
        validate({"$or": branches})


def test_or_branch_that_is_not_a_policy_is_refused() -> None:
    """A '$or' list holding something other than policy objects raises ConfigurationError."""
    with pytest.raises(ConfigurationError, match="expected policy objects"):
        validate({"$or": ["x"]})


# -- where emulators disagree: AWS's documented behaviour --------------------------------
#
# Sources (Amazon SNS Developer Guide): "Filter policy constraints" (attribute-based
# filtering compares only String, String.Array and Number attributes; never Binary),
# "Key matching" (exists), "String value matching" (exact, anything-but, prefix, suffix,
# equals-ignore-case) and "Numeric value matching" (numeric, anything-but on numbers).


def test_exists_true_ignores_a_binary_attribute() -> None:
    """exists: true does not pass a Binary attribute: SNS never compares Binary attributes.

    AWS, "Filter policy constraints": attribute-based filtering compares policy properties
    only to String, String.Array (and Number) attributes. moto and the old in-memory
    filter count the Binary attribute as present.
    """
    assert not matches({"blob": [{"exists": True}]}, {"blob": b"abc", "event": "placed"})


def test_exists_false_passes_a_binary_attribute_as_absent() -> None:
    """exists: false passes a message whose attribute of that name is Binary, as if absent.

    AWS, "Filter policy constraints": Binary attributes are not compared, so for the
    policy the key is not there; "Key matching": exists: false matches messages that do
    not include the property.
    """
    assert matches({"blob": [{"exists": False}]}, {"blob": b"abc", "event": "placed"})


@_cases(
    ("no-attributes", {}, False),
    ("only-binary", {"blob": b"abc"}, False),
    ("other-attribute", {"event": "placed"}, True),
)
def test_exists_false_needs_at_least_one_attribute(attributes: Attributes, expected: bool) -> None:
    """exists: false passes only a message that carries at least one (filterable) attribute.

    AWS, "Key matching": "exists": false only matches if at least one attribute is
    present; an empty set of attributes results in the filter not matching. A message
    whose only attribute is Binary has no attribute SNS compares.
    """
    assert matches({"trace": [{"exists": False}]}, attributes) is expected


def test_exists_false_or_anything_but_passes_absent_and_other_values() -> None:
    """anything-but combined with exists: false passes other values and an absent key.

    AWS, "String value matching": anything-but can be combined with "exists": false.
    """
    policy = {"event": [{"anything-but": ["cancelled"]}, {"exists": False}]}

    assert matches(policy, {"event": "placed"})
    assert matches(policy, {"other": "x"})
    assert not matches(policy, {"event": "cancelled"})


@pytest.mark.parametrize(
    "condition",
    [{"numeric": ["=", 5]}, {"numeric": [">", 0]}, 5],
    ids=["numeric-equals", "numeric-range", "bare-number"],
)
def test_numeric_conditions_do_not_match_a_string_attribute(condition: Any) -> None:
    """A numeric condition does not pass a String attribute holding digits ("5").

    AWS, "Numeric value matching": numeric values are unquoted in the policy and match
    message attributes of type Number.
    """
    assert not matches({"n": [condition]}, {"n": "5"})


@pytest.mark.parametrize("condition", ["5", {"prefix": "5"}, {"equals-ignore-case": "5"}])
def test_string_conditions_do_not_match_a_number_attribute(condition: Any) -> None:
    """A quoted string condition does not pass a Number attribute of the same digits.

    AWS, "String value matching": string values are enclosed in double quotation marks
    and match String attributes; "Numeric value matching" notes prefixes are for strings
    only. moto compares the Number attribute's text and passes it.
    """
    assert not matches({"n": [condition]}, {"n": 5})


@_cases(
    ("other-number", {"price": 101}, True),
    ("other-fraction", {"price": 100.1}, True),
    ("listed", {"price": 100}, False),
    ("listed-as-float", {"price": 100.0}, False),
    ("second-listed", {"price": 500}, False),
)
def test_anything_but_a_list_of_numbers(attributes: Attributes, expected: bool) -> None:
    """anything-but [100, 500] passes Number values other than 100 and 500, compared as numbers.

    AWS, "Numeric value matching", anything-but: [100, 500] matches 101 and 100.1, not 100.
    """
    assert matches({"price": [{"anything-but": [100, 500]}]}, attributes) is expected


@_cases(
    ("other", {"price": 99}, True),
    ("same", {"price": 100}, False),
    ("same-as-float", {"price": 100.0}, False),
)
def test_anything_but_a_single_number(attributes: Attributes, expected: bool) -> None:
    """anything-but with one number passes every other Number value."""
    assert matches({"price": [{"anything-but": 100}]}, attributes) is expected


@_cases(
    ("other-suffix", {"sport": "hockey"}, True),
    ("denied-suffix", {"sport": "baseball"}, False),
)
def test_anything_but_a_suffix(attributes: Attributes, expected: bool) -> None:
    """anything-but {"suffix": "ball"} passes values that do not end with "ball".

    AWS, "String value matching", anything-but suffix: it matches "hockey" and not
    "baseball". The old in-memory filter passed every value.
    """
    assert matches({"sport": [{"anything-but": {"suffix": "ball"}}]}, attributes) is expected


def test_anything_but_with_an_unsupported_operator_is_refused() -> None:
    """Validation raises ConfigurationError for anything-but with an operator melange lacks."""
    with pytest.raises(ConfigurationError, match="'wildcard'"):
        validate({"sport": [{"anything-but": {"wildcard": "*ball"}}]})


@_cases(
    ("upper", {"sport": "TENNIS"}, True),
    ("title", {"sport": "Tennis"}, True),
    ("lower", {"sport": "tennis"}, True),
    ("other", {"sport": "tennis!"}, False),
)
def test_equals_ignore_case_whatever_the_policys_case(
    attributes: Attributes, expected: bool
) -> None:
    """equals-ignore-case compares without case on both sides, the policy's value included.

    AWS, "String value matching", equals-ignore-case: a case-insensitive match with any
    attribute value. moto lower-cases only the attribute, so an upper-case policy value
    never matches there.
    """
    assert matches({"sport": [{"equals-ignore-case": "TeNnIs"}]}, attributes) is expected


@_cases(
    ("suffix", {"sport": "football"}, True),
    ("prefix-only", {"sport": "ballet"}, False),
    ("number", {"sport": 5}, False),
)
def test_suffix_on_strings_only(attributes: Attributes, expected: bool) -> None:
    """A suffix condition passes String values that end with it, and no Number.

    AWS, "String value matching", suffix matching.
    """
    assert matches({"sport": [{"suffix": "ball"}]}, attributes) is expected
