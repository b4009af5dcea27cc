"""The S3 payload stores' decisions, on values: which error an S3 answer is, what declare writes.

Botocore's exceptions are built as botocore builds them from an answer (its
``ClientError(error_response, operation_name)``); nothing is sent. What the stores do
against S3 itself is tested on moto and fauxqs (``tests/integration/test_large_messages_*``).
"""

from __future__ import annotations

from typing import Any

import botocore.exceptions
import pytest

from melange.exceptions import (
    BackendError,
    BackendRefusedError,
    BackendUnavailableError,
    PayloadNotFoundError,
)
from melange.payloads import LargePayloads
from melange.payloads.bucket import default_encryption, lifecycle_rule, lifecycle_rules
from melange.payloads.s3 import encryption_arguments
from melange.payloads.s3_errors import s3_error
from melange.topology.declared import Change, Effect

SETTINGS = LargePayloads(bucket="payloads", expiry_days=3)


def answered(code: str, status: int, operation: str = "GetObject") -> Exception:
    """Return what botocore raises for an S3 error answer (``code`` empty: a HEAD's, bodiless)."""
    error: Any = {"Error": {"Code": code or str(status), "Message": "refused"}}
    error["ResponseMetadata"] = {"HTTPStatusCode": status}
    return botocore.exceptions.ClientError(error, operation)


def test_a_missing_key_is_payload_not_found_naming_bucket_and_key() -> None:
    """NoSuchKey (404): the message is dead-lettered with a reason naming the object."""
    error = s3_error(answered("NoSuchKey", 404), "GetObject", "payloads", "p/k")

    assert isinstance(error, PayloadNotFoundError)
    assert (error.bucket, error.key) == ("payloads", "p/k")
    assert "s3://payloads/p/k does not exist" in str(error)


@pytest.mark.parametrize(
    ("code", "status", "key"),
    [("NoSuchBucket", 404, "p/k"), ("", 404, None)],
    ids=["get", "head-bucket"],
)
def test_a_missing_bucket_is_refused_saying_how_to_make_it(
    code: str, status: int, key: str | None
) -> None:
    """NoSuchBucket, or a HEAD's bare 404 on the bucket: refused, naming declare and the setting."""
    error = s3_error(answered(code, status), "GetObject", "payloads", key)

    assert isinstance(error, BackendRefusedError)
    assert error.code == "NoSuchBucket"
    assert "S3 bucket 'payloads' does not exist" in str(error)
    assert "`python -m melange declare TARGET`" in str(error)
    assert "MELANGE_LARGE_PAYLOAD_BUCKET" in str(error)


@pytest.mark.parametrize(
    ("code", "status"),
    [("AccessDenied", 403), ("", 403), ("KMS.NotFoundException", 400), ("AllAccessDisabled", 403)],
)
def test_access_denied_and_kms_refusals_are_for_good_naming_the_permissions(
    code: str, status: int
) -> None:
    """Retrying cannot help: the message names the S3 and KMS permissions to grant."""
    error = s3_error(answered(code, status), "PutObject", "payloads", "p/k")

    assert isinstance(error, BackendRefusedError)
    assert "s3:PutObject, s3:GetObject and s3:DeleteObject on arn:aws:s3:::payloads/*" in str(error)
    assert "s3:ListBucket" in str(error)  # without it a missing key is 403, not 404


@pytest.mark.parametrize(
    ("code", "status"),
    [("InvalidArgument", 400), ("PermanentRedirect", 301), ("InvalidAccessKeyId", 403)],
)
def test_invalid_requests_and_bad_credentials_are_refused(code: str, status: int) -> None:
    """What S3 calls invalid, a bucket in another region and bad keys: refused."""
    assert isinstance(
        s3_error(answered(code, status), "PutObject", "b-1", "k"), BackendRefusedError
    )


@pytest.mark.parametrize(
    ("code", "status"),
    [("SlowDown", 503), ("InternalError", 500), ("RequestTimeout", 400), ("KMS.Throttled", 400)],
)
def test_throttling_and_server_errors_stay_retryable(code: str, status: int) -> None:
    """Neither refused nor missing: a BackendError, which the dispatcher retries after backoff."""
    error = s3_error(answered(code, status), "GetObject", "payloads", "p/k")

    assert type(error) is BackendError
    assert error.code == code


