"""backend_from_settings lives in melange: it builds the named backend, prefixed when asked."""

from __future__ import annotations

import subprocess
import sys

import pytest

from melange.backends import InMemoryBackend, PrefixedBackend, backend_from_settings
from melange.backends.factory import BACKENDS, backend_named
from melange.exceptions import ConfigurationError, Problem
from melange.settings import MelangeSettings, load_settings


def _settings(**environ: str) -> MelangeSettings:
    return load_settings(environ=environ, config_dir="/nonexistent")


def test_the_memory_backend_is_built_by_name() -> None:
    """MELANGE_BACKEND=memory gives an InMemoryBackend, unprefixed without MELANGE_PREFIX."""
    backend = backend_from_settings(_settings(MELANGE_BACKEND="memory"))

    assert type(backend) is InMemoryBackend


def test_a_prefix_wraps_the_backend() -> None:
    """MELANGE_PREFIX wraps the built backend in a PrefixedBackend with that prefix."""
    backend = backend_from_settings(_settings(MELANGE_PREFIX="shop-"))

    assert isinstance(backend, PrefixedBackend)
    assert backend.prefix == "shop-"
    assert isinstance(backend.backend, InMemoryBackend)


def test_a_given_backend_is_used_and_prefixed() -> None:
    """A backend passed in (a test's) replaces the named one and still gets the prefix."""
    mine = InMemoryBackend()

    prefixed = backend_from_settings(_settings(MELANGE_PREFIX="shop-"), backend=mine)

    assert isinstance(prefixed, PrefixedBackend)
    assert prefixed.backend is mine
    assert backend_from_settings(_settings(), backend=mine) is mine


def test_an_unknown_name_suggests_the_closest() -> None:
    """A misspelt backend name is refused naming it, the choices, and the likely one."""
    with pytest.raises(ConfigurationError) as caught:
        backend_named("memroy")

    assert str(caught.value) == (
        "MELANGE_BACKEND='memroy' names no backend; choose one of "
        "['aws', 'local', 'memory']; did you mean 'memory'?"
    )
    assert sorted(BACKENDS) == ["aws", "local", "memory"]
    assert caught.value.problems == (
        Problem("MELANGE_BACKEND", "memroy", "one of aws, local, memory"),
    )


def test_local_needs_an_endpoint() -> None:
    """The local backend without an endpoint is refused with the setting to give."""
    settings = MelangeSettings(backend="local")

    with pytest.raises(ConfigurationError, match="MELANGE_ENDPOINT_URL") as caught:
        backend_from_settings(settings)
    assert [(p.setting, p.value) for p in caught.value.problems] == [("MELANGE_ENDPOINT_URL", None)]


def test_building_the_memory_backend_never_imports_boto3() -> None:
    """Resolving and building the in-memory backend leaves boto3 unimported."""
    code = (
        "import sys\n"
        "from melange.backends import backend_from_settings\n"
        "from melange.settings import MelangeSettings\n"
        "backend_from_settings(MelangeSettings())\n"
        "print('boto3' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == "False"
