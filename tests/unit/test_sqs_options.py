"""The SQS backends' option values: defaults, validation, and the botocore configuration."""

from __future__ import annotations

import asyncio
import inspect
import math
from typing import Any

import botocore.exceptions
import pytest

from melange.backends import AWSBackend, LocalSQSBackend, SqsBackend
from melange.backends.sqs.aio import AsyncAWSBackend, AsyncLocalSQSBackend, AsyncSqsBackend
from melange.backends.sqs.options import (
    ClientSpec,
    ConnectionLimits,
    Endpoints,
    RetryBudget,
    Timeouts,
    client_specs,
    worst_case_seconds,
)
from melange.exceptions import ConfigurationError
from melange.settings import MelangeSettings

#: Explicit credentials, so building an AWS backend never walks the credential chain.
KEYS = {"aws_access_key_id": "melange-test", "aws_secret_access_key": "melange-test"}

# -- Timeouts --------------------------------------------------------------------------------


def test_default_timeouts_are_2_and_5_seconds_for_short_requests_and_2_and_25_for_receives() -> (
    None
):
    """Short requests connect within 2 s and wait 5 s; receives connect within 2 s, wait 25 s."""
    timeouts = Timeouts()

    assert (timeouts.publish_connect, timeouts.publish_read) == (2.0, 5.0)
    assert (timeouts.receive_connect, timeouts.receive_read) == (2.0, 25.0)


def test_default_timeouts_bound_a_publish_by_15_and_a_receive_by_27_seconds() -> None:
    """With the defaults, a silent endpoint fails a publish within 15 s and a receive in 27 s."""
    timeouts, retries = Timeouts(), RetryBudget()

    assert worst_case_seconds(2, 5, 2) == 15
    assert (
        worst_case_seconds(timeouts.publish_connect, timeouts.publish_read, retries.max_attempts)
        == 15
    )
    assert worst_case_seconds(timeouts.receive_connect, timeouts.receive_read, 1) == 27


def test_worst_case_counts_botocores_growing_pauses() -> None:
    """Each retry adds botocore's longest pause before it: 1 s, then 2 s, then 4 s."""
    assert worst_case_seconds(1, 1, 1) == 2
    assert worst_case_seconds(1, 1, 4) == 4 * 2 + 1 + 2 + 4


@pytest.mark.parametrize(
    ("field", "value", "fix"),
    [
        ("publish_connect", 0, "set MELANGE_PUBLISH_CONNECT_TIMEOUT or Timeouts(publish_connect"),
        ("publish_read", -1.0, "set MELANGE_PUBLISH_READ_TIMEOUT or Timeouts(publish_read"),
        ("publish_read", math.inf, "set MELANGE_PUBLISH_READ_TIMEOUT"),
        ("receive_connect", math.nan, "set Timeouts(receive_connect=...) to e.g. 2.0"),
        ("receive_connect", "2", "set Timeouts(receive_connect"),
        ("publish_connect", True, "set MELANGE_PUBLISH_CONNECT_TIMEOUT"),
    ],
)
def test_a_timeout_that_is_not_a_positive_finite_number_is_refused(
    field: str, value: object, fix: str
) -> None:
    """A zero, negative, infinite, NaN, text or boolean timeout is refused naming what to set."""
    with pytest.raises(ConfigurationError) as refused:
        Timeouts(**{field: value})

    message = str(refused.value)
    assert message.startswith(f"Timeouts.{field}={value!r} must be a finite number of seconds")
    assert fix in message


@pytest.mark.parametrize("seconds", [10, 20, 20.0])
def test_a_receive_read_timeout_within_the_long_poll_is_refused(seconds: float) -> None:
    """A receive read timeout of 20 s or less is refused: a 20 s long poll would time out."""
    with pytest.raises(ConfigurationError) as refused:
        Timeouts(receive_read=seconds)

    assert str(refused.value) == (
        f"Timeouts.receive_read={seconds!r} must exceed the 20 s long-poll wait, or long polls "
        "would time out; set Timeouts(receive_read=...) to e.g. 25.0 (the default)"
    )


def test_a_receive_read_timeout_just_above_the_long_poll_is_accepted() -> None:
    """Any receive read timeout above 20 s is accepted, however small the margin."""
    assert Timeouts(receive_read=20.5).receive_read == 20.5


