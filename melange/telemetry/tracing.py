"""OpenTelemetry spans for publishing, receiving and processing, and the context on the wire.

melange speaks the OpenTelemetry *API* only (the ``otel`` extra, ``opentelemetry-api``);
the application configures an SDK, or not. Without the API installed every function here
does nothing; with the API but no SDK the tracer is the API's no-op one, and attributes are
only built for a span that ``is_recording()``.

Spans follow OpenTelemetry's messaging semantic conventions:

* ``send <queue>`` / ``publish <topic>`` (PRODUCER), one per publish call, around
  serializing and sending; its context is the creation context of every message it sends
  and travels with them as the W3C ``traceparent`` (and ``tracestate``) message attribute;
* ``receive <queue>`` (CONSUMER, the pull-based receive), one per non-empty batch, linked
  to each message's creation context;
* ``process <queue>`` (CONSUMER), one per message around reading, deduplicating and
  running the handlers: a *child* of the message's creation context, so one trace runs from
  the publisher's span to every consumer's handler, and also *linked* to it, as the
  conventions ask of consumer spans. A message without a context starts a new trace.
  A message an AWS Lambda event brought with an X-Ray trace header (``AWSTraceHeader``)
  is linked to that X-Ray trace too.

The context takes no attribute from the user: it is added only while the message has room
under SQS/SNS's 10 attributes (melange's 3, the user's up to 7), and a context the caller
set itself (``attributes={"traceparent": ...}``) is left as it is. See
the docs' wire-format page for how another language reads it.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from melange.messages import AttributeValue, Destination, Envelope, ReceivedMessage
from melange.telemetry.metrics import messaging_system

if TYPE_CHECKING:
    from opentelemetry import context as otel_context
    from opentelemetry import trace
    from opentelemetry.trace import Span, SpanContext, Tracer, TracerProvider
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

__all__ = [
    "TRACEPARENT",
    "TRACESTATE",
    "TRACE_ATTRIBUTES",
    "ProcessTrace",
    "PublishTrace",
    "record_receive",
    "start_processing",
    "start_publish",
    "trace_carrier",
    "use_tracer_provider",
]

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
#: The message attributes that carry the W3C trace context, in the order they are added.
TRACE_ATTRIBUTES = (TRACEPARENT, TRACESTATE)

_INSTRUMENTATION = "melange"
_provider: TracerProvider | None = None
_tracer_cache: list[Tracer | None] = []
_propagator: TraceContextTextMapPropagator | None = None
#: The global providers that record nothing (set once the API is imported).
_NOT_RECORDING: tuple[type, ...] = ()


def use_tracer_provider(provider: TracerProvider | None) -> None:
    """Make melange's spans go to ``provider`` (``None``: the global one, the default).

    For applications that do not set the global provider, and for tests.
    """
    global _provider
    _provider = provider
    _tracer_cache.clear()


def _tracer() -> Tracer | None:
    """Return melange's tracer, or ``None`` without the API; imported on first use.

    The API is imported here rather than with melange, so that a CLI command or a
    publisher-only process that never traces does not pay for the import.
    """
    if not _tracer_cache:  # the global ProxyTracer follows a provider set later
        _tracer_cache.append(_load())
    return _tracer_cache[0]


def _recording() -> bool:
    """Whether spans are recorded: a provider was given, or an SDK set as the global one.

    Without one (the API alone, or the SDK disabled), melange creates no span and only
    passes on the trace context a message or the current span carries.
    """
    if _provider is not None:
        return True
    # The API's global, read directly: get_tracer_provider() reads the environment per call.
    provider = trace._TRACER_PROVIDER
    return provider is not None and not isinstance(provider, _NOT_RECORDING)


def _load() -> Tracer | None:
    global otel_context, trace, _propagator
    try:
        from opentelemetry import context as otel_context
        from opentelemetry import trace
        from opentelemetry.trace.propagation.tracecontext import (
            TraceContextTextMapPropagator,
        )
    except ImportError:  # the otel extra is not installed: tracing is off
        return None
    global _NOT_RECORDING
    _NOT_RECORDING = (trace.ProxyTracerProvider, trace.NoOpTracerProvider)
    trace.get_tracer_provider()  # sets the global from OTEL_PYTHON_TRACER_PROVIDER, if named
    _propagator = TraceContextTextMapPropagator()
    return trace.get_tracer(_INSTRUMENTATION, tracer_provider=_provider)


class PublishTrace:
    """The span of one publish call and the trace context its messages carry."""

    def __init__(self, span: Span, carrier: dict[str, str], *, own: bool = True) -> None:
        self.span = span
        self.carrier = carrier
        self._own = own  # False: the current span's context, passed on without a span

    def sent(self, message_ids: Sequence[str]) -> None:
        """Record the ids of the messages the publish holds (one: the message id)."""
        if not self._own or not self.span.is_recording():
            return
        if len(message_ids) == 1:
            self.span.set_attribute("messaging.message.id", message_ids[0])
        else:
            self.span.set_attribute("messaging.batch.message_count", len(message_ids))

    def end(self, error: BaseException | None = None) -> None:
        """End the span, marking it failed with ``error`` if the publish raised."""
        if not self._own:
            return
        if error is not None and self.span.is_recording():
            self.span.record_exception(error)
            self.span.set_status(trace.StatusCode.ERROR, str(error))
            self.span.set_attribute("error.type", type(error).__qualname__)
        self.span.end()


def start_publish(destination: Destination) -> PublishTrace | None:
    """Start the PRODUCER span of a publish to ``destination``; ``None`` without the API."""
    tracer = _tracer()
    if tracer is None or _propagator is None:
        return None
    if not _recording():  # pass on the current context, if any, without a span of our own
        current = trace.get_current_span()
        if not current.get_span_context().is_valid:
            return None
        carrier: dict[str, str] = {}
        _propagator.inject(carrier)
        return PublishTrace(current, carrier, own=False)
    operation = "publish" if destination.is_topic else "send"
    span = tracer.start_span(f"{operation} {destination.name}", kind=trace.SpanKind.PRODUCER)
    if span.is_recording():
        span.set_attributes(
            {
                "messaging.system": messaging_system(destination.kind),
                "messaging.destination.name": destination.name,
                "messaging.operation.type": "send",
                "messaging.operation.name": operation,
            }
        )
    carried: dict[str, str] = {}
    _propagator.inject(carried, context=trace.set_span_in_context(span))
    return PublishTrace(span, carried)


def with_trace_context(
    attributes: Mapping[str, AttributeValue], carrier: Mapping[str, str], room: int
) -> dict[str, AttributeValue]:
    """Return ``attributes`` plus the ``carrier``'s entries that fit in ``room`` more.

    An entry the attributes already hold (a context the caller set) is left as it is.
    """
    result = dict(attributes)
    if TRACEPARENT in result:
        return result
    for name in TRACE_ATTRIBUTES:
        if name in carrier and room > 0:
            result[name] = carrier[name]
            room -= 1
    return result


def trace_carrier(attributes: Mapping[str, AttributeValue]) -> dict[str, str]:
    """Return the W3C trace context entries among a message's attributes."""
    return {
        name: value for name in TRACE_ATTRIBUTES if isinstance(value := attributes.get(name), str)
    }


