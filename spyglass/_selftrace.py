"""Spyglass's own traces, sent into itself (setting ``self_tracing``, off by default).

Only the UI + API app is traced: page and API requests become spans of service ``spyglass``. The
ingest path (the OTLP/HTTP app and the gRPC server) is never instrumented, so exporting these
spans cannot produce more spans: there is no feedback loop. The tracer provider is Spyglass's
own, not the process-wide one, so an application that embeds :class:`~spyglass.server.Server`
keeps its own OpenTelemetry setup.
"""

from __future__ import annotations

import logging
from typing import Any

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from spyglass import __version__

__all__ = ["SelfTracing"]

log = logging.getLogger("spyglass.selftrace")


class SelfTracing:
    """Trace ``ui_app`` into the OTLP/HTTP endpoint ``endpoint`` (``http://127.0.0.1:4318``)."""

    def __init__(self, ui_app: Any, endpoint: str) -> None:
        self.provider: TracerProvider | None = None
        try:
            from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
        except ImportError:
            log.warning(
                "self-tracing is off: pip install 'spyglass[instrument]' for opentelemetry-instrumentation-fastapi"
            )
            return
        resource = Resource.create({"service.name": "spyglass", "service.version": __version__})
        self.provider = TracerProvider(resource=resource, shutdown_on_exit=False)
        self.provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces")))
        FastAPIInstrumentor.instrument_app(
            ui_app,
            tracer_provider=self.provider,
            excluded_urls="/metrics$,/healthz$,/readyz$,/static/",
            exclude_spans=["receive", "send"],
        )

    def shutdown(self) -> None:
        """Export what is buffered (while the ingest listeners still run) and stop."""
        if self.provider is not None:
            self.provider.shutdown()
            self.provider = None
