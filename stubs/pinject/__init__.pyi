# A typed stub for the part of pinject melange's bindings use (pinject ships no types).
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any, TypeVar

from pinject import errors as errors

_T = TypeVar("_T")
_F = TypeVar("_F", bound=Callable[..., Any])

__version__: str

class Scope:
    def provide(self, binding_key: Any, default_provider_fn: Callable[[], Any]) -> Any: ...

SINGLETON: str
PROTOTYPE: str

class BindingSpec:
    def configure(self, bind: Callable[..., None]) -> None: ...
    def dependencies(self) -> list[BindingSpec]: ...

class ObjectGraph:
    def provide(self, cls: type[_T]) -> _T: ...

def new_object_graph(
    modules: Iterable[ModuleType] | None = ...,
    classes: Iterable[type] | None = ...,
    binding_specs: Iterable[BindingSpec] | None = ...,
    only_use_explicit_bindings: bool = ...,
    allow_injecting_none: bool = ...,
    configure_method_name: str = ...,
    dependencies_method_name: str = ...,
    get_arg_names_from_class_name: Callable[[str], list[str]] = ...,
    get_arg_names_from_provider_fn_name: Callable[[str], list[str]] = ...,
    id_to_scope: dict[str, Scope] | None = ...,
    is_scope_usable_from_scope: Callable[[str, str], bool] = ...,
    use_short_stack_traces: bool = ...,
) -> ObjectGraph: ...
def provides(
    arg_name: str | None = ..., annotated_with: Any = ..., in_scope: str | None = ...
) -> Callable[[_F], _F]: ...
def inject(
    arg_names: list[str] | None = ..., all_except: list[str] | None = ...
) -> Callable[[_F], _F]: ...
def annotate_arg(arg_name: str, with_annotation: Any) -> Callable[[_F], _F]: ...
def copy_args_to_internal_fields(fn: _F) -> _F: ...
def copy_args_to_public_fields(fn: _F) -> _F: ...