class ProcessTrace:
    """The span of processing one message, current for its handlers until ``end``.

    ``start_processing`` opens it; the consume core ends it with what became of the
    message. Without a tracer there is none: the core then pays one call per message.
    """

    def __init__(self, span: Span, token: object, *, own: bool = True) -> None:
        self.span = span
        self._token = token
        self._own = own  # False: a creation context made current, without a span of ours

    def end(self, action: str, reason: str, *, failed: bool) -> None:
        """Record the message's fate (a ``failed`` one marks the span as an error), end it."""
        span = self.span
        if not self._own:
            otel_context.detach(self._token)  # type: ignore[arg-type]
            return
        try:
            if span.is_recording():
                span.set_attribute("melange.outcome", action)
                if failed:
                    span.set_status(trace.StatusCode.ERROR, reason)
                    span.set_attribute("error.type", reason.split(":", 1)[0])
        finally:
            otel_context.detach(self._token)  # type: ignore[arg-type]
            span.end()


def start_processing(received: ReceivedMessage, envelope: Envelope | None) -> ProcessTrace | None:
    """Open the CONSUMER span of processing ``received`` and make it current; end it later.

    The span is a child of the context ``envelope`` carries, and linked to it; without
    one (or with an unreadable message, ``envelope`` ``None``) it starts a new trace.
    Returns ``None``, having done nothing, when there is no tracer, or no SDK and no
    context to pass on.
    """
    tracer = _tracer()
    if tracer is None or _propagator is None:
        return None
    creation = None if envelope is None else _creation_context(envelope.attributes)
    if not _recording():  # no span: only make the message's context current for handlers
        if creation is None:
            return None
        span: Span = trace.NonRecordingSpan(creation)
        return ProcessTrace(span, otel_context.attach(trace.set_span_in_context(span)), own=False)
    links = None
    if creation is None:
        parent = otel_context.Context()
    else:
        parent = trace.set_span_in_context(trace.NonRecordingSpan(creation))
        links = [trace.Link(creation)]
    if received.trace_header is not None:
        xray = _xray_context(received.trace_header)
        if xray is not None:
            links = [*(links or ()), trace.Link(xray)]
    span = tracer.start_span(
        f"process {received.queue_name}",
        parent,
        kind=trace.SpanKind.CONSUMER,
        links=links,
        attributes=_process_attributes(received, envelope),  # cheaper here than set later
    )
    if creation is None and not span.is_recording():
        return None  # no SDK, and no context to pass on: nothing to make current
    return ProcessTrace(span, otel_context.attach(trace.set_span_in_context(span, parent)))


