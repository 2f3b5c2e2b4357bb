"""Instrumentation: one-call OpenTelemetry SDK setup for applications, and framework helpers.

Imports only OpenTelemetry packages (never duckdb, FastAPI, a gRPC server or Spyglass's server
side), so an application can depend on it without pulling in the platform. Usage::

    from spyglass.instrumentation import setup, instrument_fastapi, traced

    setup("checkout", endpoint="http://localhost:4318")   # OTEL_* variables override the arguments
    app = instrument_fastapi(FastAPI())

    @traced
    def price(cart): ...
"""

from __future__ import annotations

from ._config import SignalConfig
from ._helpers import instrument_asgi, instrument_fastapi, instrument_httpx, instrument_requests, traced
from ._setup import Telemetry, setup, shutdown

__all__ = [
    "SignalConfig",
    "Telemetry",
    "instrument_asgi",
    "instrument_fastapi",
    "instrument_httpx",
    "instrument_requests",
    "setup",
    "shutdown",
    "traced",
]
