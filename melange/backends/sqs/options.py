"""The SQS backends' options as values: timeouts, retry budget, endpoints, connection limits.

As httpx takes ``Timeout`` and ``Limits``, every SQS backend, sync or asyncio, takes four
frozen values, each validated once when it is built and each with a default:
``Timeouts`` (seconds to connect and to wait, for short requests and for the long-poll
receive), ``RetryBudget`` (attempts per short request), ``Endpoints`` (region, account
and the URL of each service) and ``ConnectionLimits`` (HTTP connections per client).
``client_specs`` is the one place where they become botocore ``Config`` objects: the
boto3 clients (``clients``) and the aiobotocore ones (``aio_clients``) are both made from
what it returns, and so are the S3 clients of the large-payload stores
(``melange.payloads.s3``), which get the short requests' timeouts and attempts.

May import: ``melange.exceptions``, ``melange.limits``, attrs and botocore's ``Config``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

import attrs
from botocore.config import Config

from melange import limits
from melange.exceptions import ConfigurationError, Problem

__all__ = [
    "DEFAULT_ENDPOINTS",
    "DEFAULT_LIMITS",
    "DEFAULT_RETRIES",
    "DEFAULT_TIMEOUTS",
    "ClientSpec",
    "ConnectionLimits",
    "Endpoints",
    "RetryBudget",
    "Timeouts",
    "client_specs",
    "worst_case_seconds",
]

#: botocore's ``standard`` mode pauses at most ``min(2 ** (n - 1), 20)`` s before retry n
#: (1 s, then 2 s, ...); recent versions pause 50 ms for errors that are not throttling.
_LONGEST_BACKOFF = 20.0
#: What an AWS account ID is: moto's 123456789012, LocalStack's 000000000000 included.
_ACCOUNT_ID = re.compile(r"\d{12}")

#: The names of the clients one backend makes (see ``client_specs``).
ClientName = Literal["sqs", "sqs-long-poll", "sns", "sts", "s3"]


#: Seconds to wait for a receive's answer by default: the longest long poll plus a margin.
RECEIVE_READ_TIMEOUT = limits.MAX_WAIT_TIME_SECONDS + 5.0

Validator = Callable[[Any, "attrs.Attribute[Any]", Any], None]


def _refused(name: str, value: object, expected: str, fix: str) -> ConfigurationError:
    """Return the error for option ``name``: its value, what is expected and what to change."""
    allowed = expected.removeprefix("must be ").removeprefix("must ")
    return ConfigurationError(
        f"{name}={value!r} {expected}; {fix}", problems=[Problem(name, value, allowed)]
    )


def _seconds(setting: str | None = None) -> Validator:
    """Return a validator of a timeout: a finite number of seconds above 0."""

    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not (number and math.isfinite(value) and value > 0):
            name = attribute.name
            raise _refused(
                f"Timeouts.{name}",
                value,
                "must be a finite number of seconds above 0",
                f"set {setting + ' or ' if setting else ''}Timeouts({name}=...) to e.g. "
                f"{attribute.default} (the default)",
            )

    return check


def _receive_read(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    _seconds()(instance, attribute, value)
    if not value > limits.MAX_WAIT_TIME_SECONDS:
        raise _refused(
            "Timeouts.receive_read",
            value,
            f"must exceed the {limits.MAX_WAIT_TIME_SECONDS} s long-poll wait, or long polls "
            "would time out",
            f"set Timeouts(receive_read=...) to e.g. {RECEIVE_READ_TIMEOUT} (the default)",
        )


def _at_least_one(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """Validate a count: an integer of at least 1."""
    if not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        owner = type(instance).__name__
        raise _refused(
            f"{owner}.{attribute.name}",
            value,
            "must be an integer >= 1",
            f"set {owner}({attribute.name}=...) to e.g. {attribute.default} (the default)",
        )


@attrs.frozen
class Timeouts:
    """Seconds a request may spend connecting and waiting for an answer.

    "Publish" timeouts bound every request but the long-poll receive (publish, send,
    acknowledge, change visibility, declarations, look-ups); SQS and SNS answer those in
    milliseconds. The receive has a client of its own whose read timeout must exceed the
    20 s long poll. The read timeout bounds each wait for data: a server that keeps
    trickling bytes is not bounded by it, one that goes silent is.

    Attributes:
        publish_connect: seconds to open a connection, for every request but the receive
            (``MELANGE_PUBLISH_CONNECT_TIMEOUT``).
        publish_read: seconds to wait for an answer, for every request but the receive
            (``MELANGE_PUBLISH_READ_TIMEOUT``).
        receive_connect: seconds to open a connection for a long-poll receive.
        receive_read: seconds to wait for a receive's answer; above the 20 s long poll.

    Raises:
        ConfigurationError: a timeout that is not a finite number above 0, or a receive
            read timeout within the long-poll wait.
    """

    publish_connect: float = attrs.field(
        default=2.0, validator=_seconds("MELANGE_PUBLISH_CONNECT_TIMEOUT")
    )
    publish_read: float = attrs.field(
        default=5.0, validator=_seconds("MELANGE_PUBLISH_READ_TIMEOUT")
    )
    receive_connect: float = attrs.field(default=2.0, validator=_seconds())
    receive_read: float = attrs.field(default=RECEIVE_READ_TIMEOUT, validator=_receive_read)


@attrs.frozen
class RetryBudget:
    """How many attempts a request makes before its error is raised.

    Every request but the long-poll receive makes at most ``max_attempts``, with
    botocore's ``standard`` retry pause between them (1 s, then 2 s, ...). A receive makes
    one attempt: the dispatcher backs off between receives itself.

    botocore's ``retries={"max_attempts": n}`` counts *retries* (n + 1 attempts), so the
    clients set ``total_max_attempts``, which counts the first attempt too.

    Attributes:
        max_attempts: attempts per request but the receive, the first included.

    Raises:
        ConfigurationError: fewer than one attempt.
    """

    max_attempts: int = attrs.field(default=2, validator=_at_least_one)


@attrs.frozen
class ConnectionLimits:
    """How many HTTP connections each client keeps.

    Attributes:
        max_connections: connections per client (botocore's ``max_pool_connections``);
            size it for the number of threads or tasks sharing the backend.

    Raises:
        ConfigurationError: fewer than one connection.
    """

    max_connections: int = attrs.field(default=50, validator=_at_least_one)


def _is_url(value: object) -> bool:
    """Tell whether ``value`` is an ``http(s)://host[:port]`` URL."""
    if not isinstance(value, str):
        return False
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises ValueError for a port that is not a number
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _url(setting: str | None) -> Validator:
    """Return a validator of an endpoint URL, None standing for AWS's own."""

    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is not None and not _is_url(value):
            raise _refused(
                f"Endpoints.{attribute.name}",
                value,
                "is not an http:// or https:// URL with a host name",
                f"set {setting + ' or ' if setting else ''}Endpoints({attribute.name}=...) to "
                "e.g. 'http://localhost:9324', or leave it None for AWS's own",
            )

    return check


def _region(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not (isinstance(value, str) and value.strip()):
        raise _refused(
            "Endpoints.region",
            value,
            "is not a region name",
            "pass e.g. region_name='eu-west-1', or set AWS_REGION",
        )


def _account(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not (isinstance(value, str) and _ACCOUNT_ID.fullmatch(value)):
        raise _refused(
            "Endpoints.account_id",
            value,
            "is not an AWS account ID (12 digits, as a string)",
            "pass e.g. account_id='123456789012', or leave it None to ask the credentials or STS",
        )


@attrs.frozen
class Endpoints:
    """Where requests go: the region, the topics' account, and each service's URL.

    Everything left ``None`` is AWS's own: the session's region (``AWS_REGION``, the
    profile's), the account the credentials name or STS reports, and each service's
    public endpoint in that region. ``Endpoints.local`` gives an emulator's.

    Attributes:
        region: the region to sign requests for, overriding the session's.
        account_id: the AWS account of the topics, which their ARNs are built with; when
            omitted, the one the credentials name (``AWS_ACCOUNT_ID``, SSO, roles), else
            asked of STS once.
        sqs_url: SQS's endpoint (and SNS's too, unless ``sns_url`` is given)
            (``MELANGE_ENDPOINT_URL``).
        sns_url: SNS's endpoint, when it differs from SQS's (``MELANGE_SNS_ENDPOINT_URL``).
        sts_url: STS's endpoint, asked once for the account; AWS's own when omitted.
        s3_url: S3's endpoint, for large payloads (``melange.payloads``); AWS's own when
            omitted. Requests to it name the bucket in the path (``http://host/bucket/key``),
            as emulators need, where AWS's own endpoint gets the bucket in the host name.

    Raises:
        ConfigurationError: a URL that is not ``http(s)://host[:port]``, an empty region,
            or an account ID that is not 12 digits.
    """

    region: str | None = attrs.field(default=None, validator=_region)
    account_id: str | None = attrs.field(default=None, validator=_account)
    sqs_url: str | None = attrs.field(default=None, validator=_url("MELANGE_ENDPOINT_URL"))
    sns_url: str | None = attrs.field(default=None, validator=_url("MELANGE_SNS_ENDPOINT_URL"))
    sts_url: str | None = attrs.field(default=None, validator=_url(None))
    s3_url: str | None = attrs.field(default=None, validator=_url(None))

    @classmethod
    def local(
        cls,
        host: str = "localhost",
        port: int | None = 9324,
        sns_host: str | None = None,
        sns_port: int | None = None,
        *,
        region: str = "us-east-1",
        account_id: str | None = None,
    ) -> Endpoints:
        """Return an emulator's endpoints: SQS at ``host``/``port``, SNS, STS and S3 beside it.

        A host is given with or without a scheme (``localhost``, ``http://localhost``) and
        a port written in it wins over ``port``. SNS is at ``sns_host``/``sns_port`` when
        given, else beside SQS; STS, asked once for the account topic ARNs are built
        with, at SNS's: moto and LocalStack serve it there. S3 is at SQS's endpoint, where
        moto, fauxqs and LocalStack serve it.

        Raises:
            ConfigurationError: a host without a host name.
        """
        sns_url = local_endpoint_url(sns_host or host, sns_port or port)
        sqs_url = local_endpoint_url(host, port)
        return cls(
            region=region,
            account_id=account_id,
            sqs_url=sqs_url,
            sns_url=sns_url,
            sts_url=sns_url,
            s3_url=sqs_url,
        )

    def in_region(self, region_name: str | None) -> Endpoints:
        """Return these endpoints in ``region_name`` (themselves when it is None).

        Raises:
            ConfigurationError: ``region_name`` and ``region`` name two different regions.
        """
        if region_name is None or region_name == self.region:
            return self
        if self.region is not None:
            raise _refused(
                "region_name",
                region_name,
                f"contradicts Endpoints.region={self.region!r}",
                "pass the region once, either as region_name or in Endpoints",
            )
        return attrs.evolve(self, region=region_name)


def local_endpoint_url(host: str, port: int | None) -> str:
    """Return ``scheme://host:port`` for a host given with or without a scheme.

    A port written in ``host`` wins over ``port``; the scheme defaults to ``http``.

    Raises:
        ConfigurationError: a host without a host name.
    """
    parts = urlsplit(host if "://" in host else f"http://{host}")
    if not parts.hostname:
        raise _refused(
            "host", host, "has no host name", "pass e.g. 'localhost' or 'http://localhost'"
        )
    chosen = parts.port or port
    hostname = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{hostname}:{chosen}" if chosen else f"{parts.scheme}://{hostname}"


#: The options every SQS backend takes when given none.
DEFAULT_TIMEOUTS = Timeouts()
DEFAULT_RETRIES = RetryBudget()
DEFAULT_ENDPOINTS = Endpoints()
DEFAULT_LIMITS = ConnectionLimits()


@attrs.frozen
class ClientSpec:
    """One botocore client of an SQS backend: what it serves, where, and how.

    Attributes:
        service: the botocore service name (``sqs``, ``sns``, ``sts``).
        endpoint_url: its endpoint; None for AWS's own in the region.
        config: its botocore configuration: timeouts, retries, pool size.
        attempts: attempts per request, the first included (what ``config`` retries to).
    """

    service: str
    endpoint_url: str | None
    config: Config = attrs.field(eq=False)
    attempts: int


def client_specs(
    endpoints: Endpoints = DEFAULT_ENDPOINTS,
    timeouts: Timeouts = DEFAULT_TIMEOUTS,
    retries: RetryBudget = DEFAULT_RETRIES,
    limits: ConnectionLimits = DEFAULT_LIMITS,
) -> Mapping[ClientName, ClientSpec]:
    """Return each client of an SQS backend by name, sync or asyncio alike.

    ``sqs``, ``sns`` and ``sts`` serve the short requests: the publish timeouts and
    ``retries.max_attempts`` attempts. ``sqs-long-poll`` serves the receive: the receive
    timeouts and one attempt. ``s3`` serves the large-payload stores with the short
    requests' timeouts and attempts, in path-style addressing when its endpoint is given
    (an emulator's). All use botocore's ``standard`` retry mode with
    ``total_max_attempts`` (which counts the first attempt) and ``limits``' pool size.
    """

    def config(connect: float, read: float, attempts: int) -> Config:
        return Config(
            connect_timeout=connect,
            read_timeout=read,
            retries={"mode": "standard", "total_max_attempts": attempts},
            max_pool_connections=limits.max_connections,
        )

    attempts = retries.max_attempts
    short = config(timeouts.publish_connect, timeouts.publish_read, attempts)
    long_poll = config(timeouts.receive_connect, timeouts.receive_read, 1)
    # Emulators serve buckets by path only: AWS's virtual-hosted names need DNS they lack.
    s3 = short.merge(Config(s3={"addressing_style": "path"})) if endpoints.s3_url else short
    return {
        "sqs": ClientSpec("sqs", endpoints.sqs_url, short, attempts),
        "sqs-long-poll": ClientSpec("sqs", endpoints.sqs_url, long_poll, 1),
        "sns": ClientSpec("sns", endpoints.sns_url or endpoints.sqs_url, short, attempts),
        "sts": ClientSpec("sts", endpoints.sts_url, short, attempts),
        "s3": ClientSpec("s3", endpoints.s3_url, s3, attempts),
    }


def worst_case_seconds(connect_timeout: float, read_timeout: float, attempts: int) -> float:
    """Return the longest a request can take when the endpoint connects slowly or goes silent.

    Each attempt may spend ``connect_timeout`` connecting and ``read_timeout`` waiting
    for an answer, and botocore pauses before each retry. With the defaults for short
    requests (2 s, 5 s, 2 attempts): 2 x (2 + 5) + 1 = 15 s; a receive (2 s, 25 s, one
    attempt): 27 s.
    """
    pauses = sum(min(2.0 ** (n - 1), _LONGEST_BACKOFF) for n in range(1, attempts))
    return attempts * (connect_timeout + read_timeout) + pauses
