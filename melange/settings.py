"""Settings from the environment: ``MELANGE_*`` variables, optionally from ``config/<env>.env``.

``load_settings()`` reads ``config/<env>.env`` (python-dotenv) when ``MELANGE_ENV`` (or the
``env`` argument) names one, lets the real process environment override it, and structures
the values with cattrs. Every wrong value is reported at once, in one ``ConfigurationError``
naming each variable, its value and what is allowed, in its text and as one ``Problem``
per variable in its ``problems``. AWS credentials and region are never
melange settings: they come from the standard AWS variables and credential chain.
"""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import attrs
import cattrs
from dotenv import dotenv_values

from melange.exceptions import ConfigurationError, Problem
from melange.options import DEFAULT_OPTIONS, Backoff, DispatcherOptions
from melange.payloads.store import (
    DEFAULT_EXPIRY_DAYS,
    DEFAULT_KEY_PREFIX,
    Encryption,
    LargePayloads,
    is_bucket_name,
)

__all__ = [
    "SETTINGS",
    "DispatcherSettings",
    "LargePayloadSettings",
    "MelangeSettings",
    "Setting",
    "endpoint_missing",
    "large_payloads_from_settings",
    "load_settings",
    "options_from_settings",
    "redacted_url",
]

BackendName = Literal["aws", "local", "memory"]
SerializerName = Literal["json", "typed_json", "pickle"]
DedupName = Literal["none", "memory", "redis"]


def _redacted_url(url: str | None) -> str | None:
    """Return ``url`` with its password replaced by ``***`` (see ``redacted_url``)."""
    return None if url is None else redacted_url(url)


@attrs.frozen
class DispatcherSettings:
    """How workers consume: see ``DispatcherOptions`` for each option's meaning.

    The defaults are ``DispatcherOptions``'s; ``options_from_settings`` turns these into one.
    """

    workers: int = DEFAULT_OPTIONS.workers
    wait_time_seconds: int = DEFAULT_OPTIONS.wait_time_seconds
    visibility_timeout: int = DEFAULT_OPTIONS.visibility_timeout
    max_receive_count: int = 5
    backoff_base: float = DEFAULT_OPTIONS.backoff.base
    backoff_cap: float = DEFAULT_OPTIONS.backoff.cap
    backoff_jitter: float = DEFAULT_OPTIONS.backoff.jitter
    ack_unhandled: bool = DEFAULT_OPTIONS.ack_unhandled


@attrs.frozen
class LargePayloadSettings:
    """Where messages too large for their queue or topic go: see ``LargePayloads``.

    Without a bucket there is no claim check: a message over the limit raises
    ``MessageTooLargeError``, and a received pointer is dead-lettered with a reason.
    ``large_payloads_from_settings`` turns these into a ``LargePayloads``.
    """

    bucket: str | None = None
    key_prefix: str = DEFAULT_KEY_PREFIX
    always: bool = False
    encryption: Encryption | None = None
    kms_key_id: str | None = None
    expiry_days: int = DEFAULT_EXPIRY_DAYS
    read_buckets: tuple[str, ...] = ()


@attrs.frozen
class MelangeSettings:
    """Everything melange reads from the environment (tabulated on the Configuration page)."""

    env: str | None = None
    backend: BackendName = "memory"
    region: str | None = None
    endpoint_url: str | None = None
    sns_endpoint_url: str | None = None
    publish_connect_timeout: float = 2.0  # Timeouts' defaults (melange.backends.sqs.options)
    publish_read_timeout: float = 5.0
    sqs_direct_requests: bool = True
    prefix: str = ""
    default_serializer: SerializerName = "json"
    allow_pickle: bool = False
    readable_by_melange7: bool = False
    dedup: DedupName = "none"
    redis_url: str | None = attrs.field(default=None, repr=lambda url: repr(_redacted_url(url)))
    dispatcher: DispatcherSettings = DispatcherSettings()
    large_payloads: LargePayloadSettings = LargePayloadSettings()


@attrs.frozen
class Setting:
    """One environment variable: where it goes in the settings, its default, what it allows."""

    variable: str
    path: tuple[str, ...]
    default: str
    allowed: str
    meaning: str
    low: float | None = None
    high: float | None = None


