"""Finding what a command names: ``MODULE:ATTRIBUTE`` to an object graph or a dispatcher.

``load_graph`` and ``load_dispatcher`` import the module a command's TARGET names and
return the object there, or what calling it returns; every way that can go wrong is one
``FactoryNotFoundError`` naming the reference. Shared by ``melange.app.cli`` and the
operations commands (``melange.app.ops``).
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any, Protocol, runtime_checkable

import attrs

from melange.consuming.dispatcher import MessageDispatcher
from melange.exceptions import FactoryNotFoundError, MelangeError, without_frames

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
    ``ConfigurationError`` for wrong settings) propagates unchanged, as do melange's
    errors raised while the module is imported.

    Raises:
        FactoryNotFoundError: the reference is malformed, its module is not found or fails
            its own import (``import_error`` holds what it raised), the attribute is
            missing, a class, a callable needing arguments, or neither ``kind`` nor a
            callable returning one.
    """
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise FactoryNotFoundError(
            f"{reference!r} is not {kind.placeholder}; write e.g. {kind.example}",
            reference=reference,
            setting=kind.placeholder,
            expected=f"{kind.placeholder}, e.g. {kind.example}",
        )
    module = _imported(module_name, reference, kind)
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
    expected = f"{kind.what} or a callable returning one"
    if isinstance(target, type) or not callable(target):
        shown = f"the class {target.__qualname__}" if isinstance(target, type) else repr(target)
        raise FactoryNotFoundError(
            f"{reference!r} is {shown}; expected {expected}, e.g. {kind.example}",
            reference=reference,
            setting=kind.placeholder,
            expected=expected,
        )
    needed = _required_arguments(target)
    if needed:
        raise FactoryNotFoundError(
            f"{reference!r} needs arguments ({', '.join(needed)}) but is called with none; "
            f"expected {kind.what} or a callable taking no arguments that returns one",
            reference=reference,
            setting=kind.placeholder,
            expected=f"{kind.what} or a callable taking no arguments",
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


def _imported(module_name: str, reference: str, kind: TargetKind) -> ModuleType:
    """Import the reference's module; tell a module not found from one that fails to import.

    A module that is found but raises while it runs (an import inside it fails, its code
    raises) is reported with what it raised, whose traceback starts in the module: the
    name is right, "check the name" would send the user the wrong way. melange's own
    errors (wrong settings, when the module builds its graph) propagate unchanged.
    """
    try:
        return importlib.import_module(module_name)
    except MelangeError:
        raise
    except Exception as exc:
        if _names_the_module(exc, module_name):
            raise FactoryNotFoundError(
                f"cannot import module {module_name!r} of {reference!r} ({exc}); check the "
                "name and that it is in the working directory or on PYTHONPATH",
                reference=reference,
                setting=kind.placeholder,
                expected="a module importable from the working directory or PYTHONPATH",
            ) from exc
        failed = without_frames(exc, _IMPORT_MACHINERY)
        fix = "install or correct what it imports" if isinstance(exc, ImportError) else "fix it"
        raise FactoryNotFoundError(
            f"module {module_name!r} of {reference!r} was found but failed its own import "
            f"with {type(exc).__name__}: {exc} (traceback above); {fix}",
            reference=reference,
            setting=kind.placeholder,
            expected="a module that imports without error",
            import_error=failed,
        ) from failed


#: The modules whose frames sit between ``load_target`` and the target module's own code.
_IMPORT_MACHINERY = ("importlib", __name__)


def _names_the_module(error: Exception, module_name: str) -> bool:
    """Whether ``error`` says the module itself (or a package holding it) does not exist."""
    if not isinstance(error, ModuleNotFoundError) or error.name is None:
        return False
    return module_name == error.name or module_name.startswith(f"{error.name}.")


def _required_arguments(target: Callable[..., object]) -> list[str]:
    """Return the parameters ``target`` cannot be called without (none when unknown)."""
    try:
        parameters = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):  # no signature to read (some builtins): just call it
        return []
    return [
        p.name
        for p in parameters
        if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]


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
