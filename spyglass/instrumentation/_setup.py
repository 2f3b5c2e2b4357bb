"""One call that configures the OpenTelemetry SDK: :func:`setup`.

Tracer, meter and logger providers with OTLP exporters behind batching processors, a resource
that names the service, W3C trace context and baggage propagation, the standard ``logging``
bridge (log records carry the trace and span ids of the span they were written in), and a
shutdown at exit that flushes what is buffered. Exporters are imported when a signal needs them,
so an application that exports over HTTP never loads gRPC.
"""

from __future__ import annotations

import atexit
import logging
import os
import platform
import socket
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import _logs as logs_api
from opentelemetry import metrics, propagate, trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, ConsoleLogRecordExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import OTELResourceDetector, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue

from ._config import SIGNALS, SignalConfig, env_flag, env_value, resolve_signal

__all__ = ["Telemetry", "setup", "shutdown"]

log = logging.getLogger("spyglass.instrumentation")

_lock = threading.Lock()
_current: Telemetry | None = None


@dataclass
class Telemetry:
    """What :func:`setup` installed. ``enabled`` is false when the SDK was disabled or setup failed.

    ``signals`` maps each signal to where it goes (``{"traces": SignalConfig(...), ...}``).
    """

    enabled: bool
    resource: Resource | None = None
    signals: dict[str, SignalConfig] = field(default_factory=dict)
    tracer_provider: TracerProvider | None = None
    meter_provider: MeterProvider | None = None
    logger_provider: LoggerProvider | None = None
    log_handler: logging.Handler | None = None
    _closed: bool = False

    def force_flush(self, timeout_seconds: float = 10.0) -> bool:
        """Export everything buffered now; true when every signal flushed in time. Never raises."""
        ok = True
        millis = int(timeout_seconds * 1000)
        for provider in (self.tracer_provider, self.logger_provider, self.meter_provider):
            if provider is None:
                continue
            try:
                ok = bool(provider.force_flush(millis)) and ok
            except Exception:  # instrumentation never raises into the application
                log.warning("spyglass.instrumentation: flush failed", exc_info=True)
                ok = False
        return ok

    def shutdown(self) -> None:
        """Flush and stop every provider (also runs at interpreter exit). Calling it again does nothing."""
        if self._closed:
            return
        self._closed = True
        if self.log_handler is not None:
            logging.getLogger().removeHandler(self.log_handler)
        for provider in (self.tracer_provider, self.logger_provider, self.meter_provider):
            if provider is None:
                continue
            try:
                provider.shutdown()
            except Exception:
                log.warning("spyglass.instrumentation: shutdown failed", exc_info=True)


def _resource(
    service_name: str | None,
    service_version: str | None,
    environment: str | None,
    extra: Mapping[str, AttributeValue] | None,
) -> Resource:
    detected: dict[str, AttributeValue] = {
        "host.name": socket.gethostname(),
        "host.arch": platform.machine(),
        "os.type": platform.system().lower(),
        "process.pid": os.getpid(),
        "process.executable.name": os.path.basename(sys.executable),
        "process.runtime.name": sys.implementation.name,
        "process.runtime.version": platform.python_version(),
    }
    code: dict[str, AttributeValue] = dict(extra or {})
    if service_name:
        code["service.name"] = service_name
    if service_version:
        code["service.version"] = service_version
    if environment:
        code["deployment.environment.name"] = environment
    # detected < SDK defaults < OTEL_RESOURCE_ATTRIBUTES < code (Resource.create's order) ...
    resource = Resource(detected).merge(Resource.create(code))
    # ... and then the environment again on top, because the environment overrides code;
    # OTEL_SERVICE_NAME wins over service.name in OTEL_RESOURCE_ATTRIBUTES (the detector does that).
    return resource.merge(OTELResourceDetector().detect())


def _span_exporter(cfg: SignalConfig, name: str, headers: Mapping[str, str] | None, timeout: float | None) -> Any:
    if name == "console":
        return ConsoleSpanExporter()
    kwargs = _exporter_kwargs(cfg, headers, timeout)
    if cfg.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter

        return GrpcSpanExporter(**kwargs)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter

    return HttpSpanExporter(**kwargs)


