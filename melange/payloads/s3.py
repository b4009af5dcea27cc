"""Large payloads in S3: ``S3PayloadStore`` on boto3, ``AsyncS3PayloadStore`` on aiobotocore.

Each store has one S3 client configured as the SQS backends' short requests are
(``melange.backends.sqs.options.client_specs``): the same connect and read timeouts, the
same attempts with botocore's ``standard`` retries, the same pool size, so a get, put or
delete against an S3 that does not answer raises ``BackendUnavailableError`` within the
same bound as a publish (2 x (2 + 5) + 1 = 15 s with the defaults). ``Endpoints.s3_url``
points it at an emulator (``Endpoints.local`` puts S3 beside SQS, as moto, fauxqs and
LocalStack serve it), in path-style addressing. Errors are ``s3_errors``' decision.

``put`` sets the server-side encryption the settings name on each object.
``S3PayloadStore.declare`` makes the bucket, its lifecycle rule and its default
encryption what the settings state (``bucket``' decisions), for ``python -m melange
declare``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import botocore.exceptions

from melange.backends.sqs.clients import no_region
from melange.backends.sqs.options import (
    DEFAULT_ENDPOINTS,
    DEFAULT_LIMITS,
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUTS,
    ClientSpec,
    ConnectionLimits,
    Endpoints,
    RetryBudget,
    Timeouts,
    client_specs,
)
from melange.exceptions import BackendRefusedError, MalformedMessageError
from melange.payloads.bucket import BucketDeclared, default_encryption, lifecycle_rules
from melange.payloads.s3_errors import s3_error
from melange.payloads.store import LargePayloads
from melange.topology.declared import Effect
from melange.wire.claim_check import PayloadPointer

__all__ = ["AsyncS3PayloadStore", "S3PayloadStore", "encryption_arguments"]


def encryption_arguments(settings: LargePayloads) -> dict[str, str]:
    """Return the PutObject arguments encrypting an object as the settings say."""
    if settings.encryption is None:
        return {}
    arguments: dict[str, str] = {"ServerSideEncryption": settings.encryption}
    if settings.encryption == "aws:kms" and settings.kms_key_id:
        arguments["SSEKMSKeyId"] = settings.kms_key_id
    return arguments


@contextlib.contextmanager
def _translated(operation: str, bucket: str, key: str | None = None) -> Iterator[None]:
    """Raise melange's error for botocore's (``s3_errors.s3_error``), naming the object."""
    try:
        yield
    except Exception as exc:
        error = s3_error(exc, operation, bucket, key)
        if error is None:
            raise
        raise error from exc


def _text(data: bytes, pointer: PayloadPointer) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedMessageError(
            f"the payload at {pointer} is not UTF-8 text ({exc}); AWS's extended clients "
            "and melange store message bodies as text",
            body=pointer.body(),
        ) from None


class S3PayloadStore:
    """Large payloads in an S3 bucket, with blocking requests; thread-safe.

    Args:
        settings: the bucket, key prefix, encryption and lifecycle (``LargePayloads``).
        session: the boto3 session to build the S3 client from; a default session (the
            standard credential chain and ``AWS_*`` environment) when omitted.
        endpoints: the region and ``s3_url`` (an emulator's); AWS's own when ``None``.
        timeouts: the publish timeouts bound every S3 request (see ``Timeouts``).
        retries: attempts per request (see ``RetryBudget``).
        limits: HTTP connections of the client (see ``ConnectionLimits``).

    Raises:
        ConfigurationError: no region, in ``endpoints`` or the session.
    """

    def __init__(
        self,
        settings: LargePayloads,
        *,
        session: boto3.Session | None = None,
        endpoints: Endpoints = DEFAULT_ENDPOINTS,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
        retries: RetryBudget = DEFAULT_RETRIES,
        limits: ConnectionLimits = DEFAULT_LIMITS,
    ) -> None:
        self.settings = settings
        spec = client_specs(endpoints, timeouts, retries, limits)["s3"]
        try:
            self.client: Any = (session or boto3.Session()).client(
                "s3",
                region_name=endpoints.region,
                endpoint_url=spec.endpoint_url,
                config=spec.config,
            )
        except botocore.exceptions.NoRegionError:
            raise no_region() from None
        self._encryption = encryption_arguments(settings)

    def put(self, pointer: PayloadPointer, payload: str) -> None:
        """Store ``payload`` at ``pointer``, encrypted as the settings say."""
        with _translated("PutObject", pointer.bucket, pointer.key):
            self.client.put_object(
                Bucket=pointer.bucket, Key=pointer.key, Body=payload.encode(), **self._encryption
            )

    def get(self, pointer: PayloadPointer) -> str:
        """Return the payload stored at ``pointer``."""
        with _translated("GetObject", pointer.bucket, pointer.key):
            answer = self.client.get_object(Bucket=pointer.bucket, Key=pointer.key)
            with contextlib.closing(answer["Body"]) as body:
                data: bytes = body.read()
        return _text(data, pointer)

    def delete(self, pointer: PayloadPointer) -> None:
        """Delete the payload at ``pointer``; deleting a missing one is not an error."""
        with _translated("DeleteObject", pointer.bucket, pointer.key):
            self.client.delete_object(Bucket=pointer.bucket, Key=pointer.key)

    def close(self) -> None:
        """Close the client's connection pool."""
        self.client.close()

    # -- declaring (``python -m melange declare``) ---------------------------------------

    def declare(self) -> list[BucketDeclared]:
        """Make the bucket, its lifecycle rule and its default encryption as the settings say.

        Idempotent: what is already as stated is reported ``as is`` and left alone.

        Raises:
            BackendRefusedError: the bucket is another account's, or these credentials may
                not create or configure it.
        """
        done = [self._declare_bucket()]
        done.append(self._declare_lifecycle())
        encryption = self._declare_encryption()
        if encryption is not None:
            done.append(encryption)
        return done

    def _declare_bucket(self) -> BucketDeclared:
        bucket = self.settings.bucket
        resource = f"bucket {bucket!r}"
        try:
            with _translated("HeadBucket", bucket):
                self.client.head_bucket(Bucket=bucket)
            return BucketDeclared(resource, Effect.AS_IS)
        except BackendRefusedError as exc:
            if exc.code != "NoSuchBucket":
                raise
        arguments: dict[str, Any] = {"Bucket": bucket}
        region = self.client.meta.region_name
        if region and region != "us-east-1":  # us-east-1 refuses its own name as a constraint
            arguments["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            self.client.create_bucket(**arguments)
        except botocore.exceptions.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code == "BucketAlreadyOwnedByYou":  # made meanwhile, by another declare
                return BucketDeclared(resource, Effect.AS_IS)
            if code == "BucketAlreadyExists":
                raise BackendRefusedError(
                    f"S3 bucket {bucket!r} is another AWS account's (bucket names are global); "
                    "choose another name with MELANGE_LARGE_PAYLOAD_BUCKET",
                    operation="CreateBucket",
                    code=code,
                ) from exc
            with _translated("CreateBucket", bucket):
                raise
        return BucketDeclared(resource, Effect.CREATED)

    def _declare_lifecycle(self) -> BucketDeclared:
        bucket = self.settings.bucket
        answer = self._bucket_setting(
            "GetBucketLifecycleConfiguration",
            self.client.get_bucket_lifecycle_configuration,
            missing="NoSuchLifecycleConfiguration",
        )
        rules, done = lifecycle_rules(
            self.settings, None if answer is None else answer.get("Rules")
        )
        if rules is not None:
            with _translated("PutBucketLifecycleConfiguration", bucket):
                self.client.put_bucket_lifecycle_configuration(
                    Bucket=bucket, LifecycleConfiguration={"Rules": rules}
                )
        return done

    def _declare_encryption(self) -> BucketDeclared | None:
        if self.settings.encryption is None:
            return None
        bucket = self.settings.bucket
        answer = self._bucket_setting(
            "GetBucketEncryption",
            self.client.get_bucket_encryption,
            missing="ServerSideEncryptionConfigurationNotFoundError",
        )
        rules = ((answer or {}).get("ServerSideEncryptionConfiguration") or {}).get("Rules")
        current = (rules or [{}])[0].get("ApplyServerSideEncryptionByDefault")
        configuration, done = default_encryption(self.settings, current)
        if configuration is not None:
            with _translated("PutBucketEncryption", bucket):
                self.client.put_bucket_encryption(
                    Bucket=bucket, ServerSideEncryptionConfiguration=configuration
                )
        return done

    def _bucket_setting(
        self, operation: str, read: Callable[..., Any], *, missing: str
    ) -> Any | None:
        """Return a bucket setting's answer, or ``None`` when S3 answers ``missing``."""
        with _translated(operation, self.settings.bucket):
            try:
                return read(Bucket=self.settings.bucket)
            except botocore.exceptions.ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == missing:
                    return None
                raise


class AsyncS3PayloadStore:
    """``S3PayloadStore`` for asyncio, on aiobotocore: the same client configuration.

    The client is made on first use, in the running event loop; ``await store.close()``
    closes it (the next request makes it again).

    Args:
        settings: see ``S3PayloadStore``.
        session: the aiobotocore session (``aiobotocore.session.AioSession``); a new one
            (the standard credential chain) when omitted. Typed ``Any``: aiobotocore ships
            no type information.
        endpoints: see ``S3PayloadStore``.
        timeouts: see ``S3PayloadStore``.
        retries: see ``S3PayloadStore``.
        limits: see ``S3PayloadStore``.

    Raises:
        ConfigurationError: no region, in ``endpoints`` or the session.
    """

    def __init__(
        self,
        settings: LargePayloads,
        *,
        session: Any = None,
        endpoints: Endpoints = DEFAULT_ENDPOINTS,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
        retries: RetryBudget = DEFAULT_RETRIES,
        limits: ConnectionLimits = DEFAULT_LIMITS,
    ) -> None:
        from aiobotocore.session import AioSession  # aiobotocore: only for asyncio

        self.settings = settings
        self._session = session or AioSession()
        self.region: str = endpoints.region or self._session.get_config_variable("region")
        if not self.region:
            raise no_region()
        self._spec: ClientSpec = client_specs(endpoints, timeouts, retries, limits)["s3"]
        self._client: Any = None
        self._exits = contextlib.AsyncExitStack()
        self._opening = asyncio.Lock()
        self._encryption = encryption_arguments(settings)

    async def client(self) -> Any:
        """Return the S3 client, made on first use."""
        if self._client is None:
            async with self._opening:
                if self._client is None:
                    creating = self._session.create_client(
                        "s3",
                        region_name=self.region,
                        endpoint_url=self._spec.endpoint_url,
                        config=self._spec.config,
                    )
                    self._client = await self._exits.enter_async_context(creating)
        return self._client

    async def put(self, pointer: PayloadPointer, payload: str) -> None:
        """Store ``payload`` at ``pointer``, encrypted as the settings say."""
        client = await self.client()
        with _translated("PutObject", pointer.bucket, pointer.key):
            await client.put_object(
                Bucket=pointer.bucket, Key=pointer.key, Body=payload.encode(), **self._encryption
            )

    async def get(self, pointer: PayloadPointer) -> str:
        """Return the payload stored at ``pointer``."""
        client = await self.client()
        with _translated("GetObject", pointer.bucket, pointer.key):
            answer = await client.get_object(Bucket=pointer.bucket, Key=pointer.key)
            async with answer["Body"] as body:
                data: bytes = await body.read()
        return _text(data, pointer)

    async def delete(self, pointer: PayloadPointer) -> None:
        """Delete the payload at ``pointer``; deleting a missing one is not an error."""
        client = await self.client()
        with _translated("DeleteObject", pointer.bucket, pointer.key):
            await client.delete_object(Bucket=pointer.bucket, Key=pointer.key)

    async def close(self) -> None:
        """Close the client made so far; the next request would make it again."""
        async with self._opening:
            self._client = None
            await self._exits.aclose()
