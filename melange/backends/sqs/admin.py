"""Declaring queues, topics and subscriptions on SQS/SNS: the SQS backend's administration.

``SqsAdmin`` takes the declarative values of ``melange.topology.specs`` (already checked when
they were built) and makes them so with as few requests as SQS/SNS allow. Its methods are
plans (``sqs_calls``), run by the sync and the asyncio backend's drivers alike, which
send every request through ``SqsDirectory.request``, the one translation of botocore's
errors.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from melange.backends.sqs.calls import Plan, SqsCall
from melange.backends.sqs.directory import SqsDirectory
from melange.backends.sqs.requests import (
    queue_attributes,
    queue_policy_allowing,
    queue_settings_of,
    subscription_attributes,
    subscription_settings_of,
)
from melange.exceptions import QueueNotFoundError, TopicNotFoundError
from melange.messages import Destination
from melange.topology.declared import (
    Change,
    Declared,
    Effect,
    combined,
    declared,
    stated_queue_settings,
    stated_subscription_settings,
)
from melange.topology.specs import Declaration, QueueSpec, SubscriptionSpec, TopicSpec

__all__ = ["SqsAdmin"]

#: SNS subscription attributes by the ``SubscriptionSpec`` field that states them.
_SUBSCRIPTION_FIELDS = {
    "RawMessageDelivery": "raw_message_delivery",
    "FilterPolicy": "filter_policy",
}


class SqsAdmin:
    """Creates, updates and deletes queues, topics and subscriptions, as plans.

    Args:
        directory: the backend's caches.
    """

    def __init__(self, directory: SqsDirectory) -> None:
        self._directory = directory

    def declare(self, spec: Declaration) -> Plan[Declared]:
        """Make a queue, topic or subscription exist as declared (see ``MessagingAdmin``)."""
        if isinstance(spec, QueueSpec):
            return (yield from self._declare_queue(spec))
        if isinstance(spec, TopicSpec):
            return (yield from self._declare_topic(spec))
        return (yield from self._declare_subscription(spec))

    def delete(self, destination: Destination) -> Plan[None]:
        """Delete a queue or topic; a missing one is not an error."""
        name = destination.name
        try:
            if destination.is_topic:
                arn = yield from self._directory.topic_arn(name)
                yield SqsCall("sns", "DeleteTopic", {"TopicArn": arn}, topic=name)
            else:
                url = yield from self._directory.queue_url(name)
                yield SqsCall("sqs", "DeleteQueue", {"QueueUrl": url}, queue=name)
        except (QueueNotFoundError, TopicNotFoundError):
            pass
        if destination.is_topic:
            self._directory.forget(topic=name)
        else:
            self._directory.forget(queue=name)

    def _declare_queue(self, spec: QueueSpec) -> Plan[Declared]:
        dead_letters = spec.dead_letter_spec()
        dead_letter_arn = None
        if dead_letters is not None:
            yield from self._ensure_queue(dead_letters, {})
            dead_letter_arn = yield from self._directory.queue_arn(dead_letters.name)
        attributes = queue_attributes(spec, dead_letter_arn=dead_letter_arn)
        return (yield from self._ensure_queue(spec, attributes))

    def _ensure_queue(self, spec: QueueSpec, given: Mapping[str, str]) -> Plan[Declared]:
        """Create the queue, or set the attributes that differ from ``given``; say which."""
        attributes = dict(given)
        current = yield from self._queue_settings(spec.name, list(attributes))
        if current is None:
            create = dict(attributes)
            if spec.fifo:
                create["FifoQueue"] = "true"
            params = {"QueueName": spec.name, "Attributes": create}
            answer = yield SqsCall("sqs", "CreateQueue", params, queue=spec.name)
            self._directory.remember_queue_url(spec.name, str(answer["QueueUrl"]))
            return Declared(spec, Effect.CREATED)
        done = declared(spec, current, stated_queue_settings(spec))
        if done.effect is Effect.CHANGED:
            url = yield from self._directory.queue_url(spec.name)
            params = {"QueueUrl": url, "Attributes": attributes}
            yield SqsCall("sqs", "SetQueueAttributes", params, queue=spec.name)
        return done

    def _queue_settings(
        self, queue_name: str, names: Sequence[str]
    ) -> Plan[dict[str, object] | None]:
        """Return what the queue has of the ``names`` attributes, or ``None`` if it is missing."""
        try:
            url = yield from self._directory.queue_url(queue_name)
            if not names:
                return {}
            params = {"QueueUrl": url, "AttributeNames": list(names)}
            answer = yield SqsCall("sqs", "GetQueueAttributes", params, queue=queue_name)
        except QueueNotFoundError:
            return None
        return queue_settings_of(answer.get("Attributes", {}))

    def _declare_topic(self, spec: TopicSpec) -> Plan[Declared]:
        # Looked up afresh (not from the cache) so a topic deleted elsewhere is created
        # again; the lookup reads the topic's size limit, which publishing needs anyway.
        self._directory.forget(topic=spec.name)
        try:
            yield from self._directory.topic(spec.name)
        except TopicNotFoundError:
            attributes = {"FifoTopic": "true"} if spec.fifo else {}
            params = {"Name": spec.name, "Attributes": attributes}
            answer = yield SqsCall("sns", "CreateTopic", params, topic=spec.name)
            yield from self._directory.confirm_topic(spec.name, str(answer["TopicArn"]))
            return Declared(spec, Effect.CREATED)
        return Declared(spec, Effect.AS_IS)

    def _declare_subscription(self, spec: SubscriptionSpec) -> Plan[Declared]:
        """Subscribe the queue to each topic and let them send to it with one policy statement."""
        queue_arn = yield from self._directory.queue_arn(spec.queue)
        attributes = subscription_attributes(spec)
        topic_arns, parts = [], []
        for topic_name in spec.topics:
            topic_arn = yield from self._directory.topic_arn(topic_name)
            one = attrs.evolve(spec, topics=(topic_name,))
            parts.append((yield from self._subscribe_one(one, topic_arn, queue_arn, attributes)))
            topic_arns.append(topic_arn)
        policy_changed = yield from self._allow_topics(spec.queue, queue_arn, topic_arns)
        done = combined(spec, parts)
        if policy_changed and done.effect is Effect.AS_IS:
            return Declared(spec, Effect.CHANGED, (Change("queue policy", None, topic_arns),))
        return done

    def _subscribe_one(
        self, spec: SubscriptionSpec, topic_arn: str, queue_arn: str, attributes: Mapping[str, str]
    ) -> Plan[Declared]:
        topic_name = spec.topics[0]
        existing = yield from self._subscription_arn(topic_name, topic_arn, queue_arn)
        if existing is None:
            params: dict[str, Any] = {
                "TopicArn": topic_arn,
                "Protocol": "sqs",
                "Endpoint": queue_arn,
                "Attributes": dict(attributes),
                "ReturnSubscriptionArn": True,
            }
            yield SqsCall("sns", "Subscribe", params, topic=topic_name)
            return Declared(spec, Effect.CREATED)
        params = {"SubscriptionArn": existing}
        answer = yield SqsCall("sns", "GetSubscriptionAttributes", params, topic=topic_name)
        current = subscription_settings_of(answer.get("Attributes", {}))
        done = declared(spec, current, stated_subscription_settings(spec))
        changed = {change.field for change in done.changes}
        for name, field in _SUBSCRIPTION_FIELDS.items():
            if field in changed:
                # No FilterPolicy stated: "{}" is how SNS removes one set earlier.
                params = {
                    "SubscriptionArn": existing,
                    "AttributeName": name,
                    "AttributeValue": attributes.get(name, "{}"),
                }
                yield SqsCall("sns", "SetSubscriptionAttributes", params, topic=topic_name)
        return done

    def _subscription_arn(
        self, topic_name: str, topic_arn: str, queue_arn: str
    ) -> Plan[str | None]:
        params = {"TopicArn": topic_arn}
        while True:
            page = yield SqsCall("sns", "ListSubscriptionsByTopic", params, topic=topic_name)
            for subscription in page.get("Subscriptions", []):
                if subscription.get("Endpoint") == queue_arn:
                    arn = subscription.get("SubscriptionArn")
                    return None if arn is None else str(arn)
            if not page.get("NextToken"):
                return None
            params = {"TopicArn": topic_arn, "NextToken": page["NextToken"]}

    def _allow_topics(
        self, queue_name: str, queue_arn: str, topic_arns: Sequence[str]
    ) -> Plan[bool]:
        """Let the topics send to the queue; return whether the queue policy had to change."""
        url = yield from self._directory.queue_url(queue_name)
        params: dict[str, Any] = {"QueueUrl": url, "AttributeNames": ["Policy"]}
        current = yield SqsCall("sqs", "GetQueueAttributes", params, queue=queue_name)
        before = current.get("Attributes", {}).get("Policy")
        policy = queue_policy_allowing(before, queue_arn, topic_arns)
        if before is not None and json.loads(before) == json.loads(policy):
            return False
        params = {"QueueUrl": url, "Attributes": {"Policy": policy}}
        yield SqsCall("sqs", "SetQueueAttributes", params, queue=queue_name)
        return True