# -- RetryBudget and ConnectionLimits --------------------------------------------------------


def test_by_default_a_request_is_attempted_twice_over_50_connections() -> None:
    """The default budget is two attempts (one retry) and the default pool 50 connections."""
    assert RetryBudget().max_attempts == 2
    assert ConnectionLimits().max_connections == 50


@pytest.mark.parametrize("value", [0, -1, 1.5, True])
def test_a_retry_budget_below_one_attempt_is_refused(value: object) -> None:
    """Fewer than one attempt, or a count that is not an integer, is refused with the fix."""
    with pytest.raises(ConfigurationError) as refused:
        RetryBudget(value)  # type: ignore[arg-type]

    assert str(refused.value) == (
        f"RetryBudget.max_attempts={value!r} must be an integer >= 1; "
        "set RetryBudget(max_attempts=...) to e.g. 2 (the default)"
    )


@pytest.mark.parametrize("value", [0, "50"])
def test_a_pool_of_no_connection_is_refused(value: object) -> None:
    """A connection limit below one, or not an integer, is refused naming the value."""
    with pytest.raises(ConfigurationError, match=rf"ConnectionLimits.max_connections={value!r}"):
        ConnectionLimits(value)  # type: ignore[arg-type]


# -- Endpoints -------------------------------------------------------------------------------


def test_default_endpoints_are_aws_own() -> None:
    """Endpoints with nothing given leave region, account and every URL to AWS's defaults."""
    assert Endpoints() == Endpoints(None, None, None, None, None)


@pytest.mark.parametrize(
    ("field", "value", "setting"),
    [
        ("sqs_url", "localhost:9324", "MELANGE_ENDPOINT_URL"),
        ("sqs_url", "http://localhost:port", "MELANGE_ENDPOINT_URL"),
        ("sns_url", "ftp://localhost", "MELANGE_SNS_ENDPOINT_URL"),
        ("sts_url", "http://", "Endpoints(sts_url=...)"),
    ],
)
def test_an_endpoint_that_is_not_an_http_url_is_refused(
    field: str, value: str, setting: str
) -> None:
    """An endpoint without http(s), a host name or a numeric port is refused naming the fix."""
    with pytest.raises(ConfigurationError) as refused:
        Endpoints(**{field: value})

    message = str(refused.value)
    assert message.startswith(f"Endpoints.{field}={value!r} is not an http:// or https:// URL")
    assert setting in message


@pytest.mark.parametrize("account", ["12345", "12345678901a", 123456789012])
def test_an_account_that_is_not_twelve_digits_is_refused(account: object) -> None:
    """An account ID must be 12 digits as text, as ARNs spell it."""
    with pytest.raises(ConfigurationError, match="is not an AWS account ID"):
        Endpoints(account_id=account)  # type: ignore[arg-type]


def test_an_empty_region_is_refused_pointing_to_aws_region() -> None:
    """An empty region name is refused, naming region_name and AWS_REGION."""
    with pytest.raises(ConfigurationError, match="region_name='eu-west-1', or set AWS_REGION"):
        Endpoints(region=" ")


def test_local_endpoints_put_sns_sts_and_s3_beside_sqs() -> None:
    """An emulator's SNS, STS and S3 are at its SQS endpoint unless SNS is given elsewhere."""
    assert Endpoints.local("localhost", 9324) == Endpoints(
        region="us-east-1",
        sqs_url="http://localhost:9324",
        sns_url="http://localhost:9324",
        sts_url="http://localhost:9324",
        s3_url="http://localhost:9324",
    )
    split = Endpoints.local("localhost", 9324, sns_host="https://sns.local", sns_port=4575)
    assert (split.sqs_url, split.sns_url, split.sts_url) == (
        "http://localhost:9324",
        "https://sns.local:4575",
        "https://sns.local:4575",
    )


def test_a_port_written_in_the_host_wins_and_ipv6_hosts_are_bracketed() -> None:
    """``host:port`` keeps its port over ``port``; an IPv6 address is written in brackets."""
    assert Endpoints.local("http://127.0.0.1:4566", 9324).sqs_url == "http://127.0.0.1:4566"
    assert Endpoints.local("http://[::1]", 9324).sqs_url == "http://[::1]:9324"
    assert Endpoints.local("localhost", None).sqs_url == "http://localhost"


