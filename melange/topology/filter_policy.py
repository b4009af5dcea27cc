"""SNS subscription filter policies on message attributes, as a pure function.

Supports what applications use in practice: exact strings and numbers, ``prefix``,
``suffix``, ``equals-ignore-case``, ``anything-but`` (values, a prefix or a suffix),
``numeric`` ranges, ``exists`` and a top-level ``$or``. Keys are ANDed, the values listed
under one key are ORed, as SNS does. As on AWS, Binary attributes take no part in
filtering: for a policy they are not there at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from melange.exceptions import ConfigurationError, Problem
from melange.messages import AttributeValue

__all__ = ["matches", "validate"]

_OPERATORS = frozenset(
    {"prefix", "suffix", "equals-ignore-case", "anything-but", "numeric", "exists"}
)
_ANYTHING_BUT_OPERATORS = frozenset({"prefix", "suffix"})
_NUMERIC_OPS = frozenset({"=", "<", "<=", ">", ">="})

#: The values a filter policy compares: String and Number attributes.
_Filterable = str | int | float


def validate(policy: Mapping[str, Any]) -> None:
    """Raise ``ConfigurationError`` when ``policy`` is not a filter policy melange supports."""
    for key, conditions in policy.items():
        if key == "$or":
            if not isinstance(conditions, list) or not conditions:
                raise ConfigurationError(
                    f"filter policy '$or' is {conditions!r}; expected a list",
                    problems=[_problem("$or", conditions, "a list of policy objects")],
                )
            for branch in conditions:
                if not isinstance(branch, Mapping):
                    raise ConfigurationError(
                        f"filter policy '$or' holds {branch!r}; expected policy objects",
                        problems=[_problem("$or", branch, "a policy object")],
                    )
                validate(branch)
            continue
        if not isinstance(conditions, list):
            raise ConfigurationError(
                f"filter policy key {key!r} has {conditions!r}; expected a list of conditions, "
                f'e.g. {{"{key}": ["value"]}}',
                problems=[_problem(key, conditions, "a list of conditions")],
            )
        for condition in conditions:
            if isinstance(condition, dict):
                _validate_operators(key, condition)


def _validate_operators(key: str, condition: Mapping[str, Any]) -> None:
    if not set(condition) <= _OPERATORS:
        raise ConfigurationError(
            f"filter policy key {key!r} uses {sorted(condition)!r}; supported "
            f"operators are {sorted(_OPERATORS)!r}",
            problems=[_problem(key, dict(condition), f"one of {', '.join(sorted(_OPERATORS))}")],
        )
    operand = condition.get("anything-but")
    if isinstance(operand, dict) and not set(operand) <= _ANYTHING_BUT_OPERATORS:
        raise ConfigurationError(
            f"filter policy key {key!r} uses anything-but with {sorted(operand)!r}; "
            f"supported inside anything-but are {sorted(_ANYTHING_BUT_OPERATORS)!r}",
            problems=[
                _problem(
                    key,
                    dict(operand),
                    f"anything-but with one of {', '.join(sorted(_ANYTHING_BUT_OPERATORS))}",
                )
            ],
        )


def _problem(key: str, value: object, expected: str) -> Problem:
    """Return the problem of the filter policy's ``key``: it holds ``value``, not ``expected``."""
    return Problem(f"filter_policy[{key!r}]", value, expected)


def matches(policy: Mapping[str, Any] | None, attributes: Mapping[str, AttributeValue]) -> bool:
    """Return whether a message with ``attributes`` passes ``policy`` (``None`` passes all)."""
    if not policy:
        return True
    # SNS compares only String and Number attributes: a Binary one is as if absent.
    filterable = {k: v for k, v in attributes.items() if not isinstance(v, bytes)}
    return _policy_matches(policy, filterable)


def _policy_matches(policy: Mapping[str, Any], attributes: Mapping[str, _Filterable]) -> bool:
    for key, conditions in policy.items():
        if key == "$or":
            if not any(_policy_matches(branch, attributes) for branch in conditions):
                return False
        elif not _key_matches(conditions, attributes, key):
            return False
    return True


def _key_matches(
    conditions: Sequence[Any], attributes: Mapping[str, _Filterable], key: str
) -> bool:
    value = attributes.get(key)
    for condition in conditions:
        if isinstance(condition, dict) and "exists" in condition:
            if _exists_matches(bool(condition["exists"]), key, attributes):
                return True
        elif value is not None and _condition_matches(condition, value):
            return True
    return False


def _exists_matches(wanted: bool, key: str, attributes: Mapping[str, _Filterable]) -> bool:
    if wanted:
        return key in attributes
    # AWS: "exists": false only matches if at least one attribute is present.
    return key not in attributes and bool(attributes)


def _condition_matches(condition: Any, value: _Filterable) -> bool:
    if not isinstance(condition, dict):
        return _equals(condition, value)
    (operator, operand), *_ = condition.items()
    if operator == "prefix":
        return isinstance(value, str) and value.startswith(operand)
    if operator == "suffix":
        return isinstance(value, str) and value.endswith(operand)
    if operator == "equals-ignore-case":
        return isinstance(value, str) and value.casefold() == str(operand).casefold()
    if operator == "numeric":
        return _numeric_matches(operand, value)
    return _anything_but(operand, value)


def _equals(expected: Any, value: _Filterable) -> bool:
    if isinstance(expected, bool) or expected is None:
        return False
    if isinstance(expected, int | float):
        return not isinstance(value, str) and float(value) == float(expected)
    return isinstance(value, str) and value == expected


def _anything_but(operand: Any, value: _Filterable) -> bool:
    if isinstance(operand, dict):  # {"prefix": ...} or {"suffix": ...}
        return not _condition_matches(operand, value)
    excluded = operand if isinstance(operand, list) else [operand]
    return not any(_equals(item, value) for item in excluded)


def _numeric_matches(operand: Sequence[Any], value: _Filterable) -> bool:
    if isinstance(value, str):
        return False
    pairs = zip(operand[::2], operand[1::2], strict=True)
    return all(_compare(float(value), op, float(bound)) for op, bound in pairs)


def _compare(value: float, operator: str, bound: float) -> bool:
    if operator not in _NUMERIC_OPS:
        raise ConfigurationError(
            f"numeric filter operator {operator!r} is not one of {sorted(_NUMERIC_OPS)!r}",
            problems=[
                Problem("filter_policy", operator, f"one of {' '.join(sorted(_NUMERIC_OPS))}")
            ],
        )
    return {
        "=": value == bound,
        "<": value < bound,
        "<=": value <= bound,
        ">": value > bound,
        ">=": value >= bound,
    }[operator]
