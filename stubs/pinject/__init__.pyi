# A typed stub of pinject's public API (pinject ships no types). melange's wheel installs
# it as the stub-only package pinject-stubs (PEP 561), so that type checkers of applications
# find it with no configuration; in a checkout, mypy_path = "stubs" finds it here.
from collections.abc import Callable, Iterable, Sequence
from types import ModuleType
from typing import Any, TypeVar

from pinject import errors as errors
from pinject.errors import (
    Error as Error,
    AmbiguousArgNameError as AmbiguousArgNameError,
    BadDependencyScopeError as BadDependencyScopeError,
    ConfigureMethodMissingArgsError as ConfigureMethodMissingArgsError,
    ConflictingExplicitBindingsError as ConflictingExplicitBindingsError,
    ConflictingRequiredBindingError as ConflictingRequiredBindingError,
    CyclicInjectionError as CyclicInjectionError,
    DecoratorAppliedToNonInitError as DecoratorAppliedToNonInitError,
    DirectlyPassingInjectedArgsError as DirectlyPassingInjectedArgsError,
    DuplicateDecoratorError as DuplicateDecoratorError,
    EmptyBindingSpecError as EmptyBindingSpecError,
    EmptyProvidesDecoratorError as EmptyProvidesDecoratorError,
    EmptySequenceArgError as EmptySequenceArgError,
    InjectingNoneDisallowedError as InjectingNoneDisallowedError,
    InvalidBindingTargetError as InvalidBindingTargetError,
    MissingRequiredBindingError as MissingRequiredBindingError,
    MultipleAnnotationsForSameArgError as MultipleAnnotationsForSameArgError,
    MultipleBindingTargetArgsError as MultipleBindingTargetArgsError,
    NoBindingTargetArgsError as NoBindingTargetArgsError,
    NoRemainingArgsToInjectError as NoRemainingArgsToInjectError,
    NoSuchArgError as NoSuchArgError,
    NoSuchArgToInjectError as NoSuchArgToInjectError,
    NonExplicitlyBoundClassError as NonExplicitlyBoundClassError,
    NothingInjectableForArgError as NothingInjectableForArgError,
    OnlyInstantiableViaProviderFunctionError as OnlyInstantiableViaProviderFunctionError,
    OverridingDefaultScopeError as OverridingDefaultScopeError,
    PargsDisallowedWhenCopyingArgsError as PargsDisallowedWhenCopyingArgsError,
    TooManyArgsToInjectDecoratorError as TooManyArgsToInjectDecoratorError,
    UnknownScopeError as UnknownScopeError,
    WrongArgElementTypeError as WrongArgElementTypeError,
    WrongArgTypeError as WrongArgTypeError,
)

_T = TypeVar("_T")
_F = TypeVar("_F", bound=Callable[..., Any])

__version__: str

class Scope:
    def provide(self, binding_key: Any, default_provider_fn: Callable[[], Any]) -> Any: ...

# Scope ids: opaque objects, compared by identity.
SINGLETON: object
PROTOTYPE: object

class BindingSpec:
    # pinject reads the parameter names of configure: (bind), (require) or (bind, require).
    def configure(self, *args: Any, **kwargs: Any) -> None: ...
    def dependencies(self) -> Sequence[BindingSpec]: ...

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
    id_to_scope: dict[Any, Scope] | None = ...,
    is_scope_usable_from_scope: Callable[[Any, Any], bool] = ...,
    use_short_stack_traces: bool = ...,
) -> ObjectGraph: ...
def provides(
    arg_name: str | None = ..., annotated_with: Any = ..., in_scope: object = ...
) -> Callable[[_F], _F]: ...
def inject(
    arg_names: list[str] | None = ..., all_except: list[str] | None = ...
) -> Callable[[_F], _F]: ...
def injectable(fn: _F) -> _F: ...  # deprecated by pinject: inject()
def annotate_arg(arg_name: str, with_annotation: Any) -> Callable[[_F], _F]: ...
def copy_args_to_internal_fields(fn: _F) -> _F: ...
def copy_args_to_public_fields(fn: _F) -> _F: ...
