"""Declaring queues, topics and subscriptions on SQS/SNS: the SQS backend's administration.

``SqsAdmin`` takes the declarative values of ``melange.topology`` (already checked when
they were built) and makes them so with as few requests as SQS/SNS allow; every request
goes through ``SqsDirectory.request``, the one translation of botocore's errors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, cast

from melange.backends.sqs_directory import SqsDirectory
from melange.backends.sqs_requests import (
    queue_attributes,
    queue_policy_allowing,
    subscription_attributes,
)
from melange.exceptions import QueueNotFoundError, TopicNotFoundError
from melange.limits import is_fifo
from melange.messages import Destination
from melange.topology import Declaration, QueueSpec, SubscriptionSpec, TopicSpec

if TYPE_CHECKING:
    from mypy_boto3_sqs.literals import QueueAttributeNameType

__all__ = ["SqsAdmin"]


class SqsAdmin:
    """Creates, updates and deletes queues, topics and subscriptions.

    Args:
        directory: the backend's caches and error translation (and, through it, clients).
    """

    def __init__(self, directory: SqsDirectory) -> None:
        self._directory = directory
        self._sqs = directory.clients.sqs
        self._sns = directory.clients.sns

    def declare(self, spec: Declaration) -> None:
        """Make a queue, topic or subscription exist as declared (see ``MessagingAdmin``)."""
        if isinstance(spec, QueueSpec):
            self._declare_queue(spec)
        elif isinstance(spec, TopicSpec):
            self._declare_topic(spec)
        else:
            self._declare_subscription(spec)

    def delete(self, destination: Destination) -> None:
        """Delete a queue or topic; a missing one is not an error."""
        name = destination.name
        try:
            if destination.is_topic:
                arn = self._directory.topic_arn(name)
                with self._directory.request("DeleteTopic", topic=name):
                    self._sns.delete_topic(TopicArn=arn)
            else:
                url = self._directory.queue_url(name)
                with self._directory.request("DeleteQueue", queue=name):
                    self._sqs.delete_queue(QueueUrl=url)
        except (QueueNotFoundError, TopicNotFoundError):
            pass
        if destination.is_topic:
            self._directory.forget(topic=name)
        else:
            self._directory.forget(queue=name)

    def _declare_queue(self, spec: QueueSpec) -> None:
        dead_letters = spec.dead_letter_spec()
        if dead_letters is not None:
            self._ensure_queue(dead_letters.name, {})
        dead_letter_arn = (
            None if dead_letters is None else self._directory.queue_arn(dead_letters.name)
        )
        self._ensure_queue(spec.name, queue_attributes(spec, dead_letter_arn=dead_letter_arn))

    def _ensure_queue(self, queue_name: str, given: Mapping[str, str]) -> None:
        attributes = cast("dict[QueueAttributeNameType, str]", dict(given))
        try:
            url = self._directory.queue_url(queue_name)
        except QueueNotFoundError:
            create = dict(attributes)
            if is_fifo(queue_name):
                create["FifoQueue"] = "true"
            with self._directory.request("CreateQueue", queue=queue_name):
                url = self._sqs.create_queue(QueueName=queue_name, Attributes=create)["QueueUrl"]
            self._directory.remember_queue_url(queue_name, url)
            return
        if attributes:
            with self._directory.request("SetQueueAttributes", queue=queue_name):
                self._sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)

    def _declare_topic(self, spec: TopicSpec) -> None:
        # SNS's CreateTopic is idempotent; the topic's attributes are read too (its size
        # limit), so publishing to it afterwards costs one request per message.
        attributes = {"FifoTopic": "true"} if spec.fifo else {}
        with self._directory.request("CreateTopic", topic=spec.name):
            arn = self._sns.create_topic(Name=spec.name, Attributes=attributes)["TopicArn"]
        self._directory.confirm_topic(spec.name, arn)

    def _declare_subscription(self, spec: SubscriptionSpec) -> None:
        """Subscribe the queue to each topic and let them send to it with one policy statement."""
        queue_arn = self._directory.queue_arn(spec.queue)
        attributes = subscription_attributes(spec)
        topic_arns = []
        for topic_name in spec.topics:
            topic_arn = self._directory.topic_arn(topic_name)
            self._subscribe_one(topic_name, topic_arn, queue_arn, attributes)
            topic_arns.append(topic_arn)
        self._allow_topics(spec.queue, queue_arn, topic_arns)

    def _subscribe_one(
        self, topic_name: str, topic_arn: str, queue_arn: str, attributes: Mapping[str, str]
    ) -> None:
        existing = self._subscription_arn(topic_name, topic_arn, queue_arn)
        if existing is None:
            with self._directory.request("Subscribe", topic=topic_name):
                self._sns.subscribe(
                    TopicArn=topic_arn,
                    Protocol="sqs",
                    Endpoint=queue_arn,
                    Attributes=dict(attributes),
                    ReturnSubscriptionArn=True,
                )
            return
        for name, value in attributes.items():
            with self._directory.request("SetSubscriptionAttributes", topic=topic_name):
                self._sns.set_subscription_attributes(
                    SubscriptionArn=existing, AttributeName=name, AttributeValue=value
                )

    def _subscription_arn(self, topic_name: str, topic_arn: str, queue_arn: str) -> str | None:
        paginator = self._sns.get_paginator("list_subscriptions_by_topic")
        with self._directory.request("ListSubscriptionsByTopic", topic=topic_name):
            for page in paginator.paginate(TopicArn=topic_arn):
                for subscription in page.get("Subscriptions", []):
                    if subscription.get("Endpoint") == queue_arn:
                        return subscription.get("SubscriptionArn")
        return None

    def _allow_topics(self, queue_name: str, queue_arn: str, topic_arns: Sequence[str]) -> None:
        url = self._directory.queue_url(queue_name)
        with self._directory.request("GetQueueAttributes", queue=queue_name):
            current = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])
        policy = queue_policy_allowing(
            current.get("Attributes", {}).get("Policy"), queue_arn, topic_arns
        )
        with self._directory.request("SetQueueAttributes", queue=queue_name):
            self._sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": policy})
