"""SNS subscription filter policies on message attributes: one validator, one matcher.

``validate`` runs when a ``Subscription`` or ``SubscriptionSpec`` is made, so before any
request: it refuses every policy SNS refuses at ``Subscribe`` and every policy the
in-memory backend could not evaluate as SNS does. ``matches`` (the in-memory backend's
filter, run on every publish) therefore only meets policies it can evaluate, and still
never raises. Keys are ANDed, the conditions listed under one key are ORed, as on SNS.
As on AWS, Binary attributes take no part in filtering: for a policy they are not there.

The grammar (``FilterPolicyScope`` ``MessageAttributes``, SNS's default and the only
scope melange declares; payload-based policies, with their nesting, are not supported):

- a policy is a dict of attribute names (strings) to a non-empty list of conditions, and
  at most one ``"$or"`` key holding a list of at least two non-empty policy objects (each
  may hold a ``"$or"`` of its own; none may use an operator's name as a key, or SNS reads
  ``"$or"`` as an attribute name);
- a condition is a string, a number, or an object with exactly one operator:
  ``prefix``, ``suffix``, ``equals-ignore-case`` (each takes a string); ``anything-but``
  (a string, a number, a non-empty list of them, or ``{"prefix": str}`` or
  ``{"suffix": str}``); ``numeric`` (``[op, n]`` with op one of ``= < <= > >=``, or
  ``[">" or ">=", low, "<" or "<=", high]`` with low below high); ``exists`` (true or
  false).

The limits AWS documents ("Filter policy constraints" in the Amazon SNS Developer Guide):

- at most 5 keys (``MAX_KEYS``; the top-level keys, ``"$or"`` being one);
- at most 150 combinations (``MAX_COMBINATIONS``): the product of the number of
  conditions of each key, where a ``"$or"`` counts the sum of its branches' own;
- numbers from -10^9 to 10^9 (``MAX_NUMBER``), compared to five decimal places;
- at most 256 KiB of JSON (``MAX_POLICY_BYTES``);
- no nested policy objects under an attribute name (those filter a message body).

Stricter than SNS, because the policy could never match a message melange publishes or
melange cannot evaluate it: ``true``, ``false`` and ``null`` as values (melange sends no
such attributes); an empty list of conditions (SNS refuses it too); ``cidr`` (moto
refuses it, and the in-memory backend does not evaluate it); anything-but with
``equals-ignore-case`` or ``wildcard`` (SNS documents only prefix and suffix there).
"""

from __future__ import annotations

import difflib
import json
import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

from melange.exceptions import ConfigurationError, Problem
from melange.messages import AttributeValue

__all__ = [
    "MAX_COMBINATIONS",
    "MAX_KEYS",
    "MAX_NUMBER",
    "MAX_POLICY_BYTES",
    "OPERATORS",
    "matches",
    "policy_keys",
    "validate",
]

logger = logging.getLogger(__name__)

#: A filter policy has at most five (top-level) keys.
MAX_KEYS = 5
#: The product of the number of conditions of each key may not exceed 150.
MAX_COMBINATIONS = 150
#: SNS compares numbers from -10^9 to 10^9.
MAX_NUMBER = 1_000_000_000
#: A filter policy's JSON is at most 256 KiB.
MAX_POLICY_BYTES = 256 * 1024

#: The operators a condition object may use.
OPERATORS = ("anything-but", "equals-ignore-case", "exists", "numeric", "prefix", "suffix")
_OR = "$or"
_STRING_OPERATORS = ("prefix", "suffix", "equals-ignore-case")
_ANYTHING_BUT_OPERATORS = ("prefix", "suffix")
#: Names SNS knows as operators: a "$or" branch using one as a key is no "$or" to SNS.
_RESERVED = (*OPERATORS, "cidr", "wildcard")
_NUMERIC_OPS = ("=", "<", "<=", ">", ">=")
_NUMERIC_SHAPE = (
    'numeric to take [operator, number] or [">" or ">=", low, "<" or "<=", high], '
    "with operators = < <= > >= and low below high"
)

#: The values a filter policy compares: String and Number attributes.
_Filterable = str | int | float


# -- validation -------------------------------------------------------------------------