@pytest.mark.parametrize(
    "raised",
    [
        botocore.exceptions.EndpointConnectionError(endpoint_url="http://s3.local"),
        botocore.exceptions.ReadTimeoutError(endpoint_url="http://s3.local"),
        botocore.exceptions.ConnectTimeoutError(endpoint_url="http://s3.local"),
    ],
)
def test_no_answer_is_backend_unavailable_naming_the_endpoint(raised: Exception) -> None:
    """A refused connection or a timeout: unavailable, so retried, never a hang or a stop."""
    error = s3_error(raised, "GetObject", "payloads", "p/k")

    assert isinstance(error, BackendUnavailableError)
    assert error.endpoint_url == "http://s3.local"


def test_what_is_not_botocores_is_left_alone() -> None:
    """An error of melange's own passes through as it is."""
    assert s3_error(ValueError("x"), "GetObject", "payloads", "p/k") is None


def test_objects_are_encrypted_as_the_settings_say() -> None:
    """None: the bucket's default; AES256; aws:kms with or without a key id."""
    assert encryption_arguments(SETTINGS) == {}
    assert encryption_arguments(LargePayloads(bucket="b-1", encryption="AES256")) == {
        "ServerSideEncryption": "AES256"
    }
    kms = LargePayloads(bucket="b-1", encryption="aws:kms", kms_key_id="alias/k")
    assert encryption_arguments(kms) == {
        "ServerSideEncryption": "aws:kms",
        "SSEKMSKeyId": "alias/k",
    }


# -- declaring the bucket ------------------------------------------------------------------


OTHER_RULE = {"ID": "logs", "Filter": {"Prefix": "logs/"}, "Status": "Enabled"}


def test_a_bucket_without_rules_gets_melanges() -> None:
    """No lifecycle configuration: melange's rule is created."""
    rules, done = lifecycle_rules(SETTINGS, None)

    assert rules == [lifecycle_rule(SETTINGS)]
    assert rules[0] == {
        "ID": "melange-payloads:melange-payloads/",
        "Filter": {"Prefix": "melange-payloads/"},
        "Status": "Enabled",
        "Expiration": {"Days": 3},
    }
    assert done.effect is Effect.CREATED
    assert str(done) == (
        "created  lifecycle rule of bucket 'payloads': objects under 'melange-payloads/' "
        "expire after 3 days"
    )


def test_the_buckets_other_rules_are_kept() -> None:
    """S3 replaces the whole configuration on a write: the others are written back."""
    rules, _ = lifecycle_rules(SETTINGS, [OTHER_RULE])

    assert rules == [OTHER_RULE, lifecycle_rule(SETTINGS)]


def test_a_rule_as_declared_is_left_alone_and_a_different_one_changed() -> None:
    """Idempotent: as is writes nothing; a new expiry is a change saying what changed."""
    same, as_is = lifecycle_rules(SETTINGS, [OTHER_RULE, lifecycle_rule(SETTINGS)])
    longer = LargePayloads(bucket="payloads", expiry_days=7)
    rules, changed = lifecycle_rules(longer, [OTHER_RULE, lifecycle_rule(SETTINGS)])

    assert (same, as_is.effect) == (None, Effect.AS_IS)
    assert rules == [OTHER_RULE, lifecycle_rule(longer)]
    assert changed.changes == (Change("expiry_days", 3, 7),)
    assert str(changed).endswith("(expiry_days 3 -> 7)")


def test_default_encryption_is_declared_only_when_configured() -> None:
    """No encryption setting: the bucket keeps its default and no line is printed."""
    assert default_encryption(SETTINGS, {"SSEAlgorithm": "AES256"}) == (None, None)


def test_default_encryption_is_created_kept_or_changed() -> None:
    """KMS with a key: created where none is, as is when equal, changed from S3-managed."""
    kms = LargePayloads(bucket="payloads", encryption="aws:kms", kms_key_id="alias/k")
    wanted = {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "alias/k"}

    written, created = default_encryption(kms, None)
    assert written == {"Rules": [{"ApplyServerSideEncryptionByDefault": wanted}]}
    assert created is not None and created.effect is Effect.CREATED
    assert default_encryption(kms, wanted)[0] is None
    _, changed = default_encryption(kms, {"SSEAlgorithm": "AES256"})
    assert changed is not None
    assert changed.changes == (
        Change("encryption", "AES256", "aws:kms"),
        Change("kms_key_id", None, "alias/k"),
    )
