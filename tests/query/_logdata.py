"""Logs sent by the real OpenTelemetry SDK through the standard ``logging`` bridge, with trace context.

Two services; the records inside spans carry the fixed trace and span ids below. Each export
returns after the commit (SimpleLogRecordProcessor), so the records are queryable when it returns.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.id_generator import IdGenerator

TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
SPAN_ID = 0x00F067AA0BA902B7
TID, SID = f"{TRACE_ID:032x}", f"{SPAN_ID:016x}"


class _Ids(IdGenerator):
    def __init__(self) -> None:
        self._spans: Iterator[int] = iter([SPAN_ID])

    def generate_trace_id(self) -> int:
        return TRACE_ID

    def generate_span_id(self) -> int:
        return next(self._spans)


class LogSender:
    """A ``logging`` logger per service, bridged to OTLP/HTTP; ``close()`` shuts the SDK down."""

    def __init__(self, server: Any, services: tuple[str, ...] = ("checkout", "payments")) -> None:
        self.providers: dict[str, LoggerProvider] = {}
        self.loggers: dict[str, logging.Logger] = {}
        self._handlers: list[tuple[logging.Logger, logging.Handler]] = []
        for name in services:
            provider = LoggerProvider(resource=Resource({"service.name": name, "deployment.environment": "prod"}))
            provider.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(server.http_url + "/v1/logs")))
            logger = logging.getLogger(f"shop.{name}")
            logger.setLevel(logging.DEBUG)
            logger.propagate = False
            handler = LoggingHandler(logger_provider=provider)
            logger.addHandler(handler)
            self._handlers.append((logger, handler))
            self.providers[name] = provider
            self.loggers[name] = logger
        self.tracer = TracerProvider(id_generator=_Ids()).get_tracer("t")

    def structured(self, service: str, body: Any, severity: SeverityNumber = SeverityNumber.INFO) -> None:
        self.providers[service].get_logger("shop.events").emit(
            timestamp=time.time_ns(), severity_number=severity, severity_text=severity.name, body=body
        )

    def close(self) -> None:
        for logger, handler in self._handlers:
            logger.removeHandler(handler)
        for provider in self.providers.values():
            provider.shutdown()
