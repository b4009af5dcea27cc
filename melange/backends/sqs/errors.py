"""Which broker errors can heal and which cannot, as a table and one pure function.

``refusal`` decides, from the error codes and the HTTP status of an SQS, SNS or STS
answer, whether retrying can help. Authentication, authorization, unsupported
operations and invalid requests cannot: the broker will answer the same way until
someone changes the credentials, the permissions, the endpoint or the request, so the
backend raises ``BackendRefusedError`` and the dispatcher stops instead of backing off.
Throttling, 5xx answers and anything not known to be permanent stay retryable.

The codes come from the SQS and SNS API references (each operation's errors and the
"Common Errors" of every AWS API) and from botocore's service models; the throttling
and transient lists follow botocore's ``standard`` retry mode. No I/O here.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

__all__ = [
    "AUTHENTICATION",
    "AUTHORIZATION",
    "INVALID",
    "THROTTLING",
    "TRANSIENT",
    "UNSUPPORTED",
    "Refusal",
    "refusal",
]


@attrs.frozen
class Refusal:
    """A kind of permanent refusal and what the user should check to end it.

    Attributes:
        kind: ``"authentication"``, ``"authorization"``, ``"unsupported"`` or ``"invalid"``.
        check: what to check, phrased to end an error message.
        codes: the error codes of this kind.
    """

    kind: str
    check: str
    codes: frozenset[str] = frozenset()


AUTHENTICATION = Refusal(
    "authentication",
    "check the AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
    "an expired AWS_SESSION_TOKEN) and the machine's clock",
    frozenset(
        {
            "AuthFailure",
            "ExpiredToken",
            "ExpiredTokenException",
            "IncompleteSignature",
            "InvalidAccessKeyId",
            "InvalidClientTokenId",
            "InvalidSecurity",  # SQS/SNS: the request is not signed with SigV4 over HTTPS
            "InvalidSignatureException",
            "MissingAuthenticationToken",
            "MissingAuthenticationTokenException",
            "RequestExpired",
            "RequestTimeTooSkewed",
            "SignatureDoesNotMatch",
            "UnrecognizedClientException",
        }
    ),
)

AUTHORIZATION = Refusal(
    "authorization",
    "check that the IAM policy of these credentials allows this action on this queue or "
    "topic (and the queue or topic policy, and the KMS key if it is encrypted)",
    frozenset(
        {
            "AccessDenied",
            "AccessDeniedException",
            "AuthorizationError",  # SNS
            "KMSAccessDenied",  # SNS spells KMS in capitals
            "KMSDisabled",
            "KMSInvalidState",
            "KMSNotFound",
            "KMSOptInRequired",
            "KmsAccessDenied",  # SQS
            "KmsDisabled",
            "KmsInvalidKeyUsage",
            "KmsInvalidState",
            "KmsNotFound",
            "KmsOptInRequired",
            "NotAuthorized",
            "OptInRequired",
        }
    ),
)

UNSUPPORTED = Refusal(
    "unsupported",
    "check the endpoint (endpoint_url or MELANGE_ENDPOINT_URL, and the region): it does not "
    "serve this SQS/SNS operation or protocol",
    frozenset(
        {
            "InvalidAction",
            "InvalidQueryParameter",
            "MalformedQueryString",
            "MissingAction",
            "NotImplemented",
            "SerializationException",  # the endpoint cannot read botocore's JSON protocol
            "UnknownOperationException",
            "UnsupportedOperation",
            "UnsupportedProtocol",
        }
    ),
)

INVALID = Refusal(
    "invalid",
    "check the names, attributes and options this request was built from",
    frozenset(
        {
            "BatchEntryIdsNotDistinct",
            "BatchRequestTooLong",
            "EmptyBatchRequest",
            "InvalidAddress",
            "InvalidAttributeName",
            "InvalidAttributeValue",
            "InvalidBatchEntryId",
            "InvalidMessageContents",
            "InvalidParameter",  # SNS
            "InvalidParameterCombination",
            "InvalidParameterValue",
            "MissingParameter",
            "ParameterValueInvalid",  # SNS's code for InvalidParameterValueException
            "TooManyEntriesInBatchRequest",
            "ValidationError",
            "ValidationException",
        }
    ),
)

#: Codes that mean "slow down": retryable whatever HTTP status carries them.
THROTTLING = frozenset(
    {
        "BandwidthLimitExceeded",
        "KMSThrottling",
        "KmsThrottled",
        "LimitExceededException",
        "OverLimit",  # SQS: too many messages in flight, heals as they are settled
        "PriorRequestNotComplete",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
        "Throttled",  # SNS
        "ThrottledException",
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
    }
)

#: Codes of a server-side or in-flight failure: retryable whatever HTTP status carries them.
TRANSIENT = frozenset(
    {
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "RequestTimeout",
        "RequestTimeoutException",
        "ServiceUnavailable",
    }
)

_KINDS = (AUTHENTICATION, AUTHORIZATION, UNSUPPORTED, INVALID)
#: 4xx statuses that say "later", not "never".
_RETRYABLE_4XX = frozenset({408, 429})


def refusal(codes: Sequence[str], status: int | None) -> Refusal | None:
    """Return the kind of permanent refusal an error answer is, or ``None`` if it may heal.

    Args:
        codes: the answer's error codes (botocore's ``Code`` and, for SQS's JSON protocol,
            ``QueryErrorCode``); empty strings are ignored.
        status: the HTTP status of the answer, when known.

    A throttling or transient code is retryable whatever the status; a known permanent
    code is refused whatever the status; HTTP 501 is unsupported; a 4xx answer carrying
    no error code of its own (botocore then uses the status as the code) means the
    endpoint does not speak the protocol. Anything else, including 5xx and unknown 4xx
    codes, is left retryable: stopping a service for an error that might heal is worse
    than backing off.
    """
    known = {code for code in codes if code}
    if known & (THROTTLING | TRANSIENT):
        return None
    for kind in _KINDS:
        if known & kind.codes:
            return kind
    if status == 501:
        return UNSUPPORTED
    if status is None or not 400 <= status < 500 or status in _RETRYABLE_4XX:
        return None
    if known <= {str(status)}:
        return UNSUPPORTED
    return None
