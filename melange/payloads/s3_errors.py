"""Which S3 errors a large-payload store raises: one pure decision, for both halves.

``s3_error`` turns what botocore raised for a request on one object or bucket into
melange's error. A missing object is ``PayloadNotFoundError`` (the dispatcher
dead-letters its message); a bucket that does not exist, credentials that may not use it,
a KMS key that refuses and a request S3 calls invalid are ``BackendRefusedError``
(retrying cannot help: the dispatcher stops, the publisher raises); throttling, 5xx
answers and anything not known to be permanent are ``BackendError``, and no answer at
all (refused connection, timeout) ``BackendUnavailableError``: both retried after a
backoff. The codes are S3's (the S3 API reference's error responses) and the shared
ones of ``melange.backends.sqs.errors``. No I/O here.
"""

from __future__ import annotations

import botocore.exceptions

from melange.backends.sqs.errors import AUTHENTICATION, refusal
from melange.exceptions import (
    BackendError,
    BackendRefusedError,
    BackendUnavailableError,
    ConfigurationError,
    MelangeError,
    PayloadNotFoundError,
    Problem,
)

__all__ = ["UNREACHABLE", "permissions_hint", "s3_error"]

#: What botocore raises when no answer came (or stopped coming): retried by it, then by us.
UNREACHABLE = (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError)
#: The object is not there (``404`` alone answers a HEAD request, which has no body).
_NO_KEY = frozenset({"NoSuchKey", "NotFound"})
_NO_BUCKET = frozenset({"NoSuchBucket"})
#: Refused for good whatever their status: what S3 calls invalid, or the wrong region.
_INVALID = frozenset(
    {
        "AuthorizationHeaderMalformed",  # signed for another region
        "IllegalLocationConstraintException",
        "InvalidArgument",  # e.g. a server-side encryption S3 does not take
        "InvalidBucketName",
        "InvalidEncryptionAlgorithmError",
        "InvalidLocationConstraint",
        "InvalidRequest",
        "KeyTooLongError",
        "PermanentRedirect",  # the bucket is in another region
    }
)
#: Refused for good: the bucket's owner, or S3 itself, will not let these credentials in.
_DENIED = frozenset({"AccessDenied", "AllAccessDisabled", "AccountProblem"})


def permissions_hint(bucket: str) -> str:
    """Return what the credentials need on ``bucket``, phrased to end an error message."""
    return (
        f"allow these credentials s3:PutObject, s3:GetObject and s3:DeleteObject on "
        f"arn:aws:s3:::{bucket}/* and s3:ListBucket on arn:aws:s3:::{bucket} (without it "
        "S3 answers a missing object with 403, not 404), and kms:GenerateDataKey and "
        "kms:Decrypt on the key if the objects are encrypted with aws:kms; or correct "
        "MELANGE_LARGE_PAYLOAD_BUCKET"
    )


def s3_error(
    exc: Exception, operation: str, bucket: str, key: str | None = None
) -> MelangeError | None:
    """Return melange's error for what botocore raised on ``bucket`` (and ``key``), if it is one.

    ``None``: ``exc`` is not botocore's, and is raised as it is.
    """
    where = f"s3://{bucket}/{key}" if key is not None else f"bucket {bucket!r}"
    if isinstance(exc, botocore.exceptions.ClientError):
        return _answered(exc, operation, where, bucket, key)
    if isinstance(exc, UNREACHABLE):
        url = exc.kwargs.get("endpoint_url")
        return BackendUnavailableError(
            f"{operation} on {where} could not reach S3 ({exc}); check that S3 is reachable "
            "from here (with MELANGE_BACKEND=local, S3 is at MELANGE_ENDPOINT_URL, beside SQS)",
            operation=operation,
            code=type(exc).__name__,
            endpoint_url=str(url) if url else None,
        )
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return ConfigurationError(
            "no AWS credentials were found for S3; set AWS_PROFILE or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or run where an instance/task role is available",
            problems=[
                Problem(
                    "AWS_PROFILE",
                    None,
                    "a profile, AWS_ACCESS_KEY_ID with AWS_SECRET_ACCESS_KEY, or a role",
                )
            ],
        )
    if isinstance(exc, botocore.exceptions.BotoCoreError):  # an answer cut short or garbled
        return BackendError(
            f"{operation} on {where} failed: {exc}", operation=operation, code=type(exc).__name__
        )
    return None


def _answered(
    exc: botocore.exceptions.ClientError,
    operation: str,
    where: str,
    bucket: str,
    key: str | None,
) -> BackendError:
    """Return the error for an error answer: missing, refused for good, or retryable."""
    error = exc.response.get("Error", {})
    code, text = str(error.get("Code", "")), str(error.get("Message", "")) or "an empty answer"
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    http = f" (HTTP {status})" if status else ""
    if code in _NO_BUCKET or (key is None and status == 404 and code in ("", "404", "NotFound")):
        return BackendRefusedError(
            f"S3 bucket {bucket!r} does not exist ({operation} answered {code or 404}); create "
            "it with `python -m melange declare TARGET`, or set MELANGE_LARGE_PAYLOAD_BUCKET "
            "to the bucket that holds the payloads",
            operation=operation,
            code="NoSuchBucket",
        )
    if key is not None and (code in _NO_KEY or (status == 404 and code in ("", "404"))):
        return PayloadNotFoundError(bucket, key, operation=operation)
    kms_throttled = code.startswith("KMS.") and "Throttl" in code
    if (code in _DENIED or status == 403 or code.startswith("KMS.")) and not kms_throttled:
        return BackendRefusedError(
            f"{operation} on {where} was refused with {code or status}{http}: {text}; "
            f"retrying cannot help: {permissions_hint(bucket)}",
            operation=operation,
            code=code or str(status),
        )
    refused = refusal((code,), status)
    if code in _INVALID or refused is AUTHENTICATION:
        check = AUTHENTICATION.check if refused is AUTHENTICATION else _invalid_check()
        return BackendRefusedError(
            f"{operation} on {where} was refused with {code}{http}: {text}; retrying cannot "
            f"help: {check}",
            operation=operation,
            code=code,
        )
    return BackendError(
        f"{operation} on {where} failed with {code or status}{http}: {text}",
        operation=operation,
        code=code or str(status or ""),
    )


def _invalid_check() -> str:
    return (
        "check MELANGE_LARGE_PAYLOAD_ENCRYPTION and MELANGE_LARGE_PAYLOAD_KMS_KEY_ID, and "
        "that the bucket is in the region the application runs in (AWS_REGION)"
    )
