"""Unit tests for load_settings: files, environment, defaults and the errors it reports."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from melange.exceptions import ConfigurationError, Problem
from melange.payloads import LargePayloads
from melange.settings import (
    SETTINGS,
    DispatcherSettings,
    LargePayloadSettings,
    MelangeSettings,
    large_payloads_from_settings,
    load_settings,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
REPO_CONFIG = REPO_ROOT / "config"
SETTING_BY_VARIABLE = {setting.variable: setting for setting in SETTINGS}


def settings_error(environ: dict[str, str], *, config_dir: Path) -> str:
    """Return the message of the ConfigurationError that loading ``environ`` raises."""
    return str(settings_exception(environ, config_dir=config_dir))


def settings_exception(environ: dict[str, str], *, config_dir: Path) -> ConfigurationError:
    """Return the ConfigurationError that loading ``environ`` raises."""
    with pytest.raises(ConfigurationError) as caught:
        load_settings(environ=environ, config_dir=config_dir)
    return caught.value


@pytest.fixture(name="config_dir")
def fixture_config_dir(tmp_path: Path) -> Path:
    """Give a config folder holding a ``staging.env`` and a ``prod.env`` file."""
    (tmp_path / "staging.env").write_text(
        "# staging: an emulator by endpoint, with its own prefix\n"
        "MELANGE_BACKEND=local\n"
        "MELANGE_ENDPOINT_URL=http://emulator:9324\n"
        "MELANGE_PREFIX=staging-\n"
        "MELANGE_WORKERS=4\n"
        "AWS_REGION=eu-west-1\n"
    )
    (tmp_path / "prod.env").write_text("MELANGE_BACKEND=aws\n")
    return tmp_path


# -- defaults and files --------------------------------------------------------------------


def test_an_empty_environment_gives_the_defaults(tmp_path: Path) -> None:
    """With no variables and no env name, every setting has its default."""
    settings = load_settings(environ={}, config_dir=tmp_path)

    assert settings == MelangeSettings()
    assert settings.backend == "memory"
    assert settings.prefix == ""
    assert settings.dedup == "none"
    assert settings.allow_pickle is False
    assert settings.region is None
    assert settings.dispatcher == DispatcherSettings()


def test_the_env_argument_reads_that_config_file(config_dir: Path) -> None:
    """load_settings("staging") reads staging.env from the config folder."""
    settings = load_settings("staging", environ={}, config_dir=config_dir)

    assert settings.env == "staging"
    assert settings.backend == "local"
    assert settings.endpoint_url == "http://emulator:9324"
    assert settings.prefix == "staging-"
    assert settings.dispatcher.workers == 4
    assert settings.region == "eu-west-1"


def test_melange_env_in_the_environment_reads_that_config_file(config_dir: Path) -> None:
    """MELANGE_ENV=staging in the environment selects staging.env like the argument does."""
    settings = load_settings(environ={"MELANGE_ENV": "staging"}, config_dir=config_dir)

    assert settings == load_settings("staging", environ={}, config_dir=config_dir)


def test_melange_config_dir_in_the_environment_locates_the_files(config_dir: Path) -> None:
    """MELANGE_CONFIG_DIR tells load_settings where the <env>.env files are."""
    settings = load_settings(
        environ={"MELANGE_ENV": "staging", "MELANGE_CONFIG_DIR": str(config_dir)}
    )

    assert settings.prefix == "staging-"


def test_the_real_environment_overrides_the_file(config_dir: Path) -> None:
    """A variable set in the environment wins over the same variable in the file."""
    settings = load_settings(
        "staging",
        environ={"MELANGE_PREFIX": "mine-", "MELANGE_WORKERS": "9"},
        config_dir=config_dir,
    )

    assert settings.prefix == "mine-"
    assert settings.dispatcher.workers == 9
    assert settings.endpoint_url == "http://emulator:9324"  # still from the file


def test_a_missing_env_file_names_its_path_and_the_available_envs(config_dir: Path) -> None:
    """MELANGE_ENV naming a missing file gives the path looked at and the envs there are."""
    message = settings_error({"MELANGE_ENV": "qa"}, config_dir=config_dir)

    assert str(config_dir / "qa.env") in message
    assert "'prod'" in message
    assert "'staging'" in message


# -- region and deduplication ----------------------------------------------------------------


@pytest.mark.parametrize("variable", ["AWS_REGION", "AWS_DEFAULT_REGION"])
def test_the_standard_aws_variables_give_the_region(variable: str, tmp_path: Path) -> None:
    """AWS_REGION or AWS_DEFAULT_REGION becomes settings.region."""
    settings = load_settings(environ={variable: "ap-southeast-2"}, config_dir=tmp_path)

    assert settings.region == "ap-southeast-2"


def test_aws_region_wins_over_aws_default_region(tmp_path: Path) -> None:
    """With both set, AWS_REGION is the region, as in boto3."""
    settings = load_settings(
        environ={"AWS_REGION": "eu-west-2", "AWS_DEFAULT_REGION": "eu-west-1"},
        config_dir=tmp_path,
    )

    assert settings.region == "eu-west-2"


def test_a_redis_url_alone_switches_deduplication_to_redis(tmp_path: Path) -> None:
    """MELANGE_REDIS_URL without MELANGE_DEDUP makes dedup "redis"."""
    settings = load_settings(
        environ={"MELANGE_REDIS_URL": "redis://localhost:6379/0"}, config_dir=tmp_path
    )

    assert settings.dedup == "redis"
    assert settings.redis_url == "redis://localhost:6379/0"


def test_an_explicit_dedup_wins_over_the_redis_url(tmp_path: Path) -> None:
    """MELANGE_DEDUP=memory stays memory even when a Redis URL is set."""
    settings = load_settings(
        environ={"MELANGE_DEDUP": "memory", "MELANGE_REDIS_URL": "redis://localhost:6379/0"},
        config_dir=tmp_path,
    )

    assert settings.dedup == "memory"


# -- parsing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("True", True),
        ("1", True),
        ("yes", True),
        ("YES", True),
        ("false", False),
        ("FaLsE", False),
        ("0", False),
        ("no", False),
        ("No", False),
    ],
)
def test_booleans_accept_the_usual_spellings(text: str, expected: bool, tmp_path: Path) -> None:
    """true/false/1/0/yes/no, in any case, are booleans."""
    settings = load_settings(environ={"MELANGE_ALLOW_PICKLE": text}, config_dir=tmp_path)

    assert settings.allow_pickle is expected


def test_numbers_are_read_into_the_dispatcher_settings(tmp_path: Path) -> None:
    """Numeric variables are parsed into the dispatcher's typed settings."""
    settings = load_settings(
        environ={
            "MELANGE_WORKERS": "8",
            "MELANGE_WAIT_TIME_SECONDS": "0",
            "MELANGE_VISIBILITY_TIMEOUT": "120",
            "MELANGE_MAX_RECEIVE_COUNT": "3",
            "MELANGE_BACKOFF_BASE": "2.5",
            "MELANGE_BACKOFF_CAP": "60",
            "MELANGE_BACKOFF_JITTER": "0",
        },
        config_dir=tmp_path,
    )

    assert settings.dispatcher == DispatcherSettings(
        workers=8,
        wait_time_seconds=0,
        visibility_timeout=120,
        max_receive_count=3,
        backoff_base=2.5,
        backoff_cap=60.0,
        backoff_jitter=0.0,
    )


