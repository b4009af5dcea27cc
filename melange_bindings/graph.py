"""Building object graphs: always with explicit modules or classes, never pinject's scan.

pinject's default is to scan every imported module for classes, which crashes once boto3
is imported; ``new_object_graph`` here never scans.

An application needs no spec of its own: ``new_object_graph(classes=[MyService])`` adds
``MelangeBindingSpec()`` and binds ``melange_serializer_bindings`` to an empty mapping
(every type goes through the default serializer). Both are defaults in pinject's own
terms: a ``MelangeBindingSpec`` among the given specs replaces the default one, and an
application spec providing ``melange_serializer_bindings`` overrides the empty mapping,
which is bound implicitly (pinject lets any explicit binding override an implicit one).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import ModuleType
from typing import Any, TypeVar, overload

import pinject

from melange.app.application import Application
from melange.backends.protocol import MessagingBackend
from melange.consuming.dedup import DeduplicationCache
from melange.consuming.dispatcher import MessageDispatcher
from melange.exceptions import ConfigurationError, Problem, without_frames
from melange.payloads.factory import PayloadStores
from melange.publishing._sync.publishers import QueuePublisher, TopicPublisher
from melange.serializers import SerializerRegistry
from melange.settings import MelangeSettings
from melange_bindings.spec import IMPLICIT_DEFAULTS, DispatcherFactory, MelangeBindingSpec

__all__ = ["PROVIDED_NAMES", "ObjectGraph", "async_provided_names", "new_object_graph"]

T = TypeVar("T")

#: melange's objects a graph holds, by their type and the name the graph binds them to:
#: ``provide(TopicPublisher)`` gives the graph's ``topic_publisher``, as a constructor
#: argument of that name would.
PROVIDED_NAMES: Mapping[type, str] = {
    MelangeSettings: "melange_settings",
    MessagingBackend: "messaging_backend",
    SerializerRegistry: "serializer_registry",
    QueuePublisher: "queue_publisher",
    TopicPublisher: "topic_publisher",
    DeduplicationCache: "deduplication_cache",
    PayloadStores: "payload_stores",
    DispatcherFactory: "dispatcher_factory",
    MessageDispatcher: "message_dispatcher",
    Application: "melange_app",
}


@functools.cache
def async_provided_names() -> Mapping[type, str]:
    """Return melange's asyncio types a graph holds and their names, as ``PROVIDED_NAMES``.

    Imported on first use, so an application that never asks for one never imports asyncio.
    """
    from melange.app.aio_worker import AsyncDispatcherFactory
    from melange.backends.aio_protocol import AsyncMessagingBackend
    from melange.consuming.aio_dispatcher import AsyncMessageDispatcher
    from melange.publishing._async.publishers import AsyncQueuePublisher, AsyncTopicPublisher

    return {
        AsyncMessagingBackend: "async_messaging_backend",
        AsyncQueuePublisher: "async_queue_publisher",
        AsyncTopicPublisher: "async_topic_publisher",
        AsyncDispatcherFactory: "async_dispatcher_factory",
        AsyncMessageDispatcher: "async_message_dispatcher",
    }


def provided_name(cls: Any) -> str | None:
    """Return the name the graph binds melange's type ``cls`` to, or ``None`` for others."""
    name = PROVIDED_NAMES.get(cls)
    asyncio_type = getattr(cls, "__name__", "").startswith("Async")
    if name is None and asyncio_type and getattr(cls, "__module__", "").startswith("melange."):
        name = async_provided_names().get(cls)
    return name


@functools.cache
def _holder_of(name: str) -> type:
    """Return a class whose constructor takes one argument, ``name``, and keeps it.

    Providing it makes pinject inject the object bound to ``name`` (a singleton shared
    with everyone else in the graph); pinject reads argument names from the signature.
    """

    def __init__(self: Any, **bound: Any) -> None:
        self.value = bound[name]

    positional = inspect.Parameter.POSITIONAL_OR_KEYWORD
    __init__.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("self", positional), inspect.Parameter(name, positional)]
    )
    return type(f"_Provided_{name}", (), {"__init__": __init__})