def validate(policy: object) -> None:
    """Raise ``ConfigurationError`` unless ``policy`` is a filter policy SNS and melange take.

    The grammar and limits are in this module's docstring. The message names where in the
    policy the fault is (``filter_policy['tier'][0]``), its value, what was expected and
    how to fix it; ``problems`` holds one ``Problem`` with the same.
    """
    if not isinstance(policy, Mapping):
        _refuse(
            "",
            policy,
            "a dict of attribute names to lists of conditions",
            'write e.g. {"region": ["eu"]}',
        )
    _check_object(policy, "")
    if len(policy) > MAX_KEYS:
        _refuse(
            "",
            sorted(map(str, policy)),
            f"at most {MAX_KEYS} keys (SNS's limit)",
            "drop keys, or split the filter over two queues",
        )
    combinations = _combinations(policy)
    if combinations > MAX_COMBINATIONS:
        _refuse(
            "",
            f"{combinations} combinations",
            f"at most {MAX_COMBINATIONS} combinations (the product of each key's number of "
            "conditions; a $or adds up its branches')",
            "list fewer conditions, e.g. one prefix instead of many values",
        )
    size = len(json.dumps(policy).encode("utf-8"))
    if size > MAX_POLICY_BYTES:
        _refuse(
            "",
            f"{size} bytes of JSON",
            f"at most {MAX_POLICY_BYTES} bytes (256 KiB, SNS's limit)",
            "list fewer or shorter conditions",
        )


def policy_keys(policy: Mapping[str, Any]) -> frozenset[str]:
    """Return the attribute names a valid ``policy`` filters on, in ``$or`` branches too."""
    keys: set[str] = set()
    for key, conditions in policy.items():
        if key == _OR:
            for branch in conditions:
                keys |= policy_keys(branch)
        else:
            keys.add(key)
    return frozenset(keys)


def _combinations(policy: Mapping[str, Any]) -> int:
    total = 1
    for key, conditions in policy.items():
        if key == _OR:
            total *= sum(_combinations(branch) for branch in conditions)
        else:
            total *= len(conditions)
    return total


def _check_object(policy: Mapping[Any, Any], where: str) -> None:
    for key, conditions in policy.items():
        if not isinstance(key, str):
            _refuse(where, key, "attribute names that are strings", f"write {str(key)!r}")
        if key == _OR:
            _check_or(conditions, f"{where}[{key!r}]")
        else:
            _check_conditions(conditions, f"{where}[{key!r}]")


def _check_or(branches: Any, where: str) -> None:
    if not isinstance(branches, list) or len(branches) < 2:
        _refuse(
            where,
            branches,
            "a list of at least two policy objects (SNS reads anything else as an "
            "attribute named '$or')",
            'write e.g. {"$or": [{"source": ["web"]}, {"priority": ["high"]}]}; for one '
            "branch, write its keys beside the others",
        )
    for number, branch in enumerate(branches):
        at = f"{where}[{number}]"
        if not isinstance(branch, Mapping) or not branch:
            _refuse(at, branch, "a non-empty policy object", 'write e.g. {"source": ["web"]}')
        reserved = sorted(key for key in branch if key in _RESERVED)
        if reserved:
            _refuse(
                at,
                dict(branch),
                "attribute names that are no operator's (SNS then reads '$or' as an "
                "attribute name)",
                f"rename {reserved[0]!r}, or move it out of the $or",
            )
        _check_object(branch, at)


def _check_conditions(conditions: Any, where: str) -> None:
    if isinstance(conditions, Mapping):
        operator = len(conditions) == 1 and next(iter(conditions)) in _RESERVED
        _refuse(
            where,
            conditions,
            "a list of conditions: a nested policy filters a message body (FilterPolicyScope "
            "MessageBody), and melange filters on message attributes only",
            f"write [{conditions!r}]"
            if operator
            else "filter on the attribute itself, e.g. {'level': ['vip']}",
        )
    if not isinstance(conditions, list):
        _refuse(
            where,
            conditions,
            "a list of conditions",
            f"write [{conditions!r}]" if _simple(conditions) else 'write e.g. ["eu"]',
        )
    if not conditions:
        _refuse(
            where,
            conditions,
            "at least one condition (an empty list matches nothing; SNS refuses it)",
            "list a condition, or drop the key",
        )
    for number, condition in enumerate(conditions):
        at = f"{where}[{number}]"
        if isinstance(condition, Mapping):
            _check_operator(condition, at)
        else:
            _check_value(condition, at, "a condition")