# -- errors --------------------------------------------------------------------------------


def test_a_wrong_backend_gives_the_exact_message(tmp_path: Path) -> None:
    """MELANGE_BACKEND=sqs is refused with the variable, the value and the choices."""
    message = settings_error({"MELANGE_BACKEND": "sqs"}, config_dir=tmp_path)

    assert "MELANGE_BACKEND='sqs' is not one of aws, local, memory" in message


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MELANGE_BACKEND", "sqs"),
        ("MELANGE_DEFAULT_SERIALIZER", "yaml"),
        ("MELANGE_ALLOW_PICKLE", "maybe"),
        ("MELANGE_DEDUP", "disk"),
        ("MELANGE_WORKERS", "many"),
        ("MELANGE_WORKERS", "2.5"),
        ("MELANGE_VISIBILITY_TIMEOUT", "0"),
        ("MELANGE_MAX_RECEIVE_COUNT", "1001"),
        ("MELANGE_BACKOFF_BASE", "-1"),
        ("MELANGE_BACKOFF_CAP", "soon"),
    ],
)
def test_a_wrong_value_names_variable_value_and_what_is_allowed(
    variable: str, value: str, tmp_path: Path
) -> None:
    """Each wrong value's error names the variable, its value (repr) and the allowed values."""
    message = settings_error({variable: value}, config_dir=tmp_path)

    assert variable in message
    assert repr(value) in message
    assert SETTING_BY_VARIABLE[variable].allowed in message