#: Every variable melange reads, in the order of the Configuration page's table (generated).
SETTINGS: tuple[Setting, ...] = (
    Setting(
        "MELANGE_ENV",
        ("env",),
        "(unset)",
        "a name with a config/<name>.env file",
        "which config file to load",
    ),
    Setting("MELANGE_CONFIG_DIR", (), "./config", "a directory", "where the <env>.env files are"),
    Setting(
        "MELANGE_BACKEND",
        ("backend",),
        "memory",
        "one of aws, local, memory",
        "the messaging backend",
    ),
    Setting(
        "MELANGE_ENDPOINT_URL",
        ("endpoint_url",),
        "(unset)",
        "a URL",
        "SQS and SNS endpoint of an emulator (local)",
    ),
    Setting(
        "MELANGE_SNS_ENDPOINT_URL",
        ("sns_endpoint_url",),
        "(the SQS endpoint)",
        "a URL",
        "SNS endpoint, when it differs",
    ),
    Setting(
        "MELANGE_PUBLISH_CONNECT_TIMEOUT",
        ("publish_connect_timeout",),
        "2.0",
        "a number >= 0.1",
        "seconds to connect, for every SQS/SNS request but the receive",
        0.1,
    ),
    Setting(
        "MELANGE_PUBLISH_READ_TIMEOUT",
        ("publish_read_timeout",),
        "5.0",
        "a number >= 0.1",
        "seconds to wait for an answer, for every SQS/SNS request but the receive",
        0.1,
    ),
    Setting(
        "MELANGE_SQS_DIRECT_REQUESTS",
        ("sqs_direct_requests",),
        "true",
        "true or false",
        "send receives, deletes and sends straight to SQS; false: all through botocore",
    ),
    Setting(
        "MELANGE_PREFIX", ("prefix",), "(empty)", "text", "prepended to every queue and topic name"
    ),
    Setting(
        "MELANGE_DEFAULT_SERIALIZER",
        ("default_serializer",),
        "json",
        "one of json, typed_json, pickle",
        "serializer for types with no binding",
    ),
    Setting(
        "MELANGE_ALLOW_PICKLE",
        ("allow_pickle",),
        "false",
        "true or false",
        "whether pickle may be read from queues",
    ),
    Setting(
        "MELANGE_READABLE_BY_MELANGE7",
        ("readable_by_melange7",),
        "false",
        "true or false",
        "refuse to publish what melange 7.x consumers cannot read",
    ),
    Setting(
        "MELANGE_DEDUP",
        ("dedup",),
        "none (redis if MELANGE_REDIS_URL is set)",
        "one of none, memory, redis",
        "deduplication cache",
    ),
    Setting(
        "MELANGE_REDIS_URL", ("redis_url",), "(unset)", "a redis:// URL", "Redis for deduplication"
    ),
    Setting(
        "MELANGE_WORKERS",
        ("dispatcher", "workers"),
        str(DEFAULT_OPTIONS.workers),
        "an integer >= 1",
        "handlers running at once per queue",
        1,
    ),
    Setting(
        "MELANGE_WAIT_TIME_SECONDS",
        ("dispatcher", "wait_time_seconds"),
        str(DEFAULT_OPTIONS.wait_time_seconds),
        "an integer 0-20",
        "long-poll wait",
        0,
        20,
    ),
    Setting(
        "MELANGE_VISIBILITY_TIMEOUT",
        ("dispatcher", "visibility_timeout"),
        str(DEFAULT_OPTIONS.visibility_timeout),
        "an integer 1-43200",
        "seconds a received message stays hidden",
        1,
        43_200,
    ),
    Setting(
        "MELANGE_MAX_RECEIVE_COUNT",
        ("dispatcher", "max_receive_count"),
        "5",
        "an integer 1-1000",
        "receives before a message moves to the DLQ",
        1,
        1000,
    ),
    Setting(
        "MELANGE_BACKOFF_BASE",
        ("dispatcher", "backoff_base"),
        str(DEFAULT_OPTIONS.backoff.base),
        "a number >= 0",
        "retry delay after the first failure, seconds",
        0,
    ),
    Setting(
        "MELANGE_BACKOFF_CAP",
        ("dispatcher", "backoff_cap"),
        str(DEFAULT_OPTIONS.backoff.cap),
        "a number >= 0",
        "longest retry delay, seconds",
        0,
    ),
    Setting(
        "MELANGE_BACKOFF_JITTER",
        ("dispatcher", "backoff_jitter"),
        str(DEFAULT_OPTIONS.backoff.jitter),
        "a number 0-1",
        "randomised fraction of each delay",
        0,
        1,
    ),
    Setting(
        "MELANGE_ACK_UNHANDLED",
        ("dispatcher", "ack_unhandled"),
        str(DEFAULT_OPTIONS.ack_unhandled).lower(),
        "true or false",
        "acknowledge messages no consumer accepts, instead of dead-lettering them",
    ),
    Setting(
        "MELANGE_LARGE_PAYLOAD_BUCKET",
        ("large_payloads", "bucket"),
        "(unset: no large messages)",
        "an S3 bucket name",
        "S3 bucket for messages over the size limit of their queue or topic (claim check)",
    ),
    Setting(
        "MELANGE_LARGE_PAYLOAD_KEY_PREFIX",
        ("large_payloads", "key_prefix"),
        DEFAULT_KEY_PREFIX,
        "text",
        "prepended to every object key; the lifecycle rule expires what is under it",
    ),
    Setting(
        "MELANGE_LARGE_PAYLOAD_ALWAYS",
        ("large_payloads", "always"),
        "false",
        "true or false",
        "store every message in S3, however small",
    ),
    Setting(
        "MELANGE_LARGE_PAYLOAD_ENCRYPTION",
        ("large_payloads", "encryption"),
        "(unset: the bucket's default)",
        "one of AES256, aws:kms",
        "server-side encryption of each stored payload",
    ),
    Setting(
        "MELANGE_LARGE_PAYLOAD_KMS_KEY_ID",
        ("large_payloads", "kms_key_id"),
        "(unset: the AWS-managed key)",
        "a KMS key id, ARN or alias",
        "the KMS key, with MELANGE_LARGE_PAYLOAD_ENCRYPTION=aws:kms",
    ),
    Setting(
        "MELANGE_LARGE_PAYLOAD_EXPIRY_DAYS",
        ("large_payloads", "expiry_days"),
        str(DEFAULT_EXPIRY_DAYS),
        "an integer >= 1",
        "days after which the lifecycle rule of declare expires stored payloads",
        1,
    ),
    Setting(
        "MELANGE_LARGE_PAYLOAD_READ_BUCKETS",
        ("large_payloads", "read_buckets"),
        "(empty)",
        "S3 bucket names, comma-separated",
        "buckets of other producers whose pointers consumers may follow",
    ),
)

