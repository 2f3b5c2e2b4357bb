"""Logs for the UI tests, sent by the real OpenTelemetry SDK through the ``logging`` bridge.

Each record is logged inside one of the shop's checkout spans (fixed trace and span ids from
``shop_traces``), so the bridge stamps it with that span's context; a filter sets each record's
time to a fixed offset from the checkout trace's start, so the trace's logs fall inside it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from shop_traces import CHECKOUT, IDS, MS, Sent

# (service, span name or None, offset from the checkout start in ms, level, message, extra)
LOGS: list[tuple[str, str | None, int, int, str, dict[str, Any]]] = [
    (
        "frontend",
        "GET /checkout",
        1,
        logging.INFO,
        "checkout started for user 42",
        {"user.id": 42, "cart.total": 19.5, "vip": True},
    ),
    (
        "payments",
        "POST /charge",
        100,
        logging.ERROR,
        "card declined by issuer",
        {"http.status_code": 402, "ratio": 0.5, "card.brand": "visa"},
    ),
    ("frontend", "render", 205, logging.WARNING, "template cache cold", {"template": "receipt.html"}),
    ("frontend", None, 30_000, logging.DEBUG, "health check ok", {}),
]


@dataclass
class LogSender:
    """One logger per service, each with its own provider (its resource names the service)."""

    http_url: str

    def __post_init__(self) -> None:
        self.providers: dict[str, LoggerProvider] = {}
        self.loggers: dict[str, logging.Logger] = {}

    def logger(self, service: str) -> logging.Logger:
        if service not in self.loggers:
            resource = Resource({"service.name": service, "host.name": f"{service}-1"})
            provider = LoggerProvider(resource=resource)
            provider.add_log_record_processor(
                SimpleLogRecordProcessor(OTLPLogExporter(endpoint=self.http_url + "/v1/logs"))
            )
            handler = LoggingHandler(level=logging.DEBUG, logger_provider=provider)
            handler.addFilter(_at_time)
            log = logging.getLogger(f"shop.{service}")
            log.handlers = [handler]
            log.setLevel(logging.DEBUG)
            log.propagate = False
            self.providers[service] = provider
            self.loggers[service] = log
        return self.loggers[service]

    def send(
        self,
        service: str,
        level: int,
        message: str,
        *,
        span: int | None = None,
        time_ns: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        extra = dict(extra or {})
        if time_ns is not None:
            extra["spyglass_time_ns"] = time_ns
        log = self.logger(service)
        if span is None:
            log.log(level, message, extra=extra)
            return
        context = SpanContext(CHECKOUT, span, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
        with trace.use_span(NonRecordingSpan(context)):
            log.log(level, message, extra=extra)

    def close(self) -> None:
        for log in self.loggers.values():
            log.handlers = []
        for provider in self.providers.values():
            provider.shutdown()


def _at_time(record: logging.LogRecord) -> bool:
    """Give the record the time the test chose (the bridge reads ``record.created``)."""
    time_ns = record.__dict__.pop("spyglass_time_ns", None)
    if time_ns is not None:
        record.created = time_ns / 1e9
    return True


def send_shop_logs(http_url: str, sent: Sent) -> LogSender:
    """Send LOGS around the checkout trace; the sender stays open for more (the live tail)."""
    sender = LogSender(http_url)
    for service, span_name, offset_ms, level, message, extra in LOGS:
        span = IDS[span_name] if span_name else None
        sender.send(service, level, message, span=span, time_ns=sent.t0 + offset_ms * MS, extra=extra)
    return sender