def _check_value(value: Any, where: str, what: str) -> None:
    """Refuse ``value`` unless it is a string or a number SNS compares."""
    if isinstance(value, str):
        return
    if isinstance(value, bool) or value is None:
        kind = "null" if value is None else "boolean"
        _refuse(
            where,
            value,
            f"{what} that is a string, a number or an operator object: melange publishes no "
            f"{kind} attributes, so it would match nothing",
            f"write the string {json.dumps(value)!r} to match a String attribute of that text",
        )
    if isinstance(value, int | float):
        _check_number(value, where)
        return
    if isinstance(value, list):
        fix = "list the values themselves: the values under one key are ORed"
        if all(_simple(item) for item in value):
            fix = f"write {value!r} in place of [{value!r}]: the values under one key are ORed"
        _refuse(where, value, f"{what} that is a string, a number or an operator object", fix)
    _refuse(
        where,
        value,
        f"{what} that is a string, a number or an operator object",
        f"write {str(value)!r} for a String attribute",
    )


def _check_number(value: float, where: str) -> None:
    if not math.isfinite(value) or not -MAX_NUMBER <= value <= MAX_NUMBER:
        _refuse(
            where,
            value,
            f"a number from {-MAX_NUMBER:,} to {MAX_NUMBER:,} (SNS's range)",
            "compare a smaller number, or send the value as a String attribute",
        )


def _check_operator(condition: Mapping[Any, Any], where: str) -> None:
    if len(condition) != 1:
        _refuse(
            where,
            dict(condition),
            "one operator per condition object",
            "list each operator as a condition of its own: "
            "[{'prefix': 'a'}, {'suffix': 'b'}] (they are ORed)",
        )
    ((operator, operand),) = condition.items()
    if operator in _STRING_OPERATORS:
        if not isinstance(operand, str):
            _refuse(
                where,
                dict(condition),
                f"{operator} to take a string",
                f"write {{{operator!r}: {str(operand)!r}}}",
            )
    elif operator == "anything-but":
        _check_anything_but(operand, dict(condition), where)
    elif operator == "numeric":
        _check_numeric(operand, dict(condition), where)
    elif operator == "exists":
        if not isinstance(operand, bool):
            _refuse(
                where,
                dict(condition),
                "exists to take true or false",
                "write {'exists': True} or {'exists': False}",
            )
    else:
        _refuse(where, dict(condition), *_unknown_operator(operator))


def _unknown_operator(operator: object) -> tuple[str, str]:
    """Return what is expected instead of ``operator``, and how to fix it."""
    supported = f"one of the operators {', '.join(OPERATORS)}"
    if operator == "cidr":
        return (
            f"{supported}: melange does not support cidr (moto refuses it, and the "
            "in-memory backend does not evaluate it)",
            "match the address's text with prefix, e.g. {'prefix': '10.0.'}",
        )
    close = difflib.get_close_matches(str(operator), OPERATORS, n=1)
    fix = f"did you mean {close[0]!r}?" if close else f"use {supported}"
    return supported, fix


def _check_anything_but(operand: Any, condition: dict[Any, Any], where: str) -> None:
    if isinstance(operand, Mapping):
        inner = next(iter(operand), None)
        if len(operand) != 1 or inner not in _ANYTHING_BUT_OPERATORS:
            _refuse(
                where,
                condition,
                "anything-but to take a string, a number, a list of them, or one of "
                "{'prefix': str} and {'suffix': str}",
                "write e.g. {'anything-but': {'prefix': 'test-'}}",
            )
        if not isinstance(operand[inner], str):
            _refuse(
                where,
                condition,
                f"anything-but's {inner} to take a string",
                f"write {{'anything-but': {{{inner!r}: {str(operand[inner])!r}}}}}",
            )
        return
    values = operand if isinstance(operand, list) else [operand]
    if not values:
        _refuse(
            where,
            condition,
            "anything-but with at least one value",
            "list the values to exclude, or use {'exists': True}",
        )
    for value in values:
        _check_value(value, where, "an anything-but value")


def _check_numeric(operand: Any, condition: dict[Any, Any], where: str) -> None:
    if not isinstance(operand, list) or len(operand) not in (2, 4):
        _refuse(where, condition, _NUMERIC_SHAPE, "write e.g. {'numeric': ['>', 0, '<=', 150]}")
    operators, bounds = operand[::2], operand[1::2]
    for operator in operators:
        if operator not in _NUMERIC_OPS:
            like = _numeric_operator_like(operator)
            fix = f"did you mean {like!r}?" if like else "use one of = < <= > >="
            if operator == "!=":
                fix = "for 'not equal', write {'anything-but': [number]}"
            _refuse(where, condition, f"{_NUMERIC_SHAPE}, not {operator!r}", fix)
    for bound in bounds:
        if isinstance(bound, bool) or not isinstance(bound, int | float):
            _refuse(
                where,
                condition,
                f"{_NUMERIC_SHAPE}: the bounds are numbers, not {bound!r}",
                "write the number without quotes",
            )
        _check_number(bound, where)
    if len(operand) == 4 and (
        operators[0] not in (">", ">=") or operators[1] not in ("<", "<=") or bounds[0] >= bounds[1]
    ):
        _refuse(where, condition, _NUMERIC_SHAPE, "write e.g. {'numeric': ['>', 0, '<=', 150]}")