def _metric_exporter(cfg: SignalConfig, name: str, headers: Mapping[str, str] | None, timeout: float | None) -> Any:
    if name == "console":
        return ConsoleMetricExporter()
    kwargs = _exporter_kwargs(cfg, headers, timeout)
    if cfg.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetricExporter

        return GrpcMetricExporter(**kwargs)
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter

    return HttpMetricExporter(**kwargs)


def _log_exporter(cfg: SignalConfig, name: str, headers: Mapping[str, str] | None, timeout: float | None) -> Any:
    if name == "console":
        return ConsoleLogRecordExporter()
    kwargs = _exporter_kwargs(cfg, headers, timeout)
    if cfg.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter

        return GrpcLogExporter(**kwargs)
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter

    return HttpLogExporter(**kwargs)


def _exporter_kwargs(cfg: SignalConfig, headers: Mapping[str, str] | None, timeout: float | None) -> dict[str, Any]:
    """Endpoint always (resolved already); headers and timeout only when no variable sets them,
    because the exporters read those variables themselves only when the argument is missing."""
    kwargs: dict[str, Any] = {"endpoint": cfg.endpoint}
    upper = cfg.signal.upper()
    if headers and not (
        env_value(os.environ, f"OTEL_EXPORTER_OTLP_{upper}_HEADERS")
        or env_value(os.environ, "OTEL_EXPORTER_OTLP_HEADERS")
    ):
        kwargs["headers"] = dict(headers)
    if timeout is not None and not (
        env_value(os.environ, f"OTEL_EXPORTER_OTLP_{upper}_TIMEOUT")
        or env_value(os.environ, "OTEL_EXPORTER_OTLP_TIMEOUT")
    ):
        kwargs["timeout"] = timeout
    return kwargs


