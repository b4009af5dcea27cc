"""backend_from_settings lives in melange: it builds the named backend, prefixed when asked."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

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


@pytest.fixture(name="aws_keys")
def fixture_aws_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give the process fixed AWS keys, so no backend walks the credential chain."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "melange-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "melange-test")


def test_aws_through_explicit_endpoints_takes_them_and_the_timeouts(aws_keys: None) -> None:
    """MELANGE_BACKEND=aws with MELANGE_ENDPOINT_URL builds an AWSBackend on those endpoints."""
    from melange.backends import AWSBackend

    backend = backend_from_settings(
        _settings(
            MELANGE_BACKEND="aws",
            AWS_REGION="eu-west-1",
            MELANGE_ENDPOINT_URL="https://vpce-sqs.example",
            MELANGE_SNS_ENDPOINT_URL="https://vpce-sns.example",
            MELANGE_PUBLISH_READ_TIMEOUT="3",
        )
    )

    assert type(backend) is AWSBackend
    assert backend.sqs_client.meta.endpoint_url == "https://vpce-sqs.example"
    assert backend.sns_client.meta.endpoint_url == "https://vpce-sns.example"
    assert backend.sqs_client.meta.region_name == "eu-west-1"
    assert backend.sns_client.meta.config.read_timeout == 3.0
    backend.close()


def test_the_asyncio_backends_take_the_same_values_from_the_settings(aws_keys: None) -> None:
    """async_backend_from_settings gives the asyncio SQS backends the sync ones' values."""
    import asyncio

    from melange.backends.aio_factory import async_backend_from_settings
    from melange.backends.sqs.aio import AsyncSqsBackend

    async def configs(settings: MelangeSettings) -> tuple[object, ...]:
        backend = async_backend_from_settings(settings)
        assert isinstance(backend, AsyncSqsBackend)
        async with backend:
            client = await backend.clients.client("sns")
            config = client.meta.config
            return client.meta.endpoint_url, client.meta.region_name, config.connect_timeout

    aws = _settings(
        MELANGE_BACKEND="aws",
        AWS_REGION="eu-west-1",
        MELANGE_ENDPOINT_URL="https://vpce-sqs.example",
        MELANGE_PUBLISH_CONNECT_TIMEOUT="1.5",
    )
    local = _settings(MELANGE_BACKEND="local", MELANGE_ENDPOINT_URL="http://127.0.0.1:9")

    assert asyncio.run(configs(aws)) == ("https://vpce-sqs.example", "eu-west-1", 1.5)
    assert asyncio.run(configs(local)) == ("http://127.0.0.1:9", "us-east-1", 2.0)


def test_a_timeout_out_of_range_in_built_settings_names_the_variable() -> None:
    """Settings built in code with a zero timeout are refused naming the variable to set."""
    settings = MelangeSettings(
        backend="local", endpoint_url="http://127.0.0.1:9", publish_connect_timeout=0
    )

    with pytest.raises(ConfigurationError, match="set MELANGE_PUBLISH_CONNECT_TIMEOUT"):
        backend_from_settings(settings)


def test_an_aws_endpoint_that_is_not_a_url_names_the_variable() -> None:
    """MELANGE_ENDPOINT_URL without a scheme, for AWS, is refused naming the variable."""
    settings = MelangeSettings(backend="aws", region="eu-west-1", endpoint_url="vpce.example")

    with pytest.raises(ConfigurationError, match="set MELANGE_ENDPOINT_URL"):
        backend_from_settings(settings)


def test_on_lambda_the_aws_backend_is_built_at_its_first_request() -> None:
    """With AWS_LAMBDA_FUNCTION_NAME set, MELANGE_BACKEND=aws loads no boto3 until it is used."""
    code = textwrap.dedent(
        """
        import sys
        from melange.backends import backend_from_settings
        from melange.settings import load_settings

        settings = load_settings(environ={
            "MELANGE_BACKEND": "aws",
            "AWS_REGION": "eu-west-1",
            "AWS_LAMBDA_FUNCTION_NAME": "orders",
        })
        backend = backend_from_settings(settings)
        print(type(backend).__name__, backend.built, "boto3" in sys.modules)
        region = backend.sqs_client.meta.region_name  # the SQS backend's own attribute
        print(type(backend.backend).__name__, backend.built, "boto3" in sys.modules, region)
        """
    )
    keys = {"AWS_ACCESS_KEY_ID": "melange-test", "AWS_SECRET_ACCESS_KEY": "melange-test"}
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **keys},
    )

    assert result.stdout.splitlines() == [
        "DeferredBackend False False",
        "AWSBackend True True eu-west-1",
    ]


def test_off_lambda_the_aws_backend_is_built_at_once(aws_keys: None) -> None:
    """Without AWS_LAMBDA_FUNCTION_NAME a worker's AWS backend is built when provided."""
    from melange.backends import AWSBackend

    backend = backend_from_settings(_settings(MELANGE_BACKEND="aws", AWS_REGION="eu-west-1"))

    assert type(backend) is AWSBackend
    backend.close()