class ObjectGraph:
    """A pinject object graph whose wiring mistakes are ``ConfigurationError``s."""

    def __init__(self, graph: pinject.ObjectGraph) -> None:
        self.pinject_graph = graph

    @overload
    def provide(self, cls: type[T]) -> T: ...

    # mypy refuses a protocol (MessagingBackend, DeduplicationCache) where type[T] is
    # expected; as a callable returning T it is accepted, with the type it names.
    @overload
    def provide(self, cls: Callable[..., T]) -> T: ...

    def provide(self, cls: Any) -> Any:
        """Return an instance of ``cls`` with its constructor's arguments injected by name.

        For melange's own types (``PROVIDED_NAMES``: the publishers, the registry, the
        backend, the deduplication cache, the dispatcher factory, the settings; and
        ``async_provided_names()``, their asyncio twins) this is the graph's object of that
        type, the one injected as ``topic_publisher`` and so on.

        Raises:
            ConfigurationError: an argument has no binding, or building something failed;
                the message names the class and what to bind. What a provider or an
                application's constructor raises propagates as it is, its traceback
                without pinject's frames.
        """
        name = provided_name(cls)
        try:
            if name is not None:
                return self.pinject_graph.provide(_holder_of(name)).value
            return self.pinject_graph.provide(cls)
        except pinject.errors.Error as exc:
            raise ConfigurationError(
                f"cannot provide {cls.__qualname__}: {exc}; bind the missing name in a "
                "binding spec (provide_<name>) or pass its class in classes=[...]",
                problems=[
                    Problem(
                        "binding_specs",
                        str(exc),
                        f"a provider or class for every argument of {cls.__qualname__}",
                    )
                ],
            ) from without_frames(exc, _MACHINERY)
        except Exception as exc:  # raised by a provider or a constructor: the user's to read
            without_frames(exc, _MACHINERY)
            raise


#: Modules whose frames an error raised while providing leaves out: pinject resolving
#: providers, and this module calling it. The frames left run from the caller's line to
#: melange's providers and the application's constructors; a context raised wholly
#: inside pinject (its cache misses) is not shown.
_MACHINERY = ("pinject", __name__)


def _all_specs(specs: Sequence[pinject.BindingSpec]) -> Iterator[pinject.BindingSpec]:
    """Yield ``specs`` and, recursively, the specs their ``dependencies()`` name."""
    for spec in specs:
        yield spec
        yield from _all_specs(spec.dependencies())


def _distinct_melange_specs(specs: Sequence[pinject.BindingSpec]) -> list[MelangeBindingSpec]:
    """Return the ``MelangeBindingSpec``s in ``specs`` and their dependencies, once each."""
    distinct: list[MelangeBindingSpec] = []
    for spec in _all_specs(specs):
        if isinstance(spec, MelangeBindingSpec) and spec not in distinct:
            distinct.append(spec)
    return distinct


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
        binding_specs: the application's binding specs (none needed). One may provide
            ``melange_serializer_bindings`` (``{MessageClass: "typed_json", ...}``); one
            may be a ``MelangeBindingSpec`` (directly or among ``dependencies()``), which
            then replaces the default ``MelangeBindingSpec()``.
        melange: melange's spec, to pass settings or a backend (default: from the
            environment); the same as listing it in ``binding_specs``.

    Raises:
        ConfigurationError: the specs are inconsistent (e.g. two different
            ``MelangeBindingSpec``s, or two specs providing one name), or the ``MELANGE_*``
            settings the melange spec loads are wrong; the message says which.
    """
    specs = [*binding_specs, *([melange] if melange is not None else [])]
    melange_specs = _distinct_melange_specs(specs)
    if len(melange_specs) > 1:
        raise ConfigurationError(
            f"the object graph has {len(melange_specs)} different MelangeBindingSpecs "
            f"({', '.join(map(repr, melange_specs))}), so every melange name would be bound "
            "twice; pass one (as melange=... or among binding_specs) with all the arguments",
            problems=[Problem("melange", tuple(melange_specs), "one MelangeBindingSpec")],
        )
    if not melange_specs:
        melange_specs.append(MelangeBindingSpec())
        specs.append(melange_specs[0])
    # Wrong MELANGE_* settings fail here, where the graph is built, rather than at the
    # first provide, from inside pinject. The graph loads them again when it first needs
    # them: pinject builds lazily, and calls dependencies() for specs of its own.
    melange_specs[0].settings()
    try:
        graph = pinject.new_object_graph(
            modules=list(modules) or None,
            classes=[*classes, *IMPLICIT_DEFAULTS],
            binding_specs=specs,
        )
    except pinject.errors.ConflictingExplicitBindingsError as exc:
        raise ConfigurationError(
            f"the object graph cannot be built: {exc}; two specs provide the same name: "
            "keep one provider (melange's names are provided by MelangeBindingSpec; pass "
            "its arguments to override them)",
            problems=[Problem("binding_specs", str(exc), "one provider per name")],
        ) from without_frames(exc, _MACHINERY)
    except pinject.errors.Error as exc:
        raise ConfigurationError(
            f"the object graph cannot be built: {exc}",
            problems=[Problem("binding_specs", str(exc), "specs pinject can build a graph from")],
        ) from without_frames(exc, _MACHINERY)
    return ObjectGraph(graph)