class _NotFromOpenTelemetry(logging.Filter):
    """Keeps the SDK's own complaints (an unreachable endpoint, say) out of the export they are about."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.name.startswith("opentelemetry")


def _install_traces(t: Telemetry, headers: Mapping[str, str] | None, timeout: float | None, *_: Any) -> None:
    cfg = t.signals["traces"]
    provider = TracerProvider(resource=t.resource, shutdown_on_exit=False)  # sampler: OTEL_TRACES_SAMPLER
    for name in cfg.exporters:
        provider.add_span_processor(BatchSpanProcessor(_span_exporter(cfg, name, headers, timeout)))
    trace.set_tracer_provider(provider)
    t.tracer_provider = provider


def _install_metrics(
    t: Telemetry, headers: Mapping[str, str] | None, timeout: float | None, interval: float | None, *_: Any
) -> None:
    cfg = t.signals["metrics"]
    interval_ms: float | None = None
    if interval is not None and env_value(os.environ, "OTEL_METRIC_EXPORT_INTERVAL") is None:
        interval_ms = interval * 1000
    readers: list[MetricReader] = [
        PeriodicExportingMetricReader(_metric_exporter(cfg, name, headers, timeout), export_interval_millis=interval_ms)
        for name in cfg.exporters
    ]
    provider = MeterProvider(resource=t.resource, metric_readers=readers, shutdown_on_exit=False)
    metrics.set_meter_provider(provider)
    t.meter_provider = provider


def _install_logs(
    t: Telemetry, headers: Mapping[str, str] | None, timeout: float | None, interval: float | None, level: int
) -> None:
    from opentelemetry.instrumentation.logging.handler import LoggingHandler

    cfg = t.signals["logs"]
    provider = LoggerProvider(resource=t.resource, shutdown_on_exit=False)
    for name in cfg.exporters:
        provider.add_log_record_processor(BatchLogRecordProcessor(_log_exporter(cfg, name, headers, timeout)))
    logs_api.set_logger_provider(provider)
    handler = LoggingHandler(level=level, logger_provider=provider)
    handler.addFilter(_NotFromOpenTelemetry())
    root = logging.getLogger()
    root.addHandler(handler)
    if root.getEffectiveLevel() > level:
        root.setLevel(level)  # otherwise records below WARNING never reach any handler
    t.logger_provider = provider
    t.log_handler = handler


def _install(
    service_name: str | None,
    endpoint: str | None,
    protocol: str | None,
    service_version: str | None,
    environment: str | None,
    resource_attributes: Mapping[str, AttributeValue] | None,
    headers: Mapping[str, str] | None,
    enabled: dict[str, bool],
    log_level: int,
    metric_export_interval: float | None,
    export_timeout: float | None,
) -> Telemetry:
    environ = os.environ
    resource = _resource(service_name, service_version, environment, resource_attributes)
    signals = {s: resolve_signal(environ, s, endpoint=endpoint, protocol=protocol, enabled=enabled[s]) for s in SIGNALS}
    telemetry = Telemetry(enabled=True, resource=resource, signals=signals)

    if env_value(environ, "OTEL_PROPAGATORS") is None:  # otherwise opentelemetry.propagate honours it
        propagate.set_global_textmap(CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()]))

    for signal, install in (("traces", _install_traces), ("metrics", _install_metrics), ("logs", _install_logs)):
        if not signals[signal].exporters:
            continue
        try:  # one signal failing (a missing exporter package, say) leaves the others working
            install(telemetry, headers, export_timeout, metric_export_interval, log_level)
        except Exception:
            log.warning("spyglass.instrumentation: %s could not be set up; they stay off", signal, exc_info=True)

    atexit.register(telemetry.shutdown)
    return telemetry


def setup(
    service_name: str | None = None,
    *,
    endpoint: str | None = None,
    protocol: str | None = None,
    service_version: str | None = None,
    environment: str | None = None,
    resource_attributes: Mapping[str, AttributeValue] | None = None,
    headers: Mapping[str, str] | None = None,
    traces: bool = True,
    metrics: bool = True,
    logs: bool = True,
    log_level: int = logging.INFO,
    metric_export_interval: float | None = None,
    export_timeout: float | None = None,
) -> Telemetry:
    """Configure the OpenTelemetry SDK for this process, once; returns what was installed.

    Usage::

        from spyglass.instrumentation import setup
        setup("checkout", endpoint="http://localhost:4318")

    ``endpoint`` is the OTLP base URL (``http://host:4318`` for ``protocol="http/protobuf"``,
    ``http://host:4317`` for ``"grpc"``). Every standard ``OTEL_*`` variable overrides the matching
    argument (``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_EXPORTER_OTLP_[SIGNAL_]ENDPOINT``,
    ``..._PROTOCOL``, ``..._HEADERS``, ``..._TIMEOUT``, ``OTEL_{TRACES,METRICS,LOGS}_EXPORTER``
    (``otlp``, ``console``, ``none``), ``OTEL_METRIC_EXPORT_INTERVAL``, ``OTEL_TRACES_SAMPLER``,
    ``OTEL_PROPAGATORS``, ``OTEL_BSP_*``/``OTEL_BLRP_*``); ``OTEL_SDK_DISABLED=true`` turns it all off.
    ``metric_export_interval`` and ``export_timeout`` are in seconds. ``log_level`` is the lowest
    ``logging`` level sent as OTLP log records (the root logger is lowered to it when needed).

    A second call returns the first call's :class:`Telemetry` and changes nothing. Errors are
    logged on the ``spyglass.instrumentation`` logger, never raised: the application carries on,
    with telemetry off if it could not be set up.
    """
    global _current
    with _lock:
        if _current is not None:
            log.debug("spyglass.instrumentation: already set up; this call changes nothing")
            return _current
        if env_flag(os.environ, "OTEL_SDK_DISABLED"):
            log.info("spyglass.instrumentation: OTEL_SDK_DISABLED=true, telemetry stays off")
            _current = Telemetry(enabled=False)
            return _current
        try:
            _current = _install(
                service_name,
                endpoint,
                protocol,
                service_version,
                environment,
                resource_attributes,
                headers,
                {"traces": traces, "metrics": metrics, "logs": logs},
                log_level,
                metric_export_interval,
                export_timeout,
            )
        except Exception:
            log.warning("spyglass.instrumentation: setup failed; the application runs without telemetry", exc_info=True)
            _current = Telemetry(enabled=False)
        return _current


def shutdown() -> None:
    """Flush and stop what :func:`setup` installed (it also happens at exit). Never raises."""
    if _current is not None:
        _current.shutdown()
