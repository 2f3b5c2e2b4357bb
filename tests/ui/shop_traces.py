"""Traces for the UI tests, sent by the real OpenTelemetry SDK with fixed ids and explicit times.

``checkout`` is the interesting one: five services, an error, events, typed attributes of every
kind, links to another trace and to a span of its own, a span whose parent never arrived, and a
span from a host whose clock runs ahead (it starts before its parent and ends after the root).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags

MS = 1_000_000
CHECKOUT = 0x5B8EFFF798038103D269B633813FC60C
RECEIPT = 0x0AF7651916CD43DD8448EB211C80319C
HEALTH = 0x11111111111111111111111111111111
MISSING_PARENT = 0x00F067AA0BA902B7

# span ids of the checkout trace, by name
IDS = {
    "GET /checkout": 0xA1A1A1A1A1A1A1A1,
    "charge card": 0xB2B2B2B2B2B2B2B2,
    "POST /charge": 0xB3B3B3B3B3B3B3B3,
    "enqueue receipt": 0xC3C3C3C3C3C3C3C3,
    "consume receipt": 0xD4D4D4D4D4D4D4D4,
    "render": 0xE5E5E5E5E5E5E5E5,
    "fetch template": 0xE6E6E6E6E6E6E6E6,
    "audit": 0xF7F7F7F7F7F7F7F7,
    "send receipt": 0x0101010101010101,
    "GET /health": 0x0202020202020202,
}

ROOT_ATTRIBUTES: dict[str, Any] = {
    "http.route": "/checkout",
    "http.status_code": 500,
    "int.max": 2**63 - 1,
    "retry": True,
    "ratio": 0.25,
    "whole": 1.0,
    "nan": math.nan,
    "seq.str": ("a", "b"),
    "seq.int": (1, 2),
    "bytes": b"\x00\x01\xfe\xff",
    "empty": "",
    "xss": "<img src=x onerror=alert(1)>",
}


def hex_id(span_name: str) -> str:
    return f"{IDS[span_name]:016x}"


class FixedIds(IdGenerator):
    def __init__(self, trace_id: int, span_ids: list[int]) -> None:
        self._trace_id = trace_id
        self._span_ids: Iterator[int] = iter(span_ids)

    def generate_trace_id(self) -> int:
        return self._trace_id

    def generate_span_id(self) -> int:
        return next(self._span_ids)


@dataclass
class Sent:
    t0: int  # start of the checkout trace, ns

    @property
    def checkout(self) -> str:
        return f"{CHECKOUT:032x}"

    @property
    def receipt(self) -> str:
        return f"{RECEIPT:032x}"

    @property
    def health(self) -> str:
        return f"{HEALTH:032x}"


def _provider(http_url: str, service: str, trace_id: int, span_ids: list[int]) -> TracerProvider:
    resource = Resource({"service.name": service, "service.version": "1.4.2", "host.cores": 8})
    provider = TracerProvider(resource=resource, id_generator=FixedIds(trace_id, span_ids))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=http_url + "/v1/traces")))
    return provider


def _ctx(trace_id: int, span_id: int) -> Any:
    parent = SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    return trace.set_span_in_context(NonRecordingSpan(parent))


def send_shop_traces(http_url: str) -> Sent:
    """Send the three traces (ten minutes ago, so the default last-hour search finds them)."""
    t0 = (time.time_ns() - 600 * 10**9) // MS * MS
    providers = []

    def tracer(service: str, trace_id: int, *names: str) -> Any:
        provider = _provider(http_url, service, trace_id, [IDS[n] for n in names])
        providers.append(provider)
        return provider.get_tracer("shop." + service, "2.7.1", attributes={"scope.flag": True})

    frontend = tracer("frontend", CHECKOUT, "GET /checkout", "charge card", "enqueue receipt", "render")
    links = [
        Link(SpanContext(RECEIPT, IDS["send receipt"], is_remote=True), {"link.kind": "follows"}),
        Link(SpanContext(CHECKOUT, IDS["render"], is_remote=False), {"same": True}),
    ]
    root = frontend.start_span(
        "GET /checkout", kind=SpanKind.SERVER, attributes=ROOT_ATTRIBUTES, links=links, start_time=t0
    )
    root.add_event("cache.miss", {"key": "user:42", "attempt": 2}, timestamp=t0 + 10 * MS)
    in_root = trace.set_span_in_context(root)
    charge = frontend.start_span("charge card", context=in_root, kind=SpanKind.CLIENT, start_time=t0 + 30 * MS)
    payments = tracer("payments", CHECKOUT, "POST /charge")
    post = payments.start_span(
        "POST /charge", context=trace.set_span_in_context(charge), kind=SpanKind.SERVER, start_time=t0 + 35 * MS
    )
    post.set_status(Status(StatusCode.ERROR, "card declined"))
    post.end(end_time=t0 + 125 * MS)
    charge.end(end_time=t0 + 130 * MS)
    enqueue = frontend.start_span("enqueue receipt", context=in_root, kind=SpanKind.PRODUCER, start_time=t0 + 140 * MS)
    enqueue.end(end_time=t0 + 145 * MS)
    mailer = tracer("mailer", CHECKOUT, "consume receipt")
    consume = mailer.start_span(
        "consume receipt", context=trace.set_span_in_context(enqueue), kind=SpanKind.CONSUMER, start_time=t0 + 150 * MS
    )
    consume.end(end_time=t0 + 180 * MS)
    render = frontend.start_span("render", context=in_root, start_time=t0 + 200 * MS)
    # The templates host's clock runs 15 ms ahead: its span seems to start before its parent
    # and to end after the whole request.
    templates = tracer("templates", CHECKOUT, "fetch template")
    fetch = templates.start_span(
        "fetch template", context=trace.set_span_in_context(render), kind=SpanKind.CLIENT, start_time=t0 + 190 * MS
    )
    fetch.end(end_time=t0 + 260 * MS)
    render.end(end_time=t0 + 240 * MS)
    root.set_status(Status(StatusCode.ERROR, "payment declined"))
    root.end(end_time=t0 + 250 * MS)
    audit = tracer("audit", CHECKOUT, "audit")
    orphan = audit.start_span("audit", context=_ctx(CHECKOUT, MISSING_PARENT), start_time=t0 + 60 * MS)
    orphan.end(end_time=t0 + 90 * MS)

    receipts = tracer("mailer", RECEIPT, "send receipt")
    send = receipts.start_span("send receipt", kind=SpanKind.CONSUMER, start_time=t0 + 300 * MS)
    send.set_status(Status(StatusCode.OK))
    send.end(end_time=t0 + 340 * MS)

    health = tracer("frontend", HEALTH, "GET /health")
    ping = health.start_span("GET /health", kind=SpanKind.SERVER, start_time=t0 + 60_000 * MS)
    ping.end(end_time=t0 + 60_002 * MS)

    for provider in providers:
        provider.shutdown()
    return Sent(t0)
