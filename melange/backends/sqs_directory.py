"""The SQS and SNS clients with what melange remembers about them, and error translation.

``SqsDirectory`` caches queue URLs, queue ARNs and topic ARNs (each looked up once), and
its ``request`` context manager is the one place where botocore's exceptions become
melange's. A queue or topic the broker reports missing is forgotten, so a later
declaration takes effect.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import botocore.exceptions

from melange.exceptions import (
    BackendError,
    BackendUnavailableError,
    ConfigurationError,
    QueueNotFoundError,
    TopicNotFoundError,
)

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

__all__ = ["SqsDirectory"]

_QUEUE_MISSING = frozenset({"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"})
_TOPIC_MISSING = frozenset({"NotFound", "NotFoundException"})
_UNREACHABLE = (
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ConnectionClosedError,
    botocore.exceptions.ConnectTimeoutError,
    botocore.exceptions.ReadTimeoutError,
)


class SqsDirectory:
    """The two boto3 clients, the URL/ARN caches and the botocore-to-melange translation.

    Args:
        sqs: the SQS client, kept for the backend's life.
        sns: the SNS client, kept for the backend's life.
    """

    def __init__(self, sqs: SQSClient, sns: SNSClient) -> None:
        self.sqs = sqs
        self.sns = sns
        self._lock = threading.Lock()
        self._queue_urls: dict[str, str] = {}
        self._queue_arns: dict[str, str] = {}
        self._topic_arns: dict[str, str] = {}

    @contextmanager
    def request(
        self, operation: str, *, queue: str | None = None, topic: str | None = None
    ) -> Iterator[None]:
        """Translate botocore's exceptions into melange's, naming the queue or topic.

        This is the one place where botocore errors become melange errors. A queue or
        topic the broker says is missing is also forgotten from the caches, so a later
        declaration takes effect.
        """
        try:
            yield
        except botocore.exceptions.ClientError as exc:
            error = exc.response.get("Error", {})
            code, text = str(error.get("Code", "")), str(error.get("Message", exc))
            if queue is not None and code in _QUEUE_MISSING:
                self.forget(queue=queue)
                raise QueueNotFoundError(queue, operation=operation) from exc
            if topic is not None and code in _TOPIC_MISSING:
                self.forget(topic=topic)
                raise TopicNotFoundError(topic, operation=operation) from exc
            target = f" on {queue or topic!r}" if (queue or topic) else ""
            raise BackendError(
                f"{operation}{target} failed with {code}: {text}", operation=operation, code=code
            ) from exc
        except _UNREACHABLE as exc:
            raise BackendUnavailableError(
                f"{operation} could not reach the endpoint ({exc}); check that SQS/SNS is "
                "reachable at the configured endpoint and region",
                operation=operation,
                code=type(exc).__name__,
            ) from exc
        except botocore.exceptions.NoCredentialsError as exc:
            raise ConfigurationError(
                "no AWS credentials were found; set AWS_PROFILE or AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, or run where an instance/task role is available"
            ) from exc

    def forget(self, *, queue: str | None = None, topic: str | None = None) -> None:
        """Drop what is cached about a queue or topic (deleted, or reported missing)."""
        with self._lock:
            if queue is not None:
                self._queue_urls.pop(queue, None)
                self._queue_arns.pop(queue, None)
            if topic is not None:
                self._topic_arns.pop(topic, None)

    def queue_url(self, queue_name: str) -> str:
        """Return the queue's URL, looked up once."""
        url = self._queue_urls.get(queue_name)
        if url is None:
            with self.request("GetQueueUrl", queue=queue_name):
                url = self.sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
            with self._lock:
                self._queue_urls[queue_name] = url
        return url

    def queue_arn(self, queue_name: str) -> str:
        """Return the queue's ARN, looked up once."""
        arn = self._queue_arns.get(queue_name)
        if arn is None:
            url = self.queue_url(queue_name)
            with self.request("GetQueueAttributes", queue=queue_name):
                response = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
            arn = response["Attributes"]["QueueArn"]
            with self._lock:
                self._queue_arns[queue_name] = arn
        return arn

    def topic_arn(self, topic_name: str) -> str:
        """Return the topic's ARN (a name starting with arn: is one already)."""
        if topic_name.startswith("arn:"):
            return topic_name
        arn = self._topic_arns.get(topic_name)
        if arn is not None:
            return arn
        # SNS has no lookup by name; list once and cache, rather than create (which would
        # hide a misspelt topic name behind a new, unsubscribed topic).
        suffix = f":{topic_name}"
        with self.request("ListTopics", topic=topic_name):
            for page in self.sns.get_paginator("list_topics").paginate():
                for topic in page.get("Topics", []):
                    if topic.get("TopicArn", "").endswith(suffix):
                        with self._lock:
                            self._topic_arns[topic_name] = topic["TopicArn"]
                        return topic["TopicArn"]
        raise TopicNotFoundError(topic_name, operation="ListTopics")

    def remember_queue_url(self, queue_name: str, url: str) -> None:
        """Cache the URL a CreateQueue returned."""
        with self._lock:
            self._queue_urls[queue_name] = url

    def remember_topic_arn(self, topic_name: str, arn: str) -> None:
        """Cache the ARN a CreateTopic returned."""
        with self._lock:
            self._topic_arns[topic_name] = arn
