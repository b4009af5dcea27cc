"""The SQS backend's pure decisions: which errors are permanent, topic ARNs and sizes."""

from __future__ import annotations

import pytest

from melange.backends.sqs import errors as sqs_errors
from melange.backends.sqs.errors import (
    AUTHENTICATION,
    AUTHORIZATION,
    INVALID,
    UNSUPPORTED,
    Refusal,
    refusal,
)
from melange.backends.sqs.requests import topic_arn_for, topic_size_limit


@pytest.mark.parametrize(
    ("codes", "status", "expected"),
    [
        (("InvalidClientTokenId",), 403, AUTHENTICATION),
        (("UnrecognizedClientException",), 400, AUTHENTICATION),
        (("SignatureDoesNotMatch",), 403, AUTHENTICATION),
        (("MissingAuthenticationToken",), 403, AUTHENTICATION),
        (("IncompleteSignature",), 400, AUTHENTICATION),
        (("ExpiredToken",), 403, AUTHENTICATION),
        (("AccessDenied", "AccessDeniedException"), 403, AUTHORIZATION),
        (("AccessDeniedException",), 400, AUTHORIZATION),
        (("AuthorizationError",), 403, AUTHORIZATION),
        (("KmsAccessDenied",), 400, AUTHORIZATION),
        (("InvalidAction",), 400, UNSUPPORTED),
        (("UnsupportedOperation",), 400, UNSUPPORTED),
        (("InvalidParameterValue",), 400, INVALID),
        (("ValidationError",), 400, INVALID),
        (("InvalidAttributeName",), 400, INVALID),
        (("InvalidParameter",), 400, INVALID),
    ],
)
def test_permanent_codes_are_refusals(
    codes: tuple[str, ...], status: int, expected: Refusal
) -> None:
    """Authentication, authorization, unsupported and invalid-request codes are refusals."""
    assert refusal(codes, status) is expected


@pytest.mark.parametrize(
    ("codes", "status"),
    [
        (("Throttling",), 400),
        (("ThrottlingException",), 400),
        (("RequestThrottled",), 403),
        (("OverLimit",), 403),
        (("KmsThrottled",), 400),
        (("Throttled",), 429),
        (("InternalError",), 500),
        (("500",), 500),
        (("503",), 503),
        (("ServiceUnavailable",), 503),
        (("429",), 429),
        (("408",), 408),
        (("QueueDeletedRecently",), 400),  # unknown to the table: may heal
        (("",), None),
    ],
)
def test_errors_that_may_heal_are_not_refusals(codes: tuple[str, ...], status: int | None) -> None:
    """Throttling, 5xx, 408/429 and unknown codes stay retryable."""
    assert refusal(codes, status) is None


@pytest.mark.parametrize("status", [400, 403, 404, 405, 415])
def test_a_4xx_without_an_error_code_means_the_endpoint_speaks_another_protocol(
    status: int,
) -> None:
    """A 4xx answer whose only code is its status (or none) is an unsupported endpoint."""
    assert refusal((str(status),), status) is UNSUPPORTED
    assert refusal((), status) is UNSUPPORTED


def test_501_is_unsupported_although_it_is_5xx() -> None:
    """HTTP 501 Not Implemented is refused: the endpoint lacks the operation for good."""
    assert refusal(("501",), 501) is UNSUPPORTED


def test_throttling_wins_over_a_permanent_code() -> None:
    """An answer carrying a throttling code beside a permanent one is retryable."""
    assert refusal(("RequestThrottled", "AccessDeniedException"), 400) is None


def test_the_query_error_code_is_classified_too() -> None:
    """SQS's JSON answers carry a second code (QueryErrorCode) that is classified as well."""
    assert refusal(("AWS.SimpleQueueService.New", "AccessDeniedException"), 403) is AUTHORIZATION


def test_no_code_is_in_two_tables() -> None:
    """Each code has one meaning: no code is both permanent and retryable, or in two kinds."""
    tables = [
        AUTHENTICATION.codes,
        AUTHORIZATION.codes,
        UNSUPPORTED.codes,
        INVALID.codes,
        sqs_errors.THROTTLING,
        sqs_errors.TRANSIENT,
    ]
    seen: set[str] = set()
    for table in tables:
        assert not seen & table
        seen |= table


def test_every_refusal_says_what_to_check() -> None:
    """Each kind of refusal names what the user should check."""
    assert "credentials" in AUTHENTICATION.check
    assert "IAM" in AUTHORIZATION.check
    assert "endpoint" in UNSUPPORTED.check
    assert "options" in INVALID.check


def test_a_topic_without_maximum_message_size_takes_256_kib() -> None:
    """A topic's limit is its MaximumMessageSize, 262,144 bytes when absent."""
    assert topic_size_limit({}) == 262_144
    assert topic_size_limit({"MaximumMessageSize": "1048576"}) == 1_048_576
    assert topic_size_limit({"MaximumMessageSize": "4096"}) == 4_096


def test_topic_arns_follow_the_partition_region_and_account() -> None:
    """A topic's ARN is arn:<partition>:sns:<region>:<account>:<name>."""
    assert (
        topic_arn_for("aws-cn", "cn-north-1", "123456789012", "orders.fifo")
        == "arn:aws-cn:sns:cn-north-1:123456789012:orders.fifo"
    )
