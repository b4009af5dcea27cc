"""What the SQS backends remember about queues and topics, and error translation.

``SqsDirectory`` caches queue URLs, queue ARNs and topics (each looked up once, by the
plans of ``sqs_calls``: it does no I/O itself), and its ``request`` context manager is
the one place where botocore's exceptions become melange's, for the sync and the asyncio
backend alike. A queue or topic the broker reports missing is forgotten, so a later
declaration takes effect.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NoReturn

import attrs
import botocore.exceptions
import botocore.parsers

from melange.backends.sqs.calls import SESSION_FACTS, Plan, SqsCall
from melange.backends.sqs.errors import refusal
from melange.backends.sqs.requests import topic_arn_for, topic_size_limit
from melange.exceptions import (
    BackendError,
    BackendRefusedError,
    BackendUnavailableError,
    ConfigurationError,
    Problem,
    QueueNotFoundError,
    TopicNotFoundError,
)

__all__ = ["SnsTopic", "SqsDirectory"]

logger = logging.getLogger(__name__)

_QUEUE_MISSING = frozenset({"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"})
_TOPIC_MISSING = frozenset({"NotFound", "NotFoundException"})
#: What botocore raises when no answer came: its own transient classes, retried by it too.
_UNREACHABLE = (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError)


@attrs.frozen
class SnsTopic:
    """A topic as the backend knows it: its ARN and its own message size limit in bytes."""

    arn: str
    max_message_bytes: int


class SqsDirectory:
    """The URL/ARN caches, topic resolution and the botocore-to-melange translation.

    Its look-ups are plans (``sqs_calls``): a backend's driver runs them.

    Args:
        account_id: the AWS account the topics are in; asked of STS once when omitted.
        last_status: the HTTP status of the current thread's or task's last answer, named
            when an answer cannot be parsed.
    """

    def __init__(
        self,
        *,
        account_id: str | None = None,
        last_status: Callable[[], int | None] = lambda: None,
    ) -> None:
        self._last_status = last_status
        self._lock = threading.Lock()
        self._queue_urls: dict[str, str] = {}
        self._queue_arns: dict[str, str] = {}
        self._topics: dict[str, SnsTopic] = {}
        self._account_id = account_id
        self._account_known = account_id is not None

    @contextmanager
    def request(
        self, operation: str, *, queue: str | None = None, topic: str | None = None
    ) -> Iterator[None]:
        """Translate botocore's exceptions into melange's, naming the queue or topic.

        This is the one place where botocore errors become melange errors: a missing
        queue or topic (also forgotten from the caches, so a later declaration takes
        effect), a permanent refusal (``BackendRefusedError``, see ``sqs_errors``), any
        other error answer (``BackendError``), no answer (``BackendUnavailableError``).
        """
        target = f" on {queue or topic!r}" if (queue or topic) else ""
        try:
            yield
        except botocore.exceptions.ClientError as exc:
            error = exc.response.get("Error", {})
            code, text = str(error.get("Code", "")), str(error.get("Message", exc))
            query_code = str(error.get("QueryErrorCode", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if queue is not None and code in _QUEUE_MISSING:
                self.forget(queue=queue)
                raise QueueNotFoundError(queue, operation=operation) from exc
            if topic is not None and code in _TOPIC_MISSING:
                self.forget(topic=topic)
                raise TopicNotFoundError(topic, operation=operation) from exc
            self._raise_error_answer(operation, target, (code, query_code), status, text, exc)
        except botocore.parsers.ResponseParserError as exc:
            status = self._last_status()
            text = f"an answer that is not SQS/SNS's protocol ({str(exc)[:200]})"
            self._raise_error_answer(operation, target, (), status, text, exc)
        except _UNREACHABLE as exc:
            raise BackendUnavailableError(
                f"{operation}{target} could not reach the endpoint ({exc}); check that "
                "SQS/SNS runs there and is reachable from here, or correct "
                "MELANGE_ENDPOINT_URL (endpoint_url, Endpoints); unset, the endpoint is AWS's "
                "own for the region (AWS_REGION)",
                operation=operation,
                code=type(exc).__name__,
                endpoint_url=_endpoint_url(exc),
            ) from exc
        except botocore.exceptions.NoCredentialsError as exc:
            raise ConfigurationError(
                "no AWS credentials were found; set AWS_PROFILE or AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, or run where an instance/task role is available",
                problems=[
                    Problem(
                        "AWS_PROFILE",
                        None,
                        "a profile, AWS_ACCESS_KEY_ID with AWS_SECRET_ACCESS_KEY, or a role",
                    )
                ],
            ) from exc

    @staticmethod
    def _raise_error_answer(
        operation: str,
        target: str,
        codes: tuple[str, ...],
        status: int | None,
        text: str,
        cause: Exception,
    ) -> NoReturn:
        code = next((c for c in codes if c), str(status or ""))
        http = f" (HTTP {status})" if status else ""
        text = text or "an empty answer"
        refused = refusal(codes, status)
        if refused is not None:
            raise BackendRefusedError(
                f"{operation}{target} was refused with {code}{http}: {text}; retrying cannot "
                f"help, {refused.check}",
                operation=operation,
                code=code,
            ) from cause
        raise BackendError(
            f"{operation}{target} failed with {code}{http}: {text}", operation=operation, code=code
        ) from cause

    def forget(self, *, queue: str | None = None, topic: str | None = None) -> None:
        """Drop what is cached about a queue or topic (deleted, or reported missing)."""
        with self._lock:
            if queue is not None:
                self._queue_urls.pop(queue, None)
                self._queue_arns.pop(queue, None)
            if topic is not None:
                self._topics.pop(topic, None)

    def queue_url(self, queue_name: str) -> Plan[str]:
        """Return the queue's URL, looked up once."""
        url = self._queue_urls.get(queue_name)
        if url is None:
            answer = yield SqsCall(
                "sqs", "GetQueueUrl", {"QueueName": queue_name}, queue=queue_name
            )
            url = str(answer["QueueUrl"])
            self.remember_queue_url(queue_name, url)
        return url

    def queue_arn(self, queue_name: str) -> Plan[str]:
        """Return the queue's ARN, looked up once."""
        arn = self._queue_arns.get(queue_name)
        if arn is None:
            url = yield from self.queue_url(queue_name)
            params = {"QueueUrl": url, "AttributeNames": ["QueueArn"]}
            answer = yield SqsCall("sqs", "GetQueueAttributes", params, queue=queue_name)
            arn = str(answer["Attributes"]["QueueArn"])
            with self._lock:
                self._queue_arns[queue_name] = arn
        return arn

    def remember_queue_url(self, queue_name: str, url: str) -> None:
        """Cache the URL a CreateQueue returned."""
        with self._lock:
            self._queue_urls[queue_name] = url

    # -- topics ----------------------------------------------------------------------------

    def topic_arn(self, topic: str) -> Plan[str]:
        """Return the ARN of a topic given by name or ARN (see ``topic``)."""
        return (yield from self.topic(topic)).arn

    def topic(self, topic: str) -> Plan[SnsTopic]:
        """Return a topic given by name or ARN, resolved with one request per topic.

        The ARN is built from the partition, the region and the account (see
        ``_account``: given, named by the credentials, or asked of STS once per backend,
        which needs no IAM permission), then confirmed, with the topic's size limit, by
        one GetTopicAttributes. An ARN given directly is confirmed the same way. Where STS
        answers with an error (an emulator without it), topics are found by paging
        through ListTopics instead, once per name, after a one-time warning.

        Raises:
            TopicNotFoundError: no such topic.
        """
        known = self._topics.get(topic)
        if known is not None:
            return known
        arn = topic if topic.startswith("arn:") else (yield from self._built_arn(topic))
        if arn is None:
            arn = yield from self._listed_arn(topic)
        return (yield from self.confirm_topic(topic, arn))

    def confirm_topic(self, topic: str, arn: str) -> Plan[SnsTopic]:
        """Read the topic's attributes at ``arn`` (one request) and cache it under ``topic``."""
        answer = yield SqsCall("sns", "GetTopicAttributes", {"TopicArn": arn}, topic=topic)
        resolved = SnsTopic(arn=arn, max_message_bytes=topic_size_limit(answer["Attributes"]))
        with self._lock:
            self._topics[topic] = resolved
        return resolved

    def _built_arn(self, topic_name: str) -> Plan[str | None]:
        facts = yield SESSION_FACTS
        account = yield from self._account(facts.get("Account"))
        if account is None:
            return None
        return topic_arn_for(facts["Partition"], facts["Region"], account, topic_name)

    def _account(self, credentials_account: str | None) -> Plan[str | None]:
        """Return the topics' account, or ``None`` where STS refuses to tell it.

        From ``account_id``, else the credentials (``AWS_ACCOUNT_ID``, SSO, roles), else
        one GetCallerIdentity. An unreachable STS raises ``BackendUnavailableError`` and
        is asked again next time; an STS that answers with an error (an emulator without
        it) is not asked again, and topics are listed instead. Two threads resolving
        their first topic at once may both ask STS; the answers are the same.
        """
        if not self._account_known:
            self._account_id = credentials_account or (yield from self._caller_account())
            self._account_known = True
        return self._account_id

    def _caller_account(self) -> Plan[str | None]:
        try:
            answer = yield SqsCall("sts", "GetCallerIdentity")
        except BackendUnavailableError as exc:
            # The endpoint is what to fix; the request is only what found it down.
            raise BackendUnavailableError(
                f"{exc} (GetCallerIdentity asks the endpoint for the AWS account topic "
                "ARNs are built with; with the account given, AWS_ACCOUNT_ID or "
                "Endpoints(account_id=...), it is not asked)",
                operation=exc.operation,
                code=exc.code,
                endpoint_url=exc.endpoint_url,
            ) from exc
        except BackendError as exc:
            logger.warning(
                "STS did not tell the account (%s); topics will be found by listing them "
                "(ListTopics, once per topic name); give Endpoints(account_id=...) to avoid it",
                exc,
            )
            return None
        return str(answer["Account"])

    def _listed_arn(self, topic_name: str) -> Plan[str]:
        # SNS has no lookup by name; creating the topic instead would hide a misspelt name
        # behind a new, unsubscribed topic.
        suffix = f":{topic_name}"
        params: dict[str, str] = {}
        while True:
            page = yield SqsCall("sns", "ListTopics", params, topic=topic_name)
            for listed in page.get("Topics", []):
                if listed.get("TopicArn", "").endswith(suffix):
                    return str(listed["TopicArn"])
            if not page.get("NextToken"):
                raise TopicNotFoundError(topic_name, operation="ListTopics")
            params = {"NextToken": page["NextToken"]}


def _endpoint_url(error: botocore.exceptions.BotoCoreError) -> str | None:
    """Return the URL a botocore connection error names (each of them does), if any."""
    url = error.kwargs.get("endpoint_url")
    return str(url) if url else None
