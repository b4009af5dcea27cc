"""Metrics of consuming and publishing, through the OpenTelemetry metrics API.

melange records into OpenTelemetry instruments when ``opentelemetry-api`` is installed
(``pip install melange[otel]``), and into nothing otherwise: every recording goes through
``current()``, which is ``None`` without the API. The instruments (names from the
OpenTelemetry messaging conventions where one exists, ``melange.`` otherwise):

============================================ =========== ========================================
``messaging.client.consumed.messages``       counter     messages received
``melange.messages.handled``                 counter     messages every consumer handled
``melange.messages.acknowledged``            counter     messages deleted (handled, moved, ...)
``melange.messages.retried``                 counter     failed, made visible after a backoff
``melange.messages.dead_lettered``           counter     moved to the DLQ, ``melange.reason``
``melange.messages.unhandled``               counter     read, but no consumer accepts them
``melange.messages.released``                counter     given back at once (shutdown, cache)
``messaging.process.duration``               histogram   seconds from handling start to outcome
``melange.messages.queued.duration``         histogram   seconds from ``SentTimestamp`` to start
``melange.messages.in_flight``               gauge       messages being handled now
``messaging.client.sent.messages``           counter     messages published, ``error.type`` on
                                                         failures
============================================ =========== ========================================

Each carries ``messaging.system`` and ``messaging.destination.name`` (the queue or topic).
The dead-letter reason is reduced to a class by ``reason_class`` so that a label never
holds free text. Counting happens where melange already counts (``DispatcherStats``), so
the threaded and the asyncio dispatcher report the same way.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, Meter, MeterProvider, Observation

__all__ = [
    "DURATION_BUCKETS",
    "MelangeMetrics",
    "current",
    "disable",
    "messaging_system",
    "prometheus_endpoint",
    "prometheus_text",
    "publish_failed",
    "published",
    "reason_class",
    "reset",
    "use_meter_provider",
]

#: Histogram buckets in seconds (OpenTelemetry's advice for messaging durations).
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)

#: Exceptions raised while reading a message rather than while handling it.
_READING_ERRORS = frozenset(
    {
        "SerializationError",
        "SerializerNotFoundError",
        "DeserializationError",
        "PickleNotAllowedError",
        "MalformedMessageError",
        "MessageAttributeError",
        "NotReadableByMelange7Error",
        "JSONDecodeError",
        "UnicodeDecodeError",
        "UnpicklingError",
        "RecursionError",
    }
)
_EXCEPTION_NAME = re.compile(r"^([A-Za-z_][A-Za-z0-9_.]*): ")

#: ``DispatcherStats`` counter name -> instrument name.
_OUTCOME_COUNTERS = {
    "acknowledged": ("melange.messages.acknowledged", "Messages deleted from the queue."),
    "retried": ("melange.messages.retried", "Messages failed, visible again after a backoff."),
    "dead_lettered": ("melange.messages.dead_lettered", "Messages moved to the DLQ, by reason."),
    "released": ("melange.messages.released", "Messages given back unhandled (shutdown)."),
}


def reason_class(reason: str) -> str:
    """Return the class of a dead-letter ``reason``: a small fixed set, safe as a label.

    ``unhandled`` (no consumer accepts the message), ``unreadable`` (it could not be read:
    a serialization or wire error), ``rejected`` (a consumer raised ``melange.Reject`` or
    an exception in its ``throws``), ``handler_failed`` (a consumer raised on the last
    allowed receive), or ``other``.
    """
    if reason.startswith("no consumer accepts"):
        return "unhandled"
    if reason.startswith("rejected by "):
        return "rejected"
    found = _EXCEPTION_NAME.match(reason)
    if found is None:
        return "other"
    name = found.group(1).rpartition(".")[2]
    return "unreadable" if name in _READING_ERRORS else "handler_failed"


class MelangeMetrics:
    """melange's instruments on one OpenTelemetry ``Meter``; every method is thread-safe.

    Args:
        meter: where the instruments are created.
        in_flight: returns ``(queue name, messages being handled)`` for each running queue,
            read when the in-flight gauge is collected.
    """

    def __init__(self, meter: Meter, in_flight: Callable[[], Iterable[tuple[str, int]]]) -> None:
        self._in_flight = in_flight
        self.on_global_provider = False  # the global provider's: idle while it is the API's
        message = "{message}"
        self.received = meter.create_counter(
            "messaging.client.consumed.messages", unit=message, description="Messages received."
        )
        self.outcomes = {
            name: meter.create_counter(instrument, unit=message, description=description)
            for name, (instrument, description) in _OUTCOME_COUNTERS.items()
        }
        self.handled_ok = meter.create_counter(
            "melange.messages.handled", unit=message, description="Messages handled successfully."
        )
        self.unhandled = meter.create_counter(
            "melange.messages.unhandled", unit=message, description="Messages no consumer accepts."
        )
        self.process_duration = meter.create_histogram(
            "messaging.process.duration",
            unit="s",
            description="Time from the start of handling a message to its outcome.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self.queued_duration = meter.create_histogram(
            "melange.messages.queued.duration",
            unit="s",
            description="Time from the queue accepting a message (SentTimestamp) to handling.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self.sent = meter.create_counter(
            "messaging.client.sent.messages", unit=message, description="Messages published."
        )
        meter.create_observable_gauge(
            "melange.messages.in_flight",
            callbacks=[self._observe_in_flight],
            unit=message,
            description="Messages being handled now.",
        )

    def counted(self, queue_name: str, name: str, amount: int, reason: str = "") -> None:
        """Record ``DispatcherStats.count(name, amount)`` on ``queue_name``."""
        labels = _queue_labels(queue_name)
        if name == "received":
            self.received.add(amount, {**labels, "messaging.operation.name": "receive"})
        elif name in self.outcomes:
            if name == "dead_lettered":
                labels = {**labels, "melange.reason": reason_class(reason)}
            self.outcomes[name].add(amount, labels)

    def handled(
        self,
        queue_name: str,
        action: str,
        reason: str,
        seconds: float,
        sent_at: datetime | None,
    ) -> None:
        """Record one handled message: how long, how long it waited, whether unhandled."""
        labels = _queue_labels(queue_name)
        self.process_duration.record(
            seconds, {**labels, "messaging.operation.name": "process", "melange.outcome": action}
        )
        if sent_at is not None:
            waited = time.time() - seconds - sent_at.timestamp()
            self.queued_duration.record(max(0.0, waited), labels)
        if reason_class(reason) == "unhandled":
            self.unhandled.add(1, labels)
        elif action == "ack":
            self.handled_ok.add(1, labels)

    def published(self, system: str, destination: str, sent: int, error: str = "") -> None:
        """Record ``sent`` messages published to ``destination``, failed with ``error``."""
        labels = {"messaging.system": system, "messaging.destination.name": destination}
        if error:
            labels["error.type"] = error
        self.sent.add(sent, {**labels, "messaging.operation.name": "send"})

    def _observe_in_flight(self, options: CallbackOptions) -> Iterable[Observation]:
        from opentelemetry.metrics import Observation

        return [Observation(n, _queue_labels(q)) for q, n in self._in_flight()]


def _queue_labels(queue_name: str) -> dict[str, Any]:
    return {"messaging.system": "aws_sqs", "messaging.destination.name": queue_name}


# -- the metrics melange records into -------------------------------------------------------

_lock = threading.Lock()
#: Not looked up yet (``None``), looked up and absent (``False``), or the instruments.
_current: MelangeMetrics | bool | None = None
#: The global meter providers that record nothing, and the global provider's getter.
_NOT_RECORDING: tuple[type, ...] = ()


def _no_provider_yet() -> object:
    """Answer for the global provider until the API is looked up: none."""
    return None


_global_provider: Callable[[], object] = _no_provider_yet


def current() -> MelangeMetrics | None:
    """Return the instruments melange records into, or ``None`` when nothing would record.

    The first call creates them on the global ``MeterProvider`` (``opentelemetry.metrics``).
    While that is still the API's placeholder (no SDK configured), this returns ``None``,
    so that recording costs nothing; once the application sets an SDK's provider, the
    instruments record through it.
    """
    found = _current
    if found is None:
        found = _look_up()
    if not isinstance(found, MelangeMetrics):
        return None
    if found.on_global_provider:
        provider = _global_provider()
        if provider is None or isinstance(provider, _NOT_RECORDING):
            return None
    return found


def _look_up() -> MelangeMetrics | bool:
    global _current
    with _lock:
        if _current is None:
            try:
                from opentelemetry import metrics as otel_metrics
            except ImportError:
                _current = False
            else:
                global _NOT_RECORDING, _global_provider
                _global_provider = _global_provider_reader()
                _NOT_RECORDING = _placeholder_providers()
                _current = _instruments(otel_metrics.get_meter_provider())
                _current.on_global_provider = True
        return _current


def _global_provider_reader() -> Callable[[], object]:
    """Return a cheap reader of the global meter provider (the API's getter reads os.environ)."""
    from opentelemetry import metrics as otel_metrics

    otel_metrics.get_meter_provider()  # sets it from OTEL_PYTHON_METER_PROVIDER, if named
    try:
        from opentelemetry.metrics import _internal
    except ImportError:
        return otel_metrics.get_meter_provider
    return lambda: getattr(_internal, "_METER_PROVIDER", None)


def _placeholder_providers() -> tuple[type, ...]:
    """Return the global meter providers that record nothing: the API's own."""
    from opentelemetry.metrics import NoOpMeterProvider

    try:
        from opentelemetry.metrics._internal import _ProxyMeterProvider
    except ImportError:  # a future API without it: count the proxy as recording
        return (NoOpMeterProvider,)
    return (NoOpMeterProvider, _ProxyMeterProvider)


def use_meter_provider(provider: MeterProvider) -> MelangeMetrics:
    """Record melange's metrics through ``provider`` from now on (tests, the worker's endpoint)."""
    global _current
    with _lock:
        _current = _instruments(provider)
        return _current


def reset() -> None:
    """Look the global ``MeterProvider`` up again on next use (undoes the two below)."""
    global _current
    with _lock:
        _current = None


def disable() -> None:
    """Record no metrics from now on (``use_meter_provider`` enables them again)."""
    global _current
    with _lock:
        _current = False


def _instruments(provider: MeterProvider) -> MelangeMetrics:
    from melange.telemetry.activity import RUNNING

    return MelangeMetrics(provider.get_meter("melange"), RUNNING.in_flight)


def publish_failed(
    destination_kind: str, destination_name: str, count: int, exc: Exception
) -> None:
    """Count ``count`` messages of a publish request that raised ``exc`` as failed."""
    recorder = current()
    if recorder is not None:
        recorder.published(
            messaging_system(destination_kind), destination_name, count, type(exc).__name__
        )


def published(destination_kind: str, destination_name: str, sent: int, failed: int) -> None:
    """Count a publish request's accepted and refused entries."""
    recorder = current()
    if recorder is None:
        return
    system = messaging_system(destination_kind)
    if sent:
        recorder.published(system, destination_name, sent)
    if failed:
        recorder.published(system, destination_name, failed, "BatchPublishError")


def messaging_system(destination_kind: str) -> str:
    """Return OpenTelemetry's ``messaging.system`` for a ``"queue"`` or a ``"topic"``."""
    return "aws_sns" if destination_kind == "topic" else "aws_sqs"


# -- Prometheus text exposition ---------------------------------------------------------------


def prometheus_text(data: Any) -> str:
    """Render an OpenTelemetry SDK ``MetricsData`` (cumulative) in Prometheus text format 0.0.4.

    Counters become ``<name>_total``, histograms ``_bucket``/``_sum``/``_count`` with
    cumulative ``le`` buckets, gauges and non-monotonic sums plain samples; a unit of
    seconds adds ``_seconds``, and dots become underscores, as the OpenTelemetry
    Prometheus exporter names them.
    """
    lines: list[str] = []
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                lines.extend(_metric_lines(metric))
    return "\n".join(lines) + "\n" if lines else ""


def _metric_lines(metric: Any) -> list[str]:
    name = _prometheus_name(metric.name, metric.unit)
    points = metric.data.data_points
    if hasattr(points[0] if points else None, "bucket_counts"):
        return _histogram_lines(name, metric.description, points)
    monotonic = getattr(metric.data, "is_monotonic", False)
    kind, sample = ("counter", f"{name}_total") if monotonic else ("gauge", name)
    lines = [f"# HELP {sample} {_help(metric.description)}", f"# TYPE {sample} {kind}"]
    lines += [f"{sample}{_labels(p.attributes)} {_number(p.value)}" for p in points]
    return lines


def _histogram_lines(name: str, description: str, points: Any) -> list[str]:
    lines = [f"# HELP {name} {_help(description)}", f"# TYPE {name} histogram"]
    for point in points:
        cumulative = 0
        for bound, count in zip(
            (*point.explicit_bounds, float("inf")), point.bucket_counts, strict=True
        ):
            cumulative += count
            le = "+Inf" if bound == float("inf") else _number(bound)
            lines.append(f"{name}_bucket{_labels(point.attributes, le=le)} {cumulative}")
        lines.append(f"{name}_sum{_labels(point.attributes)} {_number(point.sum)}")
        lines.append(f"{name}_count{_labels(point.attributes)} {point.count}")
    return lines


def _prometheus_name(name: str, unit: str) -> str:
    base = re.sub(r"[^a-zA-Z0-9_:]", "_", name)
    return f"{base}_seconds" if unit == "s" and not base.endswith("_seconds") else base


def _labels(attributes: Any, **extra: str) -> str:
    pairs = [(re.sub(r"[^a-zA-Z0-9_]", "_", k), str(v)) for k, v in sorted(attributes.items())]
    pairs += list(extra.items())
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in pairs) + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _help(description: str) -> str:
    return description.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)


def prometheus_endpoint() -> Callable[[], str] | None:
    """Record melange's metrics into an OpenTelemetry SDK reader; return what renders them.

    For the worker's ``/metrics``. ``None`` when ``opentelemetry-sdk`` is not installed.
    melange's instruments then use their own ``MeterProvider``, whatever the global one.
    """
    try:
        from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    except ImportError:
        return None
    reader = InMemoryMetricReader()
    use_meter_provider(SdkMeterProvider(metric_readers=[reader]))
    return lambda: prometheus_text(reader.get_metrics_data())