@pytest.mark.parametrize(
    ("variable", "value", "allowed"),
    [
        ("MELANGE_WAIT_TIME_SECONDS", "21", "an integer 0-20"),
        ("MELANGE_WORKERS", "0", "an integer >= 1"),
        ("MELANGE_BACKOFF_JITTER", "1.5", "a number 0-1"),
    ],
)
def test_numbers_out_of_range_are_refused(
    variable: str, value: str, allowed: str, tmp_path: Path
) -> None:
    """A number of the right type but outside its range is refused with the range."""
    message = settings_error({variable: value}, config_dir=tmp_path)

    assert f"{variable}={value!r} is not {allowed}" in message


@pytest.mark.parametrize("variable", ["MELANGE_BACKOFF_BASE", "MELANGE_BACKOFF_JITTER"])
def test_not_a_number_is_refused(variable: str, tmp_path: Path) -> None:
    """'nan' is outside every numeric range and is refused."""
    message = settings_error({variable: "nan"}, config_dir=tmp_path)

    assert f"{variable}='nan'" in message


def test_several_wrong_values_are_reported_in_one_error(tmp_path: Path) -> None:
    """Every wrong variable is listed in the one ConfigurationError raised."""
    message = settings_error(
        {
            "MELANGE_BACKEND": "sqs",
            "MELANGE_WORKERS": "0",
            "MELANGE_ALLOW_PICKLE": "maybe",
            "MELANGE_WAIT_TIME_SECONDS": "21",
            "MELANGE_BAKEND": "aws",
        },
        config_dir=tmp_path,
    )

    assert "MELANGE_BACKEND='sqs'" in message
    assert "MELANGE_WORKERS='0'" in message
    assert "MELANGE_ALLOW_PICKLE='maybe'" in message
    assert "MELANGE_WAIT_TIME_SECONDS='21'" in message
    assert "MELANGE_BAKEND" in message


def test_each_wrong_variable_is_one_problem_of_the_error(tmp_path: Path) -> None:
    """The error's problems name each wrong variable with its text and what it allows."""
    error = settings_exception(
        {
            "MELANGE_BACKEND": "sqs",
            "MELANGE_WORKERS": "0",
            "MELANGE_VISIBILITY_TIMEOUT": "43201",
            "MELANGE_BAKEND": "aws",
            "MELANGE_DEDUP": "redis",
        },
        config_dir=tmp_path,
    )

    assert set(error.problems) == {
        Problem("MELANGE_BAKEND", "aws", "no such variable (did you mean MELANGE_BACKEND?)"),
        Problem("MELANGE_BACKEND", "sqs", "one of aws, local, memory"),
        Problem("MELANGE_WORKERS", "0", "an integer >= 1"),
        Problem("MELANGE_VISIBILITY_TIMEOUT", "43201", "an integer 1-43200"),
        Problem("MELANGE_REDIS_URL", None, "a redis:// URL, as MELANGE_DEDUP='redis'"),
    }
    assert len(error.problems) == len(str(error).splitlines()) - 1  # one per line listed


def test_a_missing_endpoint_is_a_problem_of_the_endpoint_variable(tmp_path: Path) -> None:
    """MELANGE_BACKEND=local without an endpoint names MELANGE_ENDPOINT_URL as what to set."""
    error = settings_exception({"MELANGE_BACKEND": "local"}, config_dir=tmp_path)

    assert [(p.setting, p.value) for p in error.problems] == [("MELANGE_ENDPOINT_URL", None)]


def test_a_missing_env_file_is_a_problem_of_melange_env(config_dir: Path) -> None:
    """MELANGE_ENV naming a missing file is a problem of MELANGE_ENV listing the envs there are."""
    error = settings_exception({"MELANGE_ENV": "qa"}, config_dir=config_dir)

    ((problem),) = error.problems
    assert (problem.setting, problem.value) == ("MELANGE_ENV", "qa")
    assert "['prod', 'staging']" in problem.expected


def test_wrong_values_in_the_file_are_reported_like_the_environment(tmp_path: Path) -> None:
    """A wrong value read from the config file is reported with its variable and value."""
    (tmp_path / "broken.env").write_text("MELANGE_BACKEND=sqs\nMELANGE_WORKERS=zero\n")

    message = settings_error({"MELANGE_ENV": "broken"}, config_dir=tmp_path)

    assert "MELANGE_BACKEND='sqs'" in message
    assert "MELANGE_WORKERS='zero'" in message


