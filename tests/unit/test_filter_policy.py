"""Unit tests for SNS subscription filter policies on message attributes."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from melange import Consumer, Subscription
from melange.exceptions import ConfigurationError, DeclarationError
from melange.messages import AttributeValue
from melange.topology.filter_policy import matches, policy_keys, validate

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
    """A numeric condition with an unknown operator is refused by validate, naming it."""
    with pytest.raises(ConfigurationError, match="'=>'"):
        validate({"n": [{"numeric": ["=>", 5]}]})


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
    with pytest.raises(ConfigurationError, match="expected a non-empty policy object"):
        validate({"$or": [{"a": ["x"]}, "x"]})


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


# -- one validator: each rule, a policy it refuses and the closest one it accepts ---------
#
# Sources: "Filter policy constraints", "AND/OR logic", "String value matching", "Numeric
# value matching" and "Key matching" in the Amazon SNS Developer Guide; where melange is
# stricter than SNS, the module docstring of melange.topology.filter_policy says why.

_FIVE = {key: ["x"] for key in "abcde"}


def _rule(rule: str, refused: Any, accepted: Any, setting: str, expected: str, fix: str) -> Any:
    return pytest.param(refused, accepted, setting, expected, fix, id=rule)


RULES = [
    _rule("a-dict", ["region"], {"region": ["eu"]}, "filter_policy", "a dict", '{"region"'),
    _rule("string-keys", {1: ["x"]}, {"1": ["x"]}, "filter_policy", "strings", "write '1'"),
    _rule(
        "a-list", {"tier": "vip"}, {"tier": ["vip"]}, "filter_policy['tier']", "a list", "['vip']"
    ),
    _rule(
        "no-nesting",
        {"tier": {"level": ["vip"]}},
        {"level": ["vip"]},
        "filter_policy['tier']",
        "MessageBody",
        "filter on the attribute itself",
    ),
    _rule(
        "not-empty",
        {"tier": []},
        {"tier": ["vip"]},
        "filter_policy['tier']",
        "at least one condition",
        "drop the key",
    ),
    _rule(
        "no-nested-list",
        {"tier": [["vip"]]},
        {"tier": ["vip"]},
        "filter_policy['tier'][0]",
        "a string, a number or an operator object",
        "write ['vip'] in place of [['vip']]",
    ),
    _rule(
        "no-boolean",
        {"vip": [True]},
        {"vip": ["true"]},
        "filter_policy['vip'][0]",
        "no boolean attributes",
        "the string 'true'",
    ),
    _rule(
        "no-null",
        {"vip": [None]},
        {"vip": ["null"]},
        "filter_policy['vip'][0]",
        "no null attributes",
        "the string 'null'",
    ),
    _rule(
        "number-range",
        {"n": [1_000_000_001]},
        {"n": [1_000_000_000, -1_000_000_000, 0.00001]},
        "filter_policy['n'][0]",
        "a number from -1,000,000,000 to 1,000,000,000",
        "a smaller number",
    ),
    _rule(
        "finite-number",
        {"n": [math.inf]},
        {"n": [1e9]},
        "filter_policy['n'][0]",
        "a number from",
        "a smaller number",
    ),
    _rule(
        "one-operator-per-object",
        {"t": [{"prefix": "a", "suffix": "b"}]},
        {"t": [{"prefix": "a"}, {"suffix": "b"}]},
        "filter_policy['t'][0]",
        "one operator per condition object",
        "[{'prefix': 'a'}, {'suffix': 'b'}]",
    ),
    _rule(
        "known-operator",
        {"t": [{"prefx": "a"}]},
        {"t": [{"prefix": "a"}]},
        "filter_policy['t'][0]",
        "one of the operators",
        "did you mean 'prefix'?",
    ),
    _rule(
        "no-cidr",
        {"ip": [{"cidr": "10.0.0.0/8"}]},
        {"ip": [{"prefix": "10."}]},
        "filter_policy['ip'][0]",
        "melange does not support cidr",
        "with prefix",
    ),
    _rule(
        "prefix-takes-a-string",
        {"tier": [{"prefix": 3}]},
        {"tier": [{"prefix": "3"}]},
        "filter_policy['tier'][0]",
        "prefix to take a string",
        "write {'prefix': '3'}",
    ),
    _rule(
        "suffix-takes-a-string",
        {"file": [{"suffix": [".png"]}]},
        {"file": [{"suffix": ".png"}]},
        "filter_policy['file'][0]",
        "suffix to take a string",
        "write {'suffix':",
    ),
    _rule(
        "equals-ignore-case-takes-a-string",
        {"color": [{"equals-ignore-case": None}]},
        {"color": [{"equals-ignore-case": "red"}]},
        "filter_policy['color'][0]",
        "equals-ignore-case to take a string",
        "write {'equals-ignore-case':",
    ),
    _rule(
        "anything-but-values",
        {"tier": [{"anything-but": [["vip"]]}]},
        {"tier": [{"anything-but": ["vip", 5]}, {"anything-but": "gold"}, {"anything-but": 3}]},
        "filter_policy['tier'][0]",
        "an anything-but value that is a string, a number",
        "in place of",
    ),
    _rule(
        "anything-but-not-empty",
        {"tier": [{"anything-but": []}]},
        {"tier": [{"anything-but": ["vip"]}]},
        "filter_policy['tier'][0]",
        "anything-but with at least one value",
        "list the values to exclude",
    ),
    _rule(
        "anything-but-prefix-or-suffix",
        {"tier": [{"anything-but": {"equals-ignore-case": "vip"}}]},
        {"tier": [{"anything-but": {"prefix": "v"}}, {"anything-but": {"suffix": "p"}}]},
        "filter_policy['tier'][0]",
        "anything-but to take a string, a number, a list of them",
        "{'anything-but': {'prefix': 'test-'}}",
    ),
    _rule(
        "anything-but-prefix-takes-a-string",
        {"tier": [{"anything-but": {"prefix": 1}}]},
        {"tier": [{"anything-but": {"prefix": "1"}}]},
        "filter_policy['tier'][0]",
        "anything-but's prefix to take a string",
        "{'anything-but': {'prefix': '1'}}",
    ),
    _rule(
        "numeric-a-list",
        {"n": [{"numeric": 5}]},
        {"n": [{"numeric": ["=", 5]}]},
        "filter_policy['n'][0]",
        "numeric to take [operator, number]",
        "{'numeric': ['>', 0, '<=', 150]}",
    ),
    _rule(
        "numeric-operator",
        {"n": [{"numeric": ["=>", 5]}]},
        {"n": [{"numeric": [">=", 5]}]},
        "filter_policy['n'][0]",
        "not '=>'",
        "did you mean '>='?",
    ),
    _rule(
        "numeric-bound-is-a-number",
        {"n": [{"numeric": [">", "5"]}]},
        {"n": [{"numeric": [">", 5]}]},
        "filter_policy['n'][0]",
        "the bounds are numbers, not '5'",
        "without quotes",
    ),
    _rule(
        "numeric-bound-in-range",
        {"n": [{"numeric": ["<", 2e9]}]},
        {"n": [{"numeric": ["<", 1e9]}]},
        "filter_policy['n'][0]",
        "a number from",
        "a smaller number",
    ),
    _rule(
        "numeric-range-low-then-high",
        {"n": [{"numeric": ["<", 150, ">", 0]}]},
        {"n": [{"numeric": [">", 0, "<", 150]}]},
        "filter_policy['n'][0]",
        "numeric to take",
        "{'numeric': ['>', 0, '<=', 150]}",
    ),
    _rule(
        "numeric-range-low-below-high",
        {"n": [{"numeric": [">=", 5, "<=", 5]}]},
        {"n": [{"numeric": [">=", 5, "<=", 6]}]},
        "filter_policy['n'][0]",
        "low below high",
        "{'numeric': ['>', 0, '<=', 150]}",
    ),
    _rule(
        "exists-true-or-false",
        {"trace": [{"exists": "yes"}]},
        {"trace": [{"exists": False}]},
        "filter_policy['trace'][0]",
        "exists to take true or false",
        "{'exists': True}",
    ),
    _rule(
        "or-two-branches",
        {"$or": [{"source": ["web"]}]},
        {"$or": [{"source": ["web"]}, {"priority": ["high"]}]},
        "filter_policy['$or']",
        "at least two policy objects",
        "write its keys beside the others",
    ),
    _rule(
        "or-branches-not-empty",
        {"$or": [{"source": ["web"]}, {}]},
        {"$or": [{"source": ["web"]}, {"source": ["app"]}]},
        "filter_policy['$or'][1]",
        "a non-empty policy object",
        '{"source": ["web"]}',
    ),
    _rule(
        "or-branch-keys-are-no-operators",
        {"$or": [{"source": ["web"]}, {"prefix": ["x"]}]},
        {"$or": [{"source": ["web"]}, {"origin": ["x"]}]},
        "filter_policy['$or'][1]",
        "no operator's",
        "rename 'prefix'",
    ),
    _rule(
        "or-branches-validated",
        {"$or": [{"source": ["web"]}, {"tier": [{"prefix": 3}]}]},
        {"$or": [{"source": ["web"]}, {"$or": [{"tier": ["3"]}, {"tier": [3]}]}]},
        "filter_policy['$or'][1]['tier'][0]",
        "prefix to take a string",
        "write {'prefix': '3'}",
    ),
    _rule(
        "five-keys",
        {**_FIVE, "f": ["x"]},
        _FIVE,
        "filter_policy",
        "at most 5 keys",
        "drop keys",
    ),
    _rule(
        "150-combinations",
        {"a": list(range(10)), "$or": [{"b": list(range(8))}, {"c": list(range(8))}]},
        {"a": list(range(10)), "$or": [{"b": list(range(8))}, {"c": list(range(7))}]},
        "filter_policy",
        "at most 150 combinations",
        "list fewer conditions",
    ),
    _rule(
        "256-kib",
        {"k": ["x" * (256 * 1024)]},
        {"k": ["x" * (255 * 1024)]},
        "filter_policy",
        "at most 262144 bytes",
        "fewer or shorter conditions",
    ),
]


@pytest.mark.parametrize(("refused", "accepted", "setting", "expected", "fix"), RULES)
def test_each_rule_refuses_naming_where_the_value_what_was_expected_and_the_fix(
    refused: Any, accepted: Any, setting: str, expected: str, fix: str
) -> None:
    """Each rule refuses its example with a Problem naming the place, and accepts its twin."""
    validate(accepted)

    with pytest.raises(ConfigurationError) as caught:
        validate(refused)

    ((problem),) = caught.value.problems
    message = str(caught.value)
    assert problem.setting == setting
    assert expected in problem.expected
    assert message.startswith(f"{setting} = {problem.value!r}: expected {problem.expected}; ")
    assert fix in message


def test_a_consumer_class_defining_a_bad_policy_is_named_with_the_place_in_the_policy() -> None:
    """The issue's example fails when the class is defined, naming it, the key and the rule."""
    with pytest.raises(DeclarationError) as caught:

        class TierDesk(Consumer):
            subscription = Subscription(
                "tier-desk", topics=["members"], filter_policy={"tier": [{"prefix": 3}]}
            )

    assert str(caught.value).startswith(
        "consumer class 'test_a_consumer_class_defining_a_bad_policy_is_named_with_the_place_"
        "in_the_policy.<locals>.TierDesk': filter_policy['tier'][0] = {'prefix': 3}: expected "
        "prefix to take a string; write {'prefix': '3'}"
    )
    assert caught.value.field == "filter_policy"
    assert caught.value.problems[0].expected == "prefix to take a string"


