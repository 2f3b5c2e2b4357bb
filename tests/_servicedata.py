"""A small system for the service pages, sent by the real OTel SDK with explicit times.

Six requests, one per second from ``T0``: ``gateway`` (SERVER ``GET /checkout``, 100, 110, ... 150
ms) calls ``checkout`` (CLIENT then SERVER ``POST /checkout``, 70 ms; the last one fails), which
calls ``payments`` (SERVER ``POST /charge``, 20 ms; the last two fail) and ``inventory`` (SERVER
``GET /stock``, 5 ms). ``RANGE`` covers them: 12 s from ``T0 - 4 s``.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

T0 = 1_700_000_000_000_000_000
MS = 1_000_000
S = 1_000_000_000
START, END = T0 - 4 * S, T0 + 8 * S
RANGE_QUERY = f"lookback=12s&end={END}"
SERVICES = ["gateway", "checkout", "payments", "inventory"]


def _span(
    tracer: trace.Tracer, name: str, kind: SpanKind, start: int, ms: float, parent: Any = None, error: bool = False
) -> trace.Span:
    ctx = trace.set_span_in_context(parent) if parent is not None else None
    span = tracer.start_span(name, context=ctx, kind=kind, start_time=start)
    if error:
        span.set_status(Status(StatusCode.ERROR, "failed"))
    span.end(end_time=start + int(ms * MS))
    return span


def send_services(http_url: str) -> None:
    """Send the six requests; returns once every span is stored."""
    providers = {}
    for name in SERVICES:
        provider = TracerProvider(resource=Resource.create({"service.name": name}))
        provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=http_url + "/v1/traces")))
        providers[name] = provider
    t = {name: p.get_tracer("shop") for name, p in providers.items()}
    for i in range(6):
        at = T0 + i * S
        root = t["gateway"].start_span("GET /checkout", kind=SpanKind.SERVER, start_time=at)
        call = t["gateway"].start_span(
            "POST checkout", context=trace.set_span_in_context(root), kind=SpanKind.CLIENT, start_time=at + 5 * MS
        )
        served = t["checkout"].start_span(
            "POST /checkout", context=trace.set_span_in_context(call), kind=SpanKind.SERVER, start_time=at + 6 * MS
        )
        pay = t["checkout"].start_span(
            "POST payments", context=trace.set_span_in_context(served), kind=SpanKind.CLIENT, start_time=at + 10 * MS
        )
        _span(t["payments"], "POST /charge", SpanKind.SERVER, at + 12 * MS, 20, pay, error=i >= 4)
        pay.end(end_time=at + 40 * MS)
        stock = _span(t["checkout"], "GET inventory", SpanKind.CLIENT, at + 45 * MS, 10, served)
        _span(t["inventory"], "GET /stock", SpanKind.SERVER, at + 47 * MS, 5, stock)
        if i == 5:
            served.set_status(Status(StatusCode.ERROR, "payment failed"))
        served.end(end_time=at + 76 * MS)
        call.end(end_time=at + 85 * MS)
        root.end(end_time=at + (100 + 10 * i) * MS)
    for provider in providers.values():
        provider.shutdown()
