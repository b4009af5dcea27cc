"""Building object graphs: always with explicit modules or classes, never pinject's scan.

pinject's default is to scan every imported module for classes, which crashes once boto3
is imported; ``new_object_graph`` here never scans.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import TypeVar

import pinject

from bindings.spec import MelangeBindingSpec
from melange.exceptions import ConfigurationError

__all__ = ["ObjectGraph", "new_object_graph"]

T = TypeVar("T")


class ObjectGraph:
    """A pinject object graph whose wiring mistakes are ``ConfigurationError``s."""

    def __init__(self, graph: pinject.ObjectGraph) -> None:
        self.pinject_graph = graph

    def provide(self, cls: type[T]) -> T:
        """Return an instance of ``cls`` with its constructor's arguments injected by name.

        Raises:
            ConfigurationError: an argument has no binding, or building something failed;
                the message names the class and what to bind.
        """
        try:
            return self.pinject_graph.provide(cls)
        except pinject.errors.Error as exc:
            raise ConfigurationError(
                f"cannot provide {cls.__qualname__}: {exc}; bind the missing name in a "
                "binding spec (provide_<name>) or pass its class in classes=[...]"
            ) from exc


def new_object_graph(
    *,
    modules: Sequence[ModuleType] = (),
    classes: Sequence[type] = (),
    binding_specs: Sequence[pinject.BindingSpec] = (),
    melange: MelangeBindingSpec | None = None,
) -> ObjectGraph:
    """Return a pinject object graph with melange's bindings and the application's.

    Args:
        modules: modules whose classes pinject may bind implicitly (none by default).
        classes: classes pinject may bind implicitly.
        binding_specs: the application's binding specs; one must provide
            ``melange_serializer_bindings``.
        melange: melange's spec, to pass settings or a backend (default: from the
            environment).

    Raises:
        ConfigurationError: the specs are inconsistent (e.g. nothing provides
            ``melange_serializer_bindings``); the message says what to add.
    """
    if any(isinstance(spec, MelangeBindingSpec) for spec in binding_specs):
        # pinject treats specs of one class as equal and keeps one of them silently.
        raise ConfigurationError(
            "a MelangeBindingSpec was passed in binding_specs; pass it as melange=... "
            "instead, so its settings and overrides are the ones used"
        )
    try:
        graph = pinject.new_object_graph(
            modules=list(modules) or None,
            classes=list(classes) or None,
            binding_specs=[melange or MelangeBindingSpec(), *binding_specs],
            # "no deduplication cache" is a legitimate None for the dispatcher.
            allow_injecting_none=True,
        )
    except pinject.errors.Error as exc:
        raise ConfigurationError(
            f"the object graph cannot be built: {exc}; an application binding spec must "
            "define provide_melange_serializer_bindings(self) returning {MessageClass: "
            "'typed_json', ...} (or {} for none)"
        ) from exc
    return ObjectGraph(graph)
