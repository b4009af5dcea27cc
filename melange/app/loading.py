"""Finding what a command names: ``MODULE:ATTRIBUTE`` to an object graph or a dispatcher.

``load_graph`` and ``load_dispatcher`` import the module a command's TARGET names and
return the object there, or what calling it returns; every way that can go wrong is one
``FactoryNotFoundError`` naming the reference. Shared by ``melange.app.cli`` and the
operations commands (``melange.app.ops``).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import attrs

from melange.consuming.dispatcher import MessageDispatcher
from melange.exceptions import FactoryNotFoundError

__all__ = [
    "DISPATCHER",
    "GRAPH",
    "ObjectProvider",
    "TargetKind",
    "import_from_working_directory",
    "load_dispatcher",
    "load_graph",
    "load_target",
]


@runtime_checkable
class ObjectProvider(Protocol):
    """An object graph: ``melange_bindings.ObjectGraph``, a ``TestGraph``, a pinject graph."""

    def provide(self, cls: Any) -> Any:
        """Return an instance of ``cls`` with its dependencies injected."""


@attrs.frozen
class TargetKind:
    """What a command's ``MODULE:ATTRIBUTE`` must name, for loading it and for its errors."""

    what: str
    placeholder: str
    example: str
    accepts: Callable[[object], bool]


DISPATCHER = TargetKind(
    "a MessageDispatcher",
    "MODULE:FACTORY",
    "myapp.worker:build_dispatcher",
    lambda found: isinstance(found, MessageDispatcher),
)
GRAPH = TargetKind(
    "an object graph (melange_bindings.new_object_graph)",
    "MODULE:GRAPH",
    "myapp.wiring:graph",
    lambda found: not isinstance(found, type) and isinstance(found, ObjectProvider),
)


def load_target(reference: str, kind: TargetKind) -> Any:
    """Import ``module:attribute`` and return what it is, or what calling it returns.

    Whatever a callable raises (a ``BackendError`` when the broker is down, a
    ``ConfigurationError`` for wrong settings) propagates unchanged.

    Raises:
        FactoryNotFoundError: the reference is malformed, its module cannot be imported,
            the attribute is missing, or it is neither ``kind`` nor a callable returning one.
    """
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise FactoryNotFoundError(
            f"{reference!r} is not {kind.placeholder}; write e.g. {kind.example}",
            reference=reference,
            setting=kind.placeholder,
            expected=f"{kind.placeholder}, e.g. {kind.example}",
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise FactoryNotFoundError(
            f"cannot import module {module_name!r} of {reference!r} ({exc}); check the name "
            "and that it is in the working directory or on PYTHONPATH",
            reference=reference,
            setting=kind.placeholder,
            expected="a module importable from the working directory or PYTHONPATH",
        ) from exc
    target = getattr(module, attribute, None)
    if target is None:
        raise FactoryNotFoundError(
            f"module {module_name!r} has no attribute {attribute!r}",
            reference=reference,
            setting=kind.placeholder,
            expected=f"an attribute of module {module_name!r}",
        )
    if kind.accepts(target):
        return target
    if not callable(target):
        raise FactoryNotFoundError(
            f"{reference!r} is {target!r}; expected {kind.what} or a callable returning one",
            reference=reference,
            setting=kind.placeholder,
            expected=f"{kind.what} or a callable returning one",
        )
    built = target()
    if not kind.accepts(built):
        raise FactoryNotFoundError(
            f"{reference!r} returned {built!r}; expected {kind.what}",
            reference=reference,
            setting=kind.placeholder,
            expected=f"a callable returning {kind.what}",
        )
    return built


def load_dispatcher(reference: str) -> MessageDispatcher:
    """Return the dispatcher ``module:attribute`` is or builds (see ``load_target``)."""
    dispatcher: MessageDispatcher = load_target(reference, DISPATCHER)
    return dispatcher


def load_graph(reference: str) -> ObjectProvider:
    """Return the object graph ``module:attribute`` is or builds (see ``load_target``)."""
    graph: ObjectProvider = load_target(reference, GRAPH)
    return graph


def import_from_working_directory() -> None:
    """Put the working directory first on ``sys.path``, unless it is already there.

    ``python -m melange`` does this itself; the ``melange`` console script starts with its
    own ``bin`` directory there instead, so without this it could not import the ``app``
    of ``app:factory`` from where it runs. uvicorn, gunicorn and celery do the same.
    """
    working_directory = os.getcwd()
    if working_directory not in sys.path and "" not in sys.path:
        sys.path.insert(0, working_directory)
