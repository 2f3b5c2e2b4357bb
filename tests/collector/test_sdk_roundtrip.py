"""Telemetry sent by the real OpenTelemetry Python SDK exporters lands in DuckDB with every field intact.

Each signal goes through the SDK's own pipeline (provider -> processor or reader -> OTLP exporter)
over both OTLP/gRPC and OTLP/HTTP protobuf. Ids and timestamps are fixed wherever the SDK lets a
caller choose them (an id generator, explicit start, end and event times), so the expected rows are
written out in full. Where the SDK picks a value itself (metric collection times, log times from
the ``logging`` module) the test takes it from what the SDK handed to the exporter, and nothing
else. Every comparison is of whole rows, with types: ``1`` and ``1.0`` and ``True`` differ.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
import traceback
from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import pytest
from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, EntityRef, InstrumentationScope, KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.resource.v1.resource_pb2 import Resource as PbResource
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import LogRecordExportResult, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    MetricExportResult,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.metrics.view import (
    ExplicitBucketHistogramAggregation,
    ExponentialBucketHistogramAggregation,
    View,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.span import TraceState

from spyglass.storage import decode_attributes, decode_value

PROTOCOLS = ["grpc", "http"]
SAMPLED = TraceFlags(TraceFlags.SAMPLED)

# --- helpers -------------------------------------------------------------------------------------


def typed(value: Any) -> Any:
    """``value`` with every scalar paired with its type name, so that 1, 1.0 and True compare unequal."""
    if isinstance(value, dict):
        return {k: typed(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [typed(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return ("float", "NaN")  # NaN != NaN; the marker makes a stored NaN comparable
    return (type(value).__name__, value)


def _decode_items(text: str, key: str) -> list[dict[str, Any]]:
    items = json.loads(text)
    for item in items:
        item[key] = {k: decode_value(v) for k, v in item[key].items()}
    return items


def readable(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row with its JSON columns decoded into typed Python values."""
    out = dict(row)
    if "body_lower" in out:  # derived from the stored body text: checked here, then set aside
        lowered = out.pop("body_lower")
        assert lowered == (out["body"].lower() if out["body"] is not None else None)
    for col in ("attributes", "resource_attributes", "scope_attributes", "metric_metadata"):
        if isinstance(out.get(col), str):
            out[col] = decode_attributes(out[col])
    if isinstance(out.get("resource_entity_refs"), str):
        out["resource_entity_refs"] = json.loads(out["resource_entity_refs"])
    for col, key in (("events", "attributes"), ("links", "attributes"), ("exemplars", "filtered_attributes")):
        if isinstance(out.get(col), str):
            out[col] = _decode_items(out[col], key)
    return out