def test_a_region_given_apart_joins_the_endpoints_once() -> None:
    """``in_region`` fills an empty region, keeps an equal one and refuses a different one."""
    endpoints = Endpoints(account_id="123456789012")

    assert endpoints.in_region(None) is endpoints
    assert endpoints.in_region("eu-west-1").region == "eu-west-1"
    assert Endpoints(region="eu-west-1").in_region("eu-west-1").region == "eu-west-1"
    with pytest.raises(ConfigurationError, match="region_name='us-east-1' contradicts"):
        Endpoints(region="eu-west-1").in_region("us-east-1")


# -- the botocore configuration, one decision for both halves --------------------------------


def test_short_clients_get_the_publish_timeouts_and_the_retry_budget() -> None:
    """SQS, SNS and STS clients get the publish timeouts, the budget's attempts and the pool."""
    specs = client_specs(
        Endpoints(sqs_url="http://sqs.local:1", sts_url="http://sts.local:2"),
        Timeouts(publish_connect=1.5, publish_read=3.0),
        RetryBudget(4),
        ConnectionLimits(8),
    )

    for name in ("sqs", "sns", "sts"):
        config = specs[name].config
        assert (config.connect_timeout, config.read_timeout) == (1.5, 3.0)
        assert config.retries == {"mode": "standard", "total_max_attempts": 4}
        assert config.max_pool_connections == 8
        assert specs[name].attempts == 4
    assert [specs[name].service for name in ("sqs", "sns", "sts")] == ["sqs", "sns", "sts"]
    assert specs["sns"].endpoint_url == "http://sqs.local:1"  # SNS beside SQS unless given
    assert specs["sts"].endpoint_url == "http://sts.local:2"


def test_the_s3_client_gets_the_short_requests_bounds_and_path_style_on_an_emulator() -> None:
    """Large payloads are bounded as publishes are; an emulator's buckets are in the path."""
    values = (Timeouts(publish_connect=1.5, publish_read=3.0), RetryBudget(4), ConnectionLimits(8))
    local = client_specs(Endpoints.local("localhost", 4566), *values)["s3"]
    aws = client_specs(Endpoints(region="eu-west-1"), *values)["s3"]

    assert (local.service, local.endpoint_url, local.attempts) == ("s3", "http://localhost:4566", 4)
    assert _facts(local.config) == (1.5, 3.0, {"mode": "standard", "total_max_attempts": 4}, 8)
    assert local.config.s3 == {"addressing_style": "path"}
    assert aws.endpoint_url is None
    assert not (aws.config.s3 or {}).get("addressing_style")  # AWS's own: virtual-hosted
    assert _facts(aws.config) == _facts(local.config)


def test_the_long_poll_client_gets_the_receive_timeouts_and_one_attempt() -> None:
    """The receive's client waits for the receive timeouts and never retries."""
    spec = client_specs(timeouts=Timeouts(receive_connect=1.0, receive_read=30.0))["sqs-long-poll"]

    assert spec == ClientSpec("sqs", None, spec.config, 1)
    assert (spec.config.connect_timeout, spec.config.read_timeout) == (1.0, 30.0)
    assert spec.config.retries == {"mode": "standard", "total_max_attempts": 1}


def _facts(config: Any) -> tuple[Any, ...]:
    return (
        config.connect_timeout,
        config.read_timeout,
        config.retries,
        config.max_pool_connections,
    )


VALUES: dict[str, Any] = {
    "timeouts": Timeouts(publish_connect=1.0, publish_read=4.0, receive_read=22.0),
    "retries": RetryBudget(3),
    "limits": ConnectionLimits(16),
}


