"""Traces sent by the real OpenTelemetry SDK with fixed ids and times, shared by the trace API tests.

Span ids are handed out in creation order (1, 2, 3, ...), trace ids from the list below, so the
expected results can name them. Four traces lie in the first seconds after ``T0``; trace E lies
three hours later, outside the ranges most tests search.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from conftest import RunningServer, make_settings
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags

T0 = 1_700_000_000_000_000_000
MS = 10**6
TRACE_A = 0x4BF92F3577B34DA6A3CE929D0E0E4736
TRACE_B = 0x5B8AA5A2D2C872E8321CF37308D69DF2
TRACE_C = 0x0AF7651916CD43DD8448EB211C80319C
TRACE_D = 0x00000000000000003CE929D0E0E47361  # a 64-bit id: Jaeger prints it with 16 digits
TRACE_E = 0x6E0C63257DE34C926F9EFCD03927272E
REMOTE_PARENT = 0xDEAD

A, B, C, D, E = (f"{t:032x}" for t in (TRACE_A, TRACE_B, TRACE_C, TRACE_D, TRACE_E))
SCOPE = ("shop.tracer", "1.0.0")

RESOURCES = {
    "checkout": {"service.name": "checkout", "service.version": "1.4.2", "deployment.environment": "prod"},
    "payments": {"service.name": "payments", "service.version": "0.9"},
    "frontend": {"service.name": "frontend", "service.version": "2.0.0"},
    "worker": {"service.name": "worker"},
}


def sid(n: int) -> str:
    return f"{n:016x}"


class SequentialIds(IdGenerator):
    def __init__(self, trace_ids: list[int]) -> None:
        self._trace_ids: Iterator[int] = iter(trace_ids)
        self._next_span = 0

    def generate_trace_id(self) -> int:
        return next(self._trace_ids)

    def generate_span_id(self) -> int:
        self._next_span += 1
        return self._next_span


def send_traces(server: Any) -> None:
    """Send traces A-E through the SDK's OTLP/HTTP exporter; each export returns after commit."""
    ids = SequentialIds([TRACE_A, TRACE_B, TRACE_C, TRACE_E])
    providers = {}
    for name, attrs in RESOURCES.items():
        provider = TracerProvider(resource=Resource(attrs), id_generator=ids)
        provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=server.http_url + "/v1/traces")))
        providers[name] = provider
    tracers = {name: p.get_tracer(*SCOPE) for name, p in providers.items()}
    checkout, payments, frontend, worker = (tracers[n] for n in ("checkout", "payments", "frontend", "worker"))

    def t(ms: float) -> int:
        return T0 + int(ms * MS)

    def child(span: Any) -> Any:
        return trace.set_span_in_context(span)

    # A: checkout -> payments, two error spans, an event (span ids 1-4).
    a1 = checkout.start_span(
        "GET /checkout",
        kind=SpanKind.SERVER,
        start_time=t(0),
        attributes={"http.route": "/checkout", "http.status_code": 500, "user.vip": True},
    )
    a1.add_event("cache.miss", {"key": "user:42"}, timestamp=t(10))
    a2 = checkout.start_span(
        "charge card",
        child(a1),
        kind=SpanKind.CLIENT,
        start_time=t(20),
        attributes={"amount": 12.5, "currency": "EUR"},
    )
    a3 = payments.start_span(
        "POST /charge", child(a2), kind=SpanKind.SERVER, start_time=t(30), attributes={"http.status_code": 402}
    )
    a4 = payments.start_span(
        "SELECT cards",
        child(a3),
        kind=SpanKind.CLIENT,
        start_time=t(40),
        attributes={"db.system": "postgresql", "db.rows": 1},
    )
    a4.end(t(60))
    a3.set_status(Status(StatusCode.ERROR, "card declined"))
    a3.end(t(140))
    a2.set_status(Status(StatusCode.OK))
    a2.end(t(150))
    a1.set_status(Status(StatusCode.ERROR, "payment declined"))
    a1.end(t(250))

    # B: one service, typed attributes and a link to A's root (span ids 5-6).
    b1 = checkout.start_span(
        "GET /cart",
        kind=SpanKind.SERVER,
        start_time=t(1000),
        attributes={"http.route": "/cart", "http.status_code": 200},
    )
    a1_context = SpanContext(TRACE_A, 1, is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    b2 = checkout.start_span(
        "load cart",
        child(b1),
        kind=SpanKind.INTERNAL,
        start_time=t(1005),
        attributes={"cart.items": 3, "ratio": 0.5, "blob": b"\x00\x01", "tags": ["a", "b"]},
        links=[Link(a1_context, {"link.kind": "previous"})],
    )
    b2.end(t(1025))
    b1.set_status(Status(StatusCode.OK))
    b1.end(t(1040))

    # C: frontend -> checkout, the slowest (span ids 7-8).
    c1 = frontend.start_span("GET /", kind=SpanKind.SERVER, start_time=t(2000), attributes={"http.status_code": 200})
    c2 = checkout.start_span(
        "GET /checkout",
        child(c1),
        kind=SpanKind.SERVER,
        start_time=t(2100),
        attributes={"http.status_code": 200, "http.route": "/checkout"},
    )
    c2.end(t(3300))
    c1.end(t(3500))

    # D: the root is missing (remote parent), a 64-bit trace id (span ids 9-10).
    remote = SpanContext(TRACE_D, REMOTE_PARENT, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    d1 = worker.start_span(
        "consume job", trace.set_span_in_context(NonRecordingSpan(remote)), kind=SpanKind.CONSUMER, start_time=t(3000)
    )
    d2 = worker.start_span("process job", child(d1), start_time=t(3002))
    d2.end(t(3008))
    d1.end(t(3010))

    # E: three hours later (span id 11).
    e1 = checkout.start_span("GET /checkout", kind=SpanKind.SERVER, start_time=t(3 * 3600 * 1000))
    e1.set_status(Status(StatusCode.ERROR))
    e1.end(t(3 * 3600 * 1000 + 300))

    for provider in providers.values():
        provider.shutdown()


def start_loaded_server(directory: Path) -> RunningServer:
    server = RunningServer(make_settings(directory))
    try:
        send_traces(server)
    except BaseException:
        server.stop()
        raise
    return server