def test_a_misspelt_variable_gets_a_suggestion(tmp_path: Path) -> None:
    """An unknown MELANGE_BAKEND is refused with 'did you mean MELANGE_BACKEND?'."""
    message = settings_error({"MELANGE_BAKEND": "aws"}, config_dir=tmp_path)

    assert "MELANGE_BAKEND" in message
    assert "did you mean MELANGE_BACKEND?" in message


def test_variables_without_the_melange_prefix_are_ignored(tmp_path: Path) -> None:
    """Unrelated variables (PATH, HOME, ...) are not melange's business."""
    settings = load_settings(
        environ={"PATH": "/usr/bin", "BACKEND": "sqs", "MELANGEX": "1"}, config_dir=tmp_path
    )

    assert settings == MelangeSettings()


def test_the_local_backend_needs_an_endpoint(tmp_path: Path) -> None:
    """MELANGE_BACKEND=local without MELANGE_ENDPOINT_URL is an error naming both."""
    message = settings_error({"MELANGE_BACKEND": "local"}, config_dir=tmp_path)

    assert "MELANGE_BACKEND='local'" in message
    assert "MELANGE_ENDPOINT_URL" in message


def test_redis_deduplication_needs_a_url(tmp_path: Path) -> None:
    """MELANGE_DEDUP=redis without MELANGE_REDIS_URL is an error naming both."""
    message = settings_error({"MELANGE_DEDUP": "redis"}, config_dir=tmp_path)

    assert "MELANGE_DEDUP='redis'" in message
    assert "MELANGE_REDIS_URL" in message


# -- secrets -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "redis://:s3cret-Pa55@cache.internal:6379/0",
        "redis://app:s3cret-Pa55@cache.internal:6379/0",
        "rediss://app:s3cret-Pa55@cache.internal:6380/1",
        "redis://app:s3cret-Pa55%40x@cache.internal/0",
    ],
)
def test_the_redis_password_never_appears_in_repr_or_str(url: str, tmp_path: Path) -> None:
    """Settings get logged, so the Redis password is masked in repr() and str()."""
    settings = load_settings(environ={"MELANGE_REDIS_URL": url}, config_dir=tmp_path)

    assert settings.redis_url == url  # the real value is still there to connect with
    assert "s3cret-Pa55" not in repr(settings)
    assert "s3cret-Pa55" not in str(settings)
    assert "cache.internal" in repr(settings)


@pytest.mark.parametrize(
    "url",
    [
        "redis://cache.internal:6379/0?password=s3cret-Pa55",
        "redis://:s3cret@Pa55@cache.internal:6379/0",
    ],
)
def test_unusual_redis_password_forms_are_masked_too(url: str, tmp_path: Path) -> None:
    """Passwords that redis-py accepts in other URL forms are masked as well."""
    settings = load_settings(environ={"MELANGE_REDIS_URL": url}, config_dir=tmp_path)

    assert "Pa55" not in repr(settings)


# -- the repository's own files and docs -----------------------------------------------------


def test_the_repository_test_env_loads_with_its_documented_values() -> None:
    """config/test.env selects the in-memory backend with the test- prefix."""
    settings = load_settings("test", environ={}, config_dir=REPO_CONFIG)

    assert settings.env == "test"
    assert settings.backend == "memory"
    assert settings.prefix == "test-"
    assert settings.dedup == "none"


def test_the_repository_local_env_loads_with_its_documented_values() -> None:
    """config/local.env selects moto on :9324, the dev- prefix, Redis and us-east-1."""
    settings = load_settings("local", environ={}, config_dir=REPO_CONFIG)

    assert settings.env == "local"
    assert settings.backend == "local"
    assert settings.endpoint_url == "http://localhost:9324"
    assert settings.prefix == "dev-"
    assert settings.redis_url == "redis://localhost:6379/0"
    assert settings.dedup == "redis"
    assert settings.region == "us-east-1"


def test_every_setting_is_a_melange_variable() -> None:
    """Each entry of SETTINGS names a MELANGE_* variable, and no variable appears twice."""
    variables = [setting.variable for setting in SETTINGS]

    assert all(variable.startswith("MELANGE_") for variable in variables)
    assert len(set(variables)) == len(variables)


