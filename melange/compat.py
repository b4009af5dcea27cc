"""melange 7's names, kept working for code written against 7.x, each warning when used.

Every name melange 7 had and melange 8 calls differently is here, and only here: the
primary definitions know nothing of them. Using one warns with ``DeprecationWarning``,
naming what to write instead, at the user's line (not melange's):

- ``melange.SingleDispatchConsumer``: ``melange.Consumer``;
- ``melange.SimpleMessageDispatcher(consumer, registry, backend)``:
  ``MessageDispatcher(registry, backend, consumers=[consumer])``;
- ``melange.backends.InMemoryMessagingBackend``: ``melange.backends.InMemoryBackend``;
- the dispatchers' ``early_ack=True`` and ``always_ack=True``:
  ``ack_policy=AckPolicy.ON_RECEIPT`` and ``AckPolicy.ALWAYS``.

``melange`` and ``melange.backends`` resolve the old names through ``melange7_name``
(from their ``__getattr__``), and the dispatchers hand keywords they do not know to
``melange7_options``; both import this module only then. It may import anything in
melange, and nothing imports it at start-up.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from collections.abc import Mapping
from types import FrameType
from typing import TYPE_CHECKING, Any

from melange.backends.protocol import MessagingBackend
from melange.consuming.consumers import Consumer
from melange.consuming.dispatcher import MessageDispatcher
from melange.exceptions import ConfigurationError, Problem
from melange.options import AckPolicy
from melange.serializers.registry import SerializerRegistry

if TYPE_CHECKING:
    from melange.backends.memory.backend import InMemoryBackend as InMemoryMessagingBackend
    from melange.consuming.consumers import Consumer as SingleDispatchConsumer

__all__ = [
    "MELANGE7_ACK_FLAGS",
    "RENAMED",
    "InMemoryMessagingBackend",
    "SimpleMessageDispatcher",
    "SingleDispatchConsumer",
    "melange7_name",
    "melange7_options",
]


class _SimpleMessageDispatcher(MessageDispatcher):
    """melange 7's dispatcher for one consumer: ``(consumer, registry, backend)``.

    ``MessageDispatcher(registry, backend, consumers=[consumer])`` does the same.
    """

    def __init__(
        self,
        consumer: Consumer,
        serializer_registry: SerializerRegistry,
        backend: MessagingBackend,
        **options: Any,
    ) -> None:
        super().__init__(serializer_registry, backend, consumers=[consumer], **options)


_SimpleMessageDispatcher.__name__ = _SimpleMessageDispatcher.__qualname__ = (
    "SimpleMessageDispatcher"
)

if TYPE_CHECKING:
    SimpleMessageDispatcher = _SimpleMessageDispatcher

#: melange 7 name -> (module of what it is now, its name there, what to write instead).
RENAMED: dict[str, tuple[str, str, str]] = {
    "SingleDispatchConsumer": ("melange.consuming.consumers", "Consumer", "melange.Consumer"),
    "InMemoryMessagingBackend": (
        "melange.backends.memory.backend",
        "InMemoryBackend",
        "melange.backends.InMemoryBackend",
    ),
    "SimpleMessageDispatcher": (
        __name__,
        "_SimpleMessageDispatcher",
        "MessageDispatcher(registry, backend, consumers=[consumer])",
    ),
}

#: The dispatcher keywords melange 7 had, and the ``AckPolicy`` each ``True`` stands for.
MELANGE7_ACK_FLAGS: dict[str, AckPolicy] = {
    "early_ack": AckPolicy.ON_RECEIPT,
    "always_ack": AckPolicy.ALWAYS,
}


def melange7_name(name: str) -> Any:
    """Return what melange 7's ``name`` is now, warning; ``AttributeError`` if it is not one."""
    if name not in RENAMED:
        raise AttributeError(f"module 'melange.compat' has no attribute {name!r}")
    module, new_name, instead = RENAMED[name]
    _warn(
        f"{name} is melange 7's name; use {instead} (melange.compat keeps the old name "
        "working, with this warning)"
    )
    return getattr(importlib.import_module(module), new_name)


