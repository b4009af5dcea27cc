"""AWS's Python extended clients (``amazon-sqs-extended-client``, ``amazon-sns-extended-client``).

Both packages replace ``boto3.Session`` (and the default session) with their own subclass
when imported, which would turn every boto3 session of the test process, melange's
included, into theirs. They are imported here with ``boto3``'s names put back after each
import, so only the sessions built below are AWS's: melange meets AWS's clients only on
the wire, as it would in two services. Each import also sees the plain ``boto3`` session
class, so the SNS session does not inherit the SQS one's hooks.

AWS's clients create their S3 client from the session without an endpoint; the builders
below point it at the test's server, as their READMEs show (``client.s3_client = ...``).
"""

from __future__ import annotations

import importlib
from typing import Any

import boto3
import boto3.session

__all__ = [
    "CREDENTIALS",
    "extended_sns_client",
    "extended_sqs_client",
    "sns_extended_client",
    "sqs_extended_client",
]

#: The credentials and region every client of the tests signs with.
CREDENTIALS = {
    "region_name": "us-east-1",
    "aws_access_key_id": "melange-local",
    "aws_secret_access_key": "melange-local",
}


def _import_unpatched(module: str) -> Any:
    """Import one of AWS's extended-client packages, leaving ``boto3``'s sessions as they were."""
    saved = (boto3.Session, boto3.session.Session, boto3.DEFAULT_SESSION)
    try:
        return importlib.import_module(module)
    finally:
        boto3.Session, boto3.session.Session, boto3.DEFAULT_SESSION = saved


#: ``sqs_extended_client`` (its ``SQSExtendedClientSession`` and constants).
sqs_extended_client = _import_unpatched("sqs_extended_client")
#: ``sns_extended_client`` (its ``SNSExtendedClientSession``).
sns_extended_client = _import_unpatched("sns_extended_client")


def extended_sqs_client(
    endpoint_url: str,
    bucket: str,
    *,
    always_through_s3: bool = False,
    delete_payload_from_s3: bool = True,
    use_legacy_attribute: bool = False,
) -> Any:
    """Return AWS's SQS extended client on ``endpoint_url``, storing payloads in ``bucket``.

    ``delete_payload_from_s3`` makes its ``delete_message`` delete the S3 object too (its
    default is to leave it); the other options are the client's own, of the same names.
    """
    session = sqs_extended_client.SQSExtendedClientSession(**CREDENTIALS)
    client = session.client("sqs", endpoint_url=endpoint_url)
    client.s3_client = session.client("s3", endpoint_url=endpoint_url)
    client.large_payload_support = bucket
    client.always_through_s3 = always_through_s3
    client.delete_payload_from_s3 = delete_payload_from_s3
    client.use_legacy_attribute = use_legacy_attribute
    return client


def extended_sns_client(endpoint_url: str, bucket: str, *, always_through_s3: bool = False) -> Any:
    """Return AWS's SNS extended client on ``endpoint_url``, storing payloads in ``bucket``."""
    session = sns_extended_client.SNSExtendedClientSession(**CREDENTIALS)
    client = session.client("sns", endpoint_url=endpoint_url)
    client.s3_client = session.client("s3", endpoint_url=endpoint_url)
    client.large_payload_support = bucket
    client.always_through_s3 = always_through_s3
    return client
