"""Telemetry: what a running melange tells its operators.

``tracing`` carries W3C trace context through message attributes and opens the publish,
receive and process spans; ``metrics`` records counters and histograms through
OpenTelemetry; ``activity`` is each running queue's liveness; ``health`` serves
``/healthz``, ``/readyz`` and ``/metrics`` from it. All of it costs nothing when
OpenTelemetry is not installed.

May import: ``melange.exceptions`` and ``melange.messages`` only.
"""