def test_the_configuration_page_lists_every_setting() -> None:
    """The docs' settings table, generated from SETTINGS at build time, has every variable."""
    sys.path.insert(0, str(REPO_ROOT / "docs"))
    try:
        import hooks
    finally:
        sys.path.remove(str(REPO_ROOT / "docs"))
    page = (REPO_ROOT / "docs" / "configuration.md").read_text()
    table = hooks.on_page_markdown(page)

    assert hooks.SETTINGS_MARKER in page
    rows = table.replace("<wbr>", "").splitlines()
    missing = [s.variable for s in SETTINGS if not any(f">{s.variable}</code>" in r for r in rows)]
    assert missing == []


# -- large payloads (MELANGE_LARGE_PAYLOAD_*) -------------------------------------------------


def test_without_a_bucket_there_is_no_claim_check(tmp_path: Path) -> None:
    """No MELANGE_LARGE_PAYLOAD_BUCKET: no LargePayloads, so messages over the limit are refused."""
    settings = load_settings(environ={}, config_dir=tmp_path)

    assert settings.large_payloads == LargePayloadSettings()
    assert large_payloads_from_settings(settings) is None


def test_the_large_payload_variables_give_the_claim_checks_settings(tmp_path: Path) -> None:
    """Every variable reaches LargePayloads; read buckets are comma-separated."""
    settings = load_settings(
        environ={
            "MELANGE_LARGE_PAYLOAD_BUCKET": "shop-payloads",
            "MELANGE_LARGE_PAYLOAD_KEY_PREFIX": "orders/",
            "MELANGE_LARGE_PAYLOAD_ALWAYS": "true",
            "MELANGE_LARGE_PAYLOAD_ENCRYPTION": "aws:kms",
            "MELANGE_LARGE_PAYLOAD_KMS_KEY_ID": "alias/payloads",
            "MELANGE_LARGE_PAYLOAD_EXPIRY_DAYS": "4",
            "MELANGE_LARGE_PAYLOAD_READ_BUCKETS": "partner-payloads, legacy.payloads",
        },
        config_dir=tmp_path,
    )

    assert large_payloads_from_settings(settings) == LargePayloads(
        bucket="shop-payloads",
        key_prefix="orders/",
        always=True,
        encryption="aws:kms",
        kms_key_id="alias/payloads",
        expiry_days=4,
        read_buckets=("partner-payloads", "legacy.payloads"),
    )


def test_wrong_large_payload_values_are_problems_of_one_error(tmp_path: Path) -> None:
    """A bucket name S3 refuses, an unknown encryption and a zero expiry: one error, each named."""
    error = settings_exception(
        {
            "MELANGE_LARGE_PAYLOAD_BUCKET": "Shop_Payloads",
            "MELANGE_LARGE_PAYLOAD_ENCRYPTION": "rsa",
            "MELANGE_LARGE_PAYLOAD_EXPIRY_DAYS": "0",
            "MELANGE_LARGE_PAYLOAD_READ_BUCKETS": "ok-bucket,x",
        },
        config_dir=tmp_path,
    )

    names = "S3 bucket names: 3-63 lower-case letters, digits, dots and hyphens"
    assert set(error.problems) == {
        Problem("MELANGE_LARGE_PAYLOAD_BUCKET", "Shop_Payloads", names),
        Problem("MELANGE_LARGE_PAYLOAD_READ_BUCKETS", "x", names),
        Problem("MELANGE_LARGE_PAYLOAD_ENCRYPTION", "rsa", "one of AES256, aws:kms"),
        Problem("MELANGE_LARGE_PAYLOAD_EXPIRY_DAYS", "0", "an integer >= 1"),
    }
    assert "MELANGE_LARGE_PAYLOAD_BUCKET has 'Shop_Payloads', which is not an S3 bucket" in str(
        error
    )


def test_a_kms_key_needs_kms_encryption_and_options_need_a_bucket(tmp_path: Path) -> None:
    """A key without aws:kms, and options without a bucket, would do nothing: refused."""
    error = settings_exception(
        {"MELANGE_LARGE_PAYLOAD_KMS_KEY_ID": "alias/x", "MELANGE_LARGE_PAYLOAD_ALWAYS": "1"},
        config_dir=tmp_path,
    )

    assert {problem.setting for problem in error.problems} == {
        "MELANGE_LARGE_PAYLOAD_ENCRYPTION",
        "MELANGE_LARGE_PAYLOAD_BUCKET",
    }
    assert "set MELANGE_LARGE_PAYLOAD_ENCRYPTION=aws:kms or unset the key" in str(error)
    assert "set without MELANGE_LARGE_PAYLOAD_BUCKET" in str(error)