_BY_VARIABLE = {setting.variable: setting for setting in SETTINGS}
_BY_PATH = {setting.path: setting for setting in SETTINGS if setting.path}
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def load_settings(
    env: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    config_dir: str | Path | None = None,
) -> MelangeSettings:
    """Return the settings for ``env`` (default: ``MELANGE_ENV``) from files and environment.

    Args:
        env: the environment name; ``config/<env>.env`` is read. Overrides ``MELANGE_ENV``.
        environ: the process environment to read (default ``os.environ``); tests pass a
            dict instead of patching.
        config_dir: where the ``.env`` files are (default ``MELANGE_CONFIG_DIR`` or
            ``./config``).

    Raises:
        ConfigurationError: a file is missing, or variables are unknown or have wrong
            values; every problem is listed.
    """
    process = dict(os.environ if environ is None else environ)
    env = env or process.get("MELANGE_ENV") or None
    values = _file_values(env, config_dir or process.get("MELANGE_CONFIG_DIR") or "config")
    values.update(process)  # the real environment wins over the file
    values["MELANGE_ENV"] = env or ""
    return _structure(values)


def _file_values(env: str | None, config_dir: str | Path) -> dict[str, str]:
    if env is None:
        return {}
    path = Path(config_dir) / f"{env}.env"
    if not path.is_file():
        available = sorted(p.stem for p in Path(config_dir).glob("*.env"))
        raise ConfigurationError(
            f"MELANGE_ENV={env!r} but {str(path)!r} does not exist; create it or choose one "
            f"of {available!r} (MELANGE_CONFIG_DIR sets the folder)",
            problems=[
                Problem(
                    "MELANGE_ENV",
                    env,
                    f"a name with a {Path(config_dir)}/<name>.env file: one of {available!r}",
                )
            ],
        )
    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def _structure(values: Mapping[str, str]) -> MelangeSettings:
    problems = [_unknown(name, values[name]) for name in values if _is_unknown(name)]
    raw: dict[str, Any] = {"dispatcher": {}}
    for setting in SETTINGS:
        text = values.get(setting.variable, "").strip()
        if not text or not setting.path:
            continue
        try:
            value = _parse(setting, text)
        except (ValueError, TypeError, cattrs.errors.CattrsError):
            problems.append(
                (
                    f"{setting.variable}={text!r} is not {setting.allowed}",
                    Problem(setting.variable, text, setting.allowed),
                )
            )
            continue
        target = raw.setdefault(setting.path[0], {}) if len(setting.path) > 1 else raw
        target[setting.path[-1]] = value
    raw["region"] = values.get("AWS_REGION") or values.get("AWS_DEFAULT_REGION") or None
    if "dedup" not in raw and "redis_url" in raw:
        raw["dedup"] = "redis"
    problems.extend(_cross_check(raw))
    if problems:
        raise ConfigurationError(
            "melange settings are wrong:\n  " + "\n  ".join(line for line, _ in problems),
            problems=[problem for _, problem in problems],
        )
    return _converter.structure(raw, MelangeSettings)


