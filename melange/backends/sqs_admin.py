"""Declaring queues, topics and subscriptions on SQS/SNS: the SQS backend's administration.

``SqsAdmin`` takes the declarative values of ``melange.topology`` (already checked when
they were built) and makes them so with as few requests as SQS/SNS allow; every request
goes through ``SqsDirectory.request``, the one translation of botocore's errors.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, cast

import attrs

from melange.backends.sqs_directory import SqsDirectory
from melange.backends.sqs_requests import (
    queue_attributes,
    queue_policy_allowing,
    queue_settings_of,
    subscription_attributes,
    subscription_settings_of,
)
from melange.declared import (
    Change,
    Declared,
    Outcome,
    combined,
    declared,
    stated_queue_settings,
    stated_subscription_settings,
)
from melange.exceptions import QueueNotFoundError, TopicNotFoundError
from melange.messages import Destination
from melange.topology import Declaration, QueueSpec, SubscriptionSpec, TopicSpec

if TYPE_CHECKING:
    from mypy_boto3_sqs.literals import QueueAttributeNameType

__all__ = ["SqsAdmin"]

#: SNS subscription attributes by the ``SubscriptionSpec`` field that states them.
_SUBSCRIPTION_FIELDS = {
    "RawMessageDelivery": "raw_message_delivery",
    "FilterPolicy": "filter_policy",
}


class SqsAdmin:
    """Creates, updates and deletes queues, topics and subscriptions.

    Args:
        directory: the backend's caches and error translation (and, through it, clients).
    """

    def __init__(self, directory: SqsDirectory) -> None:
        self._directory = directory
        self._sqs = directory.clients.sqs
        self._sns = directory.clients.sns

    def declare(self, spec: Declaration) -> Declared:
        """Make a queue, topic or subscription exist as declared (see ``MessagingAdmin``)."""
        if isinstance(spec, QueueSpec):
            return self._declare_queue(spec)
        if isinstance(spec, TopicSpec):
            return self._declare_topic(spec)
        return self._declare_subscription(spec)

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

    def _declare_queue(self, spec: QueueSpec) -> Declared:
        dead_letters = spec.dead_letter_spec()
        if dead_letters is not None:
            self._ensure_queue(dead_letters, {})
        dead_letter_arn = (
            None if dead_letters is None else self._directory.queue_arn(dead_letters.name)
        )
        return self._ensure_queue(spec, queue_attributes(spec, dead_letter_arn=dead_letter_arn))

    def _ensure_queue(self, spec: QueueSpec, given: Mapping[str, str]) -> Declared:
        """Create the queue, or set the attributes that differ from ``given``; say which."""
        attributes = cast("dict[QueueAttributeNameType, str]", dict(given))
        current = self._queue_settings(spec.name, list(attributes))
        if current is None:
            create = dict(attributes)
            if spec.fifo:
                create["FifoQueue"] = "true"
            with self._directory.request("CreateQueue", queue=spec.name):
                url = self._sqs.create_queue(QueueName=spec.name, Attributes=create)["QueueUrl"]
            self._directory.remember_queue_url(spec.name, url)
            return Declared(spec, Outcome.CREATED)
        done = declared(spec, current, stated_queue_settings(spec))
        if done.outcome is Outcome.CHANGED:
            url = self._directory.queue_url(spec.name)
            with self._directory.request("SetQueueAttributes", queue=spec.name):
                self._sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
        return done

    def _queue_settings(
        self, queue_name: str, names: Sequence[QueueAttributeNameType]
    ) -> dict[str, object] | None:
        """Return what the queue has of the ``names`` attributes, or ``None`` if it is missing."""
        try:
            url = self._directory.queue_url(queue_name)
            if not names:
                return {}
            with self._directory.request("GetQueueAttributes", queue=queue_name):
                answer = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(names))
        except QueueNotFoundError:
            return None
        return queue_settings_of(cast("Mapping[str, str]", answer.get("Attributes", {})))

    def _declare_topic(self, spec: TopicSpec) -> Declared:
        # Looked up afresh (not from the cache) so a topic deleted elsewhere is created
        # again; the lookup reads the topic's size limit, which publishing needs anyway.
        self._directory.forget(topic=spec.name)
        try:
            self._directory.topic(spec.name)
        except TopicNotFoundError:
            attributes = {"FifoTopic": "true"} if spec.fifo else {}
            with self._directory.request("CreateTopic", topic=spec.name):
                arn = self._sns.create_topic(Name=spec.name, Attributes=attributes)["TopicArn"]
            self._directory.confirm_topic(spec.name, arn)
            return Declared(spec, Outcome.CREATED)
        return Declared(spec, Outcome.AS_IS)

    def _declare_subscription(self, spec: SubscriptionSpec) -> Declared:
        """Subscribe the queue to each topic and let them send to it with one policy statement."""
        queue_arn = self._directory.queue_arn(spec.queue)
        attributes = subscription_attributes(spec)
        topic_arns, parts = [], []
        for topic_name in spec.topics:
            topic_arn = self._directory.topic_arn(topic_name)
            one = attrs.evolve(spec, topics=(topic_name,))
            parts.append(self._subscribe_one(one, topic_arn, queue_arn, attributes))
            topic_arns.append(topic_arn)
        policy_changed = self._allow_topics(spec.queue, queue_arn, topic_arns)
        done = combined(spec, parts)
        if policy_changed and done.outcome is Outcome.AS_IS:
            return Declared(spec, Outcome.CHANGED, (Change("queue policy", None, topic_arns),))
        return done

    def _subscribe_one(
        self, spec: SubscriptionSpec, topic_arn: str, queue_arn: str, attributes: Mapping[str, str]
    ) -> Declared:
        topic_name = spec.topics[0]
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
            return Declared(spec, Outcome.CREATED)
        with self._directory.request("GetSubscriptionAttributes", topic=topic_name):
            answer = self._sns.get_subscription_attributes(SubscriptionArn=existing)
        current = subscription_settings_of(answer.get("Attributes", {}))
        done = declared(spec, current, stated_subscription_settings(spec))
        changed = {change.field for change in done.changes}
        for name, field in _SUBSCRIPTION_FIELDS.items():
            if field in changed:
                # No FilterPolicy stated: "{}" is how SNS removes one set earlier.
                value = attributes.get(name, "{}")
                with self._directory.request("SetSubscriptionAttributes", topic=topic_name):
                    self._sns.set_subscription_attributes(
                        SubscriptionArn=existing, AttributeName=name, AttributeValue=value
                    )
        return done

    def _subscription_arn(self, topic_name: str, topic_arn: str, queue_arn: str) -> str | None:
        paginator = self._sns.get_paginator("list_subscriptions_by_topic")
        with self._directory.request("ListSubscriptionsByTopic", topic=topic_name):
            for page in paginator.paginate(TopicArn=topic_arn):
                for subscription in page.get("Subscriptions", []):
                    if subscription.get("Endpoint") == queue_arn:
                        return subscription.get("SubscriptionArn")
        return None

    def _allow_topics(self, queue_name: str, queue_arn: str, topic_arns: Sequence[str]) -> bool:
        """Let the topics send to the queue; return whether the queue policy had to change."""
        url = self._directory.queue_url(queue_name)
        with self._directory.request("GetQueueAttributes", queue=queue_name):
            current = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])
        before = current.get("Attributes", {}).get("Policy")
        policy = queue_policy_allowing(before, queue_arn, topic_arns)
        if before is not None and json.loads(before) == json.loads(policy):
            return False
        with self._directory.request("SetQueueAttributes", queue=queue_name):
            self._sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": policy})
        return True