def assert_rows(actual: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    """Whole rows equal, with types; compared one row at a time so a failure shows the differing columns."""
    assert len(actual) == len(expected), [r.get("name") or r.get("metric_name") or r.get("body") for r in actual]
    for row, want in zip(actual, expected, strict=True):
        assert typed(readable(row)) == typed(want)


def checked(exporter_class: type) -> Any:
    """An instance factory for ``exporter_class`` that keeps what each export call sent and returned."""

    class Checked(exporter_class):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.calls: list[tuple[Any, Any]] = []

        def export(self, data: Any, *args: Any, **kwargs: Any) -> Any:
            result = super().export(data, *args, **kwargs)
            self.calls.append((data, result))
            return result

    return Checked


def span_exporter(protocol: str, server: Any, gzip: bool = False) -> Any:
    if protocol == "grpc":
        compression = grpc.Compression.Gzip if gzip else None
        return checked(GrpcSpanExporter)(endpoint=server.grpc_target, insecure=True, compression=compression)
    http_compression = HttpCompression.Gzip if gzip else HttpCompression.NoCompression
    return checked(HttpSpanExporter)(endpoint=server.http_url + "/v1/traces", compression=http_compression)


def log_exporter(protocol: str, server: Any) -> Any:
    if protocol == "grpc":
        return checked(GrpcLogExporter)(endpoint=server.grpc_target, insecure=True)
    return checked(HttpLogExporter)(endpoint=server.http_url + "/v1/logs")


def metric_exporter(protocol: str, server: Any, **kwargs: Any) -> Any:
    if protocol == "grpc":
        return checked(GrpcMetricExporter)(endpoint=server.grpc_target, insecure=True, **kwargs)
    return checked(HttpMetricExporter)(endpoint=server.http_url + "/v1/metrics", **kwargs)


class FixedIds(IdGenerator):
    """Hands out the given ids in order, so expected rows can name them."""

    def __init__(self, trace_id: int, span_ids: list[int]) -> None:
        self._trace_id = trace_id
        self._span_ids: Iterator[int] = iter(span_ids)

    def generate_trace_id(self) -> int:
        return self._trace_id

    def generate_span_id(self) -> int:
        return next(self._span_ids)


SCHEMA_URL = "https://opentelemetry.io/schemas/1.26.0"
RESOURCE_ATTRIBUTES: dict[str, Any] = {
    "service.name": "checkout",
    "service.version": "1.4.2",
    "host.cores": 8,
    "sampling.ratio": 0.25,
    "deployment.canary": True,
    "cloud.regions": ("eu-west-1", "us-east-1"),
}
RESOURCE = Resource(RESOURCE_ATTRIBUTES, schema_url=SCHEMA_URL)
RESOURCE_COLUMNS = {
    "service_name": "checkout",
    "resource_attributes": {
        "service.name": "checkout",
        "service.version": "1.4.2",
        "host.cores": 8,
        "sampling.ratio": 0.25,
        "deployment.canary": True,
        "cloud.regions": ["eu-west-1", "us-east-1"],
    },
    "resource_dropped_attributes_count": 0,
    "resource_schema_url": SCHEMA_URL,
    "resource_entity_refs": [],
}


def scope_columns(name: str, version: str = "", attributes: dict[str, Any] | None = None, schema_url: str = "") -> dict:
    return {
        "scope_name": name,
        "scope_version": version,
        "scope_attributes": attributes or {},
        "scope_dropped_attributes_count": 0,
        "scope_schema_url": schema_url,
    }


# --- traces --------------------------------------------------------------------------------------

T0 = 1_700_000_000_000_000_000  # 2023-11-14, in nanoseconds
MS = 1_000_000

TRACE_ID = 0x5B8EFFF798038103D269B633813FC60C
REMOTE_PARENT = 0x00F067AA0BA902B7
ROOT, CHARGE, ENQUEUE, CONSUME, RENDER = (
    0xA1A1A1A1A1A1A1A1,
    0xB2B2B2B2B2B2B2B2,
    0xC3C3C3C3C3C3C3C3,
    0xD4D4D4D4D4D4D4D4,
    0xE5E5E5E5E5E5E5E5,
)
LINKED_TRACE = 0x0AF7651916CD43DD8448EB211C80319C

# Every attribute type the SDK accepts, with edge values: 64-bit extremes, a float that looks
# like an integer, non-finite floats, empty strings and sequences, bytes, a nested map.
ALL_TYPES: dict[str, Any] = {
    "str": "héllo wörld ✓",
    "str.empty": "",
    "bool.true": True,
    "bool.false": False,
    "int": 42,
    "int.negative": -7,
    "int.max": 2**63 - 1,
    "int.min": -(2**63),
    "float": 3.25,
    "float.whole": 1.0,
    "float.tiny": 5e-324,
    "float.inf": math.inf,
    "float.neg_inf": -math.inf,
    "float.nan": math.nan,
    "seq.str": ("a", "b", ""),
    "seq.bool": (True, False),
    "seq.int": (1, -2, 2**40),
    "seq.float": (0.5, 2.0, -1.5),
    "seq.empty": (),
    "bytes": b"\x00\x01\xfe\xff",
    "map": {"k": "v", "n": 1, "inner": {"x": 1.5}},
}
ALL_TYPES_STORED: dict[str, Any] = {
    **ALL_TYPES,
    "seq.str": ["a", "b", ""],
    "seq.bool": [True, False],
    "seq.int": [1, -2, 2**40],
    "seq.float": [0.5, 2.0, -1.5],
    "seq.empty": [],
}

TRACE_STATE = TraceState([("vendor1", "abc"), ("rojo", "00f067aa0ba902b7")])
RENDER_ATTRIBUTES = {f"k{i}": i for i in range(34)}  # two more than max_span_attributes


def _emit_trace(provider: TracerProvider) -> None:
    scoped = provider.get_tracer(
        "shop.checkout", "2.7.1", schema_url=SCHEMA_URL, attributes={"scope.flag": True, "scope.level": 3}
    )
    bare = provider.get_tracer("shop.render")
    remote = SpanContext(TRACE_ID, REMOTE_PARENT, is_remote=True, trace_flags=SAMPLED, trace_state=TRACE_STATE)
    links = [
        Link(SpanContext(LINKED_TRACE, 0x1111111111111111, is_remote=True), {"dropped": "yes"}),
        Link(SpanContext(LINKED_TRACE, 0x2222222222222222, is_remote=True), {"link.kind": "follows", "n": 2}),
        Link(SpanContext(TRACE_ID, 0x3333333333333333, is_remote=False), {"ratio": 0.5, "ok": False}),
    ]
    root = scoped.start_span(
        "GET /checkout",
        context=trace.set_span_in_context(NonRecordingSpan(remote)),
        kind=SpanKind.SERVER,
        attributes=ALL_TYPES,
        links=links,
        start_time=T0,
    )
    root.add_event("dropped", timestamp=T0 + 5 * MS)
    root.add_event(
        "cache.miss",
        {"key": "user:42", "attempt": 2, "latency": 0.75, "hit": False, "shards": (1, 2)},
        timestamp=T0 + 10 * MS,
    )
    root.add_event("retry", timestamp=T0 + 20 * MS)
    in_root = trace.set_span_in_context(root)
    charge = scoped.start_span("charge card", context=in_root, kind=SpanKind.CLIENT, start_time=T0 + 30 * MS)
    charge.set_status(Status(StatusCode.OK))
    charge.end(end_time=T0 + 130 * MS)
    enqueue = scoped.start_span("enqueue receipt", context=in_root, kind=SpanKind.PRODUCER, start_time=T0 + 140 * MS)
    consume = scoped.start_span(
        "consume receipt",
        context=trace.set_span_in_context(enqueue),
        kind=SpanKind.CONSUMER,
        start_time=T0 + 150 * MS,
    )
    consume.end(end_time=T0 + 180 * MS)
    enqueue.end(end_time=T0 + 145 * MS)
    render = bare.start_span("render", context=in_root, attributes=RENDER_ATTRIBUTES, start_time=T0 + 200 * MS)
    render.end(end_time=T0 + 240 * MS)
    root.set_status(Status(StatusCode.ERROR, "payment declined"))
    root.end(end_time=T0 + 250 * MS)


def _span_row(**fields: Any) -> dict[str, Any]:
    row = {
        "trace_id": TRACE_ID.to_bytes(16, "big"),
        "trace_state": "vendor1=abc,rojo=00f067aa0ba902b7",
        "flags": 0x100,  # SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE: the parent is local
        "status_code": 0,
        "status_message": "",
        "attributes": {},
        "dropped_attributes_count": 0,
        "events": [],
        "dropped_events_count": 0,
        "links": [],
        "dropped_links_count": 0,
        **RESOURCE_COLUMNS,
        **scope_columns("shop.checkout", "2.7.1", {"scope.flag": True, "scope.level": 3}, SCHEMA_URL),
    }
    row.update(fields)
    row["duration_ns"] = row["end_time_ns"] - row["start_time_ns"]
    return row


def _id(span_id: int) -> bytes:
    return span_id.to_bytes(8, "big")


EXPECTED_SPANS = [
    _span_row(
        span_id=_id(ROOT),
        parent_span_id=_id(REMOTE_PARENT),
        flags=0x300,  # HAS_IS_REMOTE | IS_REMOTE: the parent came from another process
        name="GET /checkout",
        kind=2,
        start_time_ns=T0,
        end_time_ns=T0 + 250 * MS,
        status_code=2,
        status_message="payment declined",
        attributes=ALL_TYPES_STORED,
        events=[
            {
                "time_unix_nano": T0 + 10 * MS,
                "name": "cache.miss",
                "attributes": {"key": "user:42", "attempt": 2, "latency": 0.75, "hit": False, "shards": [1, 2]},
                "dropped_attributes_count": 0,
            },
            {"time_unix_nano": T0 + 20 * MS, "name": "retry", "attributes": {}, "dropped_attributes_count": 0},
        ],
        dropped_events_count=1,  # max_events=2 keeps the newest two
        links=[
            {
                "trace_id": f"{LINKED_TRACE:032x}",
                "span_id": "2222222222222222",
                "trace_state": "",
                "attributes": {"link.kind": "follows", "n": 2},
                "dropped_attributes_count": 0,
                "flags": 0x300,
            },
            {
                "trace_id": f"{TRACE_ID:032x}",
                "span_id": "3333333333333333",
                "trace_state": "",
                "attributes": {"ratio": 0.5, "ok": False},
                "dropped_attributes_count": 0,
                "flags": 0x100,
            },
        ],
        dropped_links_count=1,  # max_links=2 keeps the newest two
    ),
    _span_row(
        span_id=_id(CHARGE),
        parent_span_id=_id(ROOT),
        name="charge card",
        kind=3,
        start_time_ns=T0 + 30 * MS,
        end_time_ns=T0 + 130 * MS,
        status_code=1,
    ),
    _span_row(
        span_id=_id(ENQUEUE),
        parent_span_id=_id(ROOT),
        name="enqueue receipt",
        kind=4,
        start_time_ns=T0 + 140 * MS,
        end_time_ns=T0 + 145 * MS,
    ),
    _span_row(
        span_id=_id(CONSUME),
        parent_span_id=_id(ENQUEUE),
        name="consume receipt",
        kind=5,
        start_time_ns=T0 + 150 * MS,
        end_time_ns=T0 + 180 * MS,
    ),
    _span_row(
        span_id=_id(RENDER),
        parent_span_id=_id(ROOT),
        name="render",
        kind=1,
        start_time_ns=T0 + 200 * MS,
        end_time_ns=T0 + 240 * MS,
        attributes={f"k{i}": i for i in range(2, 34)},  # the SDK drops the oldest two
        dropped_attributes_count=2,
        **scope_columns("shop.render"),
    ),
]


@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_sdk_spans_are_stored_exactly(server: Any, protocol: str, gzip: bool) -> None:
    exporter = span_exporter(protocol, server, gzip)
    provider = TracerProvider(
        resource=RESOURCE,
        id_generator=FixedIds(TRACE_ID, [ROOT, CHARGE, ENQUEUE, CONSUME, RENDER]),
        span_limits=SpanLimits(max_span_attributes=32, max_events=2, max_links=2),
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    _emit_trace(provider)
    provider.shutdown()

    assert [result for _, result in exporter.calls] == [SpanExportResult.SUCCESS] * 5
    rows = server.rows("SELECT * FROM spans ORDER BY start_time_ns")
    assert_rows(rows, EXPECTED_SPANS)


# --- logs ----------------------------------------------------------------------------------------


class _Keep(logging.Handler):
    """Keeps the ``logging`` records, to learn the values the bridge derives from them (time, line)."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


LOG_TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
LOG_SPAN_ID = 0x00F067AA0BA902B7


def _bridge_row(record: logging.LogRecord, severity: int, text: str, **fields: Any) -> dict[str, Any]:
    row = {
        "time_ns": int(record.created * 1e9),
        "severity_number": severity,
        "severity_text": text,
        "body": record.getMessage(),
        "body_type": "string",
        "attributes": {
            "code.file.path": record.pathname,
            "code.function.name": record.funcName,
            "code.line.number": record.lineno,
        },
        "dropped_attributes_count": 0,
        "flags": 1,  # the span is sampled
        "trace_id": LOG_TRACE_ID.to_bytes(16, "big"),
        "span_id": LOG_SPAN_ID.to_bytes(8, "big"),
        "event_name": "",
        **RESOURCE_COLUMNS,
        **scope_columns("shop.bridge"),
    }
    row["attributes"] = {**fields.pop("extra", {}), **row["attributes"]}
    row.update(fields)
    return row


def _api_row(body: str | None, body_type: str, n: int, ctx: bool) -> dict[str, Any]:
    return {
        "time_ns": T0 + n,
        "observed_time_ns": T0 + n + 1,
        "severity_number": 13,
        "severity_text": "WARN",
        "body": body,
        "body_type": body_type,
        "attributes": {"n": n, "ratio": n / 4, "ok": n % 2 == 0, "tags": ["x", str(n)]},
        "dropped_attributes_count": 0,
        "flags": 1 if ctx else 0,
        "trace_id": LOG_TRACE_ID.to_bytes(16, "big") if ctx else None,
        "span_id": LOG_SPAN_ID.to_bytes(8, "big") if ctx else None,
        "event_name": "checkout.completed" if ctx else "",
        **RESOURCE_COLUMNS,
        **scope_columns("shop.events", "0.9.0", {"component": "cart", "weight": 1.5}, SCHEMA_URL),
    }


# (body given to Logger.emit, stored body, stored body_type); structured bodies are JSON text
STRUCTURED_BODIES: list[tuple[Any, str | None, str]] = [
    (
        {
            "user": "ann",
            "items": 3,
            "total": 19.5,
            "whole": 20.0,
            "paid": True,
            "tags": ["a", "b"],
            "address": {"city": "Oslo", "zip": 150},
            "raw": b"\x00\x01\xff",
        },
        '{"user":"ann","items":3,"total":19.5,"whole":20.0,"paid":true,"tags":["a","b"],'
        '"address":{"kvlist":{"city":"Oslo","zip":150}},"raw":{"bytes":"AAH/"}}',
        "kvlist",
    ),
    ([1, "two", 3.0, False, [4]], '[1,"two",3.0,false,[4]]', "array"),
    (7, "7", "int"),
    (-(2**63), str(-(2**63)), "int"),
    (2.0, "2.0", "double"),
    (True, "true", "bool"),
    (b"\x00\xff", '{"bytes":"AP8="}', "bytes"),
    ("plain text ✓", "plain text ✓", "string"),
    (None, None, "empty"),
]


# The SDK's LoggingHandler is the standard logging bridge; 1.39+ marks it deprecated in favour of
# opentelemetry-instrumentation-logging, which is not a dependency here. The bridge still works
# and is what most applications use today, so the deprecation warning is expected.
@pytest.mark.filterwarnings("ignore:`LoggingHandler` in `opentelemetry-sdk` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_sdk_logs_are_stored_exactly(server: Any, protocol: str) -> None:
    exporter = log_exporter(protocol, server)
    provider = LoggerProvider(resource=RESOURCE)
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    tracer = TracerProvider(id_generator=FixedIds(LOG_TRACE_ID, [LOG_SPAN_ID])).get_tracer("t")

    py_logger = logging.getLogger("shop.bridge")
    py_logger.setLevel(logging.DEBUG)
    py_logger.propagate = False
    keep = _Keep()
    bridge = LoggingHandler(logger_provider=provider)
    py_logger.addHandler(keep)
    py_logger.addHandler(bridge)
    stack = ""
    try:
        with tracer.start_as_current_span("handle order") as span:
            py_logger.debug("cart %s has %d items", "c-9", 3)
            py_logger.info("order placed", extra={"order.id": "A-17", "retries": 3, "ratio": 0.5, "vip": True})
            py_logger.warning("stock low", extra={"skus": ["s1", "s2"], "levels": [1, 0]})
            try:
                raise ValueError("card number invalid")
            except ValueError:
                stack = "".join(traceback.format_exception(*sys.exc_info()))
                py_logger.exception("payment failed")
            py_logger.critical("giving up")
            otel_logger = provider.get_logger(
                "shop.events", "0.9.0", schema_url=SCHEMA_URL, attributes={"component": "cart", "weight": 1.5}
            )
            for n, (body, _, _) in enumerate(STRUCTURED_BODIES):
                otel_logger.emit(
                    timestamp=T0 + n,
                    observed_timestamp=T0 + n + 1,
                    severity_number=SeverityNumber.WARN,
                    severity_text="WARN",
                    body=body,
                    attributes={"n": n, "ratio": n / 4, "ok": n % 2 == 0, "tags": ("x", str(n))},
                    event_name="checkout.completed",
                )
            assert span.get_span_context().span_id == LOG_SPAN_ID
        # Outside any span: no trace context, flags 0, no event name.
        n = len(STRUCTURED_BODIES)
        otel_logger.emit(
            timestamp=T0 + n,
            observed_timestamp=T0 + n + 1,
            severity_number=SeverityNumber.WARN,
            severity_text="WARN",
            body="no span",
            attributes={"n": n, "ratio": n / 4, "ok": n % 2 == 0, "tags": ("x", str(n))},
        )
    finally:
        py_logger.removeHandler(bridge)
        py_logger.removeHandler(keep)
        provider.shutdown()
    exported_by = time.time_ns()

    calls = len(keep.records) + len(STRUCTURED_BODIES) + 1
    assert [result for _, result in exporter.calls] == [LogRecordExportResult.SUCCESS] * calls
    debug, info, warning, error, critical = keep.records
    expected = [
        _bridge_row(debug, 5, "DEBUG"),
        _bridge_row(info, 9, "INFO", extra={"order.id": "A-17", "retries": 3, "ratio": 0.5, "vip": True}),
        _bridge_row(warning, 13, "WARN", extra={"skus": ["s1", "s2"], "levels": [1, 0]}),
        _bridge_row(
            error,
            17,
            "ERROR",
            extra={
                "exception.type": "ValueError",
                "exception.message": "card number invalid",
                "exception.stacktrace": stack,
            },
        ),
        _bridge_row(critical, 21, "FATAL"),
    ]
    assert expected[0]["body"] == "cart c-9 has 3 items"

    rows = server.rows("SELECT * EXCLUDE (id) FROM logs ORDER BY time_ns")
    api_rows = [r for r in rows if r["scope_name"] == "shop.events"]
    # Records logged within the same microsecond share a time; the line number keeps their order.
    bridge_rows = sorted(
        (r for r in rows if r["scope_name"] == "shop.bridge"),
        key=lambda r: json.loads(r["attributes"])["code.line.number"],
    )
    assert len(api_rows) + len(bridge_rows) == len(rows)

    # The bridge sets the observed time itself: it must lie between the record and the export.
    for row, record in zip(bridge_rows, keep.records, strict=True):
        assert int(record.created * 1e9) <= row.pop("observed_time_ns") <= exported_by
    assert_rows(bridge_rows, expected)

    expected_api = [
        _api_row(stored, body_type, n, ctx=True) for n, (_, stored, body_type) in enumerate(STRUCTURED_BODIES)
    ]
    expected_api.append(_api_row("no span", "string", len(STRUCTURED_BODIES), ctx=False))
    assert_rows(api_rows, expected_api)


# --- metrics -------------------------------------------------------------------------------------

EXEMPLAR_TRACE = 0x0102030405060708090A0B0C0D0E0F10
EXEMPLAR_SPAN = 0x1112131415161718
METER_SCOPE = scope_columns("shop.metrics", "3.1.0", {"meter.kind": "business", "meter.rev": 2}, SCHEMA_URL)


def _sampled_context() -> Any:
    span = NonRecordingSpan(SpanContext(EXEMPLAR_TRACE, EXEMPLAR_SPAN, is_remote=False, trace_flags=SAMPLED))
    return trace.set_span_in_context(span)


def _sent_point(calls: list[tuple[MetricsData, Any]], collection: int, name: str, attributes: dict[str, Any]) -> Any:
    """The data point the SDK handed to the exporter in its ``collection``-th export."""
    data = calls[collection][0]
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name == name:
                    for point in metric.data.data_points:
                        if dict(point.attributes or {}) == attributes:
                            return point
    raise AssertionError(f"the SDK did not export {name} {attributes} in collection {collection}")


def _metric_row(meta: tuple[str, str, str], point: Any, attributes: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "metric_name": meta[0],
        "metric_description": meta[1],
        "metric_unit": meta[2],
        "metric_metadata": {},
        **RESOURCE_COLUMNS,
        **METER_SCOPE,
        "attributes": attributes,
        "start_time_ns": point.start_time_unix_nano,
        "time_ns": point.time_unix_nano,
        "flags": 0,
        "exemplars": [],
        **fields,
    }


ORDERS = ("orders.placed", "Orders placed", "{order}")
QUEUE = ("queue.depth", "Jobs waiting", "{job}")
TEMPERATURE = ("cpu.temperature", "CPU temperature", "Cel")
DURATION = ("request.duration", "Request duration", "ms")
PAYLOAD = ("payload.size", "Payload size", "By")


def _meter_provider(reader: PeriodicExportingMetricReader) -> MeterProvider:
    views = [
        View(instrument_name="orders.placed", attribute_keys={"channel"}),
        View(
            instrument_name="request.duration",
            attribute_keys={"route"},
            aggregation=ExplicitBucketHistogramAggregation([0, 5, 10]),
        ),
        View(instrument_name="payload.size", aggregation=ExponentialBucketHistogramAggregation(max_size=4)),
    ]
    return MeterProvider(metric_readers=[reader], resource=RESOURCE, views=views)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_sdk_metrics_cumulative_are_stored_exactly(server: Any, protocol: str) -> None:
    exporter = metric_exporter(protocol, server)
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=math.inf)
    provider = _meter_provider(reader)
    meter = provider.get_meter(
        "shop.metrics", "3.1.0", schema_url=SCHEMA_URL, attributes={"meter.kind": "business", "meter.rev": 2}
    )
    orders = meter.create_counter(ORDERS[0], unit=ORDERS[2], description=ORDERS[1])
    queue = meter.create_up_down_counter(QUEUE[0], unit=QUEUE[2], description=QUEUE[1])
    duration = meter.create_histogram(DURATION[0], unit=DURATION[2], description=DURATION[1])
    payload = meter.create_histogram(PAYLOAD[0], unit=PAYLOAD[2], description=PAYLOAD[1])

    def temperatures(options: CallbackOptions) -> list[Observation]:
        return [Observation(61.5, {"core": 0}), Observation(63, {"core": 1})]

    meter.create_observable_gauge(TEMPERATURE[0], [temperatures], unit=TEMPERATURE[2], description=TEMPERATURE[1])

    # Measurements inside a sampled span become exemplars (the SDK's default trace-based filter).
    orders.add(3, {"channel": "web", "customer": "c1"}, context=_sampled_context())
    orders.add(4, {"channel": "web", "customer": "c2"})
    queue.add(2.5, {"queue": "emails"})
    queue.add(-1.0, {"queue": "emails"})
    for value in (1, 5, 20):
        duration.record(value, {"route": "/checkout"})
    duration.record(7.5, {"route": "/checkout", "user": "u1"}, context=_sampled_context())
    duration.record(0.5, {"route": "/"})
    for value in (0, 1, 2, 3, 4, 8):
        payload.record(value)
    provider.force_flush()
    orders.add(10, {"channel": "web", "customer": "c3"})
    provider.force_flush()
    provider.shutdown()

    calls = exporter.calls
    assert [result for _, result in calls] == [MetricExportResult.SUCCESS] * 2  # one per flush

    def number(meta: tuple[str, str, str], c: int, attrs: dict[str, Any], **fields: Any) -> dict[str, Any]:
        return _metric_row(meta, _sent_point(calls, c, meta[0], attrs), attrs, **fields)

    first_orders = _sent_point(calls, 0, "orders.placed", {"channel": "web"})
    counter = {"metric_type": "sum", "temporality": 2, "is_monotonic": True}
    updown = {"metric_type": "sum", "temporality": 2, "is_monotonic": False}
    # A gauge has no start time in OTLP (the SDK leaves it unset), nor a temporality.
    gauge = {"metric_type": "gauge", "temporality": 0, "is_monotonic": False, "start_time_ns": 0}
    exemplar = {
        "time_unix_nano": first_orders.exemplars[0].time_unix_nano,
        "filtered_attributes": {"customer": "c1"},
        "trace_id": f"{EXEMPLAR_TRACE:032x}",
        "span_id": f"{EXEMPLAR_SPAN:016x}",
        "as_int": 3,
    }
    expected_numbers = [
        *[number(TEMPERATURE, c, {"core": 0}, **gauge, value=61.5, value_int=None) for c in range(2)],
        *[number(TEMPERATURE, c, {"core": 1}, **gauge, value=63.0, value_int=63) for c in range(2)],
        number(ORDERS, 0, {"channel": "web"}, **counter, value=7.0, value_int=7, exemplars=[exemplar]),
        number(ORDERS, 1, {"channel": "web"}, **counter, value=17.0, value_int=17),
        *[number(QUEUE, c, {"queue": "emails"}, **updown, value=1.5, value_int=None) for c in range(2)],
    ]
    rows = server.rows("SELECT * FROM metric_numbers ORDER BY metric_name, attributes, time_ns")
    assert_rows(rows, expected_numbers)
    # Cumulative points of one series share their start time across collections.
    assert len({r["start_time_ns"] for r in rows if r["metric_name"] == "orders.placed"}) == 1

    checkout_point = _sent_point(calls, 0, "request.duration", {"route": "/checkout"})
    histogram_exemplar = {
        "time_unix_nano": checkout_point.exemplars[0].time_unix_nano,
        "filtered_attributes": {"user": "u1"},
        "trace_id": f"{EXEMPLAR_TRACE:032x}",
        "span_id": f"{EXEMPLAR_SPAN:016x}",
        "as_double": 7.5,
    }
    expected_histograms = [
        *[
            _metric_row(
                DURATION,
                _sent_point(calls, c, "request.duration", {"route": "/"}),
                {"route": "/"},
                temporality=2,
                count=1,
                sum=0.5,
                min=0.5,
                max=0.5,
                bucket_counts=[0, 1, 0, 0],
                explicit_bounds=[0.0, 5.0, 10.0],
            )
            for c in range(2)
        ],
        *[
            _metric_row(
                DURATION,
                _sent_point(calls, c, "request.duration", {"route": "/checkout"}),
                {"route": "/checkout"},
                exemplars=[histogram_exemplar] if c == 0 else [],  # the reservoir starts afresh each collection
                temporality=2,
                count=4,
                sum=33.5,
                min=1.0,
                max=20.0,
                bucket_counts=[0, 2, 1, 1],
                explicit_bounds=[0.0, 5.0, 10.0],
            )
            for c in range(2)
        ],
    ]
    rows = server.rows("SELECT * FROM metric_histograms ORDER BY attributes, time_ns")
    assert_rows(rows, expected_histograms)

    # Values 0, 1, 2, 3, 4, 8 in at most 4 buckets: scale 0 (base 2), buckets (0.5, 1], (1, 2],
    # (2, 4], (4, 8] are indexes -1..2; the 0 goes to the zero bucket.
    expected_exp = [
        _metric_row(
            PAYLOAD,
            _sent_point(calls, c, "payload.size", {}),
            {},
            temporality=2,
            count=6,
            sum=18.0,
            min=0.0,
            max=8.0,
            scale=0,
            zero_count=1,
            zero_threshold=0.0,
            positive_offset=-1,
            positive_bucket_counts=[1, 1, 2, 1],
            negative_offset=0,
            negative_bucket_counts=[0],  # the SDK sends its empty negative range as one zero bucket
        )
        for c in range(2)
    ]
    rows = server.rows("SELECT * FROM metric_exp_histograms ORDER BY time_ns")
    assert_rows(rows, expected_exp)
    assert server.rows("SELECT count(*) AS n FROM metric_summaries") == [{"n": 0}]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_sdk_metrics_delta_are_stored_exactly(server: Any, protocol: str) -> None:
    delta = {Counter: AggregationTemporality.DELTA, Histogram: AggregationTemporality.DELTA}
    exporter = metric_exporter(protocol, server, preferred_temporality=delta)
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=math.inf)
    provider = _meter_provider(reader)
    meter = provider.get_meter(
        "shop.metrics", "3.1.0", schema_url=SCHEMA_URL, attributes={"meter.kind": "business", "meter.rev": 2}
    )
    orders = meter.create_counter(ORDERS[0], unit=ORDERS[2], description=ORDERS[1])
    queue = meter.create_up_down_counter(QUEUE[0], unit=QUEUE[2], description=QUEUE[1])
    payload = meter.create_histogram(PAYLOAD[0], unit=PAYLOAD[2], description=PAYLOAD[1])

    orders.add(3, {"channel": "web"})
    queue.add(5, {"queue": "emails"})
    payload.record(3)
    provider.force_flush()
    orders.add(4, {"channel": "web"})
    queue.add(-2, {"queue": "emails"})
    payload.record(0)
    payload.record(16)
    provider.force_flush()
    provider.shutdown()

    calls = exporter.calls
    assert [result for _, result in calls] == [MetricExportResult.SUCCESS] * 2  # one per flush

    def point(c: int, name: str, attrs: dict[str, Any]) -> Any:
        return _sent_point(calls, c, name, attrs)

    first, second = point(0, "orders.placed", {"channel": "web"}), point(1, "orders.placed", {"channel": "web"})
    assert second.start_time_unix_nano == first.time_unix_nano  # delta points tile the time line
    counter = {"metric_type": "sum", "temporality": 1, "is_monotonic": True}
    updown = {"metric_type": "sum", "temporality": 2, "is_monotonic": False}  # not in `delta`: stays cumulative
    q = {"queue": "emails"}
    expected_numbers = [
        _metric_row(ORDERS, first, {"channel": "web"}, **counter, value=3.0, value_int=3),
        _metric_row(ORDERS, second, {"channel": "web"}, **counter, value=4.0, value_int=4),
        _metric_row(QUEUE, point(0, "queue.depth", q), q, **updown, value=5.0, value_int=5),
        _metric_row(QUEUE, point(1, "queue.depth", q), q, **updown, value=3.0, value_int=3),
    ]
    rows = server.rows("SELECT * FROM metric_numbers ORDER BY metric_name, time_ns")
    assert_rows(rows, expected_numbers)

    # One positive value per delta needs one bucket, so the SDK keeps its maximum scale, 20. At scale
    # s bucket i holds (2**(i / 2**s), 2**((i + 1) / 2**s)]: 3 is in bucket ceil(log2(3) * 2**20) - 1,
    # and 16 = 2**4 is the upper bound of bucket 4 * 2**20 - 1. The 0 goes to the zero bucket.
    first_payload, second_payload = point(0, "payload.size", {}), point(1, "payload.size", {})
    exp_common = {"temporality": 1, "zero_threshold": 0.0, "negative_offset": 0, "negative_bucket_counts": [0]}
    expected_exp = [
        _metric_row(
            PAYLOAD,
            first_payload,
            {},
            **exp_common,
            count=1,
            sum=3.0,
            min=3.0,
            max=3.0,
            scale=20,
            zero_count=0,
            positive_offset=math.ceil(math.log2(3) * 2**20) - 1,
            positive_bucket_counts=[1],
        ),
        _metric_row(
            PAYLOAD,
            second_payload,
            {},
            **exp_common,
            count=2,
            sum=16.0,
            min=0.0,
            max=16.0,
            scale=20,
            zero_count=1,
            positive_offset=4 * 2**20 - 1,
            positive_bucket_counts=[1],
        ),
    ]
    rows = server.rows("SELECT * FROM metric_exp_histograms ORDER BY time_ns")
    assert_rows(rows, expected_exp)


def test_summary_points_are_stored_exactly(server: Any) -> None:
    """The Python SDK cannot produce summaries; a hand-built protobuf request stands in for one."""

    def kv(key: str, **value: Any) -> KeyValue:
        return KeyValue(key=key, value=AnyValue(**value))

    point = metrics_pb2.SummaryDataPoint(
        attributes=[kv("rpc.method", string_value="Charge"), kv("shard", int_value=3)],
        start_time_unix_nano=T0,
        time_unix_nano=T0 + 60 * 1000 * MS,
        count=1000,
        sum=15000.5,
        quantile_values=[
            metrics_pb2.SummaryDataPoint.ValueAtQuantile(quantile=0.0, value=1.5),
            metrics_pb2.SummaryDataPoint.ValueAtQuantile(quantile=0.5, value=12.0),
            metrics_pb2.SummaryDataPoint.ValueAtQuantile(quantile=0.99, value=80.25),
            metrics_pb2.SummaryDataPoint.ValueAtQuantile(quantile=1.0, value=95.0),
        ],
        flags=1,  # DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK, carried through as sent
    )
    request = ExportMetricsServiceRequest(
        resource_metrics=[
            metrics_pb2.ResourceMetrics(
                resource=PbResource(
                    attributes=[kv("service.name", string_value="legacy"), kv("pid", int_value=4242)],
                    dropped_attributes_count=2,
                    entity_refs=[
                        EntityRef(
                            schema_url=SCHEMA_URL,
                            type="process",
                            id_keys=["pid"],
                            description_keys=["service.name"],
                        )
                    ],
                ),
                schema_url=SCHEMA_URL,
                scope_metrics=[
                    metrics_pb2.ScopeMetrics(
                        scope=InstrumentationScope(
                            name="prometheus.bridge",
                            version="0.1",
                            attributes=[kv("bridge", bool_value=True)],
                            dropped_attributes_count=1,
                        ),
                        schema_url="https://example.com/scope",
                        metrics=[
                            metrics_pb2.Metric(
                                name="rpc.latency",
                                description="RPC latency",
                                unit="ms",
                                metadata=[kv("prometheus.type", string_value="summary")],
                                summary=metrics_pb2.Summary(data_points=[point]),
                            )
                        ],
                    )
                ],
            )
        ]
    )
    response = httpx.post(
        server.http_url + "/v1/metrics",
        content=request.SerializeToString(),
        headers={"Content-Type": "application/x-protobuf"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-protobuf"
    assert ExportMetricsServiceResponse.FromString(response.content) == ExportMetricsServiceResponse()

    rows = server.rows("SELECT * FROM metric_summaries")
    expected = {
        "metric_name": "rpc.latency",
        "metric_description": "RPC latency",
        "metric_unit": "ms",
        "metric_metadata": {"prometheus.type": "summary"},
        "service_name": "legacy",
        "resource_attributes": {"service.name": "legacy", "pid": 4242},
        "resource_dropped_attributes_count": 2,
        "resource_schema_url": SCHEMA_URL,
        "resource_entity_refs": [
            {"schema_url": SCHEMA_URL, "type": "process", "id_keys": ["pid"], "description_keys": ["service.name"]}
        ],
        "scope_name": "prometheus.bridge",
        "scope_version": "0.1",
        "scope_attributes": {"bridge": True},
        "scope_dropped_attributes_count": 1,
        "scope_schema_url": "https://example.com/scope",
        "attributes": {"rpc.method": "Charge", "shard": 3},
        "start_time_ns": T0,
        "time_ns": T0 + 60 * 1000 * MS,
        "flags": 1,
        "exemplars": [],
        "count": 1000,
        "sum": 15000.5,
        "quantiles": [0.0, 0.5, 0.99, 1.0],
        "quantile_values": [1.5, 12.0, 80.25, 95.0],
    }
    assert_rows(rows, [expected])
