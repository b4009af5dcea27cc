"""The SQS backends' options as values: each checked when built, each with a default.

``local_backend`` reaches an emulator (moto here) with a longer read timeout and a third
attempt; ``production_backend`` names the topics' account, sparing the STS look-up, and
keeps 100 connections per client for 100 handler threads.
"""

from melange.backends import (
    AWSBackend,
    ConnectionLimits,
    Endpoints,
    LocalSQSBackend,
    RetryBudget,
    Timeouts,
)


def local_backend(host: str, port: int) -> LocalSQSBackend:
    return LocalSQSBackend(
        host=host,
        port=port,
        timeouts=Timeouts(publish_read=8.0),
        retries=RetryBudget(max_attempts=3),
    )


def production_backend() -> AWSBackend:
    return AWSBackend(
        "eu-west-1",
        endpoints=Endpoints(account_id="123456789012"),
        limits=ConnectionLimits(max_connections=100),
    )