def test_policy_keys_names_the_attributes_of_every_branch() -> None:
    """policy_keys gives the top-level names and those inside $or branches, nested ones too."""
    policy = {
        "event": ["placed"],
        "$or": [{"tier": ["gold"]}, {"$or": [{"region": ["eu"]}, {"size": [1]}]}],
    }

    assert policy_keys(policy) == {"event", "tier", "region", "size"}


# -- the matcher never raises, whatever it is given --------------------------------------


@pytest.mark.parametrize(
    "policy",
    [
        {"tier": [{"prefix": 3}]},
        {"tier": [{"suffix": None}]},
        {"tier": [{"anything-but": {"prefix": 3}}]},
        {"tier": [{}]},
        {"tier": [{"prefix": "g", "suffix": "d"}]},
        {"tier": 5},
        {"$or": "gold"},
        {"$or": [["tier"]]},
    ],
    ids=[
        "prefix-number",
        "suffix-null",
        "anything-but-prefix-number",
        "no-operator",
        "two-operators",
        "not-a-list",
        "or-not-a-list",
        "or-branch-not-a-policy",
    ],
)
def test_matching_a_policy_validate_refuses_passes_nothing_and_never_raises(
    policy: dict[str, Any],
) -> None:
    """matches() returns False, not an exception, for a policy it cannot evaluate."""
    assert matches(policy, {"tier": "gold", "n": 5}) is False


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.sampled_from(["g", ">", "="]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["prefix", "numeric", "anything-but", "exists", "$or", "tier"]),
            inner,
            max_size=2,
        )
    ),
    max_leaves=8,
)
_ATTRIBUTES = st.dictionaries(
    st.sampled_from(["tier", "n"]),
    st.sampled_from(["g", "gold", 5, 1.5, b"g"]),
    max_size=2,
)


@given(
    policy=st.dictionaries(st.sampled_from(["tier", "n", "$or"]), _JSON, max_size=3),
    attributes=_ATTRIBUTES,
)
def test_matches_never_raises_on_any_json_policy(
    policy: dict[str, Any], attributes: Attributes
) -> None:
    """Whatever JSON a policy holds, matches() answers True or False."""
    assert matches(policy, attributes) in (True, False)