def _parse(setting: Setting, text: str) -> Any:
    """Turn one variable's text into its field's type with cattrs, then check its range."""
    value = _converter.structure(text, _field_type(setting.path))
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(text)  # nan and inf pass every range comparison
    if setting.low is not None and value < setting.low:
        raise ValueError(text)
    if setting.high is not None and value > setting.high:
        raise ValueError(text)
    return value


def _field_type(path: tuple[str, ...]) -> Any:
    cls: Any = MelangeSettings
    field_type: Any = None
    for name in path:
        field_type = attrs.fields_dict(attrs.resolve_types(cls))[name].type
        cls = field_type
    return field_type


def _is_unknown(name: str) -> bool:
    return name.startswith("MELANGE_") and name not in _BY_VARIABLE


#: A line of the error's text and the ``Problem`` it states.
_Reported = tuple[str, Problem]


def _unknown(name: str, text: str) -> _Reported:
    close = difflib.get_close_matches(name, _BY_VARIABLE, n=1)
    hint = f"; did you mean {close[0]}?" if close else ""
    expected = f"no such variable (did you mean {close[0]}?)" if close else "no such variable"
    return f"{name} is not a melange setting{hint}", Problem(name, text, expected)


def _cross_check(raw: Mapping[str, Any]) -> list[_Reported]:
    problems = []
    if raw.get("backend") == "local" and not raw.get("endpoint_url"):
        problems.append(_LOCAL_NEEDS_ENDPOINT)
    if raw.get("dedup") == "redis" and not raw.get("redis_url"):
        problems.append(
            (
                "MELANGE_DEDUP='redis' needs MELANGE_REDIS_URL (e.g. redis://localhost:6379/0)",
                Problem("MELANGE_REDIS_URL", None, "a redis:// URL, as MELANGE_DEDUP='redis'"),
            )
        )
    problems.extend(_large_payload_problems(raw.get("large_payloads", {})))
    return problems