def _numeric_operator_like(operator: object) -> str | None:
    """Return the numeric operator ``operator`` was likely meant to be ("=>" is ">=")."""
    text = str(operator)
    for candidate in (text[::-1], text.replace("==", "=")):
        if candidate in _NUMERIC_OPS:
            return candidate
    close = difflib.get_close_matches(text, _NUMERIC_OPS, n=1)
    return close[0] if close else None


def _simple(value: object) -> bool:
    """Whether ``value`` is a string or a number (not a bool)."""
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def _refuse(where: str, value: object, expected: str, fix: str) -> NoReturn:
    """Raise the ``ConfigurationError`` for ``value`` at ``where`` in the filter policy."""
    setting = f"filter_policy{where}"
    raise ConfigurationError(
        f"{setting} = {value!r}: expected {expected}; {fix}",
        problems=[Problem(setting, value, expected)],
    )


# -- matching ---------------------------------------------------------------------------


def matches(policy: Mapping[str, Any] | None, attributes: Mapping[str, AttributeValue]) -> bool:
    """Return whether a message with ``attributes`` passes ``policy`` (``None`` passes all).

    Never raises: a condition it cannot evaluate passes nothing, and so does a policy whose
    shape it cannot read. ``validate`` refuses both before a subscription exists, as SNS
    refuses them at ``Subscribe``.
    """
    if not policy:
        return True
    # SNS compares only String and Number attributes: a Binary one is as if absent.
    filterable = {k: v for k, v in attributes.items() if not isinstance(v, bytes)}
    try:
        return _policy_matches(policy, filterable)
    except Exception:  # a publish must not fail on a subscription's policy
        logger.warning("filter policy %r cannot be evaluated; it passes nothing", policy)
        return False


def _policy_matches(policy: Mapping[str, Any], attributes: Mapping[str, _Filterable]) -> bool:
    for key, conditions in policy.items():
        if key == _OR:
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
        if isinstance(condition, Mapping) and "exists" in condition:
            if _exists_matches(condition["exists"] is True, key, attributes):
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
    if not isinstance(condition, Mapping):
        return _equals(condition, value)
    if len(condition) != 1:
        return False
    ((operator, operand),) = condition.items()
    if operator in _STRING_OPERATORS:
        return (
            isinstance(value, str)
            and isinstance(operand, str)
            and _text_matches(operator, operand, value)
        )
    if operator == "numeric":
        return _numeric_matches(operand, value)
    if operator == "anything-but":
        return _anything_but(operand, value)
    return False


def _text_matches(operator: str, operand: str, value: str) -> bool:
    if operator == "prefix":
        return value.startswith(operand)
    if operator == "suffix":
        return value.endswith(operand)
    return value.casefold() == operand.casefold()  # equals-ignore-case


def _equals(expected: Any, value: _Filterable) -> bool:
    if isinstance(expected, str):
        return isinstance(value, str) and value == expected
    if _simple(expected):
        return not isinstance(value, str) and float(value) == float(expected)
    return False


def _anything_but(operand: Any, value: _Filterable) -> bool:
    if isinstance(operand, Mapping):  # {"prefix": ...} or {"suffix": ...}
        if len(operand) != 1:
            return False
        ((operator, text),) = operand.items()
        if operator not in _ANYTHING_BUT_OPERATORS or not isinstance(text, str):
            return False
        return not _condition_matches(operand, value)
    excluded = operand if isinstance(operand, list) else [operand]
    return not any(_equals(item, value) for item in excluded)


def _numeric_matches(operand: Any, value: _Filterable) -> bool:
    if isinstance(value, str) or not isinstance(operand, list) or len(operand) % 2:
        return False
    pairs = zip(operand[::2], operand[1::2], strict=True)
    return all(_compare(float(value), op, bound) for op, bound in pairs)


def _compare(value: float, operator: Any, bound: Any) -> bool:
    if not _simple(bound):
        return False
    limit = float(bound)
    if operator == "=":
        return value == limit
    if operator == "<":
        return value < limit
    if operator == "<=":
        return value <= limit
    if operator == ">":
        return value > limit
    return operator == ">=" and value >= limit
