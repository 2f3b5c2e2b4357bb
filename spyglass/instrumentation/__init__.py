"""Instrumentation: one-call OpenTelemetry SDK setup for applications.

Imports only OpenTelemetry packages. Until the helper lands (issue "Instrumentation helper"),
point any OpenTelemetry SDK at Spyglass with ``OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318``.
"""

from __future__ import annotations

__all__: list[str] = []