def _large_payload_problems(given: Mapping[str, Any]) -> list[_Reported]:
    """Check the ``MELANGE_LARGE_PAYLOAD_*`` values together: names, and what needs what."""
    problems = []
    for name, setting in (("bucket", "BUCKET"), ("read_buckets", "READ_BUCKETS")):
        values = given.get(name)
        for value in (values,) if isinstance(values, str) else values or ():
            if not is_bucket_name(value):
                expected = "S3 bucket names: 3-63 lower-case letters, digits, dots and hyphens"
                problems.append(
                    (
                        f"MELANGE_LARGE_PAYLOAD_{setting} has {value!r}, which is not an S3 "
                        "bucket name (3-63 lower-case letters, digits, dots and hyphens, "
                        "starting and ending with a letter or digit)",
                        Problem(f"MELANGE_LARGE_PAYLOAD_{setting}", value, expected),
                    )
                )
    if given.get("kms_key_id") and given.get("encryption") != "aws:kms":
        problems.append(
            (
                "MELANGE_LARGE_PAYLOAD_KMS_KEY_ID is set but MELANGE_LARGE_PAYLOAD_ENCRYPTION "
                f"is {given.get('encryption') or 'unset'}; set "
                "MELANGE_LARGE_PAYLOAD_ENCRYPTION=aws:kms or unset the key",
                Problem(
                    "MELANGE_LARGE_PAYLOAD_ENCRYPTION",
                    given.get("encryption"),
                    "aws:kms, as MELANGE_LARGE_PAYLOAD_KMS_KEY_ID is set",
                ),
            )
        )
    unused = sorted(name for name in given if name != "bucket")
    if unused and not given.get("bucket"):
        variables = ", ".join(f"MELANGE_LARGE_PAYLOAD_{name.upper()}" for name in unused)
        problems.append(
            (
                f"{variables} set without MELANGE_LARGE_PAYLOAD_BUCKET, so nothing would use "
                "them; set the bucket, or unset them",
                Problem(
                    "MELANGE_LARGE_PAYLOAD_BUCKET",
                    None,
                    f"an S3 bucket name, as {variables} is set",
                ),
            )
        )
    return problems


def large_payloads_from_settings(settings: MelangeSettings) -> LargePayloads | None:
    """Return where the settings send large messages; ``None`` without a bucket."""
    given = settings.large_payloads
    if not given.bucket:
        return None
    return LargePayloads(
        bucket=given.bucket,
        key_prefix=given.key_prefix,
        always=given.always,
        encryption=given.encryption,
        kms_key_id=given.kms_key_id,
        expiry_days=given.expiry_days,
        read_buckets=given.read_buckets,
    )


#: ``MELANGE_BACKEND=local`` without an endpoint: reported by ``load_settings``, and by the
#: backend factories for settings built without it.
_LOCAL_NEEDS_ENDPOINT: _Reported = (
    "MELANGE_BACKEND='local' needs MELANGE_ENDPOINT_URL (e.g. http://localhost:9324)",
    Problem("MELANGE_ENDPOINT_URL", None, "a URL, as MELANGE_BACKEND='local'"),
)


def endpoint_missing() -> ConfigurationError:
    """Return the error for ``MELANGE_BACKEND=local`` settings without an endpoint URL."""
    line, problem = _LOCAL_NEEDS_ENDPOINT
    return ConfigurationError(line, problems=[problem])


def _structure_bool(value: object, _: type) -> bool:
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{value!r} is not true or false")


def _structure_names(value: object, _: type) -> tuple[str, ...]:
    """Read a comma-separated list of names (``a, b``), or take a sequence of them."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise ValueError(f"{value!r} is not a comma-separated list")
    return tuple(str(item).strip() for item in items if str(item).strip())


_converter = cattrs.Converter(detailed_validation=True)
_converter.register_structure_hook(bool, _structure_bool)
_converter.register_structure_hook_func(lambda t: t == tuple[str, ...], _structure_names)


def redacted_url(url: str) -> str:
    """Return ``url`` with its password (in the user part or the query) replaced by ``***``.

    Redis URLs end up in logs and error messages; their passwords must not.
    """
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        user_info, _, host = netloc.rpartition("@")
        user = user_info.partition(":")[0]
        netloc = f"{user}:***@{host}" if ":" in user_info else f"***@{host}"
    query = urlencode(
        [(k, "***" if k.lower() == "password" else v) for k, v in parse_qsl(parts.query)],
        safe="*",
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def options_from_settings(settings: DispatcherSettings) -> DispatcherOptions:
    """Return the options ``MELANGE_*`` settings describe (tabulated on the Configuration page)."""
    return DispatcherOptions(
        workers=settings.workers,
        wait_time_seconds=settings.wait_time_seconds,
        visibility_timeout=settings.visibility_timeout,
        backoff=Backoff(
            base=settings.backoff_base, cap=settings.backoff_cap, jitter=settings.backoff_jitter
        ),
        ack_unhandled=settings.ack_unhandled,
    )