def test_the_sync_backend_builds_its_clients_from_the_values() -> None:
    """A sync backend's boto3 clients carry exactly what ``client_specs`` decides."""
    backend = LocalSQSBackend(host="localhost", port=9324, **VALUES)
    specs = client_specs(Endpoints.local("localhost", 9324), **VALUES)

    assert _facts(backend.sqs_client.meta.config) == _facts(specs["sqs"].config)
    assert _facts(backend.sns_client.meta.config) == _facts(specs["sns"].config)
    receive = backend._clients.sqs_receive.meta.config
    assert _facts(receive) == _facts(specs["sqs-long-poll"].config)
    assert backend.sqs_client.meta.endpoint_url == "http://localhost:9324"
    backend.close()


def test_the_asyncio_backend_builds_its_clients_from_the_same_values() -> None:
    """An asyncio backend's aiobotocore clients carry what the sync backend's carry."""
    specs = client_specs(Endpoints.local("localhost", 9324), **VALUES)

    async def configs() -> dict[str, Any]:
        async with AsyncLocalSQSBackend(host="localhost", port=9324, **VALUES) as backend:
            return {
                name: (await backend.clients.client(name)).meta.config  # type: ignore[arg-type]
                for name in ("sqs", "sqs-long-poll", "sns", "sts")
            }

    for name, config in asyncio.run(configs()).items():
        assert _facts(config) == _facts(specs[name].config)  # type: ignore[index]


# -- the backends' constructors --------------------------------------------------------------


def test_the_local_backend_is_built_as_the_documentation_shows() -> None:
    """``LocalSQSBackend(host="localhost", port=9324)`` talks to SQS and SNS at that port."""
    backend = LocalSQSBackend(host="localhost", port=9324)

    assert backend.sqs_client.meta.endpoint_url == "http://localhost:9324"
    assert backend.sns_client.meta.endpoint_url == "http://localhost:9324"
    assert backend.sqs_client.meta.region_name == "us-east-1"
    backend.close()


def test_the_aws_backend_takes_its_region_by_name_or_in_the_endpoints() -> None:
    """``AWSBackend(region_name=...)`` and ``Endpoints(region=...)`` choose the same region."""
    by_name = AWSBackend(region_name="eu-west-1", **KEYS)
    in_endpoints = AWSBackend(endpoints=Endpoints(region="eu-west-1"), **KEYS)

    for backend in (by_name, in_endpoints):
        assert backend.sqs_client.meta.region_name == "eu-west-1"
        assert backend.sqs_client.meta.endpoint_url == "https://sqs.eu-west-1.amazonaws.com"
        backend.close()
    with pytest.raises(ConfigurationError, match=r"contradicts Endpoints\.region='eu-west-1'"):
        AWSBackend("us-east-1", endpoints=Endpoints(region="eu-west-1"), **KEYS)


def test_the_aws_backend_passes_session_options_to_boto3() -> None:
    """Keywords that are not melange's go to ``boto3.Session``: an unknown profile fails there."""
    with pytest.raises(botocore.exceptions.ProfileNotFound):
        AWSBackend(region_name="eu-west-1", profile_name="melange-no-such-profile")


def test_the_aws_backend_points_an_old_keyword_to_the_values() -> None:
    """A timeout given as a keyword is refused naming the values, not failing inside boto3."""
    with pytest.raises(TypeError, match=r"publish_read_timeout.*timeouts=Timeouts\(\.\.\.\)"):
        AWSBackend(region_name="eu-west-1", publish_read_timeout=3)


def test_every_sqs_backend_takes_the_same_values_with_the_same_defaults() -> None:
    """Sync and asyncio, AWS, local and plain: each takes the values with the same defaults."""
    expected = {
        "timeouts": Timeouts(),
        "retries": RetryBudget(),
        "limits": ConnectionLimits(),
        "direct_requests": True,
    }
    for backend in (
        SqsBackend,
        AWSBackend,
        LocalSQSBackend,
        AsyncSqsBackend,
        AsyncAWSBackend,
        AsyncLocalSQSBackend,
    ):
        parameters = inspect.signature(backend).parameters
        assert {name: parameters[name].default for name in expected} == expected, backend


def test_the_settings_defaults_are_the_timeouts() -> None:
    """MELANGE_PUBLISH_*_TIMEOUT default to the ``Timeouts`` defaults."""
    settings, timeouts = MelangeSettings(), Timeouts()

    assert settings.publish_connect_timeout == timeouts.publish_connect
    assert settings.publish_read_timeout == timeouts.publish_read
