"""SNS subscription filter policies on message attributes, as a pure function.

Supports what applications use in practice: exact strings and numbers, ``prefix``,
``suffix``, ``equals-ignore-case``, ``anything-but`` (values or a prefix), ``numeric``
ranges, ``exists`` and a top-level ``$or``. Keys are ANDed, the values listed under one
key are ORed, as SNS does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from melange.exceptions import ConfigurationError
from melange.messages import AttributeValue

__all__ = ["matches", "validate"]

_OPERATORS = frozenset(
    {"prefix", "suffix", "equals-ignore-case", "anything-but", "numeric", "exists"}
)
_NUMERIC_OPS = frozenset({"=", "<", "<=", ">", ">="})


def validate(policy: Mapping[str, Any]) -> None:
    """Raise ``ConfigurationError`` when ``policy`` is not a filter policy melange supports."""
    for key, conditions in policy.items():
        if key == "$or":
            if not isinstance(conditions, list) or not conditions:
                raise ConfigurationError(f"filter policy '$or' is {conditions!r}; expected a list")
            for branch in conditions:
                if not isinstance(branch, Mapping):
                    raise ConfigurationError(
                        f"filter policy '$or' holds {branch!r}; expected policy objects"
                    )
                validate(branch)
            continue
        if not isinstance(conditions, list):
            raise ConfigurationError(
                f"filter policy key {key!r} has {conditions!r}; expected a list of conditions, "
                f'e.g. {{"{key}": ["value"]}}'
            )
        for condition in conditions:
            if isinstance(condition, dict) and not set(condition) <= _OPERATORS:
                raise ConfigurationError(
                    f"filter policy key {key!r} uses {sorted(condition)!r}; supported "
                    f"operators are {sorted(_OPERATORS)!r}"
                )


def matches(policy: Mapping[str, Any] | None, attributes: Mapping[str, AttributeValue]) -> bool:
    """Return whether a message with ``attributes`` passes ``policy`` (``None`` passes all)."""
    if not policy:
        return True
    for key, conditions in policy.items():
        if key == "$or":
            if not any(matches(branch, attributes) for branch in conditions):
                return False
        elif not _key_matches(conditions, attributes, key):
            return False
    return True


def _key_matches(
    conditions: Sequence[Any], attributes: Mapping[str, AttributeValue], key: str
) -> bool:
    present = key in attributes
    value = attributes.get(key)
    for condition in conditions:
        if isinstance(condition, dict) and "exists" in condition:
            if bool(condition["exists"]) == present:
                return True
        elif present and value is not None and _condition_matches(condition, value):
            return True
    return False


def _condition_matches(condition: Any, value: AttributeValue) -> bool:
    if isinstance(value, bytes):
        return False  # SNS does not filter on Binary attributes
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


def _equals(expected: Any, value: str | int | float) -> bool:
    if isinstance(expected, bool) or expected is None:
        return False
    if isinstance(expected, int | float):
        return not isinstance(value, str) and float(value) == float(expected)
    return isinstance(value, str) and value == expected


def _anything_but(operand: Any, value: str | int | float) -> bool:
    if isinstance(operand, dict) and "prefix" in operand:
        return not (isinstance(value, str) and value.startswith(operand["prefix"]))
    excluded = operand if isinstance(operand, list) else [operand]
    return not any(_equals(item, value) for item in excluded)


def _numeric_matches(operand: Sequence[Any], value: str | int | float) -> bool:
    if isinstance(value, str):
        return False
    pairs = zip(operand[::2], operand[1::2], strict=True)
    return all(_compare(float(value), op, float(bound)) for op, bound in pairs)


def _compare(value: float, operator: str, bound: float) -> bool:
    if operator not in _NUMERIC_OPS:
        raise ConfigurationError(
            f"numeric filter operator {operator!r} is not one of {sorted(_NUMERIC_OPS)!r}"
        )
    return {
        "=": value == bound,
        "<": value < bound,
        "<=": value <= bound,
        ">": value > bound,
        ">=": value >= bound,
    }[operator]