def _process_attributes(received: ReceivedMessage, envelope: Envelope | None) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "messaging.system": "aws_sqs",
        "messaging.destination.name": received.queue_name,
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "melange.broker_message_id": received.broker_message_id,
    }
    if envelope is not None:
        attributes["messaging.message.id"] = envelope.message_id
    return attributes


def record_receive(queue_name: str, batch: Sequence[ReceivedMessage], seconds: float) -> None:
    """Record the CONSUMER span of a receive that took ``seconds`` and gave ``batch``.

    Recorded after the fact, so the receive call itself stays as it is; empty receives
    (long polls that found nothing) are not recorded.
    """
    tracer = _tracer()
    if tracer is None or not batch:
        return
    end = time.time_ns()
    span = tracer.start_span(
        f"receive {queue_name}",
        kind=trace.SpanKind.CONSUMER,
        start_time=end - int(seconds * 1e9),
    )
    if span.is_recording():
        span.set_attributes(
            {
                "messaging.system": "aws_sqs",
                "messaging.destination.name": queue_name,
                "messaging.operation.type": "receive",
                "messaging.operation.name": "receive",
                "messaging.batch.message_count": len(batch),
            }
        )
        for received in batch:
            _link_creation(span, received)
    span.end(end)


def _link_creation(span: Span, received: ReceivedMessage) -> None:
    """Link ``span`` to the creation context of ``received``, if it carries one."""
    attributes: Mapping[str, AttributeValue] = received.attributes
    if TRACEPARENT not in attributes and f'"{TRACEPARENT}"' in received.body:
        attributes = _notification_carrier(received.body)  # inside an SNS notification
    creation = _creation_context(attributes)
    if creation is not None:
        span.add_link(creation)


#: A W3C traceparent: version, trace id, parent span id, flags (lower-case hex).
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")


def _creation_context(attributes: Mapping[str, AttributeValue]) -> SpanContext | None:
    """Return the span context a message's ``traceparent`` names, or ``None``.

    Read here rather than by the propagator's ``extract``, which builds a ``Context`` per
    call: this runs twice for every traced message. The rules are W3C's: version ``ff``
    and all-zero ids are invalid; a later version may add fields after the flags.
    """
    value = attributes.get(TRACEPARENT)
    if not isinstance(value, str):
        return None
    match = _TRACEPARENT.match(value)
    if match is None or match[1] == "ff":
        return None
    if match[1] == "00" and len(value) != 55:
        return None
    trace_id, span_id = int(match[2], 16), int(match[3], 16)
    if not trace_id or not span_id:
        return None
    state = attributes.get(TRACESTATE)
    return trace.SpanContext(
        trace_id,
        span_id,
        is_remote=True,
        trace_flags=trace.TraceFlags(int(match[4], 16)),
        trace_state=trace.TraceState.from_header([state]) if isinstance(state, str) else None,
    )


#: An X-Ray trace id: version 1, the epoch seconds (8 hex digits), 24 random hex digits.
_XRAY_ROOT = re.compile(r"1-([0-9a-f]{8})-([0-9a-f]{24})")
_XRAY_PARENT = re.compile(r"[0-9a-f]{16}")


def _xray_context(header: str) -> SpanContext | None:
    """Return the span context an X-Ray trace header names, or ``None``.

    ``Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1``: the
    root's two hex parts are the W3C trace id, ``Parent`` the span id (as AWS's
    OpenTelemetry X-Ray propagator reads it). Without a parent there is no span to link.
    """
    fields = dict(part.strip().partition("=")[::2] for part in header.split(";"))
    root = _XRAY_ROOT.fullmatch(fields.get("Root", "").lower())
    parent = fields.get("Parent", "").lower()
    if root is None or _XRAY_PARENT.fullmatch(parent) is None:
        return None
    trace_id, span_id = int(root[1] + root[2], 16), int(parent, 16)
    if not trace_id or not span_id:
        return None
    sampled = trace.TraceFlags.SAMPLED if fields.get("Sampled") == "1" else trace.TraceFlags.DEFAULT
    return trace.SpanContext(
        trace_id, span_id, is_remote=True, trace_flags=trace.TraceFlags(sampled)
    )


def _notification_carrier(body: str) -> dict[str, str]:
    try:
        attributes = json.loads(body).get("MessageAttributes") or {}
        return {
            name: str(attributes[name]["Value"]) for name in TRACE_ATTRIBUTES if name in attributes
        }
    except (ValueError, AttributeError, KeyError, TypeError):
        return {}
