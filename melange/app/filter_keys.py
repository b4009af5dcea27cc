"""Filter policy keys no message type of the application supplies: a likely typo.

A subscription filtering on ``{"teir": ["gold"]}`` when the message types supply ``tier``
is accepted by SNS, and delivers nothing, silently. ``unsupplied_filter_keys(topology)``
finds such keys before ``python -m melange declare`` declares them: it reads, without
building a message, the attribute names each message type's ``melange_attributes``
supplies, and returns one ``UnsuppliedFilterKey`` per queue and key that none of them,
nor melange itself, supplies. The command logs each as a WARNING.

The message types are those the application's consumers handle (the types their
``@consumer`` methods take) and their subclasses. Their attribute names are read from a
``TypedDict`` return annotation of ``melange_attributes``, or else from its source when
every ``return`` is a dict literal with string keys (``return {"tier": self.tier}``) or a
``dict(tier=...)`` call. When any type's names cannot be read that way (a computed mapping,
a catch-all handler for ``object``), or no type supplies attributes at all (publishers
then set them with ``attributes=``), nothing is reported: a guess would be noise.
"""

from __future__ import annotations

import ast
import difflib
import inspect
import textwrap
import typing
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import attrs

from melange.app.topology import AppTopology
from melange.telemetry.tracing import TRACE_ATTRIBUTES
from melange.topology.filter_policy import policy_keys
from melange.wire import RESERVED_ATTRIBUTES

__all__ = ["UnsuppliedFilterKey", "supplied_attribute_names", "unsupplied_filter_keys"]

#: What melange itself puts on every message it publishes (a policy may filter on them).
MELANGE_ATTRIBUTES = RESERVED_ATTRIBUTES | frozenset(TRACE_ATTRIBUTES)


@attrs.frozen
class UnsuppliedFilterKey:
    """A filter policy key that no message type of the application supplies.

    Attributes:
        queue: the subscribed queue, as the application names it.
        topics: the topics whose subscriptions filter on ``key``.
        key: the attribute name the policy filters on.
        supplied: the attribute names the message types do supply, sorted.
        types: the qualified names of those message types, sorted.
        suggestion: the supplied name closest to ``key``, if one is close.
    """

    queue: str
    topics: tuple[str, ...]
    key: str
    supplied: tuple[str, ...]
    types: tuple[str, ...]
    suggestion: str | None

    def __str__(self) -> str:
        topics = ", ".join(map(repr, self.topics))
        hint = f"did you mean {self.suggestion!r}? " if self.suggestion else ""
        return (
            f"queue {self.queue!r} filters topic{'s' if len(self.topics) > 1 else ''} {topics} "
            f"on attribute {self.key!r}, which no message type supplies (melange_attributes of "
            f"{', '.join(self.types)} supply {', '.join(map(repr, self.supplied))}), so the "
            "subscription may deliver nothing unless publishers set it with attributes=...; "
            f"{hint}fix the key in the consumer's Subscription(filter_policy=...)"
        )


def unsupplied_filter_keys(topology: AppTopology) -> list[UnsuppliedFilterKey]:
    """Return each queue's filter policy keys that no message type supplies.

    Empty when the types' attribute names cannot all be read, or none supplies any.
    """
    handled = {t for queue in topology.queues for c in queue.consumers for t in c.handled_types}
    if object in handled or Any in handled:
        return []  # a handler for every type: the attribute names are anyone's
    types = sorted(_with_subclasses(handled), key=_name)
    names = {t: supplied_attribute_names(t) for t in types}
    suppliers = {t: found for t, found in names.items() if found != frozenset()}
    if not suppliers or any(found is None for found in suppliers.values()):
        return []
    supplied = sorted({name for found in suppliers.values() if found for name in found})
    known = MELANGE_ATTRIBUTES | frozenset(supplied)
    found_keys: list[UnsuppliedFilterKey] = []
    for queue in topology.queues:
        topics_by_key: dict[str, list[str]] = {}
        for subscription in queue.subscriptions:
            if subscription.filter_policy is None:
                continue
            for key in sorted(policy_keys(subscription.filter_policy) - known):
                topics_by_key.setdefault(key, []).extend(subscription.topics)
        found_keys.extend(
            UnsuppliedFilterKey(
                queue=queue.name,
                topics=tuple(topics),
                key=key,
                supplied=tuple(supplied),
                types=tuple(map(_name, suppliers)),
                suggestion=next(iter(difflib.get_close_matches(key, supplied, n=1)), None),
            )
            for key, topics in topics_by_key.items()
        )
    return found_keys


def _name(message_type: type) -> str:
    return getattr(message_type, "__qualname__", repr(message_type))


def _with_subclasses(types: Iterable[type]) -> set[type]:
    """Return ``types`` and every subclass of theirs defined so far."""
    found: set[type] = set()
    pending = list(types)
    while pending:
        each = pending.pop()
        if each not in found:
            found.add(each)
            pending.extend(_subclasses(each))
    return found


def _subclasses(cls: type) -> list[type]:
    try:
        return list(type.__subclasses__(cls))
    except TypeError:  # not a class (a generic alias a handler was annotated with)
        return []


def supplied_attribute_names(message_type: type) -> frozenset[str] | None:
    """Return the attribute names ``message_type``'s ``melange_attributes`` may supply.

    Empty for a type without ``melange_attributes``; ``None`` when they cannot be read
    without an instance (see the module docstring for what can be read).
    """
    method = getattr(message_type, "melange_attributes", None)
    if method is None:
        return frozenset()
    if not callable(method):
        return None
    return _typed_dict_keys(method) or _literal_keys(method)


def _typed_dict_keys(method: Callable[..., object]) -> frozenset[str] | None:
    try:
        returned = typing.get_type_hints(method).get("return")
    except Exception:  # an annotation that does not resolve says nothing
        return None
    if returned is None or not typing.is_typeddict(returned):
        return None
    return frozenset(returned.__required_keys__ | returned.__optional_keys__)


def _literal_keys(method: Callable[..., object]) -> frozenset[str] | None:
    """Return the keys of the dicts ``method`` returns, if its source shows them all."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(method)))
    except (OSError, TypeError, SyntaxError):  # no source: a builtin, an exec, a REPL
        return None
    function = tree.body[0] if tree.body else None
    if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
        return None
    keys: set[str] = set()
    returns = list(_returns(function.body))
    for returned in returns:
        found = _dict_keys(returned.value)
        if found is None:
            return None
        keys |= found
    return frozenset(keys) if returns else None


def _returns(body: list[ast.stmt]) -> Iterator[ast.Return]:
    """Yield the ``return`` statements of a function body, not those of functions inside."""
    pending: list[ast.AST] = list(body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Return):
            yield node
        elif not isinstance(
            node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef
        ):
            pending.extend(ast.iter_child_nodes(node))


def _dict_keys(node: ast.expr | None) -> set[str] | None:
    """Return the string keys of a dict literal or a ``dict(name=...)`` call, else ``None``."""
    if isinstance(node, ast.Dict):  # a None key is a ** unpacking: not all keys are shown
        keys = [key.value if isinstance(key, ast.Constant) else None for key in node.keys]
        strings = {key for key in keys if isinstance(key, str)}
        return strings if len(strings) == len(set(keys)) else None
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "dict"
        and not node.args
        and all(keyword.arg is not None for keyword in node.keywords)
    ):
        return {str(keyword.arg) for keyword in node.keywords}
    return None
