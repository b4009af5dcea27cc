"""A backend that prefixes every queue and topic name, so environments can share an account.

``PrefixedBackend(backend, "staging-")`` makes ``publish("orders", ...)`` go to
``staging-orders``. Application code keeps using the short names; topic ARNs pass
through unchanged. Received messages report the short queue name, and errors name queues
and topics as the application does (``queue 'orders' (broker name 'staging-orders')``),
so a hint such as ``backend.declare_queue('orders')`` can be typed as written.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import attrs

from melange.backends.inspection import MoveTask, QueueStats, inspection_of
from melange.backends.protocol import MessagingBackend
from melange.backends.shortcuts import BackendShortcuts
from melange.exceptions import (
    BatchPublishError,
    DeclarationError,
    MelangeError,
    MessageTooLargeError,
    QueueNotFoundError,
    TopicNotFoundError,
    describe_name,
)
from melange.messages import (
    AttributeValue,
    BatchResult,
    Destination,
    OutgoingMessage,
    ReceivedMessage,
    RedrivePolicy,
)
from melange.topology.declared import Declared
from melange.topology.specs import Declaration, QueueSpec, TopicSpec

__all__ = ["Prefix", "PrefixedBackend", "renamed_error", "renamed_result", "renamed_text"]

#: Broker names mapped to the application's names, e.g. ``{"shop-refunds": "refunds"}``.
Renames = Mapping[str, str]


def renamed_text(text: str, renames: Renames) -> str:
    """Return ``text`` with each quoted broker name shown as the application names it."""
    if not renames:
        return text
    # One pass, so a replacement is never itself rewritten (e.g. 'shop-x' inside 'shop-shop-x').
    quoted = re.compile("|".join(re.escape(repr(broker)) for broker in renames))
    by_quoted = {repr(broker): describe_name(name, broker) for broker, name in renames.items()}
    return quoted.sub(lambda found: by_quoted[found.group(0)], text)


def renamed_error(exc: MelangeError, renames: Renames) -> MelangeError:
    """Return ``exc`` naming queues and topics as the application does.

    A missing queue or topic becomes a new error whose hint names what the application
    should type; any other error keeps its type and attributes, with the names in its
    message (and its ``destination``) translated.
    """
    if isinstance(exc, QueueNotFoundError) and exc.queue_name in renames:
        return QueueNotFoundError(
            renames[exc.queue_name],
            operation=exc.operation,
            broker_name=exc.queue_name,
            in_memory=exc.in_memory,
            declare_command=exc.declare_command,
        )
    if isinstance(exc, TopicNotFoundError) and exc.topic_name in renames:
        return TopicNotFoundError(
            renames[exc.topic_name],
            operation=exc.operation,
            broker_name=exc.topic_name,
            in_memory=exc.in_memory,
            declare_command=exc.declare_command,
        )
    if isinstance(exc, MessageTooLargeError | BatchPublishError) and exc.destination in renames:
        exc.broker_destination, exc.destination = exc.destination, renames[exc.destination]
    if isinstance(exc, DeclarationError) and exc.name in renames:
        exc.name = renames[exc.name]
    text = renamed_text(str(exc), renames)
    if text != str(exc):
        exc.args = (text,)
    return exc


def renamed_result(result: BatchResult, renames: Renames) -> BatchResult:
    """Return ``result`` with failure reasons naming queues and topics as the application does."""
    failed = tuple(
        attrs.evolve(failure, reason=renamed_text(failure.reason, renames))
        for failure in result.failed
    )
    return attrs.evolve(result, failed=failed)


def _names(spec: Declaration) -> tuple[str, ...]:
    """Return every queue and topic name a declaration holds."""
    if isinstance(spec, QueueSpec):
        return (
            (spec.name,) if spec.dead_letter_queue is None else (spec.name, spec.dead_letter_queue)
        )
    if isinstance(spec, TopicSpec):
        return (spec.name,)
    return (spec.queue, *spec.topics)


@attrs.frozen
class Prefix:
    """A prefix applied to names going to a backend, and taken off what comes back.

    Shared by ``PrefixedBackend`` and ``melange.aio``'s ``AsyncPrefixedBackend``: every
    renaming decision is here, the backends only pass values through it.

    Attributes:
        text: prepended to every name, e.g. ``"staging-"``; topic ARNs pass unchanged.
    """

    text: str

    def broker(self, name: str) -> str:
        """Return the name the broker knows ``name`` by."""
        return name if name.startswith("arn:") else self.text + name

    def short(self, name: str) -> str:
        """Return the application's name for a broker name."""
        return name.removeprefix(self.text)

    def renames(self, names: Sequence[str]) -> dict[str, str]:
        """Return the broker names of ``names`` mapped back to them."""
        return {self.broker(name): name for name in names if self.broker(name) != name}

    @contextmanager
    def as_given(self, *names: str) -> Iterator[None]:
        """Re-raise a backend's errors naming ``names`` as the application gave them."""
        renames = self.renames(names)
        try:
            yield
        except MelangeError as exc:
            translated = renamed_error(exc, renames)
            if translated is exc:
                raise
            # Not chained to ``exc``: its hint names the prefixed queue, the very mistake.
            raise translated from exc.__cause__

    def names_in(self, spec: Declaration) -> tuple[str, ...]:
        """Return the queue and topic names a declaration holds, for errors to show."""
        return _names(spec)

    def result(self, result: BatchResult, destination: Destination) -> BatchResult:
        """Return a publish result whose failure reasons name the destination as given."""
        return renamed_result(result, self.renames([destination.name]))

    def policy(self, found: RedrivePolicy | None) -> RedrivePolicy | None:
        """Return a redrive policy naming its dead-letter queue as the application does."""
        if found is None:
            return None
        return attrs.evolve(found, dead_letter_queue=self.short(found.dead_letter_queue))