# Type checkers see the names above and nothing else: a misspelled name is an error
# for them, not an ``Any`` from ``__getattr__``.
if not TYPE_CHECKING:

    def __getattr__(name: str) -> Any:
        return melange7_name(name)


def melange7_options(values: Mapping[str, Any]) -> dict[str, Any]:
    """Return dispatcher keywords with melange 7's ``early_ack``/``always_ack`` translated.

    Each boolean given warns and becomes (or is checked against) ``ack_policy``; other
    keywords pass unchanged. The dispatchers call this only for keywords they do not know.

    Raises:
        ConfigurationError: both booleans are true, or a boolean contradicts the
            ``ack_policy`` given beside it.
    """
    flags = {name: values[name] for name in MELANGE7_ACK_FLAGS if name in values}
    rest = {name: value for name, value in values.items() if name not in flags}
    if not flags:
        return rest
    for name in flags:
        _warn(
            f"{name}= is melange 7's keyword; use ack_policy=AckPolicy."
            f"{MELANGE7_ACK_FLAGS[name].name} instead of {name}=True (melange.compat keeps "
            "the old keyword working, with this warning)"
        )
    rest["ack_policy"] = _ack_policy(rest.get("ack_policy"), flags)
    return rest


def _ack_policy(ack_policy: AckPolicy | None, flags: Mapping[str, bool | None]) -> AckPolicy:
    if all(flags.get(name) for name in MELANGE7_ACK_FLAGS):
        expected = "not both early_ack=True and always_ack=True"
        raise ConfigurationError(
            "early_ack=True and always_ack=True contradict each other (acknowledge on receipt, "
            "or after handling); pass one ack_policy=AckPolicy.ON_RECEIPT or AckPolicy.ALWAYS",
            problems=[Problem(name, True, expected) for name in MELANGE7_ACK_FLAGS],
        )
    if ack_policy is None:
        chosen = [MELANGE7_ACK_FLAGS[name] for name, value in flags.items() if value]
        return chosen[0] if chosen else AckPolicy.AFTER_SUCCESS
    for name, value in flags.items():
        implied = ack_policy is MELANGE7_ACK_FLAGS[name]
        if value is not None and value != implied:
            raise ConfigurationError(
                f"{name}={value!r} contradicts ack_policy={ack_policy!r}; drop {name} "
                "(ack_policy replaces it)",
                problems=[Problem(name, value, f"{implied} with ack_policy={ack_policy!r}")],
            )
    return ack_policy


def _warn(message: str) -> None:
    """Warn with ``DeprecationWarning`` at the first frame that is not melange's.

    ``from melange import OldName`` looks the name up twice: the import machinery probes
    it (``_handle_fromlist``) before the import statement takes it; only the second warns.
    """
    level, probe = _user_stacklevel(sys._getframe(1))
    if not probe:
        warnings.warn(message, DeprecationWarning, stacklevel=level)


def _user_stacklevel(frame: FrameType | None) -> tuple[int, bool]:
    """Return the ``stacklevel`` that skips every melange frame, and whether it is a probe.

    ``frame`` is the caller of the function calling ``warnings.warn`` (stack level 2).
    ``warnings`` does not count the import machinery's frames (``importlib._bootstrap``,
    on the stack when ``from melange import OldName`` resolves the name), so neither
    does this. A probe is a lookup by the import machinery's ``_handle_fromlist``.
    """
    level = 1
    while frame is not None:
        if _is_import_machinery(frame):
            if frame.f_code.co_name == "_handle_fromlist":
                return level, True
        else:
            level += 1
            if not _is_melange(frame):
                break
        frame = frame.f_back
    return level, False


def _is_import_machinery(frame: FrameType) -> bool:
    filename = frame.f_code.co_filename
    return "importlib" in filename and "_bootstrap" in filename


def _is_melange(frame: FrameType) -> bool:
    module = str(frame.f_globals.get("__name__", ""))
    return module == "melange" or module.startswith("melange.")