class PrefixedBackend(BackendShortcuts):
    """Wraps a backend and prefixes every queue and topic name it is given.

    Declarations and destinations are values, so each is renamed once and handed on;
    errors and results come back naming what the application typed (``Prefix``).

    Args:
        backend: the backend that does the work.
        prefix: prepended to every name, e.g. ``"staging-"``.
    """

    def __init__(self, backend: MessagingBackend, prefix: str) -> None:
        self.backend = backend
        self.prefix = prefix
        self._prefix = Prefix(prefix)

    # -- administration ------------------------------------------------------------------

    def declare(self, spec: Declaration) -> Declared:
        """Declare the queue, topic or subscription under the prefixed names."""
        with self._prefix.as_given(*self._prefix.names_in(spec)):  # renaming may refuse
            done = self.backend.declare(spec.renamed(self._prefix.broker))
        return done.renamed(spec, self._prefix.short)

    def delete(self, destination: Destination) -> None:
        """Delete the prefixed queue or topic."""
        with self._prefix.as_given(destination.name):
            self.backend.delete(destination.renamed(self._prefix.broker))

    # -- transport -----------------------------------------------------------------------

    def publish(self, destination: Destination, messages: Sequence[OutgoingMessage]) -> BatchResult:
        """Publish to the prefixed destination; failure reasons name it without the prefix."""
        with self._prefix.as_given(destination.name):
            result = self.backend.publish(destination.renamed(self._prefix.broker), messages)
        return self._prefix.result(result, destination)

    def send_raw(
        self,
        queue_name: str,
        body: str,
        attributes: Mapping[str, AttributeValue],
        *,
        message_group_id: str | None = None,
        deduplication_id: str | None = None,
    ) -> str:
        """Send a raw body to the prefixed queue."""
        with self._prefix.as_given(queue_name):
            return self.backend.send_raw(
                self._prefix.broker(queue_name),
                body,
                attributes,
                message_group_id=message_group_id,
                deduplication_id=deduplication_id,
            )

    def redrive_policy(self, queue_name: str) -> RedrivePolicy | None:
        """Return the prefixed queue's redrive policy, naming its DLQ without the prefix."""
        with self._prefix.as_given(queue_name):
            found = self.backend.redrive_policy(self._prefix.broker(queue_name))
        return self._prefix.policy(found)

    def receive(
        self,
        queue_name: str,
        *,
        max_messages: int = 10,
        wait_time_seconds: int = 0,
        visibility_timeout: int | None = None,
    ) -> list[ReceivedMessage]:
        """Receive from the prefixed queue; messages report the short name."""
        with self._prefix.as_given(queue_name):
            received = self.backend.receive(
                self._prefix.broker(queue_name),
                max_messages=max_messages,
                wait_time_seconds=wait_time_seconds,
                visibility_timeout=visibility_timeout,
            )
        return [attrs.evolve(message, queue_name=queue_name) for message in received]

    def acknowledge(self, queue_name: str, receipt_handles: Sequence[str]) -> list[str]:
        """Delete from the prefixed queue."""
        with self._prefix.as_given(queue_name):
            return self.backend.acknowledge(self._prefix.broker(queue_name), receipt_handles)

    def change_visibility(
        self, queue_name: str, receipt_handles: Sequence[str], timeout_seconds: int
    ) -> list[str]:
        """Change visibility on the prefixed queue."""
        with self._prefix.as_given(queue_name):
            return self.backend.change_visibility(
                self._prefix.broker(queue_name), receipt_handles, timeout_seconds
            )

    # -- inspection (the wrapped backend must support it) --------------------------------

    def queue_stats(self, queue_name: str) -> QueueStats:
        """Return the prefixed queue's counts."""
        with self._prefix.as_given(queue_name):
            return inspection_of(self.backend).queue_stats(self._prefix.broker(queue_name))

    def list_queues(self, prefix: str = "") -> list[str]:
        """Return the short names of the prefixed queues starting with ``prefix``."""
        found = inspection_of(self.backend).list_queues(self._prefix.broker(prefix))
        return [self._prefix.short(name) for name in found]

    def purge(self, queue_name: str) -> None:
        """Purge the prefixed queue."""
        with self._prefix.as_given(queue_name):
            inspection_of(self.backend).purge(self._prefix.broker(queue_name))

    def start_message_move(
        self, dead_letter_queue: str, destination: str, *, max_per_second: int | None = None
    ) -> MoveTask:
        """Start the broker's move from the prefixed dead-letter queue to the prefixed source."""
        with self._prefix.as_given(dead_letter_queue, destination):
            return inspection_of(self.backend).start_message_move(
                self._prefix.broker(dead_letter_queue),
                self._prefix.broker(destination),
                max_per_second=max_per_second,
            )

    def message_move(self, dead_letter_queue: str) -> MoveTask | None:
        """Return the prefixed dead-letter queue's latest move task."""
        with self._prefix.as_given(dead_letter_queue):
            return inspection_of(self.backend).message_move(self._prefix.broker(dead_letter_queue))

    def cancel_message_move(self, handle: str) -> None:
        """Stop a move task of the wrapped backend."""
        inspection_of(self.backend).cancel_message_move(handle)

    def close(self) -> None:
        """Close the wrapped backend."""
        self.backend.close()
